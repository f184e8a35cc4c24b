package nn

import (
	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Add returns a + b (a residual join). a, b: same shape → same shape.
func Add(c *Ctx, a, b *autograd.Var) *autograd.Var {
	y := c.Get(a.Value.Shape...)
	tensor.Add(y.Value, a.Value, b.Value)
	return y
}

// Relu returns max(x, 0) without a module, as torch.nn.functional.relu.
func Relu(c *Ctx, x *autograd.Var) *autograd.Var {
	y := c.Get(x.Value.Shape...)
	tensor.Relu(y.Value, x.Value)
	return y
}
