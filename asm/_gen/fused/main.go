// Command fused generates Bonsai's amd64 kernels for batch normalisation and ReLU
// (../../fused_amd64.s and the Go stubs in ../../fused_amd64.go) with avo: the moments and
// the backward pass of a batch normalisation, also fused with the ReLU that follows it (the
// ReLU's gradient mask applied on the fly), gradients written into fresh buffers instead of
// added into zeroed ones, and the forward tail relu(bn(x) + s) of a residual block. Run it
// through `go generate` in package asm:
//
//	cd asm && go generate
//
// It shares the module of ../ (asm/_gen) but is a program of its own. Conventions as in
// ../conv/main.go: ABI0, NOSPLIT, no frame, VZEROUPPER before every RET.
//
// The ReLU mask of an output y is int32(bits(y)) > 0 (VPCMPGTD against zero), the gradient
// g masked by it is g AND mask (+0 where the mask is clear), and a "set" kernel writes
// +0 + v where the accumulating one adds v into the destination: bit for bit what the
// accumulating kernels leave in a zeroed buffer.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
)

func main() {
	ConstraintExpr("!noasm,gc")
	for _, s := range simds {
		s.bnKernels()
	}
	reluKernels()
	scaleShiftAddRelu()
	Generate()
}

// simd is one instruction set of the batch-normalisation kernels: they compute in float64,
// 16 elements (nvec vectors of dlanes float64s) per iteration, converting from and to
// float32 vectors of dlanes elements.
type simd struct {
	isa          string
	bits, dlanes int
	nvec         int
}

var simds = []simd{{isa: "AVX512", bits: 512, dlanes: 8, nvec: 2}, {isa: "AVX2", bits: 256, dlanes: 4, nvec: 4}}

// vec returns a float64 vector of dlanes elements.
func (s simd) vec() VecVirtual { return gen.NewVec(s.bits) }

// half returns a float32 vector of dlanes elements.
func (s simd) half() VecVirtual { return gen.NewVec(s.bits / 2) }

// toPS rounds the float64s of t to the float32s of f.
func (s simd) toPS(t, f VecVirtual) {
	if s.bits == 512 {
		VCVTPD2PS(t, f)
	} else {
		VCVTPD2PSY(t, f)
	}
}

// loop emits the loop over the first n &^ 15 elements (n already rounded down by the
// caller): body(v, off) for each of the nvec vectors (off: the vector's byte offset in a
// float32 slice), then every pointer of ptrs moves on by 16 float32s.
func (s simd) loop(name string, n Register, ptrs []Register, body func(v, off int)) {
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for v := range s.nvec {
		body(v, 4*s.dlanes*v)
	}
	for _, p := range ptrs {
		ADDQ(U8(64), p)
	}
	SUBQ(U8(16), n)
	JMP(LabelRef(name + "_loop"))
	Label(name + "_done")
}

// mask says how a kernel masks the gradient g by the ReLU that followed the normalisation.
type mask int

const (
	noMask mask = iota
	maskY       // y > 0 as int32, y the ReLU's output
	maskX       // max(float32(x·scale) + shift, +0) > 0 as int32: y recomputed from x as scaleShiftReluAVX2 does
)

// bnSpec is one batch-normalisation kernel: its name without the ISA, its Go signature
// (the kernels load their parameters by name), the rest of its doc comment, how it masks g,
// whether it writes the masked g into ds, and whether it sets dx (to +0 + v) instead of
// adding into it.
type bnSpec struct {
	name, sig, doc string
	mask           mask
	ds, set        bool
}

const backwardExpr = "float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx))"

// bnKernels emits the batch-normalisation kernels of s, in float64 on float32 data, with
// 16 partial sums (element i goes to partial i%16; the Go wrappers in ../../bn.go and
// ../../fused.go add the tail and combine the partials in a fixed tree):
//
//	bnSumSq:       s[j] += x−c, q[j] += (x−c)·(x−c)              (moments about c)
//	bnDotC…:       s[j] += g, q[j] += g·(x−mu)                   (the backward pass's sums)
//	bnBackward…:   dx[i] += float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx)), or dx[i] = +0 + …
//
// each for the first len &^ 15 elements, with every product and sum rounded separately
// (VMULPD, VADDPD, VSUBPD: no FMA), as the Go reference loops do. The variants mask g by
// the ReLU that followed the normalisation (Relu: by its output y; ReluX: recomputed from
// x, see maskX), write the masked g into ds (Ds: the gradient of a residual block's
// shortcut), or set dx instead of adding into it (Set). The ReLU mask of an output y is
// int32(bits(y)) > 0 (VPCMPGTD against zero) and g masked by it is g AND mask.
func (s simd) bnKernels() {
	s.sumKernel(bnSpec{name: "bnSumSq", sig: "func(x []float32, c float64, s, q *[16]float64)"})
	for _, sp := range []bnSpec{
		{name: "bnDotC", sig: "func(g, x []float32, mu float64, s, q *[16]float64)"},
		{name: "bnDotCRelu", sig: "func(g, y, x []float32, mu float64, s, q *[16]float64)", mask: maskY},
		{name: "bnDotCReluDs", sig: "func(g, y, x, ds []float32, mu float64, s, q *[16]float64)", mask: maskY, ds: true,
			doc: " and sets ds to +0 + the masked g"},
		{name: "bnDotCReluX", sig: "func(g, x []float32, mu float64, scale, shift float32, s, q *[16]float64)", mask: maskX},
	} {
		s.sumKernel(sp)
	}
	const bsig = "func(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64)"
	const rsig = "func(dx, g, y, x []float32, k, mdy, mu, invstd, mdyx float64)"
	const xsig = "func(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64, scale, shift float32)"
	for _, sp := range []bnSpec{
		{name: "bnBackward", sig: bsig},
		{name: "bnBackwardSet", sig: bsig, set: true},
		{name: "bnBackwardRelu", sig: rsig, mask: maskY},
		{name: "bnBackwardReluSet", sig: rsig, mask: maskY, set: true},
		{name: "bnBackwardReluX", sig: xsig, mask: maskX},
		{name: "bnBackwardReluXSet", sig: xsig, mask: maskX, set: true},
		{name: "bnBackwardReluSetDs", sig: "func(dx, ds, g, y, x []float32, k, mdy, mu, invstd, mdyx float64)",
			mask: maskY, set: true, ds: true, doc: " and ds to +0 + the masked g"},
	} {
		s.backwardKernel(sp)
	}
}

// bnArgs are the registers of a batch-normalisation kernel's operands.
type bnArgs struct {
	x, g, y, ds, dx Register
	consts          map[string]VecVirtual
	zero            VecVirtual
}

// prologue loads the kernel's pointers and broadcasts its constants (float64 ones as
// vec, scale and shift as half); n is the length of lenOf, rounded down to 16.
func (s simd) prologue(sp bnSpec, lenOf string, consts ...string) (a bnArgs, n Register, ptrs []Register) {
	load := func(p string) Register {
		r := Load(Param(p).Base(), GP64())
		ptrs = append(ptrs, r)
		return r
	}
	if lenOf == "dx" {
		a.dx = load("dx")
	}
	if sp.ds {
		a.ds = load("ds")
	}
	n = Load(Param(lenOf).Len(), GP64())
	if sp.name != "bnSumSq" {
		a.g = load("g")
	}
	if sp.mask == maskY {
		a.y = load("y")
	}
	a.x = load("x")
	if sp.mask == maskX {
		consts = append(consts, "scale", "shift")
	}
	a.consts = map[string]VecVirtual{}
	for _, c := range consts {
		m, _ := Param(c).Resolve()
		if c == "scale" || c == "shift" {
			a.consts[c] = s.half()
			VBROADCASTSS(m.Addr, a.consts[c])
		} else {
			a.consts[c] = s.vec()
			VBROADCASTSD(m.Addr, a.consts[c])
		}
	}
	if sp.mask != noMask || sp.set || sp.ds {
		a.zero = s.half()
		VPXOR(a.zero, a.zero, a.zero)
	}
	ANDQ(I32(-16), n)
	return a, n, ptrs
}

// loadXG converts the dlanes float32s of x at byte offset off into float64s in x and
// those of g, masked as sp says, in g; with sp.ds it also stores +0 + the masked g in ds.
func (s simd) loadXG(sp bnSpec, a bnArgs, off int) (x, g VecVirtual) {
	x, g = s.vec(), s.vec()
	switch sp.mask {
	case noMask:
		VCVTPS2PD(Mem{Base: a.x, Disp: off}, x)
		VCVTPS2PD(Mem{Base: a.g, Disp: off}, g)
	case maskY:
		VCVTPS2PD(Mem{Base: a.x, Disp: off}, x)
		m := s.half()
		VMOVDQU(Mem{Base: a.y, Disp: off}, m)
		VPCMPGTD(a.zero, m, m)
		VANDPS(Mem{Base: a.g, Disp: off}, m, m)
		VCVTPS2PD(m, g)
		if sp.ds {
			VADDPS(m, a.zero, m) // +0 + v: -0 becomes +0, as in a zeroed buffer
			VMOVUPS(m, Mem{Base: a.ds, Disp: off})
		}
	case maskX:
		xs, v := s.half(), s.half()
		VMOVUPS(Mem{Base: a.x, Disp: off}, xs)
		VMULPS(a.consts["scale"], xs, v)
		VADDPS(a.consts["shift"], v, v)
		VMAXPS(a.zero, v, v)
		VPCMPGTD(a.zero, v, v)
		VANDPS(Mem{Base: a.g, Disp: off}, v, v)
		VCVTPS2PD(v, g)
		VCVTPS2PD(xs, x)
	}
	return x, g
}

// sumKernel emits bnSumSq{ISA} or a bnDotC…{ISA} kernel: partial sums s and q, read first
// and written back at the end.
func (s simd) sumKernel(sp bnSpec) {
	name := sp.name + s.isa
	doc := fmt.Sprintf("%s adds x−c and (x−c)² into the 16 partial sums s and q (see bnKernels in _gen/fused/main.go).", name)
	if sp.name != "bnSumSq" {
		what := "g"
		if sp.mask != noMask {
			what = "the masked g"
		}
		doc = fmt.Sprintf("%s adds %s and g·(x−mu) into the 16 partial sums s and q%s (see bnKernels in _gen/fused/main.go).", name, what, sp.doc)
	}
	gen.Kernel(name, sp.sig, doc)
	c := "mu"
	if sp.name == "bnSumSq" {
		c = "c"
	}
	a, n, ptrs := s.prologue(sp, "x", c)
	sp0 := Load(Param("s"), GP64())
	qp := Load(Param("q"), GP64())
	sacc, qacc := make([]VecVirtual, s.nvec), make([]VecVirtual, s.nvec)
	for v := range sacc {
		sacc[v], qacc[v] = s.vec(), s.vec()
		VMOVUPD(Mem{Base: sp0, Disp: 8 * s.dlanes * v}, sacc[v])
		VMOVUPD(Mem{Base: qp, Disp: 8 * s.dlanes * v}, qacc[v])
	}
	s.loop(name, n, ptrs, func(v, off int) {
		t := s.vec()
		if sp.name == "bnSumSq" {
			x := s.vec()
			VCVTPS2PD(Mem{Base: a.x, Disp: off}, x)
			VSUBPD(a.consts["c"], x, x)
			VADDPD(x, sacc[v], sacc[v])
			VMULPD(x, x, t)
			VADDPD(t, qacc[v], qacc[v])
			return
		}
		x, g := s.loadXG(sp, a, off)
		VADDPD(g, sacc[v], sacc[v])
		VSUBPD(a.consts["mu"], x, t)
		VMULPD(t, g, t)
		VADDPD(t, qacc[v], qacc[v])
	})
	for v := range sacc {
		VMOVUPD(sacc[v], Mem{Base: sp0, Disp: 8 * s.dlanes * v})
		VMOVUPD(qacc[v], Mem{Base: qp, Disp: 8 * s.dlanes * v})
	}
	VZEROUPPER()
	RET()
}

// backwardKernel emits a bnBackward…{ISA} kernel (see bnKernels).
func (s simd) backwardKernel(sp bnSpec) {
	name := sp.name + s.isa
	op := "adds " + backwardExpr + " into dx"
	if sp.set {
		op = "sets dx to +0 + " + backwardExpr
	}
	switch sp.mask {
	case maskY:
		op += ", g masked by y > 0,"
	case maskX:
		op += ", g masked by max(float32(x·scale)+shift, 0) > 0,"
	}
	gen.Kernel(name, sp.sig, fmt.Sprintf("%s %s%s for the first len(dx) &^ 15", name, op, sp.doc), "elements (see bnKernels in _gen/fused/main.go).")
	a, n, ptrs := s.prologue(sp, "dx", "k", "mdy", "mu", "invstd", "mdyx")
	cs := a.consts
	s.loop(name, n, ptrs, func(v, off int) {
		x, g := s.loadXG(sp, a, off)
		t := s.vec()
		VSUBPD(cs["mu"], x, x)
		VMULPD(cs["invstd"], x, x)
		VMULPD(cs["mdyx"], x, x)
		VSUBPD(cs["mdy"], g, t)
		VSUBPD(x, t, t)
		VMULPD(cs["k"], t, t)
		f := s.half()
		s.toPS(t, f)
		if sp.set {
			VADDPS(f, a.zero, f) // +0 + v: -0 becomes +0, as in a zeroed buffer
		} else {
			VADDPS(Mem{Base: a.dx, Disp: off}, f, f)
		}
		VMOVUPS(f, Mem{Base: a.dx, Disp: off})
	})
	VZEROUPPER()
	RET()
}

// reluKernels emits the AVX2 ReLU backward kernels (both SIMD paths use them: they are
// memory-bound), with the mask y > 0 as an int32 (the float is positive, not ±0, not a
// negative NaN) — the branch-free select of tensor.ReluBackward, bit for bit:
//
//	reluBackwardAVX2(dx, dy, y):         dx[i] += y[i] > 0 ? dy[i] : +0
//	reluBackwardSetAVX2(dx, dy, y):      dx[i] = +0 + (y[i] > 0 ? dy[i] : +0)
//	reluBackwardSet2AVX2(da, db, dy, y): da[i] = db[i] = the same
//
// for i < len(dx) &^ 7 (len(da) &^ 7), 4 vectors a step while at least 32 remain.
func reluKernels() {
	for _, kind := range []string{"", "Set", "Set2"} {
		name := "reluBackward" + kind + "AVX2"
		sig := "func(dx, dy, y []float32)"
		var doc string
		switch kind {
		case "":
			doc = name + " adds dy[i] into dx[i] where int32(bits(y[i])) > 0, for i < len(dx) &^ 7 (see reluKernels in _gen/fused/main.go)."
		case "Set":
			doc = name + " sets dx[i] to +0 + dy[i] where int32(bits(y[i])) > 0 and to +0 elsewhere, for i < len(dx) &^ 7 (see reluKernels in _gen/fused/main.go)."
		case "Set2":
			sig = "func(da, db, dy, y []float32)"
			doc = name + " sets da[i] and db[i] as reluBackwardSetAVX2 sets dx[i], for i < len(da) &^ 7."
		}
		gen.Kernel(name, sig, doc)
		var da, db, n Register
		if kind == "Set2" {
			da = Load(Param("da").Base(), GP64())
			db = Load(Param("db").Base(), GP64())
			n = Load(Param("da").Len(), GP64())
		} else {
			da = Load(Param("dx").Base(), GP64())
			n = Load(Param("dx").Len(), GP64())
		}
		dy := Load(Param("dy").Base(), GP64())
		y := Load(Param("y").Base(), GP64())
		zero := YMM()
		VPXOR(zero, zero, zero)
		step := func(off int) {
			m := YMM()
			VMOVDQU(Mem{Base: y, Disp: off}, m)
			VPCMPGTD(zero, m, m) // m > 0
			VANDPS(Mem{Base: dy, Disp: off}, m, m)
			if kind == "" {
				VADDPS(Mem{Base: da, Disp: off}, m, m)
			} else {
				VADDPS(m, zero, m)
			}
			VMOVUPS(m, Mem{Base: da, Disp: off})
			if kind == "Set2" {
				VMOVUPS(m, Mem{Base: db, Disp: off})
			}
		}
		advance := func(b int) {
			ADDQ(U8(b), da)
			if kind == "Set2" {
				ADDQ(U8(b), db)
			}
			ADDQ(U8(b), dy)
			ADDQ(U8(b), y)
		}
		Label(name + "_loop4")
		CMPQ(n, U8(32))
		JL(LabelRef(name + "_loop1"))
		for u := 0; u < 4; u++ {
			step(32 * u)
		}
		advance(128)
		SUBQ(U8(32), n)
		JMP(LabelRef(name + "_loop4"))
		Label(name + "_loop1")
		CMPQ(n, U8(8))
		JL(LabelRef(name + "_done"))
		step(0)
		advance(32)
		SUBQ(U8(8), n)
		JMP(LabelRef(name + "_loop1"))
		gen.Done(name)
	}
}

// scaleShiftAddRelu emits scaleShiftAddReluAVX2: dst[i] = max((float32(src[i]·scale) +
// shift) + add[i], +0), each operation rounded (the forward pass of relu(bn(x) + s)), for
// i < len(dst) &^ 7.
func scaleShiftAddRelu() {
	name := "scaleShiftAddReluAVX2"
	gen.Kernel(name, "func(dst, src, add []float32, scale, shift float32)", name+" computes dst[i] = max((float32(src[i]*scale) + shift) + add[i], +0) for i < len(dst) &^ 7",
		"(see scaleShiftAddRelu in _gen/fused/main.go).")
	n := Load(Param("dst").Len(), GP64())
	ANDQ(I32(-8), n)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	add := Load(Param("add").Base(), GP64())
	scale, shift := YMM(), YMM()
	for _, p := range []struct {
		name string
		v    VecVirtual
	}{{"scale", scale}, {"shift", shift}} {
		m, _ := Param(p.name).Resolve()
		VBROADCASTSS(m.Addr, p.v)
	}
	zero := YMM()
	VXORPS(zero, zero, zero)
	i := GP64()
	XORQ(i, i)
	gen.Loop4(name, i, n, func(unroll int) {
		for u := 0; u < unroll; u++ {
			v := YMM()
			VMULPS(Mem{Base: src, Index: i, Scale: 4, Disp: 32 * u}, scale, v)
			VADDPS(shift, v, v)
			VADDPS(Mem{Base: add, Index: i, Scale: 4, Disp: 32 * u}, v, v)
			VMAXPS(zero, v, v)
			VMOVUPS(v, Mem{Base: dst, Index: i, Scale: 4, Disp: 32 * u})
		}
	})
	gen.Done(name)
}
