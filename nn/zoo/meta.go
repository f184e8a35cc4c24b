package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// Metadata keys that every Bonsai file writes and every command reads.
const (
	MetaArch = "arch" // architecture name, as zoo.Lookup takes it
	MetaMean = "mean" // input normalisation mean per channel, "0.485,0.456,0.406"
	MetaStd  = "std"  // input normalisation std per channel
)

// DefaultMean and DefaultStd are the input normalisation of a model whose
// file names none (Meta.Normalization with defaults): CIFAR-10's
// training-set statistics per RGB channel (data.CIFAR10Mean and
// CIFAR10Std), with which Bonsai trains.
var (
	DefaultMean = [3]float32{0.4914, 0.4822, 0.4465}
	DefaultStd  = [3]float32{0.2470, 0.2435, 0.2616}
)

// ErrNoArch is returned (wrapped) by Load when neither the file nor the
// caller names the architecture.
var ErrNoArch = errors.New("the file names no architecture")

// Meta is the metadata of a model file.
type Meta struct {
	Arch      string
	Mean, Std []float32 // nil when the file does not say
	// Classes are the names of the output classes (MetaClasses), nil when the file does not
	// say (see Arch.ClassNames for the architecture's convention).
	Classes []string
	Extra   map[string]string
}

// ParseMeta reads the Bonsai keys of a safetensors metadata map. A graph
// model's spec (MetaGraph) is registered (RegisterGraph) and names the
// architecture.
func ParseMeta(md map[string]string) (Meta, error) {
	m := Meta{Arch: md[MetaArch], Extra: map[string]string{}}
	for k, v := range md {
		switch k {
		case MetaArch:
		case MetaGraph:
			a, err := registerGraphJSON(v)
			if err != nil {
				return m, err
			}
			m.Arch = a.Name
		case MetaClasses:
			if err := json.Unmarshal([]byte(v), &m.Classes); err != nil || len(m.Classes) == 0 {
				return m, fmt.Errorf("metadata %q: want a non-empty JSON list of strings, got %.40q", k, v)
			}
		case MetaMean, MetaStd:
			vals, err := ParseFloats(v)
			if err != nil {
				return m, fmt.Errorf("metadata %q: %v", k, err)
			}
			if k == MetaMean {
				m.Mean = vals
			} else {
				m.Std = vals
			}
		default:
			m.Extra[k] = v
		}
	}
	return m, nil
}

// Normalization returns the input normalisation the metadata names (Mean
// and Std, per RGB channel). What it does not name is DefaultMean or
// DefaultStd when withDefaults (training and pruning take a model from
// elsewhere as a CIFAR-10 model), and an error otherwise (evaluation needs
// the model's own). A list of other than 3 values, or a std that is not
// positive, is an error.
func (m Meta) Normalization(withDefaults bool) (mean, std [3]float32, err error) {
	pick := func(key string, vals []float32, def [3]float32) ([3]float32, error) {
		var v [3]float32
		switch {
		case vals == nil && withDefaults:
			return def, nil
		case vals == nil:
			return v, fmt.Errorf("no input %s: the metadata has no %q", key, key)
		case len(vals) != 3:
			return v, fmt.Errorf("input %s has %d values, want 3 (R,G,B)", key, len(vals))
		}
		copy(v[:], vals)
		return v, nil
	}
	if mean, err = pick(MetaMean, m.Mean, DefaultMean); err != nil {
		return mean, std, err
	}
	if std, err = pick(MetaStd, m.Std, DefaultStd); err != nil {
		return mean, std, err
	}
	for _, s := range std {
		if !(s > 0) {
			return mean, std, fmt.Errorf("input std %v has a value ≤ 0", std)
		}
	}
	return mean, std, nil
}

// Map returns the metadata as a safetensors metadata map.
func (m Meta) Map() map[string]string {
	md := map[string]string{}
	for k, v := range m.Extra {
		md[k] = v
	}
	if m.Arch != "" {
		md[MetaArch] = m.Arch
		if a, err := Lookup(m.Arch); err == nil && a.graph != "" {
			md[MetaGraph] = a.graph
		}
	}
	if m.Mean != nil {
		md[MetaMean] = FormatFloats(m.Mean)
	}
	if m.Std != nil {
		md[MetaStd] = FormatFloats(m.Std)
	}
	if m.Classes != nil {
		b, err := json.Marshal(m.Classes)
		if err != nil {
			panic(err) // a []string always marshals
		}
		md[MetaClasses] = string(b)
	}
	return md
}

// ParseFloats parses comma-separated numbers such as "0.485, 0.456,0.406".
func ParseFloats(s string) ([]float32, error) {
	var out []float32
	for i, f := range strings.Split(s, ",") {
		v, err := strconv.ParseFloat(strings.TrimSpace(f), 32)
		if err != nil || math.IsNaN(v) || math.IsInf(v, 0) {
			return nil, fmt.Errorf("value %d of %q is not a finite number", i+1, s)
		}
		out = append(out, float32(v))
	}
	return out, nil
}

// FormatFloats writes numbers comma-separated, in the shortest form that
// reads back to the same float32.
func FormatFloats(v []float32) string {
	s := make([]string, len(v))
	for i, x := range v {
		s[i] = strconv.FormatFloat(float64(x), 'g', -1, 32)
	}
	return strings.Join(s, ",")
}

// Load reads a model file: it resolves the architecture from the file's
// metadata and arch (either may be empty; when both are given they must
// agree), builds the model, gives the layers named in the "widths"
// metadata (a pruned model, see Widths) their widths, and loads its state
// strictly, ignoring keys under "optim." (optimizer state). The model is
// in evaluation mode.
func Load(path, arch string) (nn.Module, Meta, error) {
	if f, ok := formatOf(path); ok {
		return loadFormat(f, path, arch)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, Meta{}, err
	}
	meta, err := ParseMeta(f.Metadata)
	if err != nil {
		return nil, meta, fmt.Errorf("%s: %v", path, err)
	}
	switch {
	case arch == "" && meta.Arch == "":
		return nil, meta, fmt.Errorf("%s: %w (metadata %q): name one", path, ErrNoArch, MetaArch)
	case arch == "":
		arch = meta.Arch
	case meta.Arch != "":
		a, err1 := Lookup(arch)
		b, err2 := Lookup(meta.Arch)
		if err1 != nil || err2 != nil || a.Name != b.Name {
			return nil, meta, fmt.Errorf("%s: the file is a %q model, but %q was asked for", path, meta.Arch, arch)
		}
	}
	a, err := Lookup(arch)
	if err != nil {
		return nil, meta, err
	}
	meta.Arch = a.Name
	m, err := a.Build()
	if err != nil {
		return nil, meta, err
	}
	if err := loadInto(path, f, meta, m); err != nil {
		return nil, meta, err
	}
	return m, meta, nil
}

// LoadInto reads a model file into m, a model the caller built with the
// file's architecture at its original widths (one the zoo may not know):
// it gives the layers named in the "widths" metadata (a pruned model, see
// Widths) their widths and loads the state strictly, ignoring keys under
// "optim.". It returns the file's metadata.
func LoadInto(path string, m nn.Module) (Meta, error) {
	if f, ok := formatOf(path); ok {
		return Meta{}, fmt.Errorf("%s: a %s file holds its own architecture: load it with zoo.Load", path, f.Name)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return Meta{}, err
	}
	meta, err := ParseMeta(f.Metadata)
	if err != nil {
		return meta, fmt.Errorf("%s: %v", path, err)
	}
	return meta, loadInto(path, f, meta, m)
}

func loadInto(path string, f *safetensors.File, meta Meta, m nn.Module) error {
	if w, ok := meta.Extra[MetaWidths]; ok {
		if err := SetWidths(m, w); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
	}
	if err := nn.LoadState(m, f, nn.LoadOptions{IgnorePrefixes: []string{"optim."}}); err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	return nil
}
