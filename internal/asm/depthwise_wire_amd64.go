//go:build !noasm && gc

package asm

import "unsafe"

// depthwiseSIMD runs the current path's depthwise kernel and reports whether there is one.
func depthwiseSIMD(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32) bool {
	var a dwArgs
	switch p := CurrentPath(); {
	case p == AVX512 && stride == 1 && dwSetupFlat(&a, y, x, w, bias, planes, h, wd, mode, hi):
		depthwise3x3s1FlatAVX512((*int64)(unsafe.Pointer(&a)))
	case p == AVX512 && dwSetup(&a, y, x, w, bias, planes, h, wd, stride, mode, hi, 16):
		if stride == 1 {
			depthwise3x3s1AVX512((*int64)(unsafe.Pointer(&a)))
		} else {
			depthwise3x3s2AVX512((*int64)(unsafe.Pointer(&a)))
		}
	case p == AVX2 && dwSetup(&a, y, x, w, bias, planes, h, wd, stride, mode, hi, 8):
		if stride == 1 {
			depthwise3x3s1AVX2((*int64)(unsafe.Pointer(&a)))
		} else {
			depthwise3x3s2AVX2((*int64)(unsafe.Pointer(&a)))
		}
	default:
		return false
	}
	return true
}

// clampSIMD runs the AVX2 Clamp kernel on both SIMD paths and reports whether it ran.
func clampSIMD(dst, src []float32, lo, hi float32) bool {
	switch CurrentPath() {
	case AVX512, AVX2:
		clampAVX2(dst, src, lo, hi)
		return true
	}
	return false
}

// clampBackwardSIMD runs the AVX2 ClampBackward kernels on both SIMD paths and reports
// whether they ran.
func clampBackwardSIMD(dx, dy, y []float32, lo, hi float32, set bool) bool {
	switch CurrentPath() {
	case AVX512, AVX2:
		if set {
			clampBackwardSetAVX2(dx, dy, y, lo, hi)
		} else {
			clampBackwardAVX2(dx, dy, y, lo, hi)
		}
		return true
	}
	return false
}

// depthwiseWgradSIMD runs the current path's depthwise weight-gradient kernel and reports
// whether there is one (the argument block as for Depthwise3x3, g in place of the weights
// and dy of the output).
func depthwiseWgradSIMD(g, x, dy []float32, planes, h, wd, stride int) bool {
	var a dwArgs
	switch p := CurrentPath(); {
	case p == AVX512 && dwSetup(&a, dy, x, g, nil, planes, h, wd, stride, 0, 0, 16):
		if stride == 1 {
			depthwiseWgrad3x3s1AVX512((*int64)(unsafe.Pointer(&a)))
		} else {
			depthwiseWgrad3x3s2AVX512((*int64)(unsafe.Pointer(&a)))
		}
	case p == AVX2 && dwSetup(&a, dy, x, g, nil, planes, h, wd, stride, 0, 0, 8):
		if stride == 1 {
			depthwiseWgrad3x3s1AVX2((*int64)(unsafe.Pointer(&a)))
		} else {
			depthwiseWgrad3x3s2AVX2((*int64)(unsafe.Pointer(&a)))
		}
	default:
		return false
	}
	return true
}

// depthwiseBackward2SIMD runs the current path's stride-2 depthwise data-gradient kernel
// and reports whether there is one.
func depthwiseBackward2SIMD(dx, dy, w []float32, planes, h, wd, mode int) bool {
	var a dwArgs
	switch p := CurrentPath(); {
	case p == AVX512 && dwSetupBackward2(&a, dx, dy, w, planes, h, wd, mode, 16):
		depthwiseBwd3x3s2AVX512((*int64)(unsafe.Pointer(&a)))
	case p == AVX2 && dwSetupBackward2(&a, dx, dy, w, planes, h, wd, mode, 8):
		depthwiseBwd3x3s2AVX2((*int64)(unsafe.Pointer(&a)))
	default:
		return false
	}
	return true
}
