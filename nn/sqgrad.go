package nn

import (
	"github.com/bonsai-dl/bonsai/tensor"
)

// TrackSquaredGrads gives every parameter of m whose layer's backward pass
// computes per-sample squared gradients (its adapter's SquaredGrads:
// Conv2d and Linear weights and biases, BatchNorm2d γ and β) a zeroed
// buffer (Var.SqGrad), so that each backward pass adds Σ_n (∂ℓ_n/∂w)² into
// it, sample by sample, inside the weight-gradient kernels. Set the tape's
// SampleScale to the batch size when the loss is a mean. With on false
// the buffers are removed. BatchNorm should be in evaluation mode: in
// training mode the samples of a batch are coupled and ℓ_n is not a
// function of sample n alone.
func TrackSquaredGrads(m Module, on bool) {
	Walk(m, func(_ string, l Module) {
		a, ok := AdapterOf(l)
		if !ok {
			return
		}
		for _, v := range a.SquaredGrads(l) {
			switch {
			case v == nil:
			case !on:
				v.SqGrad = nil
			case v.SqGrad == nil:
				v.SqGrad = tensor.New(v.Value.Shape...)
			default:
				clear(v.SqGrad.Data)
			}
		}
	})
}
