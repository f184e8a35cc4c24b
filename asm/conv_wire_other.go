//go:build noasm || !gc || !amd64

package asm

// archConvKernel: no assembly kernels in this build.
func archConvKernel(Path) *ConvKernel { return nil }

func archDeinterleave2() func(n int, src, even, odd *float32) int { return nil }

func archInterleaveAdd2() func(n int, a, b, dst *float32) int { return nil }
