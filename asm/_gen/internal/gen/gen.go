// Package gen holds the pieces the three kernel generators of asm/_gen (the SGEMM and
// element-wise kernels in ., the convolution kernels in ./conv and the fused
// training-step kernels in ./fused) emit alike: the physical vector registers, the
// kernel's header and exit, and the unrolled element loop.
package gen

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// Z and Y are the physical vector registers Z0–Z31 and Y0–Y15, in order, for the kernels
// that place their accumulators in fixed registers.
var (
	Z = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
		Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
	Y = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}
)

// Regs returns the vector register file of a width in bits: Z for 512, Y for 256.
func Regs(bits int) []VecPhysical {
	if bits == 512 {
		return Z
	}
	return Y
}

// ISA returns the suffix of a kernel's name for a vector width in bits: AVX512 for 512,
// AVX2 for 256.
func ISA(bits int) string {
	if bits == 512 {
		return "AVX512"
	}
	return "AVX2"
}

// NewVec returns a new virtual vector register of width bits: ZMM for 512, YMM for 256, XMM
// for 128.
func NewVec(bits int) VecVirtual {
	switch bits {
	case 512:
		return ZMM()
	case 256:
		return YMM()
	}
	return XMM()
}

// Zero emits v = 0 for a vector of width bits: VPXORD for a ZMM register, VXORPS for a
// YMM one.
func Zero(v VecPhysical, bits int) {
	if bits == 512 {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// Kernel starts the kernel name with Go signature sig, by the conventions of all the
// generated code (ABI0, NOSPLIT, no frame, arguments that do not escape), with its doc
// comment lines doc.
func Kernel(name, sig string, doc ...string) {
	TEXT(name, NOSPLIT, sig)
	Pragma("noescape")
	Doc(doc...)
}

// Done ends a kernel at the label name_done: VZEROUPPER, then RET.
func Done(name string) {
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// Loop4 emits the element loop of the float32 kernels that index their slices by i (an
// element count, counted up from 0) over the first n elements (n a multiple of 8): body(4)
// for 4 vectors of 8 elements while at least 32 remain, then body(1) while any remain, i
// moving on by 8 per vector after each. The loop leaves to the label name_done, which the
// caller places (see Done).
func Loop4(name string, i, n Register, body func(unroll int)) {
	end := GP64()
	MOVQ(n, end)
	SUBQ(U8(32), end)
	Label(name + "_loop4")
	CMPQ(i, end)
	JG(LabelRef(name + "_loop1"))
	body(4)
	ADDQ(U8(8*4), i)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	body(1)
	ADDQ(U8(8), i)
	JMP(LabelRef(name + "_loop1"))
}
