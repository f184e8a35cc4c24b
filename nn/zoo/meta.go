package zoo

import (
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

// ErrNoArch is returned (wrapped) by Load when neither the file nor the
// caller names the architecture.
var ErrNoArch = errors.New("the file names no architecture")

// Meta is the metadata of a model file.
type Meta struct {
	Arch      string
	Mean, Std []float32 // nil when the file does not say
	Extra     map[string]string
}

// ParseMeta reads the Bonsai keys of a safetensors metadata map.
func ParseMeta(md map[string]string) (Meta, error) {
	m := Meta{Arch: md[MetaArch], Extra: map[string]string{}}
	for k, v := range md {
		switch k {
		case MetaArch:
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

// Map returns the metadata as a safetensors metadata map.
func (m Meta) Map() map[string]string {
	md := map[string]string{}
	for k, v := range m.Extra {
		md[k] = v
	}
	if m.Arch != "" {
		md[MetaArch] = m.Arch
	}
	if m.Mean != nil {
		md[MetaMean] = FormatFloats(m.Mean)
	}
	if m.Std != nil {
		md[MetaStd] = FormatFloats(m.Std)
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
