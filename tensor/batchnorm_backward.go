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
		training: training, dgamma: dgamma, dbeta: dbeta, sq: sq, add: true})
}

// BatchNormReluBackward is the backward pass of y = relu(batchnorm(x))
// (BatchNormReluTrain, or BatchNormEval followed by Relu) without the
// ReLU's gradient as a tensor: given dy = ∂L/∂y and y, it computes what
// ReluBackward followed by BatchNormBackward computes, bit for bit (dy counts
// where y > 0, as in ReluBackward). When add is false dx is set, not added
// into, and need not be initialised (it receives what BatchNormBackward
// would add into a zeroed dx). Shapes and the other arguments as in
// BatchNormBackward; y: [N, C, H, W], or nil for a batch normalisation
// without a ReLU (BatchNormBackward, with the choice of setting dx).
func BatchNormReluBackward(dx, dy, y, x *Tensor, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads, add bool) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormReluBackward", dy, n, c, h, w)
	if y != nil {
		checkShape4("BatchNormReluBackward", y, n, c, h, w)
	}
	if dx != nil {
		checkShape4("BatchNormReluBackward", dx, n, c, h, w)
	}
	if len(gamma) != c || len(mean) != c || len(variance) != c {
		panic(fmt.Sprintf("tensor.BatchNormReluBackward: per-channel vectors for %d channels", c))
	}
	runBN(bnTask{x: x, y: y, relu: y != nil, add: add, dx: dx, dy: dy, gamma: gamma, mean: mean, variance: variance, eps: eps,
		training: training, dgamma: dgamma, dbeta: dbeta, sq: sq})
}
