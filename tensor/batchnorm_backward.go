package tensor

import "fmt"

// BatchNormBackward adds the gradients of batch normalisation into dx,
// dgamma and dbeta, given the statistics the forward pass normalised with
// (mean and variance per channel: the batch's in training mode, the running
// ones in evaluation mode):
//
//	x̂ = (x − μ)/√(σ²+eps),  dβ += Σ dy,  dγ += Σ dy·x̂
//	training:   dx += γ/√(σ²+eps) · (dy − mean(dy) − x̂·mean(dy·x̂))
//	evaluation: dx += γ/√(σ²+eps) · dy
//
// with sums and means over N·H·W per channel (accumulated in float64; channels
// in parallel).
// x, dy, dx: [N, C, H, W]; gamma, mean, variance, dgamma, dbeta: [C]; dx,
// dgamma, dbeta may be nil when not wanted. When sq is not nil, each sample's
// squared γ and β gradients are added into sq.W and sq.B.
func BatchNormBackward(dx, dy, x *Tensor, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormBackward", dy, n, c, h, w)
	if dx != nil {
		checkShape4("BatchNormBackward", dx, n, c, h, w)
	}
	if len(gamma) != c || len(mean) != c || len(variance) != c {
		panic(fmt.Sprintf("tensor.BatchNormBackward: per-channel vectors for %d channels", c))
	}
	runBN(bnTask{x: x, dx: dx, dy: dy, gamma: gamma, mean: mean, variance: variance, eps: eps,
		training: training, dgamma: dgamma, dbeta: dbeta, sq: sq})
}
