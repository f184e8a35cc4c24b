package onnx

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// checkAgainstRef imports path and compares its logits on the reference input stored
// beside it (NAME.ref.safetensors, written by testdata/export_torch.py) with PyTorch's,
// within tol·max|y|.
func checkAgainstRef(t *testing.T, path string, tol float64) nn.Module {
	t.Helper()
	g, _, err := Import(path)
	if err != nil {
		t.Fatal(err)
	}
	ref, err := safetensors.ReadFile(strings.TrimSuffix(path, ".onnx") + ".ref.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	in, want := ref.Tensors["input"], ref.Tensors["logits"]
	xs, err := in.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	ys, err := want.Float32s()
	if err != nil {
		t.Fatal(err)
	}
	c := nn.NewCtx()
	x := autograd.NewVar(tensor.FromSlice(xs, in.Shape...))
	y := g.Forward(c, x)
	if len(y.Value.Data) != len(ys) {
		t.Fatalf("%s: %d logits, want %d", filepath.Base(path), len(y.Value.Data), len(ys))
	}
	maxAbs, maxDiff := 0.0, 0.0
	for j, v := range ys {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		maxDiff = math.Max(maxDiff, math.Abs(float64(v-y.Value.Data[j])))
	}
	t.Logf("%s: max|Δ| %.3g, max|y| %.3g", filepath.Base(path), maxDiff, maxAbs)
	if maxDiff > tol*maxAbs {
		t.Errorf("%s: logits differ from PyTorch's by %.3g > %.0e·max|y| (%.3g)", filepath.Base(path), maxDiff, tol, maxAbs)
	}
	return g
}
