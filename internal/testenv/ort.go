package testenv

import (
	"encoding/binary"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// ORTModules returns the node_modules directory that holds ONNX Runtime for
// node (onnxruntime-node), under $BONSAI_ORT_DIR or ~/.cache/bonsai-ort,
// where .ci/run installs it. When it or node is missing, ORTModules skips the
// test, or fails it when CI is true.
func ORTModules(t testing.TB) string {
	t.Helper()
	dir := os.Getenv("BONSAI_ORT_DIR")
	if dir == "" {
		home, _ := os.UserHomeDir()
		dir = filepath.Join(home, ".cache", "bonsai-ort")
	}
	mods := filepath.Join(dir, "node_modules")
	_, err := os.Stat(filepath.Join(mods, "onnxruntime-node"))
	if err == nil {
		_, err = exec.LookPath("node")
	}
	if err != nil {
		msg := fmt.Sprintf("ONNX Runtime for node: %v (cd %s && npm install --ignore-scripts onnxruntime-node@1.30.0)", err, dir)
		if InCI() {
			t.Fatal("CI=true: " + msg)
		}
		t.Skip(msg + "; skipping")
	}
	return mods
}

// RunORT runs the ONNX model at path in ONNX Runtime (onnx/testdata/ort_run.js,
// with the modules of ORTModules) on the input x of the given shape and
// returns the model's first output, flattened.
func RunORT(t testing.TB, path string, shape []int, x []float32) []float32 {
	t.Helper()
	modules := ORTModules(t)
	_, self, _, ok := runtime.Caller(0)
	if !ok {
		t.Fatal("testenv: cannot find its own source file to locate onnx/testdata/ort_run.js")
	}
	script := filepath.Join(filepath.Dir(self), "..", "..", "onnx", "testdata", "ort_run.js")
	tmp := t.TempDir()
	in, out := filepath.Join(tmp, "x.f32"), filepath.Join(tmp, "y.f32")
	b := make([]byte, 4*len(x))
	for j, v := range x {
		binary.LittleEndian.PutUint32(b[4*j:], math.Float32bits(v))
	}
	if err := os.WriteFile(in, b, 0o644); err != nil {
		t.Fatal(err)
	}
	dims := make([]string, len(shape))
	for i, d := range shape {
		dims[i] = fmt.Sprint(d)
	}
	cmd := exec.Command("node", script, path, in, strings.Join(dims, ","), out)
	cmd.Env = append(os.Environ(), "NODE_PATH="+modules)
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
