package infer_test

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// randomize gives m random weights and BatchNorm statistics (so that folding has
// something to fold), deterministically from seed.
func randomize(m nn.Module, seed uint64) {
	zoo.InitWeights(m, seed)
	rng := rand.New(rand.NewPCG(seed, 7))
	nn.Walk(m, func(_ string, l nn.Module) {
		if bn, ok := l.(*nn.BatchNorm2d); ok {
			for k := range bn.C {
				bn.Weight.Value.Data[k] = float32(0.5 + rng.Float64())
				bn.Bias.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningMean.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningVar.Value.Data[k] = float32(0.5 + rng.Float64())
			}
		}
	})
}

func randomInput(seed uint64, shape ...int) *tensor.Tensor {
	x := tensor.New(shape...)
	rng := rand.New(rand.NewPCG(seed, 3))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	return x
}

// reference runs the training-path forward pass in evaluation mode.
func reference(m nn.Module, x *tensor.Tensor) *tensor.Tensor {
	nn.SetTraining(m, false)
	c := nn.NewCtx()
	return m.Forward(c, autograd.NewVar(x)).Value.Clone()
}

// maxRelDiff returns max|a − b| / max|b|.
func maxRelDiff(a, b *tensor.Tensor) float64 {
	var d, ref float64
	for i := range b.Data {
		d = max(d, math.Abs(float64(a.Data[i])-float64(b.Data[i])))
		ref = max(ref, math.Abs(float64(b.Data[i])))
	}
	return d / ref
}

func TestCompileMatchesForward(t *testing.T) {
	for _, name := range zoo.Names() {
		a, _ := zoo.Lookup(name)
		big := a.InputShape[1] > 32
		if testing.Short() && (big || name == "resnet110" || name == "resnet110b") {
			continue
		}
		t.Run(name, func(t *testing.T) {
			m, err := a.Build()
			if err != nil {
				t.Fatal(err)
			}
			randomize(m, 1)
			n := 3
			if big {
				n = 1
			}
			x := randomInput(2, append([]int{n}, a.InputShape...)...)
			want := reference(m, x)
			cm, err := infer.Compile(m, a.InputShape, infer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			got, err := cm.NewRunner(n).Run(x)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxRelDiff(got, want); d > 1e-4 {
				t.Errorf("compiled output differs from the forward pass by %.3g·max|y|", d)
			} else {
				t.Logf("max difference %.3g·max|y|", d)
			}
		})
	}
}

// TestBatchIndependence checks that each image's output is bit-identical alone and inside
// a batch, and at GOMAXPROCS 1 and 2.
func TestBatchIndependence(t *testing.T) {
	names := []string{"resnet20", "resnet20b", "vgg11_bn", "mobilenet_v2_cifar"}
	if !testing.Short() {
		names = append(names, "resnet18", "resnet50", "mobilenet_v2")
	}
	for _, name := range names {
		t.Run(name, func(t *testing.T) {
			a, _ := zoo.Lookup(name)
			m, _ := a.Build()
			randomize(m, 3)
			for _, plan := range []int{1, 64} {
				cm, err := infer.Compile(m, a.InputShape, infer.Options{Batch: plan})
				if err != nil {
					t.Fatal(err)
				}
				checkBatchIndependence(t, cm, a.InputShape)
			}
		})
	}
}

func checkBatchIndependence(t *testing.T, cm *infer.Model, inShape []int) {
	n := 5
	if inShape[1] > 32 {
		n = 2
	}
	x := randomInput(4, append([]int{n}, inShape...)...)
	per := len(x.Data) / n
	r := cm.NewRunner(n)
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	var batch []float32
	for _, procs := range []int{2, 1} {
		runtime.GOMAXPROCS(procs)
		y, err := r.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		if batch == nil {
			batch = append([]float32(nil), y.Data...)
		} else if !sameBits(batch, y.Data) {
			t.Fatalf("batch output differs between GOMAXPROCS 2 and 1")
		}
	}
	runtime.GOMAXPROCS(2)
	out := len(batch) / n
	for i := range n {
		xi := tensor.FromSlice(x.Data[i*per:(i+1)*per], append([]int{1}, inShape...)...)
		y, err := r.Run(xi)
		if err != nil {
			t.Fatal(err)
		}
		if !sameBits(y.Data, batch[i*out:(i+1)*out]) {
			t.Fatalf("image %d: output alone differs from its output in a batch of %d", i, n)
		}
	}
}

func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return true
}

func TestRunAllocatesNothing(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	names := []string{"resnet20", "vgg11_bn"}
	if !testing.Short() {
		names = append(names, "mobilenet_v2") // data-parallel, one image per chunk
	}
	for _, name := range names {
		a, _ := zoo.Lookup(name)
		m, _ := a.Build()
		cm, err := infer.Compile(m, a.InputShape, infer.Options{})
		if err != nil {
			t.Fatal(err)
		}
		r := cm.NewRunner(4)
		x := randomInput(5, append([]int{4}, a.InputShape...)...)
		x1 := tensor.FromSlice(x.Data[:len(x.Data)/4], append([]int{1}, a.InputShape...)...)
		r.Run(x)
		r.Run(x1)
		if n := testing.AllocsPerRun(5, func() { r.Run(x); r.Run(x1) }); n != 0 {
			t.Errorf("%s: %v allocations per call", name, n)
		}
	}
}

func TestRunErrors(t *testing.T) {
	m, _ := zoo.New("resnet8")
	cm, err := infer.Compile(m, []int{3, 32, 32}, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := cm.NewRunner(2)
	if _, err := r.Run(tensor.New(3, 3, 32, 32)); err == nil {
		t.Error("a batch over the maximum ran")
	}
	if _, err := r.Run(tensor.New(1, 3, 16, 16)); err == nil {
		t.Error("a 16×16 input ran on a model compiled for 32×32")
	}
	if _, err := infer.Compile(m, []int{3, 0, 32}, infer.Options{}); err == nil {
		t.Error("a zero dimension compiled")
	}
}

// TestCompileMobileNetV2Steps checks the steps of a compiled MobileNetV2: every BatchNorm
// folded, every ReLU6 fused into its convolution, the depthwise layers on the depthwise
// algorithm (alone or in a fused block) and every residual addition fused into a
// projection.
func TestCompileMobileNetV2Steps(t *testing.T) {
	m, _ := zoo.New("mobilenet_v2_cifar")
	cm, err := infer.Compile(m, []int{3, 32, 32}, infer.Options{})
	if err != nil {
		t.Fatal(err)
	}
	var convs, dw, relu6, adds int
	for _, l := range cm.Layers() {
		switch l.Op {
		case "conv":
			convs++
			if strings.HasSuffix(l.Name, "+relu6") {
				relu6++
			}
			if strings.Contains(l.Name, "+add") {
				adds++
			}
			switch l.Algo {
			case "depthwise":
				dw++
			case "dwblock": // [expansion or stem+ReLU6,] depthwise+ReLU6, projection
				n := strings.Count(l.Name, "+relu6")
				convs += n
				relu6 += n // the block ends with the projection
				dw++
			}
		case "global_avgpool", "linear":
		default:
			t.Errorf("step %s (%s) is not fused into a convolution", l.Name, l.Op)
		}
	}
	// 52 convolutions: the stem, 17 depthwise, 16 expansions, 17 projections, the last 1×1;
	// ReLU6 after all but the projections; 10 blocks with a residual connection.
	if convs != 52 || dw != 17 || relu6 != 35 || adds != 10 {
		t.Errorf("%d convolutions (%d depthwise, %d with ReLU6, %d with a residual), want 52 (17, 35, 10)", convs, dw, relu6, adds)
	}
}
