package nn_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

func randVar(rng *rand.Rand, shape ...int) *autograd.Var {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return autograd.NewParam(t)
}

// gradCheck compares the gradients of L = Σ f(x)·r with respect to the
// inputs and parameters against central finite differences at up to 24
// coordinates of each tensor.
func gradCheck(t *testing.T, rng *rand.Rand, f func(c *nn.Ctx) *autograd.Var, vars map[string]*autograd.Var) {
	t.Helper()
	c := nn.NewCtx()
	c.Record(true)
	y := f(c)
	r := tensor.New(y.Value.Shape...)
	for i := range r.Data {
		r.Data[i] = float32(rng.NormFloat64())
	}
	c.Tape.BackwardFrom(y, r)
	loss := func() float64 {
		c := nn.NewCtx()
		var s float64
		for i, v := range f(c).Value.Data {
			s += float64(v) * float64(r.Data[i])
		}
		return s
	}
	const eps = 1e-2
	for name, v := range vars {
		if v.Grad == nil {
			t.Errorf("%s: no gradient", name)
			continue
		}
		var maxErr, maxRef float64
		for k := 0; k < 24; k++ {
			i := rng.IntN(len(v.Value.Data))
			old := v.Value.Data[i]
			v.Value.Data[i] = old + eps
			lp := loss()
			v.Value.Data[i] = old - eps
			lm := loss()
			v.Value.Data[i] = old
			fd := (lp - lm) / (2 * eps)
			maxErr = max(maxErr, math.Abs(fd-float64(v.Grad.Data[i])))
			maxRef = max(maxRef, math.Abs(fd))
		}
		if maxErr > 1e-2*maxRef+1e-3 {
			t.Errorf("%s: analytic gradient differs from finite differences by %.3g (max |fd| %.3g)", name, maxErr, maxRef)
		}
	}
}

func TestGradientsMatchFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(11, 12))
	t.Run("conv2d", func(t *testing.T) {
		m := nn.NewConv2d(3, 4, 3, nn.ConvOpts{Stride: 2, Padding: 1, Bias: true})
		nn.ResetParameters(m, 1)
		x := randVar(rng, 2, 3, 7, 6)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return m.Forward(c, x) }, map[string]*autograd.Var{"x": x, "weight": m.Weight, "bias": m.Bias})
	})
	t.Run("conv2d_1x1", func(t *testing.T) {
		m := nn.NewConv2d(3, 2, 1, nn.ConvOpts{})
		nn.ResetParameters(m, 1)
		x := randVar(rng, 2, 3, 4, 5)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return m.Forward(c, x) }, map[string]*autograd.Var{"x": x, "weight": m.Weight})
	})
	for _, gc := range []struct {
		name                         string
		in, out, k, stride, pad, grp int
		shape                        []int
	}{
		{"depthwise_3x3_s1", 4, 4, 3, 1, 1, 4, []int{2, 4, 6, 7}},
		{"depthwise_3x3_s2", 3, 3, 3, 2, 1, 3, []int{2, 3, 7, 6}},
		{"depthwise_5x5", 2, 2, 5, 1, 2, 2, []int{2, 2, 6, 5}},
		{"grouped_g2", 4, 6, 3, 1, 1, 2, []int{2, 4, 5, 5}},
	} {
		t.Run(gc.name, func(t *testing.T) {
			m := nn.NewConv2d(gc.in, gc.out, gc.k, nn.ConvOpts{Stride: gc.stride, Padding: gc.pad, Groups: gc.grp, Bias: true})
			nn.ResetParameters(m, 1)
			x := randVar(rng, gc.shape...)
			gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return m.Forward(c, x) }, map[string]*autograd.Var{"x": x, "weight": m.Weight, "bias": m.Bias})
		})
	}
	t.Run("relu6", func(t *testing.T) {
		x := randVar(rng, 2, 3, 4, 5)
		for i := range x.Value.Data {
			x.Value.Data[i] *= 5 // some above 6
		}
		r := nn.NewReLU6()
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return r.Forward(c, x) }, map[string]*autograd.Var{"x": x})
	})
	for _, training := range []bool{true, false} {
		name := map[bool]string{true: "batchnorm_train", false: "batchnorm_eval"}[training]
		t.Run(name, func(t *testing.T) {
			m := nn.NewBatchNorm2d(3)
			m.SetTraining(training)
			for i := range 3 {
				m.Weight.Value.Data[i] = 0.5 + float32(i)
				m.Bias.Value.Data[i] = float32(i) - 1
				m.RunningVar.Value.Data[i] = 0.5 + 0.5*float32(i)
			}
			x := randVar(rng, 4, 3, 3, 2)
			gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return m.Forward(c, x) }, map[string]*autograd.Var{"x": x, "gamma": m.Weight, "beta": m.Bias})
		})
	}
	t.Run("relu_maxpool_avgpool", func(t *testing.T) {
		x := randVar(rng, 2, 2, 7, 7)
		mp, ap := nn.NewMaxPool2d(3, 2, 1), nn.NewAvgPool2d(2, 2, 0)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			return ap.Forward(c, nn.Relu(c, mp.Forward(c, x)))
		}, map[string]*autograd.Var{"x": x})
	})
	t.Run("global_avgpool_flatten_linear", func(t *testing.T) {
		x := randVar(rng, 3, 4, 3, 3)
		l := nn.NewLinear(4, 5, true)
		nn.ResetParameters(l, 2)
		ga, fl := nn.NewAdaptiveAvgPool2d(), nn.NewFlatten()
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			return l.Forward(c, fl.Forward(c, ga.Forward(c, x)))
		}, map[string]*autograd.Var{"x": x, "weight": l.Weight, "bias": l.Bias})
	})
	t.Run("residual_fanout_shortcut", func(t *testing.T) {
		x := randVar(rng, 2, 2, 5, 4)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			a := nn.SubsamplePadChannels(c, nil, x, 2, 1, 4)
			b := nn.SubsamplePadChannels(c, nil, nn.Relu(c, x), 2, 2, 4)
			return nn.Add(c, nn.AddRelu(c, a, b), a) // x fans out twice, a twice
		}, map[string]*autograd.Var{"x": x})
	})
	t.Run("subsample_map_channels", func(t *testing.T) {
		x := randVar(rng, 2, 3, 5, 4)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			return nn.SubsampleMapChannels(c, nil, x, 2, 5, []int{4, -1, 1})
		}, map[string]*autograd.Var{"x": x})
	})
	t.Run("concat_sigmoid", func(t *testing.T) {
		a, b := randVar(rng, 2, 3, 4, 5), randVar(rng, 2, 2, 4, 5)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			return nn.Concat(c, nn.Sigmoid(c, a), b, a) // a read twice
		}, map[string]*autograd.Var{"a": a, "b": b})
	})
	t.Run("squeeze_excitation", func(t *testing.T) {
		x := randVar(rng, 2, 4, 3, 5)
		fc1, fc2 := nn.NewLinear(4, 2, true), nn.NewLinear(2, 4, true)
		nn.ResetParameters(fc1, 3)
		nn.ResetParameters(fc2, 4)
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var {
			g := nn.Sigmoid(c, fc2.Forward(c, nn.Relu(c, fc1.Forward(c, nn.GlobalAvgPool(c, x)))))
			return nn.MulChannels(c, x, nn.Reshape(c, g, 2, 4, 1, 1))
		}, map[string]*autograd.Var{"x": x, "fc1.weight": fc1.Weight, "fc2.weight": fc2.Weight, "fc2.bias": fc2.Bias})
	})
	t.Run("channel_scale", func(t *testing.T) {
		x := randVar(rng, 3, 4, 2, 3)
		m := nn.NewChannelScale(4)
		for i := range m.Weight.Value.Data {
			m.Weight.Value.Data[i] = float32(rng.NormFloat64())
		}
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return m.Forward(c, x) }, map[string]*autograd.Var{"x": x, "weight": m.Weight})
	})
	t.Run("cross_entropy_smoothed", func(t *testing.T) {
		x := randVar(rng, 5, 7)
		target := []int{0, 6, 3, 3, 1}
		gradCheck(t, rng, func(c *nn.Ctx) *autograd.Var { return nn.CrossEntropy(c, x, target, 0.1, nil) }, map[string]*autograd.Var{"logits": x})
	})
}
