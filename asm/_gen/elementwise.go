package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
)

// Element-wise kernels, AVX2 (8 float32 lanes). Each processes the first len(dst) &^ 7
// elements (the Go wrapper does the rest with the reference loop) and rounds exactly as the
// reference loops in ../elementwise.go: a product that is then added is a VMULPS followed
// by a VADDPS, never an FMA; ReLU is VMAXPS(x, +0), which returns x when x > 0 and +0
// otherwise (NaN and -0 included), i.e. the reference's `x > 0 ? x : 0`.

// mapSpec describes dst[i] = f(inputs[i], scalars) over float32 slices.
type mapSpec struct {
	name, sig, doc string
	dst            string   // slice written; its length is the element count
	srcs           []string // slices read, in the order f receives them (may name dst)
	scalars        []string // float32 parameters, broadcast once
	f              func(in []VecVirtual, sc []VecVirtual, zero VecVirtual, out VecVirtual)
}

func elementwise() {
	maps := []mapSpec{
		{name: "axpyAVX2", sig: "func(alpha float32, x, y []float32)", doc: "y[i] = float32(alpha*x[i]) + y[i]",
			dst: "y", srcs: []string{"x", "y"}, scalars: []string{"alpha"},
			f: func(in, sc []VecVirtual, _, out VecVirtual) {
				VMULPS(in[0], sc[0], out)
				VADDPS(in[1], out, out)
			}},
		{name: "scaleAVX2", sig: "func(alpha float32, x []float32)", doc: "x[i] = alpha * x[i]",
			dst: "x", srcs: []string{"x"}, scalars: []string{"alpha"},
			f: func(in, sc []VecVirtual, _, out VecVirtual) { VMULPS(in[0], sc[0], out) }},
		{name: "addAVX2", sig: "func(dst, a, b []float32)", doc: "dst[i] = a[i] + b[i]",
			dst: "dst", srcs: []string{"a", "b"},
			f: func(in, _ []VecVirtual, _, out VecVirtual) { VADDPS(in[1], in[0], out) }},
		{name: "addReluAVX2", sig: "func(dst, a, b []float32)", doc: "dst[i] = max(a[i] + b[i], +0)",
			dst: "dst", srcs: []string{"a", "b"},
			f: func(in, _ []VecVirtual, zero, out VecVirtual) {
				VADDPS(in[1], in[0], out)
				VMAXPS(zero, out, out)
			}},
		{name: "maxAVX2", sig: "func(dst, a, b []float32)", doc: "dst[i] = b[i] > a[i] || b[i] != b[i] ? b[i] : a[i]",
			dst: "dst", srcs: []string{"a", "b"},
			f: func(in, _ []VecVirtual, _, out VecVirtual) {
				// VMAXPS gives b where b > a, else a (NaN in either: a); then b where b is NaN.
				VMAXPS(in[0], in[1], out)
				nan := YMM()
				VCMPPS(U8(3), in[1], in[1], nan) // unordered: b is NaN
				VBLENDVPS(nan, in[1], out, out)
			}},
		{name: "reluAVX2", sig: "func(dst, src []float32)", doc: "dst[i] = src[i] > 0 ? src[i] : +0",
			dst: "dst", srcs: []string{"src"},
			f: func(in, _ []VecVirtual, zero, out VecVirtual) { VMAXPS(zero, in[0], out) }},
		{name: "scaleShiftAVX2", sig: "func(dst, src []float32, scale, shift float32)", doc: "dst[i] = float32(src[i]*scale) + shift",
			dst: "dst", srcs: []string{"src"}, scalars: []string{"scale", "shift"},
			f: func(in, sc []VecVirtual, _, out VecVirtual) {
				VMULPS(in[0], sc[0], out)
				VADDPS(sc[1], out, out)
			}},
		{name: "scaleShiftReluAVX2", sig: "func(dst, src []float32, scale, shift float32)", doc: "dst[i] = max(float32(src[i]*scale) + shift, +0)",
			dst: "dst", srcs: []string{"src"}, scalars: []string{"scale", "shift"},
			f: func(in, sc []VecVirtual, zero, out VecVirtual) {
				VMULPS(in[0], sc[0], out)
				VADDPS(sc[1], out, out)
				VMAXPS(zero, out, out)
			}},
	}
	for _, s := range maps {
		mapKernel(s)
	}
	reduceKernel("sumAVX2", "func(x []float32, s *[8]float32)", []string{"x"})
	reduceKernel("dotAVX2", "func(x, y []float32, s *[8]float32)", []string{"x", "y"})
}

func mapKernel(s mapSpec) {
	gen.Kernel(s.name, s.sig, s.name+" computes "+s.doc+" for i < len("+s.dst+") &^ 7 (AVX2; see elementwise.go in _gen).",
		"The caller checks the lengths of the other slices.")
	n := Load(Param(s.dst).Len(), GP64())
	ANDQ(I32(-8), n)
	dst := Load(Param(s.dst).Base(), GP64())
	var srcs []Register
	for _, name := range s.srcs {
		if name == s.dst {
			srcs = append(srcs, dst)
			continue
		}
		srcs = append(srcs, Load(Param(name).Base(), GP64()))
	}
	var sc []VecVirtual
	for _, name := range s.scalars {
		v := YMM()
		p, _ := Param(name).Resolve()
		VBROADCASTSS(p.Addr, v)
		sc = append(sc, v)
	}
	zero := YMM()
	VXORPS(zero, zero, zero)
	i := GP64()
	XORQ(i, i)

	gen.Loop4(s.name, i, n, func(unroll int) {
		in := make([][]VecVirtual, unroll)
		for u := 0; u < unroll; u++ {
			for _, src := range srcs {
				v := YMM()
				VMOVUPS(Mem{Base: src, Index: i, Scale: 4, Disp: 32 * u}, v)
				in[u] = append(in[u], v)
			}
		}
		for u := 0; u < unroll; u++ {
			out := YMM()
			s.f(in[u], sc, zero, out)
			VMOVUPS(out, Mem{Base: dst, Index: i, Scale: 4, Disp: 32 * u})
		}
	})
	gen.Done(s.name)
}

// reduceKernel emits the vector part of Sum (one input) or Dot (two inputs): lane j of one
// YMM accumulator, starting at +0, receives elements 8q+j in increasing q (for Dot the
// product, rounded, then added), which is exactly partial accumulator j of the reference
// loop; the 8 lanes are stored to *s and the Go wrapper adds the tail and combines them.
func reduceKernel(name, sig string, srcs []string) {
	gen.Kernel(name, sig, name+" stores to s[j] the sum over q of "+map[int]string{1: "x[8q+j]", 2: "float32(x[8q+j]*y[8q+j])"}[len(srcs)]+
		" for 8q+j < len(x) &^ 7,", "accumulated in increasing q from +0 (AVX2; the fixed order of Sum and Dot).")
	n := Load(Param("x").Len(), GP64())
	ANDQ(I32(-8), n)
	var ptrs []Register
	for _, s := range srcs {
		ptrs = append(ptrs, Load(Param(s).Base(), GP64()))
	}
	acc := YMM()
	VXORPS(acc, acc, acc)
	i := GP64()
	XORQ(i, i)
	Label(name + "_loop")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	x := YMM()
	VMOVUPS(Mem{Base: ptrs[0], Index: i, Scale: 4}, x)
	if len(ptrs) == 2 {
		VMULPS(Mem{Base: ptrs[1], Index: i, Scale: 4}, x, x)
	}
	VADDPS(x, acc, acc)
	ADDQ(U8(8), i)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
	s := Load(Param("s"), GP64())
	VMOVUPS(acc, Mem{Base: s})
	VZEROUPPER()
	RET()
}
