//go:build noasm || !gc || !amd64

package asm

func depthwiseSIMD(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32) bool {
	return false
}

func clampSIMD(dst, src []float32, lo, hi float32) bool { return false }

func depthwiseWgradSIMD(g, x, dy []float32, planes, h, wd, stride int) bool { return false }

func depthwiseBackward2SIMD(dx, dy, w []float32, planes, h, wd, mode int) bool { return false }

func clampBackwardSIMD(dx, dy, y []float32, lo, hi float32, set bool) bool { return false }
