package infer_test

import (
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/internal/testgraphs"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestCompileGraphOps compiles graphs with concatenations, squeeze-and-excitation gates,
// sigmoids, per-channel scales and views (what ONNX import makes of Inception-, DenseNet-
// and SE-style blocks): the compiled output matches the training path's, each image's is
// bit-identical alone and in a batch, and a run allocates nothing.
func TestCompileGraphOps(t *testing.T) {
	for name, spec := range map[string]zoo.GraphSpec{"inception": testgraphs.Inception(), "se": testgraphs.SqueezeExcitation()} {
		t.Run(name, func(t *testing.T) {
			g, err := zoo.NewGraph(spec)
			if err != nil {
				t.Fatal(err)
			}
			randomize(g, 5)
			rng := rand.New(rand.NewPCG(5, 9))
			nn.Walk(g, func(_ string, l nn.Module) {
				if s, ok := l.(*nn.ChannelScale); ok {
					for k := range s.Weight.Value.Data {
						s.Weight.Value.Data[k] = float32(0.5 + rng.Float64())
					}
				}
			})
			cm, err := infer.Compile(g, spec.Input, infer.Options{})
			if err != nil {
				t.Fatal(err)
			}
			x := randomInput(6, append([]int{3}, spec.Input...)...)
			r := cm.NewRunner(3)
			y, err := r.Run(x)
			if err != nil {
				t.Fatal(err)
			}
			if d := maxRelDiff(y, reference(g, x)); !(d < 1e-5) {
				t.Errorf("compiled output differs from the forward pass by %.3g·max|y|", d)
			}
			checkBatchIndependence(t, cm, spec.Input)
			defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
			x1 := tensor.FromSlice(x.Data[:len(x.Data)/3], append([]int{1}, spec.Input...)...)
			r.Run(x1)
			if n := testing.AllocsPerRun(5, func() { r.Run(x); r.Run(x1) }); n != 0 {
				t.Errorf("%v allocations per call", n)
			}
		})
	}
}
