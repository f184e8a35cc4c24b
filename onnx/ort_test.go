package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// ortDir returns the directory whose node_modules holds onnxruntime-node
// (BONSAI_ORT_DIR, default ~/.cache/bonsai-ort, as ../shared/bench/run_ort.sh installs
// it: npm install --ignore-scripts onnxruntime-node@1.30.0), skipping the test when it
// or node is missing, or failing it when CI is true.
func ortDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("BONSAI_ORT_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "bonsai-ort")
	}
	_, err := os.Stat(filepath.Join(dir, "node_modules", "onnxruntime-node"))
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		msg := fmt.Sprintf("ONNX Runtime for node: %v (cd %s && npm install --ignore-scripts onnxruntime-node@1.30.0)", err, dir)
		if testenv.InCI() {
			t.Fatal("CI=true: " + msg)
		}
		t.Skip(msg + "; skipping")
	}
	return dir
}

// runORT runs the model at path in ONNX Runtime on x and returns its output.
func runORT(t *testing.T, path string, x *tensor.Tensor) []float32 {
	t.Helper()
	dir := ortDir(t)
	tmp := t.TempDir()
	in, out := filepath.Join(tmp, "x.f32"), filepath.Join(tmp, "y.f32")
	b := make([]byte, 4*len(x.Data))
	for j, v := range x.Data {
		binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	var dims []string
	for _, d := range x.Shape {
		dims = append(dims, fmt.Sprint(d))
	}
	cmd := exec.Command("node", "testdata/ort_run.js", path, in, strings.Join(dims, ","), out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+filepath.Join(dir, "node_modules"))
	if msg, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("onnxruntime on %s: %v\n%s", filepath.Base(path), err, msg)
	}
	yb, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	y := make([]float32, len(yb)/4)
	for j := range y {
		y[j] = math.Float32frombits(binary.LittleEndian.Uint32(yb[4*j:]))
	}
	return y
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
