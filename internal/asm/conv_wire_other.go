//go:build noasm || !gc || !amd64

package asm

// archConvKernel: no assembly kernels in this build.
func archConvKernel(Path) *ConvKernel { return nil }

func archDeinterleave2() func(n int, src, even, odd *float32) int { return nil }

func archInterleaveAdd2() func(n int, a, b, dst *float32) int { return nil }

func bnSumSq(x []float32, c float64, s, q *[16]float64) bool { return false }

func bnDotC(g, x []float32, mu float64, s, q *[16]float64) bool { return false }

func bnBackward(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64) bool { return false }

func archPhaseRows(bool, *phaseRowsArgs) bool { return false }

func reluBackwardSIMD(dx, dy, y []float32) bool { return false }

func prefetch(p []float32, rows, stride, n int) {}

func archWinoInput(Path) func(*WinogradInArgs) { return nil }

func archWinoOutput(Path) func(*WinogradOutArgs) { return nil }
