package tensor

import (
	"fmt"
	"math"
)

// BatchNormEval applies batch normalisation with fixed statistics, as
// PyTorch does in evaluation mode:
//
//	y[n,c,·] = x[n,c,·]·α[c] + β'[c],  α = γ/√(var+eps),  β' = β − mean·α
//
// x, y: [N, C, H, W] (y may be x); gamma, beta, mean, variance: [C].
func BatchNormEval(y, x *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormEval", y, n, c, h, w)
	for _, v := range [][]float32{gamma, beta, mean, variance} {
		if len(v) != c {
			panic(fmt.Sprintf("tensor.BatchNormEval: per-channel vector of %d values for %d channels", len(v), c))
		}
	}
	batchNormEval(&bnTask{x: x, y: y, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}

// BatchNormTrain normalises x with its own per-channel batch statistics, as
// PyTorch does in training mode, and returns them:
//
//	y[n,c,·] = (x[n,c,·] − μ[c]) / √(σ²[c] + eps) · γ[c] + β[c]
//
// with μ and the biased variance σ² over N·H·W values (accumulated in
// float64, as moments about the channel's first value). mean and variance
// receive μ and σ² ([C]) for the caller to update its running statistics.
// x, y: [N, C, H, W] (y may be x). Channels are computed in parallel.
func BatchNormTrain(y, x *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormTrain", y, n, c, h, w)
	for _, v := range [][]float32{gamma, beta, mean, variance} {
		if len(v) != c {
			panic(fmt.Sprintf("tensor.BatchNormTrain: per-channel vector of %d values for %d channels", len(v), c))
		}
	}
	runBN(bnTask{train: true, x: x, y: y, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}

// batchNormEval runs the evaluation-mode forward pass of t (y, x, s, relu, the statistics
// and the optional scale and shift outputs), channel by channel.
func batchNormEval(t *bnTask) {
	n, c, h, w := t.x.NCHW()
	plane := h * w
	for ch := range c {
		alpha, shift := bnScaleShift(t.gamma[ch], t.beta[ch], t.mean[ch], t.variance[ch], t.eps)
		if t.scale != nil {
			t.scale[ch], t.shift[ch] = alpha, shift
		}
		for i := range n {
			off := (i*c + ch) * plane
			t.apply(off, off+plane, alpha, shift)
		}
	}
}

// bnScaleShift returns the factors of the evaluation-mode batch normalisation of one
// channel, y = float32(x·scale) + shift.
func bnScaleShift(gamma, beta, mean, variance, eps float32) (scale, shift float32) {
	scale = gamma / float32(math.Sqrt(float64(variance+eps)))
	return scale, beta - float32(mean*scale)
}

// BatchNormScaleShift sets scale and shift to the per-channel factors with which
// BatchNormEval (and the fused forms) compute y = float32(x·scale[c]) + shift[c], bit for
// bit: scale = γ/√(var+eps), shift = β − mean·scale. All vectors are [C].
func BatchNormScaleShift(scale, shift, gamma, beta, mean, variance []float32, eps float32) {
	c := len(scale)
	for _, v := range [][]float32{shift, gamma, beta, mean, variance} {
		if len(v) != c {
			panic(fmt.Sprintf("tensor.BatchNormScaleShift: per-channel vector of %d values for %d channels", len(v), c))
		}
	}
	for ch := range c {
		scale[ch], shift[ch] = bnScaleShift(gamma[ch], beta[ch], mean[ch], variance[ch], eps)
	}
}

// BatchNormReluTrain is BatchNormTrain followed by Relu in one pass over the
// output: y = max(BatchNormTrain(x), 0), bit for bit (mean and variance as in
// BatchNormTrain). scale and shift, when not nil, receive the per-channel
// factors the output was computed with, y = max(float32(x·scale) + shift, 0),
// for BatchNormReluBackward. x, y: [N, C, H, W] (y may be x); gamma, beta,
// mean, variance, scale, shift: [C].
func BatchNormReluTrain(y, x *Tensor, gamma, beta, mean, variance, scale, shift []float32, eps float32) {
	checkBN("BatchNormReluTrain", y, x, nil, gamma, beta, mean, variance, scale, shift)
	runBN(bnTask{train: true, relu: true, x: x, y: y, gamma: gamma, beta: beta, mean: mean, variance: variance,
		scale: scale, shift: shift, eps: eps})
}

// BatchNormAddReluTrain is the tail of a residual block in training mode,
// y = max(BatchNormTrain(x) + s, 0), in one pass over the output and bit for
// bit BatchNormTrain, Add and Relu in turn. x, s, y: [N, C, H, W] (y may be x
// or s).
func BatchNormAddReluTrain(y, x, s *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	checkBN("BatchNormAddReluTrain", y, x, s, gamma, beta, mean, variance, nil, nil)
	runBN(bnTask{train: true, relu: true, x: x, y: y, s: s, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}

// BatchNormReluEval is BatchNormEval followed by Relu in one pass over the
// output, bit for bit; scale and shift (may be nil) as in BatchNormReluTrain.
func BatchNormReluEval(y, x *Tensor, gamma, beta, mean, variance, scale, shift []float32, eps float32) {
	checkBN("BatchNormReluEval", y, x, nil, gamma, beta, mean, variance, scale, shift)
	batchNormEval(&bnTask{relu: true, x: x, y: y, gamma: gamma, beta: beta, mean: mean, variance: variance,
		scale: scale, shift: shift, eps: eps})
}

// BatchNormAddReluEval is BatchNormEval, Add and Relu in one pass:
// y = max(BatchNormEval(x) + s, 0), bit for bit.
func BatchNormAddReluEval(y, x, s *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	checkBN("BatchNormAddReluEval", y, x, s, gamma, beta, mean, variance, nil, nil)
	batchNormEval(&bnTask{relu: true, x: x, y: y, s: s, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}

// checkBN panics unless y (and s, when not nil) has x's shape [N, C, H, W]
// and the per-channel vectors have C values (scale and shift may both be nil).
func checkBN(op string, y, x, s *Tensor, gamma, beta, mean, variance, scale, shift []float32) {
	n, c, h, w := x.NCHW()
	checkShape4(op, y, n, c, h, w)
	if s != nil {
		checkShape4(op, s, n, c, h, w)
	}
	if (scale == nil) != (shift == nil) {
		panic(fmt.Sprintf("tensor.%s: scale and shift must both be given or both be nil", op))
	}
	for i, v := range [][]float32{gamma, beta, mean, variance, scale, shift} {
		if len(v) != c && !(i >= 4 && v == nil) {
			panic(fmt.Sprintf("tensor.%s: per-channel vector of %d values for %d channels", op, len(v), c))
		}
	}
}
