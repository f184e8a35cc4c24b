// Command depthwise generates Bonsai's amd64 kernels of depthwise 3×3 convolutions
// (../../depthwise_amd64.s and the Go stubs in ../../depthwise_amd64.go) with avo: padding
// 1, stride 1 or 2, AVX-512 (16 lanes) and AVX2 (8 lanes), and the AVX2 kernel of Clamp.
// Run it through `go generate` in package asm:
//
//	cd asm && go generate
//
// It shares the module of ../ (asm/_gen) but is a program of its own. Conventions as in
// ../conv/main.go: ABI0, NOSPLIT, no frame, VZEROUPPER before every RET.
//
// A kernel computes the planes of one image an output row at a time, a vector of output
// pixels at a time (see dwArgs and Depthwise3x3 in ../../depthwise.go for the contract and
// the Go twin). Each input row that a tap reads is either a row of the plane or, in the
// padding, a row of zeros (dwArgs.zero); within a row, the first and last vectors load
// through masks (zero in the padding columns and beyond the row, never reading outside
// it), the others without. Per vector and kernel row ky: s_ky = x0·w0 (a product), then
// two fused multiply-adds; then ((s0 + s1) + s2) + bias, the old output added (DWAdd),
// max(·, +0) (DWRelu) and min(·, hi) (DWClip).
//
// Stride 2 reads the input pixels of a vector of L outputs as two pairs of vectors: those
// at columns 2jL and 2jL+L give the even (kx = 1) and odd (kx = 2) columns, those at
// 2jL−1 and 2jL−1+L the even columns of the sequence that starts one column to the left
// (kx = 0): VPERMI2PS with the indices of dwperm (AVX-512), VSHUFPS and VPERMPD (AVX2).
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
)

// Byte offsets of the fields of dwArgs (../../depthwise.go; TestDepthwiseArgsLayout pins
// them).
const (
	daX        = 0
	daY        = 8
	daW        = 16
	daBias     = 24
	daZero     = 32
	daPlanes   = 40
	daH        = 48
	daIyEnd    = 56
	daNV       = 64
	daMode     = 72
	daRowX     = 80
	daRowY     = 88
	daPlaneX   = 96
	daBiasStep = 104
	daLastOff  = 112
	daHi       = 120
	daKMask    = 128 // [8]uint16
	daYMask    = 144 // [6][8]int32
	daWB       = 336 // [12][8]float32: AVX2 broadcast weights [0..8], bias [9], hi [10]
	daFMask    = 720 // [4][4]uint16: the flat kernel's masks per kind of group

	modeAdd  = 1
	modeRelu = 2
	modeClip = 4
)

var dwperm Mem

func main() {
	ConstraintExpr("!noasm,gc")
	permTable()
	for _, wgrad := range []bool{false, true} {
		for _, bits := range []int{512, 256} {
			for _, s := range []int{1, 2} {
				k := &kernel{bits: bits, stride: s, wgrad: wgrad}
				k.emit()
			}
		}
	}
	for _, bits := range []int{512, 256} {
		(&kernel{bits: bits, stride: 2}).emitBackward2()
	}
	(&kernel{bits: 512, stride: 1}).emitFlat1()
	clampKernel()
	clampBackwardKernels()
	Generate()
}

// permTable emits dwperm<>: the VPERMI2PS indices of the even (0, 2, … 30) and odd (1, 3,
// … 31) elements of two 16-lane vectors, then those that interleave two vectors a, b into
// a0 b0 a1 b1 … a7 b7 (lo) and a8 b8 … a15 b15 (hi).
func permTable() {
	dwperm = GLOBL("dwperm", RODATA|NOPTR)
	for i := 0; i < 32; i++ { // in increasing offsets, as the assembler wants them
		DATA(4*i, U32(2*(i%16)+i/16))
	}
	for i := 0; i < 32; i++ {
		DATA(128+4*i, U32(i%16/2+16*(i%2)+8*(i/16)))
	}
}

// vecKind is the position of a vector in its output row.
type vecKind int

const (
	first vecKind = iota // the first of several (its left padding column masked)
	mid                  // neither first nor last: no masks
	last                 // the last (the only one when a row has one vector)
)

var kindNames = [...]string{"first", "mid", "last"}

// kernel is one depthwise kernel: vector width bits (512 or 256) and stride.
type kernel struct {
	bits, stride int
	wgrad        bool // the weight-gradient kernel (see emit)
	name         string
	nfinish      int            // vectors finished so far, for unique labels
	storeK       OpmaskPhysical // the last vector's store mask, when not storeMask's
	acc          [9]VecVirtual  // the weight-gradient kernel's accumulators, per tap

	args, xp, wp, bp, iy, xrow, yrow, off Register
	rows                                  [3]Register
	w                                     [9]VecVirtual // weights (AVX-512, and AVX2 at stride 1)
	bias, zero, hi                        VecVirtual    // bias and hi: AVX-512 only
	idxE, idxO                            VecVirtual    // stride 2, AVX-512
}

func (k *kernel) lanes() int  { return k.bits / 32 }
func (k *kernel) vbytes() int { return k.bits / 8 }
func (k *kernel) wide() bool  { return k.bits == 512 }
func (k *kernel) vec() VecVirtual {
	return gen.NewVec(k.bits)
}

// emit emits the kernel: the forward pass, or (wgrad) the weight gradient of each plane,
// which traverses the planes as the forward pass does, reading the output gradient where
// the forward pass writes its output, and sums tap t's products x·dy in accumulator t
// (lane by lane, in the order of the vectors; the lanes added at the plane's end in the
// tree of hsum), storing the plane's nine sums where the forward pass reads its weights.
func (k *kernel) emit() {
	k.name = fmt.Sprintf("depthwise3x3s%d%s", k.stride, gen.ISA(k.bits))
	if k.wgrad {
		k.name = fmt.Sprintf("depthwiseWgrad3x3s%d%s", k.stride, gen.ISA(k.bits))
		gen.Kernel(k.name, "func(args *int64)",
			fmt.Sprintf("%s computes the weight gradients of the planes of a depthwise 3×3 convolution with padding 1", k.name),
			fmt.Sprintf("at stride %d (see dwArgs and DepthwiseWgrad3x3 in depthwise.go, and _gen/depthwise/main.go).", k.stride))
	} else {
		gen.Kernel(k.name, "func(args *int64)",
			fmt.Sprintf("%s computes the planes of a depthwise 3×3 convolution with padding 1 at stride %d (see dwArgs and", k.name, k.stride),
			"Depthwise3x3 in depthwise.go, and _gen/depthwise/main.go).")
	}
	k.args = Load(Param("args"), GP64())
	a := k.args
	k.xp, k.wp, k.bp, k.yrow = GP64(), GP64(), GP64(), GP64()
	MOVQ(Mem{Base: a, Disp: daX}, k.xp)
	MOVQ(Mem{Base: a, Disp: daW}, k.wp)
	MOVQ(Mem{Base: a, Disp: daBias}, k.bp)
	MOVQ(Mem{Base: a, Disp: daY}, k.yrow)
	k.zero = k.vec()
	if k.wide() {
		VPXORD(k.zero, k.zero, k.zero)
		k.hi = k.vec()
		VBROADCASTSS(Mem{Base: a, Disp: daHi}, k.hi)
		for i, r := range []OpmaskPhysical{K1, K2, K3, K4, K5, K6} {
			KMOVW(Mem{Base: a, Disp: daKMask + 2*i}, r)
		}
		if k.stride == 2 {
			k.idxE, k.idxO = k.vec(), k.vec()
			VMOVUPS(dwperm, k.idxE)
			VMOVUPS(dwperm.Offset(64), k.idxO)
		}
	} else {
		VXORPS(k.zero, k.zero, k.zero)
	}
	k.iy, k.xrow, k.off = GP64(), GP64(), GP64()
	k.rows = [3]Register{GP64(), GP64(), GP64()}

	Label(k.name + "_plane")
	if k.wgrad {
		for t := range k.acc {
			k.acc[t] = k.vec()
			k.zeroVec(k.acc[t])
		}
	} else {
		k.loadWeights()
	}
	MOVQ(I32(-1), k.iy)
	MOVQ(k.xp, k.xrow)
	SUBQ(Mem{Base: a, Disp: daRowX}, k.xrow)

	Label(k.name + "_row")
	// The input rows s·oy − 1 + ky, or the zero row where that is outside [0, h).
	t := GP64()
	MOVQ(k.iy, t)
	p := GP64() // xrow + ky·rowX
	MOVQ(k.xrow, p)
	for ky, r := range k.rows {
		if ky > 0 {
			ADDQ(Mem{Base: a, Disp: daRowX}, p)
			INCQ(t)
		}
		MOVQ(p, r)
		CMPQ(t, Mem{Base: a, Disp: daH})
		CMOVQCC(Mem{Base: a, Disp: daZero}, r)
	}
	XORQ(k.off, k.off)
	switch {
	case k.wide() && k.stride == 1:
		k.slide1()
	case k.wide():
		k.slide2()
	default:
		CMPQ(Mem{Base: a, Disp: daNV}, U8(1))
		JE(LabelRef(k.name + "_one"))
		k.vector(first)
		ADDQ(U32(k.vbytes()), k.off)
		Label(k.name + "_mid")
		CMPQ(k.off, Mem{Base: a, Disp: daLastOff})
		JAE(LabelRef(k.name + "_one"))
		k.vector(mid)
		ADDQ(U32(k.vbytes()), k.off)
		JMP(LabelRef(k.name + "_mid"))
		Label(k.name + "_one")
		k.vector(last)
	}

	ADDQ(Mem{Base: a, Disp: daRowY}, k.yrow)
	for range k.stride {
		ADDQ(Mem{Base: a, Disp: daRowX}, k.xrow)
	}
	ADDQ(U8(k.stride), k.iy)
	CMPQ(k.iy, Mem{Base: a, Disp: daIyEnd})
	JNE(LabelRef(k.name + "_row"))

	if k.wgrad {
		for t, acc := range k.acc {
			k.hsum(acc, Mem{Base: k.wp, Disp: 4 * t})
		}
	}
	ADDQ(Mem{Base: a, Disp: daPlaneX}, k.xp)
	ADDQ(U8(36), k.wp)
	ADDQ(Mem{Base: a, Disp: daBiasStep}, k.bp)
	DECQ(Mem{Base: a, Disp: daPlanes})
	JNZ(LabelRef(k.name + "_plane"))
	gen.Done(k.name)
}

// loadWeights broadcasts the plane's nine weights and bias: into registers (AVX-512; AVX2
// at stride 1, its bias read at each vector), or into the broadcast table dwArgs.wb (AVX2
// at stride 2, whose vectors need the registers for their loads and permutes).
func (k *kernel) loadWeights() {
	if k.wide() || k.stride == 1 {
		for t := range k.w {
			k.w[t] = k.vec()
			VBROADCASTSS(Mem{Base: k.wp, Disp: 4 * t}, k.w[t])
		}
		if k.wide() {
			k.bias = k.vec()
			VBROADCASTSS(Mem{Base: k.bp}, k.bias)
		}
		return
	}
	t := k.vec()
	for i := range 10 {
		src := Mem{Base: k.wp, Disp: 4 * i}
		if i == 9 {
			src = Mem{Base: k.bp}
		}
		VBROADCASTSS(src, t)
		VMOVUPS(t, k.wb(i))
	}
}

// wb is entry i of the AVX2 broadcast table.
func (k *kernel) wb(i int) Mem { return Mem{Base: k.args, Disp: daWB + 32*i} }

// ymask is AVX2 mask i of dwArgs.ymask.
func (k *kernel) ymask(i int) Mem { return Mem{Base: k.args, Disp: daYMask + 32*i} }

// loadMask returns the mask (an opmask register on AVX-512, the index of an AVX2 mask
// vector) of load ld of a vector of kind kind, or ok false when it loads without one.
// Stride 1: ld = kx; stride 2: ld = 0, 1, 2, 3 for the columns 2jL, 2jL+L, 2jL−1, 2jL−1+L.
func (k *kernel) loadMask(kind vecKind, ld int) (kr OpmaskPhysical, yi int, ok bool) {
	kregs := []OpmaskPhysical{K1, K2, K3, K4, K5, K6}
	switch kind {
	case first:
		if (k.stride == 1 && ld == 0) || (k.stride == 2 && ld == 2) {
			return K1, 0, true
		}
	case last:
		return kregs[1+ld], 1 + ld, true
	}
	return K0, 0, false
}

// storeMask is the mask of the last vector's store: index 4 (stride 1) or 5 (stride 2).
func (k *kernel) storeMask() (OpmaskPhysical, int) {
	if k.stride == 1 {
		return K5, 4
	}
	return K6, 5
}

// load loads into dst the vector at m through load ld's mask for kind, zero elsewhere.
func (k *kernel) load(kind vecKind, ld int, m Mem, dst VecVirtual) {
	kr, yi, ok := k.loadMask(kind, ld)
	switch {
	case !ok:
		VMOVUPS(m, dst)
	case k.wide():
		VMOVUPS_Z(m, kr, dst)
	default:
		mask := k.vec()
		VMOVUPS(k.ymask(yi), mask)
		VMASKMOVPS(m, mask, dst)
	}
}

// vector emits one vector of output pixels at byte offset off of the output row (input
// byte offset off at stride 1, 2·off at stride 2).
func (k *kernel) vector(kind vecKind) {
	k.consume(kind, func(f tapFunc) {
		for ky, r := range k.rows {
			if k.stride == 1 {
				k.row1(kind, ky, r, f)
			} else {
				k.row2(kind, ky, r, f)
			}
		}
	})
}

// A tapFunc takes the inputs x of tap (ky, kx) of the vector at hand: a vector register,
// or (AVX2 at stride 1, unmasked) a memory operand. The taps of a kernel row come in the
// order kx = 0, 1, 2.
type tapFunc func(ky, kx int, x Op)

// consume emits one vector of kind: taps produces its taps, in row-major order, for the
// forward pass (s_ky = x0·w0, then two fused multiply-adds, then finish) or the weight
// gradient (acc[t] += x·dy, dy the output gradient's vector).
func (k *kernel) consume(kind vecKind, taps func(f tapFunc)) {
	if k.wgrad {
		d := k.vec()
		out := Mem{Base: k.yrow, Index: k.off, Scale: 1}
		if kind == last {
			kr, yi := k.storeMask()
			if k.wide() {
				VMOVUPS_Z(out, kr, d)
			} else {
				mask := k.vec()
				VMOVUPS(k.ymask(yi), mask)
				VMASKMOVPS(out, mask, d)
			}
		} else {
			VMOVUPS(out, d)
		}
		taps(func(ky, kx int, x Op) { VFMADD231PS(x, d, k.acc[3*ky+kx]) })
		return
	}
	var s [3]VecVirtual
	taps(func(ky, kx int, x Op) {
		t := 3*ky + kx
		if kx == 0 {
			s[ky] = k.vec()
		}
		switch {
		case !k.wide() && k.stride == 2 && kx == 0: // the weight from the broadcast table, x a register
			VMULPS(k.wb(t), x, s[ky])
		case !k.wide() && k.stride == 2:
			VFMADD231PS(k.wb(t), x, s[ky])
		case kx == 0:
			VMULPS(x, k.w[t], s[ky])
		default:
			VFMADD231PS(x, k.w[t], s[ky])
		}
	})
	k.finish(kind, s)
}

// zeroVec sets v to zero.
func (k *kernel) zeroVec(v VecVirtual) {
	if k.wide() {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// hsum stores to m the sum of v's lanes, added in a tree: the upper half of the lanes onto
// the lower, and again, down to one (16 → 8 → 4 → 2 → 1 lanes on AVX-512, from 8 on AVX2).
func (k *kernel) hsum(v VecVirtual, m Mem) {
	y := v
	if k.wide() {
		y = YMM()
		VEXTRACTF32X8(U8(1), v, y)
		VADDPS(y, v.AsY(), y)
	}
	x := XMM()
	if k.wide() {
		VEXTRACTF32X4(U8(1), y, x) // EVEX: the register allocator may pick X16–X31
	} else {
		VEXTRACTF128(U8(1), y, x)
	}
	VADDPS(x, y.AsX(), x)
	t := XMM()
	VMOVHLPS(x, x, t)
	VADDPS(t, x, x)
	VMOVSHDUP(x, t)
	VADDSS(t, x, x)
	VMOVSS(x, m)
}

// finish emits the end of a vector from its row sums s: ((s0 + s1) + s2) + bias, the
// mode's epilogue and the store (masked for the last vector of a row).
func (k *kernel) finish(kind vecKind, s [3]VecVirtual) {
	acc := s[0]
	VADDPS(s[1], acc, acc)
	VADDPS(s[2], acc, acc)
	switch {
	case k.wide():
		VADDPS(k.bias, acc, acc)
	case k.stride == 1:
		b := k.vec()
		VBROADCASTSS(Mem{Base: k.bp}, b)
		VADDPS(b, acc, acc)
	default:
		VADDPS(k.wb(9), acc, acc)
	}
	out := Mem{Base: k.yrow, Index: k.off, Scale: 1}
	k.nfinish++
	lbl := fmt.Sprintf("%s_%s%d", k.name, kindNames[kind], k.nfinish)
	kr, yi := k.storeMask()
	if k.storeK != nil {
		kr = k.storeK
	}
	var ymask VecVirtual
	if kind == last && !k.wide() {
		ymask = k.vec()
		VMOVUPS(k.ymask(yi), ymask)
	}
	TESTQ(U32(modeAdd), Mem{Base: k.args, Disp: daMode})
	JZ(LabelRef(lbl + "_noadd"))
	switch {
	case kind != last:
		VADDPS(out, acc, acc)
	case k.wide():
		VADDPS(out, acc, kr, acc) // merge: lanes beyond the row keep acc, never stored
	default:
		old := k.vec()
		VMASKMOVPS(out, ymask, old)
		VADDPS(old, acc, acc)
	}
	Label(lbl + "_noadd")
	TESTQ(U32(modeRelu), Mem{Base: k.args, Disp: daMode})
	JZ(LabelRef(lbl + "_norelu"))
	VMAXPS(k.zero, acc, acc) // acc > 0 ? acc : +0
	Label(lbl + "_norelu")
	TESTQ(U32(modeClip), Mem{Base: k.args, Disp: daMode})
	JZ(LabelRef(lbl + "_noclip"))
	if k.wide() {
		VMINPS(k.hi, acc, acc) // acc < hi ? acc : hi
	} else {
		VMINPS(k.wb(10), acc, acc)
	}
	Label(lbl + "_noclip")
	switch {
	case kind != last:
		VMOVUPS(acc, out)
	case k.wide():
		VMOVUPS(acc, kr, out)
	default:
		VMASKMOVPS(acc, ymask, out)
	}
}

// slide1 emits an output row at stride 1 on AVX-512: the vectors of each input row are
// loaded once, in order (the last through K5, the lanes beyond the row zero), and the
// neighbours of a vector's pixels (kx = 0, 2) taken from it and the vectors before and
// after it (VALIGND; zero before the first and after the last).
func (k *kernel) slide1() {
	a := k.args
	var prev, cur, next [3]VecVirtual
	for ky := range 3 {
		prev[ky], cur[ky], next[ky] = k.vec(), k.vec(), k.vec()
		VPXORD(prev[ky], prev[ky], prev[ky])
	}
	m := func(ky, disp int) Mem { return Mem{Base: k.rows[ky], Index: k.off, Scale: 1, Disp: disp} }
	// The first vector (also the last one when the row has one).
	CMPQ(Mem{Base: a, Disp: daNV}, U8(1))
	JE(LabelRef(k.name + "_onevec"))
	for ky := range 3 {
		VMOVUPS(m(ky, 0), cur[ky])
	}
	JMP(LabelRef(k.name + "_loop"))
	Label(k.name + "_onevec")
	for ky := range 3 {
		VMOVUPS_Z(m(ky, 0), K5, cur[ky])
	}
	JMP(LabelRef(k.name + "_lastvec"))

	compute := func(kind vecKind) {
		k.consume(kind, func(f tapFunc) {
			for ky := range 3 {
				left, right := k.vec(), k.vec()
				VALIGND(U8(15), prev[ky], cur[ky], left) // (cur:prev) >> 15 lanes: x[jL+l−1]
				VALIGND(U8(1), cur[ky], next[ky], right) // (next:cur) >> 1 lane: x[jL+l+1]
				f(ky, 0, left)
				f(ky, 1, cur[ky])
				f(ky, 2, right)
			}
		})
		for ky := range 3 {
			VMOVAPS(cur[ky], prev[ky])
			VMOVAPS(next[ky], cur[ky])
		}
	}
	t := GP64()
	// Vectors j with j+1 < nv−1: the next one loads without a mask.
	Label(k.name + "_loop")
	MOVQ(k.off, t)
	ADDQ(U32(k.vbytes()), t)
	CMPQ(t, Mem{Base: a, Disp: daLastOff})
	JAE(LabelRef(k.name + "_penult"))
	for ky := range 3 {
		VMOVUPS(m(ky, k.vbytes()), next[ky])
	}
	compute(mid)
	ADDQ(U32(k.vbytes()), k.off)
	JMP(LabelRef(k.name + "_loop"))
	// Vector nv−2: the next one is the last, loaded through K5.
	Label(k.name + "_penult")
	for ky := range 3 {
		VMOVUPS_Z(m(ky, k.vbytes()), K5, next[ky])
	}
	compute(mid)
	ADDQ(U32(k.vbytes()), k.off)
	// The last vector: zeros after it.
	Label(k.name + "_lastvec")
	for ky := range 3 {
		VPXORD(next[ky], next[ky], next[ky])
	}
	compute(last)
}

// slide2 emits an output row at stride 2 on AVX-512: each input row's pair of vectors at
// columns 2jL and 2jL+L is loaded once (the last pair through K2 and K3) and split into
// its even (kx = 1) and odd (kx = 2) columns; the columns 2(jL+l)−1 (kx = 0) are the odd
// ones moved up one lane, the previous pair's last odd column entering lane 0 (VALIGND;
// zero before the first pair).
func (k *kernel) slide2() {
	a := k.args
	var prevO [3]VecVirtual
	for ky := range 3 {
		prevO[ky] = k.vec()
		VPXORD(prevO[ky], prevO[ky], prevO[ky])
	}
	vb := k.vbytes()
	m := func(ky, disp int) Mem { return Mem{Base: k.rows[ky], Index: k.off, Scale: 2, Disp: disp} }
	vector := func(kind vecKind) {
		k.consume(kind, func(f tapFunc) {
			for ky := range 3 {
				A, B := k.vec(), k.vec()
				if kind == last {
					VMOVUPS_Z(m(ky, 0), K2, A)
					VMOVUPS_Z(m(ky, vb), K3, B)
				} else {
					VMOVUPS(m(ky, 0), A)
					VMOVUPS(m(ky, vb), B)
				}
				e, o, left := k.even(A, B), k.odd(A, B), k.vec()
				VALIGND(U8(15), prevO[ky], o, left) // (o:prevO) >> 15 lanes: x[2(jL+l)−1]
				f(ky, 0, left)
				f(ky, 1, e)
				f(ky, 2, o)
				VMOVAPS(o, prevO[ky])
			}
		})
	}
	Label(k.name + "_loop")
	CMPQ(k.off, Mem{Base: a, Disp: daLastOff})
	JAE(LabelRef(k.name + "_lastvec"))
	vector(mid)
	ADDQ(U32(vb), k.off)
	JMP(LabelRef(k.name + "_loop"))
	Label(k.name + "_lastvec")
	vector(last)
}

// row1 produces the taps of kernel row ky at stride 1 on AVX2: the unmasked ones as memory
// operands at r + off + 4(kx−1), the masked ones (the first and last vectors) loaded
// through VMASKMOVPS.
func (k *kernel) row1(kind vecKind, ky int, r Register, f tapFunc) {
	for kx := range 3 {
		m := Mem{Base: r, Index: k.off, Scale: 1, Disp: 4 * (kx - 1)}
		if _, _, masked := k.loadMask(kind, kx); !masked {
			f(ky, kx, m)
			continue
		}
		x := k.vec()
		k.load(kind, kx, m, x)
		f(ky, kx, x)
	}
}

// row2 produces the taps of kernel row ky at stride 2 on AVX2: kx = 0, the even elements of
// the pair of vectors at column 2jL − 1; kx = 1, 2, the even and odd elements of the pair
// at 2jL.
func (k *kernel) row2(kind vecKind, ky int, r Register, f tapFunc) {
	m := func(disp int) Mem { return Mem{Base: r, Index: k.off, Scale: 2, Disp: disp} }
	vb := k.vbytes()
	a0, a1 := k.vec(), k.vec()
	k.load(kind, 2, m(-4), a0)
	k.load(kind, 3, m(vb-4), a1)
	f(ky, 0, k.even(a0, a1))
	b0, b1 := k.vec(), k.vec()
	k.load(kind, 0, m(0), b0)
	k.load(kind, 1, m(vb), b1)
	f(ky, 1, k.even(b0, b1))
	f(ky, 2, k.odd(b0, b1))
}

// even returns the even elements of the 2L-element sequence lo, hi.
func (k *kernel) even(lo, hi VecVirtual) VecVirtual { return k.deinterleave(lo, hi, false) }

// odd returns the odd elements of the 2L-element sequence lo, hi.
func (k *kernel) odd(lo, hi VecVirtual) VecVirtual { return k.deinterleave(lo, hi, true) }

func (k *kernel) deinterleave(lo, hi VecVirtual, odd bool) VecVirtual {
	out := k.vec()
	if k.wide() {
		idx := k.idxE
		if odd {
			idx = k.idxO
		}
		VMOVAPS(idx, out)
		VPERMI2PS(hi, lo, out) // out[l] = idx[l] < 16 ? lo[idx[l]] : hi[idx[l]−16]
		return out
	}
	imm := U8(0x88) // per 128-bit lane: lo0 lo2 hi0 hi2
	if odd {
		imm = U8(0xdd) // lo1 lo3 hi1 hi3
	}
	t := k.vec()
	VSHUFPS(imm, hi, lo, t)
	VPERMPD(U8(0xd8), t, out) // 64-bit lanes 0 2 1 3: the lo elements, then the hi ones
	return out
}

// clampKernel emits clampAVX2: dst[i] = min(max(src[i], lo), hi) as Clamp rounds it, for
// i < len(dst) &^ 7.
func clampKernel() {
	name := "clampAVX2"
	gen.Kernel(name, "func(dst, src []float32, lo, hi float32)",
		name+" computes dst[i] = v < hi ? v : hi with v = src[i] > lo ? src[i] : lo, for i < len(dst) &^ 7",
		"(see Clamp in clamp.go).")
	n := Load(Param("dst").Len(), GP64())
	ANDQ(I32(-8), n)
	dst := Load(Param("dst").Base(), GP64())
	src := Load(Param("src").Base(), GP64())
	lo, hi := YMM(), YMM()
	for _, p := range []struct {
		name string
		v    VecVirtual
	}{{"lo", lo}, {"hi", hi}} {
		m, _ := Param(p.name).Resolve()
		VBROADCASTSS(m.Addr, p.v)
	}
	i := GP64()
	XORQ(i, i)
	gen.Loop4(name, i, n, func(unroll int) {
		for u := 0; u < unroll; u++ {
			v := YMM()
			VMOVUPS(Mem{Base: src, Index: i, Scale: 4, Disp: 32 * u}, v)
			VMAXPS(lo, v, v)
			VMINPS(hi, v, v)
			VMOVUPS(v, Mem{Base: dst, Index: i, Scale: 4, Disp: 32 * u})
		}
	})
	gen.Done(name)
}

// clampBackwardKernels emits the AVX2 kernels of ClampBackward (both SIMD paths use them:
// they are memory-bound), the mask lo < y[i] < hi from ordered compares (false for NaN):
//
//	clampBackwardAVX2(dx, dy, y, lo, hi):    dx[i] += lo < y[i] < hi ? dy[i] : +0
//	clampBackwardSetAVX2(dx, dy, y, lo, hi): dx[i] = +0 + (lo < y[i] < hi ? dy[i] : +0)
//
// for i < len(dx) &^ 7.
func clampBackwardKernels() {
	for _, set := range []bool{false, true} {
		name, doc := "clampBackwardAVX2", " adds dy[i] into dx[i] where lo < y[i] < hi"
		if set {
			name, doc = "clampBackwardSetAVX2", " sets dx[i] to +0 + dy[i] where lo < y[i] < hi and to +0 elsewhere"
		}
		gen.Kernel(name, "func(dx, dy, y []float32, lo, hi float32)",
			name+doc+", for i < len(dx) &^ 7", "(see ClampBackward in clamp.go).")
		n := Load(Param("dx").Len(), GP64())
		ANDQ(I32(-8), n)
		dx := Load(Param("dx").Base(), GP64())
		dy := Load(Param("dy").Base(), GP64())
		y := Load(Param("y").Base(), GP64())
		lo, hi, zero := YMM(), YMM(), YMM()
		for _, p := range []struct {
			name string
			v    VecVirtual
		}{{"lo", lo}, {"hi", hi}} {
			m, _ := Param(p.name).Resolve()
			VBROADCASTSS(m.Addr, p.v)
		}
		VXORPS(zero, zero, zero)
		i := GP64()
		XORQ(i, i)
		gen.Loop4(name, i, n, func(unroll int) {
			for u := 0; u < unroll; u++ {
				v, m := YMM(), YMM()
				VMOVUPS(Mem{Base: y, Index: i, Scale: 4, Disp: 32 * u}, v)
				VCMPPS(U8(0x1e), lo, v, m) // v > lo, ordered: false for NaN (GT_OQ)
				VCMPPS(U8(0x11), hi, v, v) // v < hi, ordered (LT_OQ)
				VANDPS(v, m, m)
				VANDPS(Mem{Base: dy, Index: i, Scale: 4, Disp: 32 * u}, m, m)
				if set {
					VADDPS(m, zero, m) // +0 + g: −0 becomes +0
				} else {
					VADDPS(Mem{Base: dx, Index: i, Scale: 4, Disp: 32 * u}, m, m)
				}
				VMOVUPS(m, Mem{Base: dx, Index: i, Scale: 4, Disp: 32 * u})
			}
		})
		gen.Done(name)
	}
}

// emitBackward2 emits depthwiseBwd3x3s2: the data gradient of a depthwise 3×3 convolution
// with padding 1 at stride 2 (see DepthwiseBackward3x3s2 in ../../depthwise.go). With x the
// output gradient [ho][wo] and y the input gradient [h][w] (dwArgs: h = ho, iyEnd = h, rowX
// and planeX of x, rowY of y, nv and lastOff of x's rows), it computes each row iy of y
// from the rows of x that reach it: iy = 2i from row i through the kernel's row 1; iy =
// 2i+1 from row i+1 through row 0 and row i through row 2. A vector D of x's row (columns m
// = jL + l) and D1, the same moved down one column (m + 1; VALIGND, or VPERM2F128 and
// VPALIGNR on AVX2), give the even columns 2m (w[ky][1]·D) and the odd ones 2m+1
// (w[ky][2]·D + w[ky][0]·D1), interleaved into two vectors of y's row. Masks: kmask[0] the
// last vector of x's row, [1] and [2] the last pair of y's (ymask likewise on AVX2).
func (k *kernel) emitBackward2() {
	k.name = "depthwiseBwd3x3s2" + gen.ISA(k.bits)
	gen.Kernel(k.name, "func(args *int64)",
		k.name+" computes the input gradient of the planes of a depthwise 3×3 convolution with padding 1 at stride 2",
		"(see dwArgs and DepthwiseBackward3x3s2 in depthwise.go, and _gen/depthwise/main.go).")
	k.args = Load(Param("args"), GP64())
	a := k.args
	k.xp, k.wp, k.yrow = GP64(), GP64(), GP64()
	MOVQ(Mem{Base: a, Disp: daX}, k.xp)
	MOVQ(Mem{Base: a, Disp: daW}, k.wp)
	MOVQ(Mem{Base: a, Disp: daY}, k.yrow)
	k.zero = k.vec()
	k.zeroVec(k.zero)
	var ilo, ihi VecVirtual
	if k.wide() {
		KMOVW(Mem{Base: a, Disp: daKMask}, K1)
		KMOVW(Mem{Base: a, Disp: daKMask + 2}, K2)
		KMOVW(Mem{Base: a, Disp: daKMask + 4}, K3)
		ilo, ihi = k.vec(), k.vec()
		VMOVUPS(dwperm.Offset(128), ilo)
		VMOVUPS(dwperm.Offset(192), ihi)
	}
	k.off = GP64()
	iy := GP64()
	r0, r1 := GP64(), GP64() // the rows of x of the two slots

	Label(k.name + "_plane")
	if k.wide() {
		for t := range k.w {
			k.w[t] = k.vec()
			VBROADCASTSS(Mem{Base: k.wp, Disp: 4 * t}, k.w[t])
		}
	} else {
		t := k.vec()
		for i := range 9 {
			VBROADCASTSS(Mem{Base: k.wp, Disp: 4 * i}, t)
			VMOVUPS(t, k.wb(i))
		}
	}
	XORQ(iy, iy)

	// rowOf sets r to row o = (iy + c) / 2 of x (c: 0 or 1, so that o = i or i+1), or the
	// zero row when o ≥ ho.
	rowOf := func(r Register, c int) {
		t := GP64()
		MOVQ(iy, t)
		if c > 0 {
			ADDQ(U8(c), t)
		}
		SHRQ(U8(1), t)
		MOVQ(t, r)
		IMULQ(Mem{Base: a, Disp: daRowX}, r)
		ADDQ(k.xp, r)
		CMPQ(t, Mem{Base: a, Disp: daH})
		CMOVQCC(Mem{Base: a, Disp: daZero}, r)
	}
	weight := func(t int) Op {
		if k.wide() {
			return k.w[t]
		}
		return k.wb(t)
	}
	// fma adds x·w[t] into acc (or sets acc = x·w[t] when first).
	fma := func(x VecVirtual, t int, acc VecVirtual, first bool) {
		w := weight(t)
		switch {
		case first && k.wide():
			VMULPS(x, w, acc)
		case first:
			VMULPS(w, x, acc)
		case k.wide():
			VFMADD231PS(x, w, acc)
		default:
			VFMADD231PS(w, x, acc)
		}
	}
	// row emits one row of y from the slots: (x row register, kernel row) pairs.
	row := func(lbl string, slots [][2]int, regs []Register) {
		n := len(slots)
		cur, next := make([]VecVirtual, n), make([]VecVirtual, n)
		for s := range slots {
			cur[s], next[s] = k.vec(), k.vec()
		}
		m := func(s, disp int) Mem { return Mem{Base: regs[s], Index: k.off, Scale: 1, Disp: disp} }
		vb := k.vbytes()
		XORQ(k.off, k.off)
		// The first vector of each slot's row (the last when the row has one).
		CMPQ(Mem{Base: a, Disp: daNV}, U8(1))
		JE(LabelRef(lbl + "_onevec"))
		for s := range slots {
			VMOVUPS(m(s, 0), cur[s])
		}
		JMP(LabelRef(lbl + "_loop"))
		Label(lbl + "_onevec")
		for s := range slots {
			k.maskedLoad(m(s, 0), 0, cur[s])
		}
		JMP(LabelRef(lbl + "_lastvec"))

		nvec := 0
		vector := func(kind vecKind) {
			nvec++
			even, odd := k.vec(), k.vec()
			for s, sl := range slots {
				ky := sl[1]
				d1 := k.vec()
				k.shiftDown(cur[s], next[s], d1)
				fma(cur[s], 3*ky+1, even, s == 0)
				fma(cur[s], 3*ky+2, odd, s == 0)
				fma(d1, 3*ky, odd, false)
			}
			lo, hi := k.interleave(even, odd, ilo, ihi)
			out := func(v int) Mem { return Mem{Base: k.yrow, Index: k.off, Scale: 2, Disp: v * vb} }
			l := fmt.Sprintf("%s_v%d", lbl, nvec)
			TESTQ(U32(modeAdd), Mem{Base: a, Disp: daMode})
			JZ(LabelRef(l + "_noadd"))
			for v, acc := range []VecVirtual{lo, hi} {
				if kind != last {
					VADDPS(out(v), acc, acc)
					continue
				}
				old := k.vec()
				k.maskedLoad(out(v), 1+v, old)
				VADDPS(old, acc, acc)
			}
			Label(l + "_noadd")
			for v, acc := range []VecVirtual{lo, hi} {
				if kind != last {
					VMOVUPS(acc, out(v))
				} else {
					k.maskedStore(acc, 1+v, out(v))
				}
			}
			for s := range slots {
				VMOVAPS(next[s], cur[s])
			}
		}
		t := GP64()
		Label(lbl + "_loop")
		MOVQ(k.off, t)
		ADDQ(U32(vb), t)
		CMPQ(t, Mem{Base: a, Disp: daLastOff})
		JAE(LabelRef(lbl + "_penult"))
		for s := range slots {
			VMOVUPS(m(s, vb), next[s])
		}
		vector(mid)
		ADDQ(U32(vb), k.off)
		JMP(LabelRef(lbl + "_loop"))
		Label(lbl + "_penult")
		for s := range slots {
			k.maskedLoad(m(s, vb), 0, next[s])
		}
		vector(mid)
		ADDQ(U32(vb), k.off)
		Label(lbl + "_lastvec")
		for s := range slots {
			k.zeroVec(next[s])
		}
		vector(last)
		ADDQ(Mem{Base: a, Disp: daRowY}, k.yrow)
		INCQ(iy)
	}

	Label(k.name + "_row")
	rowOf(r0, 0) // iy = 2i: row i through kernel row 1
	row(k.name+"_even", [][2]int{{0, 1}}, []Register{r0})
	CMPQ(iy, Mem{Base: a, Disp: daIyEnd})
	JE(LabelRef(k.name + "_planeend"))
	rowOf(r0, 1) // iy = 2i+1: row i+1 through kernel row 0, row i through kernel row 2
	rowOf(r1, 0)
	row(k.name+"_odd", [][2]int{{0, 0}, {1, 2}}, []Register{r0, r1})
	CMPQ(iy, Mem{Base: a, Disp: daIyEnd})
	JNE(LabelRef(k.name + "_row"))

	Label(k.name + "_planeend")
	ADDQ(Mem{Base: a, Disp: daPlaneX}, k.xp)
	ADDQ(U8(36), k.wp)
	DECQ(Mem{Base: a, Disp: daPlanes})
	JNZ(LabelRef(k.name + "_plane"))
	gen.Done(k.name)
}

// maskedLoad loads m through mask i of the argument block (zero elsewhere).
func (k *kernel) maskedLoad(m Mem, i int, dst VecVirtual) {
	if k.wide() {
		VMOVUPS_Z(m, []OpmaskPhysical{K1, K2, K3}[i], dst)
		return
	}
	mask := k.vec()
	VMOVUPS(k.ymask(i), mask)
	VMASKMOVPS(m, mask, dst)
}

// maskedStore stores v to m through mask i of the argument block.
func (k *kernel) maskedStore(v VecVirtual, i int, m Mem) {
	if k.wide() {
		VMOVUPS(v, []OpmaskPhysical{K1, K2, K3}[i], m)
		return
	}
	mask := k.vec()
	VMOVUPS(k.ymask(i), mask)
	VMASKMOVPS(v, mask, m)
}

// shiftDown sets dst to the L elements after cur's first: cur[1…L−1], next[0].
func (k *kernel) shiftDown(cur, next, dst VecVirtual) {
	if k.wide() {
		VALIGND(U8(1), cur, next, dst) // (next:cur) >> 1 lane
		return
	}
	t := k.vec()
	VPERM2F128(U8(0x21), next, cur, t) // cur's upper half, next's lower half
	VPALIGNR(U8(4), cur, t, dst)       // per half: (t:cur) >> 4 bytes
}

// interleave returns a0 b0 a1 b1 … (the first L elements) and the L after them.
func (k *kernel) interleave(a, b, ilo, ihi VecVirtual) (lo, hi VecVirtual) {
	lo, hi = k.vec(), k.vec()
	if k.wide() {
		VMOVAPS(ilo, lo)
		VPERMI2PS(b, a, lo)
		VMOVAPS(ihi, hi)
		VPERMI2PS(b, a, hi)
		return lo, hi
	}
	t0, t1 := k.vec(), k.vec()
	VUNPCKLPS(b, a, t0) // per half: a0 b0 a1 b1 | a4 b4 a5 b5
	VUNPCKHPS(b, a, t1) // per half: a2 b2 a3 b3 | a6 b6 a7 b7
	VPERM2F128(U8(0x20), t1, t0, lo)
	VPERM2F128(U8(0x31), t1, t0, hi)
	return lo, hi
}

// emitFlat1 emits depthwise3x3s1FlatAVX512, the stride-1 kernel for rows of at most 8
// pixels (7×7 maps), where a row-vector would leave most lanes idle: a vector holds R =
// ⌊16/W⌋ consecutive rows of the plane, as they lie in memory (lane l: row l/W, column
// l%W). For kernel row ky the vector of the rows above (ky = 0), the same rows or the rows
// below is loaded through a mask that zeroes the rows outside the plane; its neighbours
// kx = 0, 2 are the vector moved one lane (VALIGND with zero), their products masked off
// in the first column (K1) and the last one (K2), where they would take the neighbouring
// row's pixel. dwArgs: h is the number of groups of R rows, rowX the bytes of a group,
// lastOff the bytes of a row, fmask the masks of the first, middle, last and only group
// (kernel rows 0, 1, 2, then the store).
func (k *kernel) emitFlat1() {
	k.name = "depthwise3x3s1FlatAVX512"
	gen.Kernel(k.name, "func(args *int64)",
		k.name+" computes the planes of a depthwise 3×3 convolution with padding 1 at stride 1 for rows of at",
		"most 8 pixels (see dwArgs and Depthwise3x3 in depthwise.go, and _gen/depthwise/main.go).")
	k.args = Load(Param("args"), GP64())
	a := k.args
	k.xp, k.wp, k.bp, k.yrow = GP64(), GP64(), GP64(), GP64()
	yp := GP64()
	MOVQ(Mem{Base: a, Disp: daX}, k.xp)
	MOVQ(Mem{Base: a, Disp: daW}, k.wp)
	MOVQ(Mem{Base: a, Disp: daBias}, k.bp)
	MOVQ(Mem{Base: a, Disp: daY}, yp)
	k.zero, k.hi = k.vec(), k.vec()
	VPXORD(k.zero, k.zero, k.zero)
	VBROADCASTSS(Mem{Base: a, Disp: daHi}, k.hi)
	KMOVW(Mem{Base: a, Disp: daKMask}, K1)
	KMOVW(Mem{Base: a, Disp: daKMask + 2}, K2)
	k.off = GP64()
	XORQ(k.off, k.off)
	k.storeK = K6
	grp, xrow := GP64(), GP64()

	Label(k.name + "_plane")
	k.loadWeights()
	MOVQ(k.xp, xrow)
	MOVQ(yp, k.yrow)
	XORQ(grp, grp)

	Label(k.name + "_group")
	// The kind of group: only (one group), first, last or middle.
	masks := func(kind int) {
		for i, kr := range []OpmaskPhysical{K3, K4, K5, K6} {
			KMOVW(Mem{Base: a, Disp: daFMask + 8*kind + 2*i}, kr)
		}
		JMP(LabelRef(k.name + "_body"))
	}
	t := GP64()
	CMPQ(Mem{Base: a, Disp: daH}, U8(1))
	JE(LabelRef(k.name + "_only"))
	TESTQ(grp, grp)
	JZ(LabelRef(k.name + "_first"))
	MOVQ(grp, t)
	INCQ(t)
	CMPQ(t, Mem{Base: a, Disp: daH})
	JE(LabelRef(k.name + "_last"))
	masks(1)
	Label(k.name + "_first")
	masks(0)
	Label(k.name + "_last")
	masks(2)
	Label(k.name + "_only")
	masks(3)

	Label(k.name + "_body")
	var s [3]VecVirtual
	for ky, kr := range []OpmaskPhysical{K3, K4, K5} {
		r := GP64()
		MOVQ(xrow, r)
		switch ky {
		case 0:
			SUBQ(Mem{Base: a, Disp: daLastOff}, r)
		case 2:
			ADDQ(Mem{Base: a, Disp: daLastOff}, r)
		}
		cur, left, right := k.vec(), k.vec(), k.vec()
		VMOVUPS_Z(Mem{Base: r}, kr, cur)
		VALIGND(U8(15), k.zero, cur, left) // (cur:0) >> 15 lanes: the pixel before
		VALIGND(U8(1), cur, k.zero, right) // (0:cur) >> 1 lane: the pixel after
		s[ky] = k.vec()
		VMULPS_Z(left, k.w[3*ky], K1, s[ky]) // +0 in the first column
		VFMADD231PS(cur, k.w[3*ky+1], s[ky])
		VFMADD231PS(right, k.w[3*ky+2], K2, s[ky]) // nothing added in the last column
	}
	k.finish(last, s)
	ADDQ(Mem{Base: a, Disp: daRowX}, xrow)
	ADDQ(Mem{Base: a, Disp: daRowX}, k.yrow)
	INCQ(grp)
	CMPQ(grp, Mem{Base: a, Disp: daH})
	JNE(LabelRef(k.name + "_group"))

	ADDQ(Mem{Base: a, Disp: daPlaneX}, k.xp)
	ADDQ(Mem{Base: a, Disp: daPlaneX}, yp)
	ADDQ(U8(36), k.wp)
	ADDQ(Mem{Base: a, Disp: daBiasStep}, k.bp)
	DECQ(Mem{Base: a, Disp: daPlanes})
	JNZ(LabelRef(k.name + "_plane"))
	gen.Done(k.name)
}
