//go:build !noasm && gc

package asm

// depthwiseSIMD runs the current path's depthwise kernel and reports whether there is one.
func depthwiseSIMD(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32) bool {
	return false
}

// clampSIMD runs the AVX2 Clamp kernel on both SIMD paths and reports whether it ran.
func clampSIMD(dst, src []float32, lo, hi float32) bool {
	return false
}
