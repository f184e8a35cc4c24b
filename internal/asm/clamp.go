package asm

import "math"

// Clamp computes dst[i] = min(max(src[i], lo), hi), precisely: v = src[i] > lo ? src[i] :
// lo, then v < hi ? v : hi, so that NaN gives lo (and, with lo = 0, −0 gives +0, as
// Relu). Clamp(dst, src, 0, 6) is ReLU6. dst may alias src. It panics if len(src) !=
// len(dst).
//
// Reference loop: for i := range dst { dst[i] = clampF(src[i], lo, hi) }
func Clamp(dst, src []float32, lo, hi float32) {
	checkLen("Clamp", "src", len(src), len(dst))
	src = src[:len(dst)]
	i := 0
	if len(dst) >= 8 && clampSIMD(dst, src, lo, hi) {
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = clampF(src[i], lo, hi)
	}
}

func clampF(v, lo, hi float32) float32 {
	if !(v > lo) {
		v = lo
	}
	if !(v < hi) {
		v = hi
	}
	return v
}

// ClampBackward computes the gradient of y = Clamp(x, lo, hi) from its output y: where lo <
// y[i] < hi it adds dy[i] into dx[i] (set: dx[i] = +0 + dy[i]), elsewhere — at the bounds
// and for NaN — it adds +0 (set: dx[i] = +0), bit for bit on every path, as torch's
// hardtanh_backward. It panics unless dy and y are as long as dx.
//
// Reference loop: for i := range dx { g := clampGrad(dy[i], y[i], lo, hi); if set { dx[i] = 0 + g } else { dx[i] += g } }
func ClampBackward(dx, dy, y []float32, lo, hi float32, set bool) {
	checkLen("ClampBackward", "dy", len(dy), len(dx))
	checkLen("ClampBackward", "y", len(y), len(dx))
	i := 0
	if len(dx) >= 8 && clampBackwardSIMD(dx, dy, y, lo, hi, set) {
		i = len(dx) &^ 7
	}
	for ; i < len(dx); i++ {
		g := clampGrad(dy[i], y[i], lo, hi)
		if set {
			dx[i] = 0 + g
		} else {
			dx[i] += g
		}
	}
}

// clampGrad returns dy where lo < y < hi and +0 elsewhere (a mask, without a branch on y).
func clampGrad(dy, y, lo, hi float32) float32 {
	keep := uint32(0)
	if y > lo && y < hi {
		keep = math.MaxUint32
	}
	return math.Float32frombits(math.Float32bits(dy) & keep)
}
