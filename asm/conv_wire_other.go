//go:build noasm || !gc || !amd64

package asm

// archConvKernel: no assembly kernels in this build.
func archConvKernel(Path) *ConvKernel { return nil }
