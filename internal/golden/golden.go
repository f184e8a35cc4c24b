// Package golden reads the PyTorch golden files of Bonsai's tests.
package golden

import (
	"testing"

	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// ReadGolden reads a safetensors golden file or fails t.
func ReadGolden(t testing.TB, path string) *safetensors.File {
	t.Helper()
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatalf("golden file: %v (regenerate with /usr/bin/python3 scripts/golden/gen_golden.py)", err)
	}
	return f
}

// Tensor returns the F32 tensor key of f as a tensor.Tensor, or fails t.
func Tensor(t testing.TB, f *safetensors.File, key string) *tensor.Tensor {
	t.Helper()
	st, ok := f.Tensors[key]
	if !ok {
		t.Fatalf("golden file has no tensor %q", key)
	}
	v, err := st.Float32s()
	if err != nil {
		t.Fatalf("golden tensor %q: %v", key, err)
	}
	return tensor.FromSlice(v, st.Shape...)
}
