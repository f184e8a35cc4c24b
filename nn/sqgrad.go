package nn

import (
	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TrackSquaredGrads gives every Conv2d and Linear weight and bias and every
// BatchNorm2d γ and β of m a zeroed per-sample squared-gradient buffer
// (Var.SqGrad), so that each backward pass adds Σ_n (∂ℓ_n/∂w)² into it,
// sample by sample, inside the weight-gradient kernels. Set the tape's
// SampleScale to the batch size when the loss is a mean. With on false
// the buffers are removed. BatchNorm should be in evaluation mode: in
// training mode the samples of a batch are coupled and ℓ_n is not a
// function of sample n alone.
func TrackSquaredGrads(m Module, on bool) {
	Walk(m, func(_ string, l Module) {
		var vs []*autograd.Var
		switch l := l.(type) {
		case *Conv2d:
			vs = []*autograd.Var{l.Weight, l.Bias}
		case *Linear:
			vs = []*autograd.Var{l.Weight, l.Bias}
		case *BatchNorm2d:
			vs = []*autograd.Var{l.Weight, l.Bias}
		}
		for _, v := range vs {
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
