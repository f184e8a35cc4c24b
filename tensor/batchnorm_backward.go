package tensor

import (
	"fmt"
	"math"
)

// BatchNormBackward adds the gradients of batch normalisation into dx,
// dgamma and dbeta, given the statistics the forward pass normalised with
// (mean and variance per channel: the batch's in training mode, the running
// ones in evaluation mode):
//
//	x̂ = (x − μ)/√(σ²+eps),  dβ += Σ dy,  dγ += Σ dy·x̂
//	training:   dx += γ/√(σ²+eps) · (dy − mean(dy) − x̂·mean(dy·x̂))
//	evaluation: dx += γ/√(σ²+eps) · dy
//
// with sums and means over N·H·W per channel (accumulated in float64).
// x, dy, dx: [N, C, H, W]; gamma, mean, variance, dgamma, dbeta: [C]; dx,
// dgamma, dbeta may be nil when not wanted. When sq is not nil, each sample's
// squared γ and β gradients are added into sq.W and sq.B.
func BatchNormBackward(dx, dy, x *Tensor, gamma, mean, variance []float32, eps float32, training bool, dgamma, dbeta []float32, sq *SquaredGrads) {
	n, c, h, w := x.NCHW()
	mustShape("BatchNormBackward", dy, n, c, h, w)
	if dx != nil {
		mustShape("BatchNormBackward", dx, n, c, h, w)
	}
	if len(gamma) != c || len(mean) != c || len(variance) != c {
		panic(fmt.Sprintf("tensor.BatchNormBackward: per-channel vectors for %d channels", c))
	}
	plane := h * w
	m := float64(n * plane)
	for ch := range c {
		mu := float64(mean[ch])
		invstd := 1 / math.Sqrt(float64(variance[ch])+float64(eps))
		var sdy, sdyx float64
		for i := range n {
			off := (i*c + ch) * plane
			var s, sx float64
			for j, g := range dy.Data[off : off+plane] {
				s += float64(g)
				sx += float64(g) * (float64(x.Data[off+j]) - mu) * invstd
			}
			sdy += s
			sdyx += sx
			if sq != nil {
				if sq.W != nil {
					v := float64(sq.Scale) * sx
					sq.W[ch] += float32(v * v)
				}
				if sq.B != nil {
					v := float64(sq.Scale) * s
					sq.B[ch] += float32(v * v)
				}
			}
		}
		if dgamma != nil {
			dgamma[ch] += float32(sdyx)
		}
		if dbeta != nil {
			dbeta[ch] += float32(sdy)
		}
		if dx == nil {
			continue
		}
		k := float64(gamma[ch]) * invstd
		for i := range n {
			off := (i*c + ch) * plane
			dxs, dys, xs := dx.Data[off:off+plane], dy.Data[off:off+plane], x.Data[off:off+plane]
			if !training {
				for j, g := range dys {
					dxs[j] += float32(k * float64(g))
				}
				continue
			}
			mdy, mdyx := sdy/m, sdyx/m
			for j, g := range dys {
				xh := (float64(xs[j]) - mu) * invstd
				dxs[j] += float32(k * (float64(g) - mdy - xh*mdyx))
			}
		}
	}
}
