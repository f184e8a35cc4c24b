//go:build !noasm && gc

package asm

// reluBackwardSetSIMD runs the AVX2 ReluBackwardSet (db nil) or ReluBackwardSet2 kernel
// on both SIMD paths and reports whether it ran.
func reluBackwardSetSIMD(da, db, dy, y []float32) bool {
	switch CurrentPath() {
	case AVX512, AVX2:
		if db == nil {
			reluBackwardSetAVX2(da, dy, y)
		} else {
			reluBackwardSet2AVX2(da, db, dy, y)
		}
		return true
	}
	return false
}

// bnDotCRelu runs the current path's bnDotCRelu kernel and reports whether there is one.
func bnDotCRelu(g, y, x []float32, mu float64, s, q *[16]float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnDotCReluAVX512(g, y, x, mu, s, q)
	case AVX2:
		bnDotCReluAVX2(g, y, x, mu, s, q)
	default:
		return false
	}
	return true
}

// bnBackwardTo runs the current path's kernel for BatchNormGradTo64 (y nil: no ReLU mask;
// not add: set) and reports whether there is one.
func bnBackwardTo(dx, g, y, x []float32, k, mdy, mu, invstd, mdyx float64, add bool) bool {
	p := CurrentPath()
	if p != AVX512 && p != AVX2 {
		return false
	}
	w := p == AVX512
	switch {
	case y == nil && add:
		if w {
			bnBackwardAVX512(dx, g, x, k, mdy, mu, invstd, mdyx)
		} else {
			bnBackwardAVX2(dx, g, x, k, mdy, mu, invstd, mdyx)
		}
	case y == nil:
		if w {
			bnBackwardSetAVX512(dx, g, x, k, mdy, mu, invstd, mdyx)
		} else {
			bnBackwardSetAVX2(dx, g, x, k, mdy, mu, invstd, mdyx)
		}
	case add:
		if w {
			bnBackwardReluAVX512(dx, g, y, x, k, mdy, mu, invstd, mdyx)
		} else {
			bnBackwardReluAVX2(dx, g, y, x, k, mdy, mu, invstd, mdyx)
		}
	default:
		if w {
			bnBackwardReluSetAVX512(dx, g, y, x, k, mdy, mu, invstd, mdyx)
		} else {
			bnBackwardReluSetAVX2(dx, g, y, x, k, mdy, mu, invstd, mdyx)
		}
	}
	return true
}
