package zoo_test

import (
	"strconv"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/internal/golden"
	"github.com/bonsai-dl/bonsai/internal/hashinit"
	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestMobileNetV2MatchesPyTorch checks the logits of mobilenet_v2 at 224×224 and 64×64 and
// of mobilenet_v2_cifar at 32×32 against torchvision's module in float64 (written by
// scripts/golden/gen_mobilenet.py), with the shared deterministic init, on every kernel
// path: within 1e-4·max|logit|.
func TestMobileNetV2MatchesPyTorch(t *testing.T) {
	defer asm.SetPath(asm.CurrentPath())
	for _, file := range []string{"mobilenet_v2_224", "mobilenet_v2_64", "mobilenet_v2_cifar_32"} {
		f := golden.ReadGolden(t, "testdata/"+file+".safetensors")
		arch := f.Metadata["arch"]
		if f.Metadata["init"] != "bonsai-hash-v1" || !strings.HasPrefix(file, arch) {
			t.Fatalf("%s: unexpected metadata %v", file, f.Metadata)
		}
		var shape []int
		for _, s := range strings.Split(f.Metadata["input_shape"], ",") {
			d, err := strconv.Atoi(s)
			if err != nil {
				t.Fatalf("%s: input_shape %q", file, f.Metadata["input_shape"])
			}
			shape = append(shape, d)
		}
		for _, path := range asm.AvailablePaths() {
			if testing.Short() && path != asm.AvailablePaths()[len(asm.AvailablePaths())-1] && shape[2] > 64 {
				continue // the 224×224 model on the best path only under -short
			}
			t.Run(file+"/"+path.String(), func(t *testing.T) {
				if err := asm.SetPath(path); err != nil {
					t.Fatal(err)
				}
				m, err := zoo.New(arch)
				if err != nil {
					t.Fatal(err)
				}
				hashinit.Model(m)
				x := tensor.New(shape...)
				hashinit.Input(x.Data)
				if _, ok := f.Tensors["input"]; ok {
					testutil.Close(t, "input", x.Data, golden.Tensor(t, f, "input").Data, 0)
				}
				y := m.Forward(nn.NewCtx(), autograd.NewVar(x))
				testutil.Close(t, "logits", y.Value.Data, golden.Tensor(t, f, "logits").Data, 1e-4)
			})
		}
	}
}

// TestMobileNetV2Layout checks torchvision's state-dict names and shapes at a few places,
// the strides of the CIFAR variant and the printed form of a depthwise layer.
func TestMobileNetV2Layout(t *testing.T) {
	for arch, want := range map[string]map[string][]int{
		"mobilenet_v2": {
			"features.0.0.weight": {32, 3, 3, 3}, "features.1.conv.0.0.weight": {32, 1, 3, 3},
			"features.1.conv.1.weight": {16, 32, 1, 1}, "features.2.conv.1.0.weight": {96, 1, 3, 3},
			"features.17.conv.2.weight": {320, 960, 1, 1}, "features.18.0.weight": {1280, 320, 1, 1},
			"features.18.1.running_var": {1280}, "classifier.1.weight": {1000, 1280}, "classifier.1.bias": {1000},
		},
		"mobilenet_v2_cifar": {"classifier.1.weight": {10, 1280}},
	} {
		m, err := zoo.New(arch)
		if err != nil {
			t.Fatal(err)
		}
		got := map[string][]int{}
		for _, e := range nn.State(m) {
			got[e.Key] = nil
			if e.Var != nil {
				got[e.Key] = e.Var.Value.Shape
			}
		}
		for k, s := range want {
			if g, ok := got[k]; !ok || !tensor.SameShape(tensor.New(g...), tensor.New(s...)) {
				t.Errorf("%s: %s has shape %v, want %v", arch, k, g, s)
			}
		}
		if n := len(got); n != 314 {
			t.Errorf("%s: %d tensors in the state, want torchvision's 314", arch, n)
		}
	}
	m, _ := zoo.New("mobilenet_v2_cifar")
	f := m.(*zoo.MobileNetV2).Features
	stem := f.Layers[0].(*nn.Sequential).Layers[0].(*nn.Conv2d)
	dw := f.Layers[2].(*zoo.InvertedResidual).Conv.Layers[1].(*nn.Sequential).Layers[0].(*nn.Conv2d)
	if stem.Stride != [2]int{1, 1} || dw.Stride != [2]int{1, 1} {
		t.Errorf("CIFAR strides: stem %v, features.2 depthwise %v", stem.Stride, dw.Stride)
	}
	if s, want := dw.String(), "Conv2d(96, 96, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), groups=96, bias=False)"; s != want {
		t.Errorf("depthwise layer prints %q, want %q", s, want)
	}
	s := nn.Summarize(m, 3, 32, 32)
	if last := s.Layers[len(s.Layers)-3]; last.Name != "features.18.2" || last.OutShape[2] != 4 || last.OutShape[3] != 4 {
		t.Errorf("CIFAR variant: %s gives %v, want a 4×4 map", last.Name, last.OutShape)
	}
}
