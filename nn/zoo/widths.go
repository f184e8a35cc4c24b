package zoo

import (
	"encoding/json"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
)

// MetaWidths is the metadata key of a pruned model's layer widths: a JSON
// object from each layer's state-dict path to its widths, as Widths writes
// them and Load applies them before loading the tensors.
const MetaWidths = "widths"

// Widths returns the widths of m's layers as the JSON value of the
// MetaWidths metadata key: for each layer whose adapter has a widths
// record (nn.Adapter.Widths), by state-dict path, that record — [out, in]
// for a Conv2d ([out, in, groups] for a grouped one) and a Linear,
// [channels] for a BatchNorm2d, and for an
// option-A shortcut {"in": …, "out": …, "pad_before": …} or, when pruning
// made its channel map irregular, {"in": …, "out": …, "map": [...]}. Keys
// are sorted, so equal models give equal strings.
func Widths(m nn.Module) string {
	w := map[string]any{}
	nn.Walk(m, func(path string, l nn.Module) {
		if a, ok := nn.AdapterOf(l); ok {
			if v := a.Widths(l); v != nil {
				w[path] = v
			}
		}
	})
	b, err := json.Marshal(w)
	if err != nil {
		panic(fmt.Sprintf("zoo: widths of %s: %v", m, err)) // an adapter's record that JSON cannot hold
	}
	return string(b)
}

// SetWidths resizes the layers of m named in widths (the JSON of Widths;
// layers it does not name keep their widths) to zero-filled tensors of the
// new shapes, ready for nn.LoadState, by their adapters' SetWidths: Conv2d
// and Linear weights and biases, BatchNorm2d parameters (γ = 1, β = 0) and
// running statistics (0 and 1), option-A shortcuts' channel maps. The
// error names every entry that is malformed, names no layer of m, or
// names a layer without widths.
func SetWidths(m nn.Module, widths string) error {
	var w map[string]json.RawMessage
	if err := json.Unmarshal([]byte(widths), &w); err != nil {
		return fmt.Errorf("metadata %q: %v", MetaWidths, err)
	}
	layers := map[string]nn.Module{}
	nn.Walk(m, func(path string, l nn.Module) { layers[path] = l })
	var problems []string
	for _, path := range slices.Sorted(maps.Keys(w)) {
		l, ok := layers[path]
		if !ok {
			problems = append(problems, fmt.Sprintf("no layer %q in the model", path))
			continue
		}
		if err := setWidths(l, w[path]); err != nil {
			problems = append(problems, fmt.Sprintf("layer %q: %v", path, err))
		}
	}
	if len(problems) > 0 {
		return fmt.Errorf("metadata %q: %s", MetaWidths, strings.Join(problems, "; "))
	}
	return nil
}

func setWidths(l nn.Module, raw json.RawMessage) error {
	a, ok := nn.AdapterOf(l)
	if !ok {
		return fmt.Errorf("a %T has no widths", l)
	}
	return a.SetWidths(l, raw)
}
