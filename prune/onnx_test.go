package prune

import (
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/onnx"
)

// onnxTopology imports a model of ../onnx/testdata/ops (PyTorch 1.13 exports, see
// onnx/testdata/gen_ops_models.py).
func onnxTopology(file string) topology {
	path := filepath.Join("..", "onnx", "testdata", "ops", file)
	return topology{name: file, inShape: []int{3, 16, 16}, batch: 2, build: func() nn.Module {
		g, _, err := onnx.Import(path)
		if err != nil {
			panic(err)
		}
		return g
	}}
}

// TestEquivalenceImportedOps prunes CNNs imported from ONNX that concatenate channels
// (Inception and DenseNet steps), gate them (squeeze-and-excitation: Sigmoid and Mul) and
// scale them by per-channel constants: removing a group's channels gives what zeroing
// them gives, to 1e-5·max|y|.
func TestEquivalenceImportedOps(t *testing.T) {
	for _, tc := range []struct {
		file     string
		prefixes []string
	}{
		{"inception-o13-kept.onnx", []string{"stem.0 out", "b2.1.0 out", "b3.1 out", "dense.2 out"}},
		{"inception-o17-folded.onnx", []string{"b1.0 out", "dense.2 out"}},
		{"se-o13-kept.onnx", []string{"conv1.0 out", "conv2.0 out"}},
		{"se-o17-folded.onnx", []string{"conv1.0 out", "conv2.0 out"}},
		{"scale-o13-kept.onnx", []string{"conv1 out", "conv2 out"}},
		{"scale-o17-folded.onnx", []string{"conv1 out", "conv2 out"}},
	} {
		t.Run(tc.file, func(t *testing.T) { equivalence(t, onnxTopology(tc.file), tc.prefixes...) })
	}
}
