package onnx

import (
	"math"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// runORT runs the model at path in ONNX Runtime on x and returns its output.
func runORT(t *testing.T, path string, x *tensor.Tensor) []float32 {
	t.Helper()
	return testenv.RunORT(t, path, x.Shape, x.Data)
}

// randomInput returns n inputs of shape inShape drawn from seed.
func randomInput(n int, inShape []int, seed uint64) *tensor.Tensor {
	x := tensor.New(append([]int{n}, inShape...)...)
	rng := nn.NewRand(seed)
	for j := range x.Data {
		x.Data[j] = float32(rng.NormFloat64())
	}
	return x
}

// logits runs m's training-path forward pass in evaluation mode.
func logits(m nn.Module, x *tensor.Tensor) []float32 {
	restore := nn.EvalMode(m)
	defer restore()
	return m.Forward(nn.NewCtx(), autograd.NewVar(x)).Value.Data
}

// within fails the test when got and want differ by more than tol·max|want|.
func within(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	maxAbs, maxDiff := 0.0, 0.0
	for j, v := range want {
		maxAbs = math.Max(maxAbs, math.Abs(float64(v)))
		maxDiff = math.Max(maxDiff, math.Abs(float64(v-got[j])))
	}
	t.Logf("%s: max|Δ| %.3g, max|y| %.3g", what, maxDiff, maxAbs)
	if !(maxDiff <= tol*maxAbs) {
		t.Errorf("%s: differs by %.3g > %.0e·max|y| (%.3g)", what, maxDiff, tol, maxAbs)
	}
}
