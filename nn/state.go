package nn

import (
	"errors"
	"fmt"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// LoadOptions tune LoadState.
type LoadOptions struct {
	// IgnorePrefixes lists key prefixes of the file that are not model
	// state and are skipped (e.g. "optim." for optimizer state).
	IgnorePrefixes []string
}

// LoadState copies the tensors of f into m's parameters and buffers,
// strictly: every key of m must be in f with the same shape (F32, F16, BF16
// or F64 for floating-point state; an integer type for num_batches_tracked,
// which may be absent as in files of older PyTorch versions), every value
// must be finite (no NaN or infinity), and every key of f must belong to m
// unless it starts with an ignored prefix. The error names each missing,
// unexpected, mis-shaped, mis-typed or non-finite key (with the index of
// its first NaN or infinity). On error m may be partly loaded.
func LoadState(m Module, f *safetensors.File, o LoadOptions) error {
	var problems []string
	known := map[string]bool{}
	for _, e := range State(m) {
		known[e.Key] = true
		t, ok := f.Tensors[e.Key]
		if !ok {
			if e.Kind != Counter {
				problems = append(problems, fmt.Sprintf("missing key %q", e.Key))
			}
			continue
		}
		if err := loadEntry(e, t); err != nil {
			problems = append(problems, fmt.Sprintf("key %q: %v", e.Key, err))
		}
	}
	for _, k := range f.Names() {
		if known[k] || slices.ContainsFunc(o.IgnorePrefixes, func(p string) bool { return strings.HasPrefix(k, p) }) {
			continue
		}
		problems = append(problems, fmt.Sprintf("unexpected key %q", k))
	}
	if len(problems) == 0 {
		return nil
	}
	return errors.New("load state: " + strings.Join(problems, "; "))
}

func loadEntry(e NamedEntry, t *safetensors.Tensor) error {
	if e.Kind == Counter {
		if t.Numel() != 1 {
			return fmt.Errorf("shape %v, want a scalar", t.Shape)
		}
		v, err := t.Int64s()
		if err != nil {
			return fmt.Errorf("dtype %s, want an integer type", t.DType)
		}
		*e.Count = v[0]
		return nil
	}
	want := e.Var.Value.Shape
	if !slices.Equal(t.Shape, want) {
		return fmt.Errorf("shape %v in file, model wants %v", t.Shape, want)
	}
	switch t.DType {
	case safetensors.F32, safetensors.F16, safetensors.BF16, safetensors.F64:
	default:
		return fmt.Errorf("dtype %s, want a floating-point type (F32, F16, BF16, F64)", t.DType)
	}
	v, err := t.Float32s()
	if err != nil {
		return err
	}
	if err := checkFinite(v, want); err != nil {
		return err
	}
	copy(e.Var.Value.Data, v)
	return nil
}

// SaveState returns m's parameters and buffers as a safetensors file under
// their state-dict keys (num_batches_tracked as a 0-d I64, as PyTorch),
// with the given metadata. The tensors are copies.
func SaveState(m Module, meta map[string]string) *safetensors.File {
	f := safetensors.New()
	if len(meta) > 0 && f.Metadata == nil {
		f.Metadata = map[string]string{}
	}
	for k, v := range meta {
		f.Metadata[k] = v
	}
	for _, e := range State(m) {
		if e.Kind == Counter {
			f.Tensors[e.Key] = safetensors.FromInt64([]int{}, []int64{*e.Count})
			continue
		}
		f.Tensors[e.Key] = safetensors.FromFloat32(e.Var.Value.Shape, slices.Clone(e.Var.Value.Data))
	}
	return f
}
