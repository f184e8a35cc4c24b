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
	c.record(OpCrossEntropy, nil, loss, func() {
		if d := c.grad(logits); d != nil {
			tensor.CrossEntropyBackward(d, logits.Value, target, eps, loss.Grad.Data[0]/float32(n))
		}
	}, logits)
	return loss
}

// DistillCrossEntropy returns the loss of a student trained against a
// teacher's logits as well as the labels (Hinton et al., 2015):
//
//	(1 − alpha) · CrossEntropy(logits, target) + alpha · tensor.Distill(logits, teacher, t)
//
// logits: [N, K] (recorded), teacher: [N, K] (a constant: no gradient flows
// into it), target: N labels.
func DistillCrossEntropy(c *Ctx, logits *autograd.Var, teacher *tensor.Tensor, target []int, t, alpha float64) *autograd.Var {
	loss := c.Get(1)
	ce := tensor.CrossEntropy(nil, logits.Value, target)
	kd := tensor.Distill(logits.Value, teacher, t)
	loss.Value.Data[0] = float32((1-alpha)*ce + alpha*kd)
	n := logits.Value.Shape[0]
	c.record(OpDistillCrossEntropy, nil, loss, func() {
		if d := c.grad(logits); d != nil {
			up := loss.Grad.Data[0] / float32(n)
			tensor.CrossEntropyBackward(d, logits.Value, target, 0, float32(1-alpha)*up)
			tensor.DistillBackward(d, logits.Value, teacher, t, float32(alpha)*up)
		}
	}, logits)
	return loss
}
