//go:build noasm || !gc || !amd64

package asm

func reluBackwardSetSIMD(da, db, dy, y []float32) bool { return false }

func bnDotCRelu(g, y, x []float32, mu float64, s, q *[16]float64) bool { return false }

func bnBackwardTo(dx, g, y, x []float32, k, mdy, mu, invstd, mdyx float64, add bool) bool {
	return false
}

func bnDotCReluX(g, x []float32, mu float64, scale, shift float32, s, q *[16]float64) bool {
	return false
}

func bnBackwardReluX(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64, scale, shift float32, add bool) bool {
	return false
}

func bnBackwardReluDs(dx, ds, g, y, x []float32, k, mdy, mu, invstd, mdyx float64) bool {
	return false
}

func scaleShiftAddReluSIMD(dst, src, add []float32, scale, shift float32) bool { return false }

func bnDotCReluDs(g, y, x, ds []float32, mu float64, s, q *[16]float64) bool { return false }
