package nn_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// checkSquaredGrads compares the per-sample squared gradients that one
// batched backward pass accumulates with a brute-force loop of batch-size-1
// backward passes, for the mean cross-entropy of m over x: [N, …].
func checkSquaredGrads(t *testing.T, m nn.Module, x *tensor.Tensor, target []int) {
	t.Helper()
	nn.SetTraining(m, false)
	n := x.Shape[0]
	params := nn.Parameters(m)
	// Brute force: Σ_n (∂ℓ_n/∂w)² from N separate backward passes.
	want := make([][]float32, len(params))
	for i, p := range params {
		want[i] = make([]float32, p.Var.Value.Numel())
	}
	per := x.Numel() / n
	for s := range n {
		for _, p := range params {
			p.Var.Grad = nil
		}
		c := nn.NewCtx()
		c.Record(true)
		xs := tensor.FromSlice(x.Data[s*per:(s+1)*per], append([]int{1}, x.Shape[1:]...)...)
		c.Backward(nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(xs)), target[s:s+1], 0, nil))
		for i, p := range params {
			for j, g := range p.Var.Grad.Data {
				want[i][j] += g * g
			}
		}
	}
	for _, p := range params {
		p.Var.Grad = nil
	}
	nn.TrackSquaredGrads(m, true)
	defer nn.TrackSquaredGrads(m, false)
	c := nn.NewCtx()
	c.Record(true)
	c.Tape.SampleScale = float32(n) // the loss is a mean over n samples
	c.Backward(nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), target, 0, nil))
	for i, p := range params {
		if p.Var.SqGrad == nil {
			t.Errorf("%s: no squared-gradient buffer", p.Key)
			continue
		}
		testutil.Close(t, p.Key, p.Var.SqGrad.Data, want[i], 1e-5)
	}
}

func TestSquaredGradsMatchPerSampleLoop(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 6))
	randT := func(shape ...int) *tensor.Tensor { return randVar(rng, shape...).Value }
	t.Run("conv", func(t *testing.T) {
		conv := nn.NewConv2d(3, 4, 3, nn.ConvOpts{Stride: 2, Padding: 1, Bias: true})
		m := nn.NewSequential(conv, nn.NewFlatten(), nn.NewLinear(4*3*3, 5, false))
		nn.ResetParameters(m, 3)
		checkSquaredGrads(t, m, randT(6, 3, 5, 6), []int{0, 1, 4, 2, 2, 3})
	})
	t.Run("depthwise_grouped", func(t *testing.T) {
		dw := nn.NewConv2d(4, 4, 3, nn.ConvOpts{Stride: 2, Padding: 1, Groups: 4, Bias: true})
		g := nn.NewConv2d(4, 6, 3, nn.ConvOpts{Padding: 1, Groups: 2})
		m := nn.NewSequential(g, nn.NewReLU6(), nn.NewConv2d(6, 6, 3, nn.ConvOpts{Padding: 1, Groups: 6}), nn.NewReLU6(),
			nn.NewConv2d(6, 4, 1, nn.ConvOpts{}), dw, nn.NewFlatten(), nn.NewLinear(4*3*3, 5, false))
		nn.ResetParameters(m, 3)
		x := randT(6, 4, 5, 6)
		for i := range x.Data {
			x.Data[i] *= 4 // some activations above 6
		}
		checkSquaredGrads(t, m, x, []int{0, 1, 4, 2, 2, 3})
	})
	t.Run("channel_scale", func(t *testing.T) {
		sc := nn.NewChannelScale(4)
		m := nn.NewSequential(nn.NewConv2d(3, 4, 3, nn.ConvOpts{Padding: 1}), sc, nn.NewFlatten(), nn.NewLinear(4*3*4, 5, false))
		nn.ResetParameters(m, 3)
		for i := range sc.Weight.Value.Data {
			sc.Weight.Value.Data[i] = float32(rng.NormFloat64())
		}
		checkSquaredGrads(t, m, randT(6, 3, 3, 4), []int{0, 1, 4, 2, 2, 3})
	})
	t.Run("linear", func(t *testing.T) {
		m := nn.NewSequential(nn.NewLinear(7, 6, true), nn.NewReLU(), nn.NewLinear(6, 4, true))
		nn.ResetParameters(m, 4)
		checkSquaredGrads(t, m, randT(5, 7), []int{3, 0, 1, 1, 2})
	})
	t.Run("resnet20", func(t *testing.T) {
		if testing.Short() {
			t.Skip("whole ResNet-20 under -short")
		}
		m, err := zoo.New("resnet20")
		if err != nil {
			t.Fatal(err)
		}
		nn.ResetParameters(m, 5)
		// Non-trivial BN statistics and affine parameters.
		for _, e := range nn.State(m) {
			if e.Kind != nn.Counter && e.Var.Value.Dims() == 1 {
				for i := range e.Var.Value.Data {
					e.Var.Value.Data[i] += 0.1 * float32(rng.Float64())
				}
			}
		}
		checkSquaredGrads(t, m, randT(4, 3, 32, 32), []int{1, 7, 3, 9})
	})
}
