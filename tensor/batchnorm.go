package tensor

import (
	"fmt"
	"math"

	"github.com/bonsai-dl/bonsai/asm"
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
	batchNormEval(y, x, gamma, beta, mean, variance, eps, false)
}

// BatchNormReluEval is BatchNormEval followed by Relu in one pass over the
// output: y = max(BatchNormEval(x), 0), bit for bit. Shapes as in
// BatchNormEval.
func BatchNormReluEval(y, x *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormReluEval", y, n, c, h, w)
	for _, v := range [][]float32{gamma, beta, mean, variance} {
		if len(v) != c {
			panic(fmt.Sprintf("tensor.BatchNormReluEval: per-channel vector of %d values for %d channels", len(v), c))
		}
	}
	batchNormEval(y, x, gamma, beta, mean, variance, eps, true)
}

func batchNormEval(y, x *Tensor, gamma, beta, mean, variance []float32, eps float32, relu bool) {
	n, c, h, w := x.NCHW()
	plane := h * w
	for ch := range c {
		alpha := gamma[ch] / float32(math.Sqrt(float64(variance[ch]+eps)))
		shift := beta[ch] - mean[ch]*alpha
		for i := range n {
			off := (i*c + ch) * plane
			if relu {
				asm.ScaleShiftRelu(y.Data[off:off+plane], x.Data[off:off+plane], alpha, shift)
			} else {
				asm.ScaleShift(y.Data[off:off+plane], x.Data[off:off+plane], alpha, shift)
			}
		}
	}
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

// BatchNormReluTrain is BatchNormTrain followed by Relu in one pass over the
// output: y = max(BatchNormTrain(x), 0), bit for bit (mean and variance as in
// BatchNormTrain). x, y: [N, C, H, W] (y may be x).
func BatchNormReluTrain(y, x *Tensor, gamma, beta, mean, variance []float32, eps float32) {
	n, c, h, w := x.NCHW()
	checkShape4("BatchNormReluTrain", y, n, c, h, w)
	for _, v := range [][]float32{gamma, beta, mean, variance} {
		if len(v) != c {
			panic(fmt.Sprintf("tensor.BatchNormReluTrain: per-channel vector of %d values for %d channels", len(v), c))
		}
	}
	runBN(bnTask{train: true, relu: true, x: x, y: y, gamma: gamma, beta: beta, mean: mean, variance: variance, eps: eps})
}
