package asm

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
