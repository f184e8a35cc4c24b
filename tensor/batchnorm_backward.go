package tensor

import "fmt"

// BatchNormBackward computes the gradients of batch normalisation: it adds
// into dgamma and dbeta and sets dx = beta·dx + (the gradient below), given the statistics the forward pass normalised with
// (mean and variance per channel: the batch's in training mode, the running
// ones in evaluation mode):
//
//	x̂ = (x − μ)/√(σ²+eps),  dβ += Σ dy,  dγ += Σ dy·x̂
//	training:   dx ← beta·dx + γ/√(σ²+eps) · (dy − mean(dy) − x̂·mean(dy·x̂))
//	evaluation: dx ← beta·dx + γ/√(σ²+eps) · dy
//
// with sums and means over N·H·W per channel (accumulated in float64; channels
// in parallel).
// x, dy, dx: [N, C, H, W]; gamma, mean, variance, dgamma, dbeta: [C]; dx,
// dgamma, dbeta may be nil when not wanted. When sq is not nil, each sample's
// squared γ and β gradients are added into sq.W and sq.B. beta 0 sets dx (which
// need not be initialised; bit for bit what beta 1 adds into a zeroed dx), beta 1
// adds into it, any other beta scales dx first.
func BatchNormBackward(dx, dy, x *Tensor, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads, beta float32) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormBackward", dy, n, c, h, w)
	if dx != nil {
		checkShape4("BatchNormBackward", dx, n, c, h, w)
	}
	if len(gamma) != c || len(mean) != c || len(variance) != c {
		panic(fmt.Sprintf("tensor.BatchNormBackward: per-channel vectors for %d channels", c))
	}
	add := dx != nil && betaAdds(dx, beta)
	runBN(bnTask{x: x, dx: dx, dy: dy, gamma: gamma, mean: mean, variance: variance, eps: eps,
		training: training, dgamma: dgamma, dbeta: dbeta, sq: sq, add: add})
}

// BatchNormReluBackward is the backward pass of y = relu(batchnorm(x))
// (BatchNormReluTrain or BatchNormReluEval) given dy = ∂L/∂y: bit for bit
// what ReluBackward followed by BatchNormBackward give, without the ReLU's
// gradient as a tensor and without y: the ReLU's mask is recomputed from x
// with scale and shift, the factors the forward pass returned. When add is
// false dx is set (to what BatchNormBackward adds into a zeroed dx) instead
// of added into. The other arguments as in BatchNormBackward.
func BatchNormReluBackward(dx, dy, x *Tensor, scale, shift, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads, add bool) {
	if scale == nil || shift == nil {
		panic("tensor.BatchNormReluBackward: no scale and shift")
	}
	checkBNBackward("BatchNormReluBackward", dx, nil, dy, nil, x, gamma, mean, variance, scale, shift)
	runBN(bnTask{relu: true, add: add, x: x, dx: dx, dy: dy, scale: scale, shift: shift, gamma: gamma, mean: mean,
		variance: variance, eps: eps, training: training, dgamma: dgamma, dbeta: dbeta, sq: sq})
}

// BatchNormAddReluBackward is the backward pass of the tail of a residual
// block, y = relu(batchnorm(x) + s) (BatchNormAddReluTrain or
// BatchNormAddReluEval), given dy = ∂L/∂y and y: bit for bit what
// ReluBackward (into ds and into the normalisation's gradient) followed by
// BatchNormBackward give, in two passes over dy, y and x. dx and ds (either
// may be nil) are added into when addDx and addDs are true, else set. The
// other arguments as in BatchNormBackward.
func BatchNormAddReluBackward(dx, ds, dy, y, x *Tensor, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads, addDx, addDs bool) {
	if y == nil {
		panic("tensor.BatchNormAddReluBackward: no y")
	}
	checkBNBackward("BatchNormAddReluBackward", dx, ds, dy, y, x, gamma, mean, variance, nil, nil)
	runBN(bnTask{relu: true, add: addDx, addS: addDs, x: x, y: y, dx: dx, ds: ds, dy: dy, gamma: gamma, mean: mean,
		variance: variance, eps: eps, training: training, dgamma: dgamma, dbeta: dbeta, sq: sq})
}

// checkBNBackward panics unless the tensors that are not nil have x's shape
// and the per-channel vectors that are not nil have C values.
func checkBNBackward(op string, dx, ds, dy, y, x *Tensor, gamma, mean, variance, scale, shift []float32) {
	n, c, h, w := x.NCHW()
	for _, t := range []*Tensor{dx, ds, dy, y} {
		if t != nil {
			checkShape4(op, t, n, c, h, w)
		}
	}
	for i, v := range [][]float32{gamma, mean, variance, scale, shift} {
		if len(v) != c && !(i >= 3 && v == nil) {
			panic(fmt.Sprintf("tensor.%s: per-channel vectors for %d channels", op, c))
		}
	}
}
