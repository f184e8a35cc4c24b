// Command fused generates Bonsai's amd64 kernels for the fused training-step operations
// (../../fused_amd64.s and the Go stubs in ../../fused_amd64.go) with avo: batch
// normalisation whose output feeds a ReLU (the ReLU's gradient mask applied on the fly) and
// gradients written into fresh buffers instead of added into zeroed ones. Run it through
// `go generate` in package asm:
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
)

func main() {
	ConstraintExpr("!noasm,gc")
	bnKernels()
	bnMaskXKernels()
	reluKernels()
	scaleShiftAddRelu()
	Generate()
}

// bnKernels emits, for AVX-512 and AVX2 (float64 arithmetic, 16 elements per iteration, as
// the bn kernels of ../conv/main.go):
//
//	bnDotCRelu{ISA}(g, y, x, mu, s, q): s[i%16] += gm[i], q[i%16] += gm[i]·(x[i]−mu)
//	bnBackwardSet{ISA}(dx, g, x, k, mdy, mu, invstd, mdyx): dx[i] = +0 + float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx))
//	bnBackwardRelu{ISA}(dx, g, y, x, …):    dx[i] += float32(…) with gm for g
//	bnBackwardReluSet{ISA}(dx, g, y, x, …): dx[i] = +0 + float32(…) with gm for g
//
// with gm[i] = y[i] > 0 (as int32) ? g[i] : +0.
func bnKernels() {
	for _, bits := range []int{512, 256} {
		isa, dlanes := "AVX512", 8
		if bits == 256 {
			isa, dlanes = "AVX2", 4
		}
		nvec := 16 / dlanes
		vec := func() VecVirtual {
			if bits == 512 {
				return ZMM()
			}
			return YMM()
		}
		half := func() VecVirtual { // float32 vector of dlanes elements
			if bits == 512 {
				return YMM()
			}
			return XMM()
		}
		// masked loads dlanes float32s of g at gm, masks them with y > 0 (y at ym), and
		// converts them to float64 in dst.
		masked := func(gm, ym Mem, zero, dst VecVirtual) {
			m := half()
			VMOVDQU(ym, m)
			VPCMPGTD(zero, m, m)
			VANDPS(gm, m, m)
			VCVTPS2PD(m, dst)
		}

		for _, withDs := range []bool{false, true} {
			name := "bnDotCRelu" + isa
			sig := "func(g, y, x []float32, mu float64, s, q *[16]float64)"
			doc := fmt.Sprintf("%s adds the masked g and g·(x−mu) into the 16 partial sums s and q (see bnKernels in _gen/fused/main.go).", name)
			if withDs {
				name = "bnDotCReluDs" + isa
				sig = "func(g, y, x, ds []float32, mu float64, s, q *[16]float64)"
				doc = fmt.Sprintf("%s adds the masked g and g·(x−mu) into the 16 partial sums s and q and sets ds to +0 + the masked g (see bnKernels in _gen/fused/main.go).", name)
			}
			TEXT(name, NOSPLIT, sig)
			Pragma("noescape")
			Doc(doc)
			{
				xp := Load(Param("x").Base(), GP64())
				n := Load(Param("x").Len(), GP64())
				gp := Load(Param("g").Base(), GP64())
				yp := Load(Param("y").Base(), GP64())
				var dsp Register
				if withDs {
					dsp = Load(Param("ds").Base(), GP64())
				}
				mu := vec()
				m, _ := Param("mu").Resolve()
				VBROADCASTSD(m.Addr, mu)
				sp := Load(Param("s"), GP64())
				qp := Load(Param("q"), GP64())
				zero := half()
				VPXOR(zero, zero, zero)
				ANDQ(I32(-16), n)
				sacc, qacc := make([]VecVirtual, nvec), make([]VecVirtual, nvec)
				for v := range sacc {
					sacc[v], qacc[v] = vec(), vec()
					VMOVUPD(Mem{Base: sp, Disp: 8 * dlanes * v}, sacc[v])
					VMOVUPD(Mem{Base: qp, Disp: 8 * dlanes * v}, qacc[v])
				}
				Label(name + "_loop")
				TESTQ(n, n)
				JZ(LabelRef(name + "_done"))
				for v := 0; v < nvec; v++ {
					x, g, t := vec(), vec(), vec()
					VCVTPS2PD(Mem{Base: xp, Disp: 4 * dlanes * v}, x)
					if withDs {
						m := half()
						VMOVDQU(Mem{Base: yp, Disp: 4 * dlanes * v}, m)
						VPCMPGTD(zero, m, m)
						VANDPS(Mem{Base: gp, Disp: 4 * dlanes * v}, m, m)
						VCVTPS2PD(m, g)
						VADDPS(m, zero, m)
						VMOVUPS(m, Mem{Base: dsp, Disp: 4 * dlanes * v})
					} else {
						masked(Mem{Base: gp, Disp: 4 * dlanes * v}, Mem{Base: yp, Disp: 4 * dlanes * v}, zero, g)
					}
					VADDPD(g, sacc[v], sacc[v])
					VSUBPD(mu, x, t)
					VMULPD(t, g, t)
					VADDPD(t, qacc[v], qacc[v])
				}
				ADDQ(U8(64), xp)
				ADDQ(U8(64), gp)
				ADDQ(U8(64), yp)
				if withDs {
					ADDQ(U8(64), dsp)
				}
				SUBQ(U8(16), n)
				JMP(LabelRef(name + "_loop"))
				Label(name + "_done")
				for v := range sacc {
					VMOVUPD(sacc[v], Mem{Base: sp, Disp: 8 * dlanes * v})
					VMOVUPD(qacc[v], Mem{Base: qp, Disp: 8 * dlanes * v})
				}
				VZEROUPPER()
				RET()
			}
		}

		for _, relu := range []bool{false, true} {
			for _, set := range []bool{false, true} {
				if !relu && !set {
					continue // bnBackward{ISA} in ../conv/main.go
				}
				name := "bnBackward"
				sig := "func(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64)"
				if relu {
					name += "Relu"
					sig = "func(dx, g, y, x []float32, k, mdy, mu, invstd, mdyx float64)"
				}
				op := "adds float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx)) into dx"
				if set {
					name += "Set"
					op = "sets dx to +0 + float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx))"
				}
				if relu {
					op += ", g masked by y > 0,"
				}
				name += isa
				TEXT(name, NOSPLIT, sig)
				Pragma("noescape")
				Doc(fmt.Sprintf("%s %s for the first len(dx) &^ 15", name, op),
					"elements (see bnKernels in _gen/fused/main.go).")
				dxp := Load(Param("dx").Base(), GP64())
				n := Load(Param("dx").Len(), GP64())
				gp := Load(Param("g").Base(), GP64())
				xp := Load(Param("x").Base(), GP64())
				var yp Register
				if relu {
					yp = Load(Param("y").Base(), GP64())
				}
				cs := map[string]VecVirtual{}
				for _, c := range []string{"k", "mdy", "mu", "invstd", "mdyx"} {
					cs[c] = vec()
					m, _ := Param(c).Resolve()
					VBROADCASTSD(m.Addr, cs[c])
				}
				zero := half()
				VPXOR(zero, zero, zero)
				ANDQ(I32(-16), n)
				Label(name + "_loop")
				TESTQ(n, n)
				JZ(LabelRef(name + "_done"))
				for v := 0; v < nvec; v++ {
					x, g, t := vec(), vec(), vec()
					VCVTPS2PD(Mem{Base: xp, Disp: 4 * dlanes * v}, x)
					if relu {
						masked(Mem{Base: gp, Disp: 4 * dlanes * v}, Mem{Base: yp, Disp: 4 * dlanes * v}, zero, g)
					} else {
						VCVTPS2PD(Mem{Base: gp, Disp: 4 * dlanes * v}, g)
					}
					VSUBPD(cs["mu"], x, x)
					VMULPD(cs["invstd"], x, x)
					VMULPD(cs["mdyx"], x, x)
					VSUBPD(cs["mdy"], g, t)
					VSUBPD(x, t, t)
					VMULPD(cs["k"], t, t)
					f := half()
					if bits == 512 {
						VCVTPD2PS(t, f)
					} else {
						VCVTPD2PSY(t, f)
					}
					if set {
						VADDPS(f, zero, f) // +0 + v: -0 becomes +0, as in a zeroed buffer
					} else {
						VADDPS(Mem{Base: dxp, Disp: 4 * dlanes * v}, f, f)
					}
					VMOVUPS(f, Mem{Base: dxp, Disp: 4 * dlanes * v})
				}
				ADDQ(U8(64), dxp)
				ADDQ(U8(64), gp)
				ADDQ(U8(64), xp)
				if relu {
					ADDQ(U8(64), yp)
				}
				SUBQ(U8(16), n)
				JMP(LabelRef(name + "_loop"))
				Label(name + "_done")
				VZEROUPPER()
				RET()
			}
		}
	}
}

// reluKernels emits the AVX2 ReLU backward kernels that write fresh gradient buffers (both
// SIMD paths use them: they are memory-bound):
//
//	reluBackwardSetAVX2(dx, dy, y):      dx[i] = +0 + (y[i] > 0 ? dy[i] : +0)
//	reluBackwardSet2AVX2(da, db, dy, y): da[i] = db[i] = the same
//
// for i < len(dx) &^ 7 (len(da) &^ 7).
func reluKernels() {
	for _, two := range []bool{false, true} {
		name, sig := "reluBackwardSetAVX2", "func(dx, dy, y []float32)"
		doc := name + " sets dx[i] to +0 + dy[i] where int32(bits(y[i])) > 0 and to +0 elsewhere, for i < len(dx) &^ 7 (see reluKernels in _gen/fused/main.go)."
		if two {
			name, sig = "reluBackwardSet2AVX2", "func(da, db, dy, y []float32)"
			doc = name + " sets da[i] and db[i] as reluBackwardSetAVX2 sets dx[i], for i < len(da) &^ 7."
		}
		TEXT(name, NOSPLIT, sig)
		Pragma("noescape")
		Doc(doc)
		var da, db, n Register
		if two {
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
			VADDPS(m, zero, m)
			VMOVUPS(m, Mem{Base: da, Disp: off})
			if two {
				VMOVUPS(m, Mem{Base: db, Disp: off})
			}
		}
		advance := func(b int) {
			ADDQ(U8(b), da)
			if two {
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
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// bnMaskXKernels emits, for AVX-512 and AVX2, the kernels of a batch normalisation whose
// output went through a ReLU, with the ReLU's mask recomputed from x instead of read from
// the output: y > 0 exactly when max(float32(x·scale) + shift, +0) > 0 as int32, the
// instructions of scaleShiftReluAVX2 (VMULPS, VADDPS, VMAXPS against +0) then VPCMPGTD.
//
//	bnDotCReluX{ISA}(g, x, mu, scale, shift, s, q): s[i%16] += gm[i], q[i%16] += gm[i]·(x[i]−mu)
//	bnBackwardReluX{ISA}(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift): dx[i] += float32(…)
//	bnBackwardReluXSet{ISA}(…): dx[i] = +0 + float32(…)
//
// with gm[i] = g[i] where the mask is set, +0 elsewhere, and … the expression of bnKernels.
func bnMaskXKernels() {
	for _, bits := range []int{512, 256} {
		isa, dlanes := "AVX512", 8
		if bits == 256 {
			isa, dlanes = "AVX2", 4
		}
		nvec := 16 / dlanes
		vec := func() VecVirtual {
			if bits == 512 {
				return ZMM()
			}
			return YMM()
		}
		half := func() VecVirtual {
			if bits == 512 {
				return YMM()
			}
			return XMM()
		}
		// load converts dlanes float32s of x (at xm) into float64s in xd and puts g (at gm),
		// masked by the ReLU of float32(x·scale) + shift, as float64s in gd.
		load := func(xm, gm Mem, scale, shift, zero, xd, gd VecVirtual) {
			xs, v := half(), half()
			VMOVUPS(xm, xs)
			VMULPS(scale, xs, v)
			VADDPS(shift, v, v)
			VMAXPS(zero, v, v)
			VPCMPGTD(zero, v, v)
			VANDPS(gm, v, v)
			VCVTPS2PD(v, gd)
			VCVTPS2PD(xs, xd)
		}
		consts := func(names ...string) map[string]VecVirtual {
			cs := map[string]VecVirtual{}
			for _, c := range names {
				m, _ := Param(c).Resolve()
				if c == "scale" || c == "shift" {
					cs[c] = half()
					VBROADCASTSS(m.Addr, cs[c])
				} else {
					cs[c] = vec()
					VBROADCASTSD(m.Addr, cs[c])
				}
			}
			return cs
		}

		name := "bnDotCReluX" + isa
		TEXT(name, NOSPLIT, "func(g, x []float32, mu float64, scale, shift float32, s, q *[16]float64)")
		Pragma("noescape")
		Doc(fmt.Sprintf("%s adds the masked g and g·(x−mu) into the 16 partial sums s and q (see bnMaskXKernels in _gen/fused/main.go).", name))
		{
			xp := Load(Param("x").Base(), GP64())
			n := Load(Param("x").Len(), GP64())
			gp := Load(Param("g").Base(), GP64())
			cs := consts("mu", "scale", "shift")
			sp := Load(Param("s"), GP64())
			qp := Load(Param("q"), GP64())
			zero := half()
			VPXOR(zero, zero, zero)
			ANDQ(I32(-16), n)
			sacc, qacc := make([]VecVirtual, nvec), make([]VecVirtual, nvec)
			for v := range sacc {
				sacc[v], qacc[v] = vec(), vec()
				VMOVUPD(Mem{Base: sp, Disp: 8 * dlanes * v}, sacc[v])
				VMOVUPD(Mem{Base: qp, Disp: 8 * dlanes * v}, qacc[v])
			}
			Label(name + "_loop")
			TESTQ(n, n)
			JZ(LabelRef(name + "_done"))
			for v := 0; v < nvec; v++ {
				x, g, t := vec(), vec(), vec()
				load(Mem{Base: xp, Disp: 4 * dlanes * v}, Mem{Base: gp, Disp: 4 * dlanes * v}, cs["scale"], cs["shift"], zero, x, g)
				VADDPD(g, sacc[v], sacc[v])
				VSUBPD(cs["mu"], x, t)
				VMULPD(t, g, t)
				VADDPD(t, qacc[v], qacc[v])
			}
			ADDQ(U8(64), xp)
			ADDQ(U8(64), gp)
			SUBQ(U8(16), n)
			JMP(LabelRef(name + "_loop"))
			Label(name + "_done")
			for v := range sacc {
				VMOVUPD(sacc[v], Mem{Base: sp, Disp: 8 * dlanes * v})
				VMOVUPD(qacc[v], Mem{Base: qp, Disp: 8 * dlanes * v})
			}
			VZEROUPPER()
			RET()
		}

		for _, set := range []bool{false, true} {
			name := "bnBackwardReluX"
			op := "adds float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx)) into dx"
			if set {
				name += "Set"
				op = "sets dx to +0 + float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx))"
			}
			name += isa
			TEXT(name, NOSPLIT, "func(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64, scale, shift float32)")
			Pragma("noescape")
			Doc(fmt.Sprintf("%s %s, g masked by max(float32(x·scale)+shift, 0) > 0, for the first len(dx) &^ 15", name, op),
				"elements (see bnMaskXKernels in _gen/fused/main.go).")
			dxp := Load(Param("dx").Base(), GP64())
			n := Load(Param("dx").Len(), GP64())
			gp := Load(Param("g").Base(), GP64())
			xp := Load(Param("x").Base(), GP64())
			cs := consts("k", "mdy", "mu", "invstd", "mdyx", "scale", "shift")
			zero := half()
			VPXOR(zero, zero, zero)
			ANDQ(I32(-16), n)
			Label(name + "_loop")
			TESTQ(n, n)
			JZ(LabelRef(name + "_done"))
			for v := 0; v < nvec; v++ {
				x, g, t := vec(), vec(), vec()
				load(Mem{Base: xp, Disp: 4 * dlanes * v}, Mem{Base: gp, Disp: 4 * dlanes * v}, cs["scale"], cs["shift"], zero, x, g)
				VSUBPD(cs["mu"], x, x)
				VMULPD(cs["invstd"], x, x)
				VMULPD(cs["mdyx"], x, x)
				VSUBPD(cs["mdy"], g, t)
				VSUBPD(x, t, t)
				VMULPD(cs["k"], t, t)
				f := half()
				if bits == 512 {
					VCVTPD2PS(t, f)
				} else {
					VCVTPD2PSY(t, f)
				}
				if set {
					VADDPS(f, zero, f)
				} else {
					VADDPS(Mem{Base: dxp, Disp: 4 * dlanes * v}, f, f)
				}
				VMOVUPS(f, Mem{Base: dxp, Disp: 4 * dlanes * v})
			}
			ADDQ(U8(64), dxp)
			ADDQ(U8(64), gp)
			ADDQ(U8(64), xp)
			SUBQ(U8(16), n)
			JMP(LabelRef(name + "_loop"))
			Label(name + "_done")
			VZEROUPPER()
			RET()
		}

		// bnBackwardReluSetDs: the tail of a residual block, y = relu(bn(x) + s): sets dx as
		// bnBackwardReluSet does and ds to the masked g.
		name = "bnBackwardReluSetDs" + isa
		TEXT(name, NOSPLIT, "func(dx, ds, g, y, x []float32, k, mdy, mu, invstd, mdyx float64)")
		Pragma("noescape")
		Doc(fmt.Sprintf("%s sets dx to +0 + float32(k·((g−mdy) − ((x−mu)·invstd)·mdyx)) and ds to +0 + g, g masked by y > 0,", name),
			"for the first len(dx) &^ 15 elements (see bnMaskXKernels in _gen/fused/main.go).")
		{
			dxp := Load(Param("dx").Base(), GP64())
			dsp := Load(Param("ds").Base(), GP64())
			n := Load(Param("dx").Len(), GP64())
			gp := Load(Param("g").Base(), GP64())
			yp := Load(Param("y").Base(), GP64())
			xp := Load(Param("x").Base(), GP64())
			cs := consts("k", "mdy", "mu", "invstd", "mdyx")
			zero := half()
			VPXOR(zero, zero, zero)
			ANDQ(I32(-16), n)
			Label(name + "_loop")
			TESTQ(n, n)
			JZ(LabelRef(name + "_done"))
			for v := 0; v < nvec; v++ {
				x, g, t := vec(), vec(), vec()
				VCVTPS2PD(Mem{Base: xp, Disp: 4 * dlanes * v}, x)
				m := half()
				VMOVDQU(Mem{Base: yp, Disp: 4 * dlanes * v}, m)
				VPCMPGTD(zero, m, m)
				VANDPS(Mem{Base: gp, Disp: 4 * dlanes * v}, m, m)
				VCVTPS2PD(m, g)
				VADDPS(m, zero, m)
				VMOVUPS(m, Mem{Base: dsp, Disp: 4 * dlanes * v})
				VSUBPD(cs["mu"], x, x)
				VMULPD(cs["invstd"], x, x)
				VMULPD(cs["mdyx"], x, x)
				VSUBPD(cs["mdy"], g, t)
				VSUBPD(x, t, t)
				VMULPD(cs["k"], t, t)
				f := half()
				if bits == 512 {
					VCVTPD2PS(t, f)
				} else {
					VCVTPD2PSY(t, f)
				}
				VADDPS(f, zero, f)
				VMOVUPS(f, Mem{Base: dxp, Disp: 4 * dlanes * v})
			}
			ADDQ(U8(64), dxp)
			ADDQ(U8(64), dsp)
			ADDQ(U8(64), gp)
			ADDQ(U8(64), yp)
			ADDQ(U8(64), xp)
			SUBQ(U8(16), n)
			JMP(LabelRef(name + "_loop"))
			Label(name + "_done")
			VZEROUPPER()
			RET()
		}
	}
}

// scaleShiftAddRelu emits scaleShiftAddReluAVX2: dst[i] = max((float32(src[i]·scale) +
// shift) + add[i], +0), each operation rounded (the forward pass of relu(bn(x) + s)), for
// i < len(dst) &^ 7.
func scaleShiftAddRelu() {
	name := "scaleShiftAddReluAVX2"
	TEXT(name, NOSPLIT, "func(dst, src, add []float32, scale, shift float32)")
	Pragma("noescape")
	Doc(name+" computes dst[i] = max((float32(src[i]*scale) + shift) + add[i], +0) for i < len(dst) &^ 7",
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
	body := func(unroll int) {
		for u := 0; u < unroll; u++ {
			v := YMM()
			VMULPS(Mem{Base: src, Index: i, Scale: 4, Disp: 32 * u}, scale, v)
			VADDPS(shift, v, v)
			VADDPS(Mem{Base: add, Index: i, Scale: 4, Disp: 32 * u}, v, v)
			VMAXPS(zero, v, v)
			VMOVUPS(v, Mem{Base: dst, Index: i, Scale: 4, Disp: 32 * u})
		}
		ADDQ(U8(8*unroll), i)
	}
	end := GP64()
	MOVQ(n, end)
	SUBQ(U8(32), end)
	Label(name + "_loop4")
	CMPQ(i, end)
	JG(LabelRef(name + "_loop1"))
	body(4)
	JMP(LabelRef(name + "_loop4"))
	Label(name + "_loop1")
	CMPQ(i, n)
	JGE(LabelRef(name + "_done"))
	body(1)
	JMP(LabelRef(name + "_loop1"))
	Label(name + "_done")
	VZEROUPPER()
	RET()
}
