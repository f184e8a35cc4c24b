package main

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// narrow returns the widths record of the full-width model m with layers made
// narrower as pruning leaves them (see the cases of TestTorchBridgeZoo), as
// zoo.SetWidths takes it.
func narrow(t *testing.T, m nn.Module, edit func(w map[string]any)) string {
	t.Helper()
	var w map[string]any
	if err := json.Unmarshal([]byte(zoo.Widths(m)), &w); err != nil {
		t.Fatal(err)
	}
	edit(w)
	b, err := json.Marshal(w)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// shrink subtracts k from dimension i of the [out, in(, groups)] or [channels]
// record of each layer.
func shrink(w map[string]any, k, i int, layers ...string) {
	for _, l := range layers {
		r := w[l].([]any)
		r[i] = r[i].(float64) - float64(k)
	}
}

// randomState fills every parameter and buffer of m with random values: weights
// He-uniform by fan-in, BatchNorm scales and running variances in [0.5, 1.5],
// biases and running means in [−0.5, 0.5].
func randomState(m nn.Module, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 99))
	for _, e := range nn.State(m) {
		if e.Kind == nn.Counter {
			*e.Count = int64(rng.IntN(100))
			continue
		}
		shape := e.Var.Value.Shape
		scale, offset := 1.0, 0.0
		switch {
		case len(shape) >= 2:
			scale = 2 * math.Sqrt(6/float64(tensor.Numel(shape[1:])))
		case strings.HasSuffix(e.Key, "running_var") || strings.HasSuffix(e.Key, ".weight"):
			offset = 1
		}
		for i := range e.Var.Value.Data {
			e.Var.Value.Data[i] = float32(scale*(rng.Float64()-0.5) + offset)
		}
	}
}

// Every family of zoo architectures, at pruned widths (narrower block interiors,
// an option-A shortcut whose channel map pruning made irregular, grouped
// depthwise convolutions), gives the same logits in the bridge as in Bonsai.
func TestTorchBridgeZoo(t *testing.T) {
	testenv.Short(t, "starts PyTorch on six models")
	python := torchPython(t)
	dir := t.TempDir()
	blocks := func(prefix string, n int, fn func(b string)) {
		for i := range n {
			fn(fmt.Sprintf("%s.%d", prefix, i))
		}
	}
	cases := []struct {
		arch string
		size int
		edit func(w map[string]any)
	}{
		{"resnet20", 32, func(w map[string]any) {
			for s := 1; s <= 3; s++ {
				blocks(fmt.Sprintf("layer%d", s), 3, func(b string) {
					shrink(w, 3, 0, b+".conv1", b+".bn1")
					shrink(w, 3, 1, b+".conv2")
				})
			}
			// Stage 1's 16 channels land at irregular places among stage 2's 32;
			// two are dropped.
			m := make([]any, 16)
			for j := range m {
				m[j] = float64((j*7 + 3) % 32)
			}
			m[4], m[9] = -1.0, -1.0
			w["layer2.0.shortcut"] = map[string]any{"in": 16, "out": 32, "map": m}
		}},
		{"resnet14b", 32, func(w map[string]any) {
			blocks("layer2", 2, func(b string) { shrink(w, 5, 0, b+".conv1", b+".bn1"); shrink(w, 5, 1, b+".conv2") })
		}},
		{"vgg11_bn", 32, func(w map[string]any) {
			convs := []int{0, 4, 8, 11, 15, 18, 22, 25}
			for i, c := range convs {
				shrink(w, 3*i+1, 0, fmt.Sprintf("features.%d", c), fmt.Sprintf("features.%d", c+1))
				if i+1 < len(convs) {
					shrink(w, 3*i+1, 1, fmt.Sprintf("features.%d", convs[i+1]))
				}
			}
			shrink(w, 3*len(convs)-2, 1, "classifier")
		}},
		{"mobilenet_v2_cifar", 32, func(w map[string]any) {
			for i := 2; i <= 17; i++ {
				b := fmt.Sprintf("features.%d.conv", i)
				shrink(w, 4, 0, b+".0.0", b+".0.1", b+".1.0", b+".1.1")
				shrink(w, 4, 1, b+".1.0", b+".2")
				shrink(w, 4, 2, b+".1.0")
			}
		}},
		{"mobilenet_v2", 32, nil},
		{"resnet18", 32, func(w map[string]any) {
			for s := 1; s <= 4; s++ {
				blocks(fmt.Sprintf("layer%d", s), 2, func(b string) { shrink(w, 8, 0, b+".conv1", b+".bn1"); shrink(w, 8, 1, b+".conv2") })
			}
		}},
		{"resnet50", 32, func(w map[string]any) {
			blocks("layer3", 6, func(b string) {
				shrink(w, 16, 0, b+".conv1", b+".bn1", b+".conv2", b+".bn2")
				shrink(w, 16, 1, b+".conv2", b+".conv3")
			})
		}},
	}
	var args []string
	want := map[string]*tensor.Tensor{}
	for i, tc := range cases {
		m, err := zoo.New(tc.arch)
		if err != nil {
			t.Fatal(err)
		}
		if tc.edit != nil {
			if err := zoo.SetWidths(m, narrow(t, m, tc.edit)); err != nil {
				t.Fatalf("%s: %v", tc.arch, err)
			}
		}
		randomState(m, uint64(i))
		model := filepath.Join(dir, tc.arch+".safetensors")
		if err := prune.Save(model, m, zoo.Meta{Arch: tc.arch, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}); err != nil {
			t.Fatal(err)
		}
		// Bonsai reads the file back as the bridge will.
		m, _, err = zoo.Load(model, "")
		if err != nil {
			t.Fatal(err)
		}
		rng := rand.New(rand.NewPCG(uint64(i), 5))
		x := tensor.New(2, 3, tc.size, tc.size)
		for j := range x.Data {
			x.Data[j] = float32(rng.NormFloat64())
		}
		want[tc.arch] = m.Forward(nn.NewCtx(), autograd.NewVar(x)).Value
		in := safetensors.New()
		in.Tensors["input"] = safetensors.FromFloat32(x.Shape, x.Data)
		inPath := filepath.Join(dir, tc.arch+".input.safetensors")
		if err := in.WriteFile(inPath); err != nil {
			t.Fatal(err)
		}
		args = append(args, model, inPath, filepath.Join(dir, tc.arch+".logits.safetensors"))
	}
	runPy(t, nil, python, append([]string{bridge, "logits"}, args...)...)
	for _, tc := range cases {
		f, err := safetensors.ReadFile(filepath.Join(dir, tc.arch+".logits.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Tensors["logits"].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		y := want[tc.arch]
		if len(got) != len(y.Data) {
			t.Errorf("%s: PyTorch gave %d logits, Bonsai %d", tc.arch, len(got), len(y.Data))
			continue
		}
		var maxY, maxD float64
		for i, v := range y.Data {
			maxY = math.Max(maxY, math.Abs(float64(v)))
			maxD = math.Max(maxD, math.Abs(float64(v-got[i])))
		}
		t.Logf("%-18s max |Bonsai − PyTorch| = %.3g, max |y| = %.3g", tc.arch, maxD, maxY)
		if !(maxD <= 1e-4*maxY) || maxY == 0 {
			t.Errorf("%s: max |Bonsai − PyTorch| = %.3g, 1e-4·max|y| = %.3g", tc.arch, maxD, 1e-4*maxY)
		}
	}
}
