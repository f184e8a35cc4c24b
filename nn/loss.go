package nn

import (
	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// CrossEntropy returns the mean cross-entropy of logits: [N, K] against
// class indices target: [N], with label smoothing eps (0 for none), as
// torch.nn.functional.cross_entropy. The result is a 1-element Var; each
// sample's own loss is written into perSample when it is not nil.
func CrossEntropy(c *Ctx, logits *autograd.Var, target []int, eps float32, perSample []float32) *autograd.Var {
	loss := c.Get(1)
	loss.Value.Data[0] = float32(tensor.CrossEntropySmoothed(perSample, logits.Value, target, eps))
	n := logits.Value.Shape[0]
	c.record("cross_entropy", nil, loss, func() {
		if d := c.grad(logits); d != nil {
			tensor.CrossEntropyBackward(d, logits.Value, target, eps, loss.Grad.Data[0]/float32(n))
		}
	}, logits)
	return loss
}
