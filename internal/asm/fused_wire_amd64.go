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

// bnDotCReluX runs the current path's bnDotCReluX kernel and reports whether there is one.
func bnDotCReluX(g, x []float32, mu float64, scale, shift float32, s, q *[16]float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnDotCReluXAVX512(g, x, mu, scale, shift, s, q)
	case AVX2:
		bnDotCReluXAVX2(g, x, mu, scale, shift, s, q)
	default:
		return false
	}
	return true
}

// bnBackwardReluX runs the current path's kernel for BatchNormGradReluX64 and reports
// whether there is one.
func bnBackwardReluX(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64, scale, shift float32, add bool) bool {
	switch p := CurrentPath(); {
	case p == AVX512 && add:
		bnBackwardReluXAVX512(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift)
	case p == AVX512:
		bnBackwardReluXSetAVX512(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift)
	case p == AVX2 && add:
		bnBackwardReluXAVX2(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift)
	case p == AVX2:
		bnBackwardReluXSetAVX2(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift)
	default:
		return false
	}
	return true
}

// bnBackwardReluDs runs the current path's kernel for BatchNormGradReluDs64 and reports
// whether there is one.
func bnBackwardReluDs(dx, ds, g, y, x []float32, k, mdy, mu, invstd, mdyx float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnBackwardReluSetDsAVX512(dx, ds, g, y, x, k, mdy, mu, invstd, mdyx)
	case AVX2:
		bnBackwardReluSetDsAVX2(dx, ds, g, y, x, k, mdy, mu, invstd, mdyx)
	default:
		return false
	}
	return true
}

// scaleShiftAddReluSIMD runs the AVX2 ScaleShiftAddRelu kernel on both SIMD paths and
// reports whether it ran.
func scaleShiftAddReluSIMD(dst, src, add []float32, scale, shift float32) bool {
	switch CurrentPath() {
	case AVX512, AVX2:
		scaleShiftAddReluAVX2(dst, src, add, scale, shift)
		return true
	}
	return false
}

// bnDotCReluDs runs the current path's bnDotCReluDs kernel and reports whether there is one.
func bnDotCReluDs(g, y, x, ds []float32, mu float64, s, q *[16]float64) bool {
	switch CurrentPath() {
	case AVX512:
		bnDotCReluDsAVX512(g, y, x, ds, mu, s, q)
	case AVX2:
		bnDotCReluDsAVX2(g, y, x, ds, mu, s, q)
	default:
		return false
	}
	return true
}
