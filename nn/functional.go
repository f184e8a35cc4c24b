package nn

import (
	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Add returns a + b (a residual join). a, b: same shape → same shape.
func Add(c *Ctx, a, b *autograd.Var) *autograd.Var {
	y := c.Get(a.Value.Shape...)
	tensor.Add(y.Value, a.Value, b.Value)
	c.record(OpAdd, nil, y, func() {
		for _, in := range []*autograd.Var{a, b} {
			if d := c.grad(in); d != nil {
				tensor.Accumulate(d, y.Grad)
			}
		}
	}, a, b)
	return y
}

// AddRelu returns max(a + b, 0): a residual join followed by ReLU.
func AddRelu(c *Ctx, a, b *autograd.Var) *autograd.Var {
	y := c.Get(a.Value.Shape...)
	tensor.AddRelu(y.Value, a.Value, b.Value)
	c.record(OpAddReLU, nil, y, func() {
		if a == b { // one buffer receives both gradients
			if d := c.grad(a); d != nil {
				tensor.ReluBackward(d, y.Grad, y.Value, 1)
				tensor.ReluBackward(d, y.Grad, y.Value, 1)
			}
			return
		}
		da, freshA := c.gradOut(a)
		db, freshB := c.gradOut(b)
		if freshA && freshB {
			tensor.ReluBackwardSet2(da, db, y.Grad, y.Value)
			return
		}
		reluGrad(da, freshA, y)
		reluGrad(db, freshB, y)
	}, a, b)
	return y
}

// reluGrad sets (fresh) or adds the gradient of y = relu(…) into d, when d
// is not nil.
func reluGrad(d *tensor.Tensor, fresh bool, y *autograd.Var) {
	if d != nil {
		tensor.ReluBackward(d, y.Grad, y.Value, beta(fresh))
	}
}

// beta is the beta argument of a backward kernel (dx = beta·dx + gradient) for a
// gradient buffer that is fresh (0: set it) or already holds a gradient (1: add).
func beta(fresh bool) float32 {
	if fresh {
		return 0
	}
	return 1
}

// Relu returns max(x, 0) without a module, as torch.nn.functional.relu.
func Relu(c *Ctx, x *autograd.Var) *autograd.Var { return relu(c, nil, x) }

// Reshape returns x viewed with another shape of the same size (one
// dimension may be −1); the value shares x's data.
func Reshape(c *Ctx, x *autograd.Var, shape ...int) *autograd.Var {
	return reshape(c, nil, x, shape...)
}

func reshape(c *Ctx, src any, x *autograd.Var, shape ...int) *autograd.Var {
	y := autograd.NewVar(x.Value.View(shape...))
	c.record(OpReshape, src, y, func() {
		if dx := c.grad(x); dx != nil {
			tensor.Accumulate(dx, y.Grad)
		}
	}, x)
	return y
}

// SubsamplePadChannels is the CIFAR ResNet option-A shortcut:
// zero-pad-channels(x[:, :, ::stride, ::stride]) to out channels with
// padBefore zero channels first. [N, C, H, W] → [N, out, ⌈H/s⌉, ⌈W/s⌉].
func SubsamplePadChannels(c *Ctx, src any, x *autograd.Var, stride, padBefore, out int) *autograd.Var {
	n, _, h, w := x.Value.NCHW()
	y := c.Get(n, out, (h+stride-1)/stride, (w+stride-1)/stride)
	tensor.SubsamplePadChannels(y.Value, x.Value, stride, padBefore)
	c.record(OpSubsamplePad, src, y, func() {
		if dx, fresh := c.gradOut(x); dx != nil {
			tensor.SubsamplePadChannelsBackward(dx, y.Grad, stride, padBefore, beta(fresh))
		}
	}, x)
	return y
}

// SubsampleMapChannels is the option-A shortcut after channel pruning:
// y[:, dst[j]] = x[:, j, ::stride, ::stride] for each input channel j with
// dst[j] ≥ 0 (dst[j] < 0 drops channel j); the other out − … channels are
// zero. SubsamplePadChannels(c, src, x, s, p, out) is dst[j] = j + p.
// [N, C, H, W], len(dst) = C → [N, out, ⌈H/s⌉, ⌈W/s⌉].
func SubsampleMapChannels(c *Ctx, src any, x *autograd.Var, stride, out int, dst []int) *autograd.Var {
	n, _, h, w := x.Value.NCHW()
	y := c.Get(n, out, (h+stride-1)/stride, (w+stride-1)/stride)
	tensor.SubsampleMapChannels(y.Value, x.Value, stride, dst)
	c.record(OpSubsampleMap, src, y, func() {
		if dx, fresh := c.gradOut(x); dx != nil {
			if fresh {
				tensor.Clear(dx)
			}
			tensor.SubsampleMapChannelsBackward(dx, y.Grad, stride, dst)
		}
	}, x)
	return y
}
