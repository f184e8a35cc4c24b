package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"maps"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// MetaWidths is the metadata key of a pruned model's layer widths: a JSON
// object from each layer's state-dict path to its widths, as Widths writes
// them and Load applies them before loading the tensors.
const MetaWidths = "widths"

// shortcutWidths is the JSON form of a ShortcutA: its output channels and
// either the padding before its input channels or, after pruning, the
// output channel of each input channel (−1: dropped).
type shortcutWidths struct {
	In        int   `json:"in"`
	Out       int   `json:"out"`
	PadBefore *int  `json:"pad_before,omitempty"`
	Map       []int `json:"map,omitempty"`
}

// Widths returns the widths of m's layers as the JSON value of the
// MetaWidths metadata key: for each layer, by state-dict path, [out, in]
// for a Conv2d ([out, in, groups] for a grouped one) and a Linear, [channels] for a BatchNorm2d, and for an
// option-A shortcut {"in": …, "out": …, "pad_before": …} or, when pruning
// made its channel map irregular, {"in": …, "out": …, "map": [...]}. Keys are
// sorted, so equal models give equal strings.
func Widths(m nn.Module) string {
	w := map[string]any{}
	nn.Walk(m, func(path string, l nn.Module) {
		switch l := l.(type) {
		case *nn.Conv2d:
			if g := l.GroupCount(); g > 1 {
				w[path] = []int{l.Out, l.In, g}
			} else {
				w[path] = []int{l.Out, l.In}
			}
		case *nn.Linear:
			w[path] = []int{l.Out, l.In}
		case *nn.BatchNorm2d:
			w[path] = []int{l.C}
		case *ShortcutA:
			s := shortcutWidths{In: l.In, Out: l.Out, Map: l.Map}
			if l.Map == nil {
				s.PadBefore = &l.PadBefore
			}
			w[path] = s
		}
	})
	b, err := json.Marshal(w)
	if err != nil {
		panic(err) // ints and strings only
	}
	return string(b)
}

// SetWidths resizes the layers of m named in widths (the JSON of Widths;
// layers it does not name keep their widths) to zero-filled tensors of the
// new shapes, ready for nn.LoadState: Conv2d and Linear weights and biases,
// BatchNorm2d parameters (γ = 1, β = 0) and running statistics (0 and 1),
// and option-A shortcuts' channel maps. The error names every entry that
// is malformed, names no layer of m, or names a layer without widths.
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
	ints := func(n int) ([]int, error) {
		var v []int
		if err := json.Unmarshal(raw, &v); err != nil || len(v) != n || slices.Min(v) <= 0 {
			return nil, fmt.Errorf("widths %s, want %d positive integers", raw, n)
		}
		return v, nil
	}
	switch l := l.(type) {
	case *nn.Conv2d:
		n := 2
		if l.GroupCount() > 1 {
			n = 3 // out, in, groups
		}
		v, err := ints(n)
		if err != nil {
			return err
		}
		g := 1
		if n == 3 {
			g = v[2]
			if v[0]%g != 0 || v[1]%g != 0 {
				return fmt.Errorf("widths %s: %d groups do not divide %d and %d channels", raw, g, v[1], v[0])
			}
		}
		l.Out, l.In, l.Groups = v[0], v[1], g
		l.Weight.Value = tensor.New(l.Out, l.In/g, l.Kernel[0], l.Kernel[1])
		resize(l.Bias, l.Out)
	case *nn.Linear:
		v, err := ints(2)
		if err != nil {
			return err
		}
		l.Out, l.In = v[0], v[1]
		l.Weight.Value = tensor.New(l.Out, l.In)
		resize(l.Bias, l.Out)
	case *nn.BatchNorm2d:
		v, err := ints(1)
		if err != nil {
			return err
		}
		l.C = v[0]
		for _, p := range []*autograd.Var{l.Weight, l.Bias, l.RunningMean, l.RunningVar} {
			resize(p, l.C)
		}
		l.ResetParameters()
	case *ShortcutA:
		var s shortcutWidths
		d := json.NewDecoder(strings.NewReader(string(raw)))
		d.DisallowUnknownFields()
		if err := d.Decode(&s); err != nil {
			return fmt.Errorf("widths %s: %v", raw, err)
		}
		return s.apply(l)
	default:
		return fmt.Errorf("a %T has no widths", l)
	}
	return nil
}

func (s shortcutWidths) apply(l *ShortcutA) error {
	switch {
	case s.In <= 0 || s.Out <= 0:
		return fmt.Errorf("in %d, out %d: want positive channel counts", s.In, s.Out)
	case (s.PadBefore == nil) == (s.Map == nil):
		return errors.New(`want exactly one of "pad_before" and "map"`)
	case s.PadBefore != nil:
		if *s.PadBefore < 0 || *s.PadBefore+s.In > s.Out {
			return fmt.Errorf("%d channels padded by %d before do not fit %d", s.In, *s.PadBefore, s.Out)
		}
		l.In, l.PadBefore, l.Out, l.Map = s.In, *s.PadBefore, s.Out, nil
		return nil
	}
	if len(s.Map) != s.In {
		return fmt.Errorf("map of %d entries for %d input channels", len(s.Map), s.In)
	}
	seen := map[int]bool{}
	for j, o := range s.Map {
		if o >= s.Out || o < -1 || (o >= 0 && seen[o]) {
			return fmt.Errorf("map sends input channel %d to %d: want −1 or a distinct channel below %d", j, o, s.Out)
		}
		seen[o] = true
	}
	l.SetChannelMap(s.Out, s.Map)
	return nil
}

// resize replaces a parameter's value by zeros of length n (nil: nothing).
func resize(v *autograd.Var, n int) {
	if v != nil {
		v.Value = tensor.New(n)
	}
}
