//go:build !noasm && gc

package asm

import "unsafe"

// archConvKernel returns the assembly direct-convolution kernels of path p, or nil.
func archConvKernel(p Path) *ConvKernel {
	switch p {
	case AVX512:
		return avx512Conv
	case AVX2:
		return avx2Conv
	}
	return nil
}

// The generated kernels (_gen/conv), by {nic, r, c, nv}. TestWgradMatchesGo checks every
// entry against the Go twin of its shape, and that every shape up to the largest nic has one.
var (
	avx512Conv = &ConvKernel{Path: AVX512, MR: 8, Lanes: 16, Vecs: 3,
		tile:     func(a *ConvTileArgs) { convTile8x48AVX512((*int64)(unsafe.Pointer(a))) },
		pairTile: func(a *ConvTileArgs) { convTilePair8x48AVX512((*int64)(unsafe.Pointer(a))) },
		wgrad: wgradTable(map[wgradKey]func(*int64){
			{1, 3, 3, 1}: wgrad1x3x3x1AVX512, {2, 3, 3, 1}: wgrad2x3x3x1AVX512, {3, 3, 3, 1}: wgrad3x3x3x1AVX512,
			{1, 3, 3, 2}: wgrad1x3x3x2AVX512, {1, 1, 1, 1}: wgrad1x1x1x1AVX512, {2, 1, 1, 1}: wgrad2x1x1x1AVX512,
			{3, 1, 1, 1}: wgrad3x1x1x1AVX512, {4, 1, 1, 1}: wgrad4x1x1x1AVX512, {5, 1, 1, 1}: wgrad5x1x1x1AVX512,
			{6, 1, 1, 1}: wgrad6x1x1x1AVX512, {7, 1, 1, 1}: wgrad7x1x1x1AVX512, {8, 1, 1, 1}: wgrad8x1x1x1AVX512,
			{9, 1, 1, 1}: wgrad9x1x1x1AVX512, {1, 1, 1, 2}: wgrad1x1x1x2AVX512, {2, 1, 1, 2}: wgrad2x1x1x2AVX512,
			{3, 1, 1, 2}: wgrad3x1x1x2AVX512, {4, 1, 1, 2}: wgrad4x1x1x2AVX512, {5, 1, 1, 2}: wgrad5x1x1x2AVX512,
			{6, 1, 1, 2}: wgrad6x1x1x2AVX512, {7, 1, 1, 2}: wgrad7x1x1x2AVX512, {8, 1, 1, 2}: wgrad8x1x1x2AVX512,
			{9, 1, 1, 2}: wgrad9x1x1x2AVX512, {1, 1, 2, 1}: wgrad1x1x2x1AVX512, {2, 1, 2, 1}: wgrad2x1x2x1AVX512,
			{3, 1, 2, 1}: wgrad3x1x2x1AVX512, {4, 1, 2, 1}: wgrad4x1x2x1AVX512, {5, 1, 2, 1}: wgrad5x1x2x1AVX512,
			{6, 1, 2, 1}: wgrad6x1x2x1AVX512, {7, 1, 2, 1}: wgrad7x1x2x1AVX512, {8, 1, 2, 1}: wgrad8x1x2x1AVX512,
			{9, 1, 2, 1}: wgrad9x1x2x1AVX512, {1, 1, 2, 2}: wgrad1x1x2x2AVX512, {2, 1, 2, 2}: wgrad2x1x2x2AVX512,
			{3, 1, 2, 2}: wgrad3x1x2x2AVX512, {4, 1, 2, 2}: wgrad4x1x2x2AVX512, {5, 1, 2, 2}: wgrad5x1x2x2AVX512,
			{6, 1, 2, 2}: wgrad6x1x2x2AVX512, {1, 2, 1, 1}: wgrad1x2x1x1AVX512, {2, 2, 1, 1}: wgrad2x2x1x1AVX512,
			{3, 2, 1, 1}: wgrad3x2x1x1AVX512, {4, 2, 1, 1}: wgrad4x2x1x1AVX512, {5, 2, 1, 1}: wgrad5x2x1x1AVX512,
			{6, 2, 1, 1}: wgrad6x2x1x1AVX512, {7, 2, 1, 1}: wgrad7x2x1x1AVX512, {8, 2, 1, 1}: wgrad8x2x1x1AVX512,
			{9, 2, 1, 1}: wgrad9x2x1x1AVX512, {1, 2, 1, 2}: wgrad1x2x1x2AVX512, {2, 2, 1, 2}: wgrad2x2x1x2AVX512,
			{3, 2, 1, 2}: wgrad3x2x1x2AVX512, {4, 2, 1, 2}: wgrad4x2x1x2AVX512, {5, 2, 1, 2}: wgrad5x2x1x2AVX512,
			{6, 2, 1, 2}: wgrad6x2x1x2AVX512, {1, 2, 2, 1}: wgrad1x2x2x1AVX512, {2, 2, 2, 1}: wgrad2x2x2x1AVX512,
			{3, 2, 2, 1}: wgrad3x2x2x1AVX512, {4, 2, 2, 1}: wgrad4x2x2x1AVX512, {5, 2, 2, 1}: wgrad5x2x2x1AVX512,
			{6, 2, 2, 1}: wgrad6x2x2x1AVX512, {1, 2, 2, 2}: wgrad1x2x2x2AVX512, {2, 2, 2, 2}: wgrad2x2x2x2AVX512,
			{3, 2, 2, 2}: wgrad3x2x2x2AVX512,
		})}
	avx2Conv = &ConvKernel{Path: AVX2, MR: 4, Lanes: 8, Vecs: 3,
		tile: func(a *ConvTileArgs) { convTile4x24AVX2((*int64)(unsafe.Pointer(a))) },
		wgrad: wgradTable(map[wgradKey]func(*int64){
			{1, 3, 3, 1}: wgrad1x3x3x1AVX2, {1, 1, 1, 1}: wgrad1x1x1x1AVX2, {2, 1, 1, 1}: wgrad2x1x1x1AVX2,
			{3, 1, 1, 1}: wgrad3x1x1x1AVX2, {4, 1, 1, 1}: wgrad4x1x1x1AVX2, {5, 1, 1, 1}: wgrad5x1x1x1AVX2,
			{6, 1, 1, 1}: wgrad6x1x1x1AVX2, {7, 1, 1, 1}: wgrad7x1x1x1AVX2, {1, 1, 1, 2}: wgrad1x1x1x2AVX2,
			{2, 1, 1, 2}: wgrad2x1x1x2AVX2, {3, 1, 1, 2}: wgrad3x1x1x2AVX2, {4, 1, 1, 2}: wgrad4x1x1x2AVX2,
			{5, 1, 1, 2}: wgrad5x1x1x2AVX2, {1, 1, 2, 1}: wgrad1x1x2x1AVX2, {2, 1, 2, 1}: wgrad2x1x2x1AVX2,
			{3, 1, 2, 1}: wgrad3x1x2x1AVX2, {4, 1, 2, 1}: wgrad4x1x2x1AVX2, {5, 1, 2, 1}: wgrad5x1x2x1AVX2,
			{1, 1, 2, 2}: wgrad1x1x2x2AVX2, {2, 1, 2, 2}: wgrad2x1x2x2AVX2, {3, 1, 2, 2}: wgrad3x1x2x2AVX2,
			{1, 2, 1, 1}: wgrad1x2x1x1AVX2, {2, 2, 1, 1}: wgrad2x2x1x1AVX2, {3, 2, 1, 1}: wgrad3x2x1x1AVX2,
			{4, 2, 1, 1}: wgrad4x2x1x1AVX2, {5, 2, 1, 1}: wgrad5x2x1x1AVX2, {1, 2, 1, 2}: wgrad1x2x1x2AVX2,
			{2, 2, 1, 2}: wgrad2x2x1x2AVX2, {3, 2, 1, 2}: wgrad3x2x1x2AVX2, {1, 2, 2, 1}: wgrad1x2x2x1AVX2,
			{2, 2, 2, 1}: wgrad2x2x2x1AVX2, {3, 2, 2, 1}: wgrad3x2x2x1AVX2, {1, 2, 2, 2}: wgrad1x2x2x2AVX2,
		})}
)

// wgradTable wraps the generated weight-gradient kernels.
func wgradTable(fs map[wgradKey]func(*int64)) map[wgradKey]func(*WgradArgs) {
	m := make(map[wgradKey]func(*WgradArgs), len(fs))
	for key, f := range fs {
		m[key] = func(a *WgradArgs) { f((*int64)(unsafe.Pointer(a))) }
	}
	return m
}

// archDeinterleave2 returns the current path's Deinterleave2 kernel: it handles the first
// n &^ (lanes−1) pairs and returns how many.
func archDeinterleave2() func(n int, src, even, odd *float32) int {
	switch CurrentPath() {
	case AVX512:
		return func(n int, src, even, odd *float32) int { deinterleave2AVX512(n, src, even, odd); return n &^ 15 }
	case AVX2:
		return func(n int, src, even, odd *float32) int { deinterleave2AVX2(n, src, even, odd); return n &^ 7 }
	}
	return nil
}

// archInterleaveAdd2 returns the current path's InterleaveAdd2 kernel (as archDeinterleave2).
func archInterleaveAdd2() func(n int, a, b, dst *float32) int {
	switch CurrentPath() {
	case AVX512:
		return func(n int, a, b, dst *float32) int { interleaveAdd2AVX512(n, a, b, dst); return n &^ 15 }
	case AVX2:
		return func(n int, a, b, dst *float32) int { interleaveAdd2AVX2(n, a, b, dst); return n &^ 7 }
	}
	return nil
}

// bnSumSq runs the current path's bnSumSq kernel and reports whether there is one. The
// kernels are called directly (not through func values) so that s and q do not escape.
func bnSumSq(x []float32, c float64, s, q *[16]float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnSumSqAVX512(x, c, s, q)
	case AVX2:
		bnSumSqAVX2(x, c, s, q)
	default:
		return false
	}
	return true
}

// bnDotC runs the current path's bnDotC kernel and reports whether there is one.
func bnDotC(g, x []float32, mu float64, s, q *[16]float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnDotCAVX512(g, x, mu, s, q)
	case AVX2:
		bnDotCAVX2(g, x, mu, s, q)
	default:
		return false
	}
	return true
}

// bnBackward runs the current path's bnBackward kernel and reports whether there is one.
func bnBackward(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnBackwardAVX512(dx, g, x, k, mdy, mu, invstd, mdyx)
	case AVX2:
		bnBackwardAVX2(dx, g, x, k, mdy, mu, invstd, mdyx)
	default:
		return false
	}
	return true
}

// archPhaseRows runs the AVX-512 row-batched phase kernel on a (a nil a only asks whether
// there is one).
func archPhaseRows(add bool, a *phaseRowsArgs) bool {
	if a == nil {
		return true
	}
	if add {
		interleaveAddRowsAVX512((*int64)(unsafe.Pointer(a)))
	} else {
		deinterleaveRowsAVX512((*int64)(unsafe.Pointer(a)))
	}
	return true
}

// reluBackwardSIMD runs the AVX2 ReluBackward kernel on both SIMD paths and reports
// whether it ran.
func reluBackwardSIMD(dx, dy, y []float32) bool {
	switch CurrentPath() {
	case AVX512, AVX2:
		reluBackwardAVX2(dx, dy, y)
		return true
	}
	return false
}

// prefetch issues PREFETCHT0 for rows ranges of n float32s, stride apart, from p[0]: the
// caller has checked that they lie in p.
func prefetch(p []float32, rows, stride, n int) {
	prefetchRows(&p[0], rows, 4*stride, 4*n)
}
