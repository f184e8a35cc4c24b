package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
)

// Byte offsets of the fields of WinogradInArgs and WinogradOutArgs (../../winograd.go),
// checked by TestWinogradArgsLayout.
const (
	wiX       = 0
	wiV       = 8
	wiRow     = 16
	wiPlane   = 24
	wiLDC     = 32
	wiLDF     = 40
	wiC       = 48
	wiNPieces = 72  // [4]int
	wiPieces  = 104 // [16]WinoPiece
	wiKeep    = 488 // [2]uint16
	wiScratch = 496 // [24·16]float32: [6][4] row-transformed flat quarters

	woM       = 0
	woY       = 8
	woRow     = 16
	woPlane   = 24
	woLDK     = 32
	woLDF     = 40
	woK       = 48
	woNPieces = 72
	woPieces  = 104
	woAdd     = 488
	woScale   = 496
	woShift   = 504
	woR       = 512
	woScratch = 536 // [40·16]float32: [6][4] row-transformed frequencies, [4][4] output tiles

	pieceSize = 24 // WinoPiece: Off int, Mask [6]uint16, padding
	pieceMask = 8
)

// winoconst holds the float32 constants of the transforms: 27, 36, 48, 64, 144, 337.
var winoconst Mem

func winogradKernels() {
	winoconst = GLOBL("winoconst", RODATA|NOPTR)
	for i, v := range []float32{27, 36, 48, 64, 144, 337} {
		DATA(4*i, F32(v))
	}
	winopermTable()
	winoInputAVX512()
	for _, e := range []winoEpilogue{{}, {add: true}, {scale: true}, {scale: true, relu: true},
		{scale: true, res: true}, {scale: true, res: true, relu: true}} {
		winoOutputAVX512(e)
	}
}

// winoEpilogue selects what an output transform kernel does with each output element v
// (see WinogradOutArgs): add it to Y (add), or store float32(v·Scale[k]) + Shift[k]
// (scale), plus R's element (res), then max(·, +0) (relu).
type winoEpilogue struct{ add, scale, res, relu bool }

// name is the kernel's name: winogradOutput, then Add, ScaleShift, Add (res) and Relu as
// they apply, then AVX512.
func (e winoEpilogue) name() string {
	n := "winogradOutput"
	if e.add {
		n += "Add"
	}
	if e.scale {
		n += "ScaleShift"
	}
	if e.res {
		n += "Add"
	}
	if e.relu {
		n += "Relu"
	}
	return n + "AVX512"
}

// doc is the doc comment of the kernel.
func (e winoEpilogue) doc() []string {
	name := e.name()
	switch {
	case e.add:
		return []string{name + " adds the Winograd F(4×4, 3×3) output transform of 16 tiles into Y (see WinogradOutArgs, Add ≠ 0)."}
	case !e.scale:
		return []string{name + " computes the Winograd F(4×4, 3×3) output transform of 16 tiles (see WinogradOutArgs, Add = 0)."}
	}
	what := "float32(o·Scale[k]) + Shift[k]"
	if e.res {
		what += " + R"
	}
	if e.relu {
		what = "max(" + what + ", +0)"
	}
	return []string{name + " computes the Winograd F(4×4, 3×3) output transform o of 16 tiles and stores",
		what + " (see WinogradOutArgs)."}
}

// winoConsts are the broadcast constants of the transforms (see winoconst).
type winoConsts struct{ c27, c36, c48, c64, c144, c337 VecVirtual }

// loadWinoConsts broadcasts 27, 36, 48, 64 and, for the input transform, 144 and 337.
func loadWinoConsts(input bool) (k winoConsts) {
	k.c27, k.c36, k.c48, k.c64 = ZMM(), ZMM(), ZMM(), ZMM()
	VBROADCASTSS(winoconst, k.c27)
	VBROADCASTSS(winoconst.Offset(4), k.c36)
	VBROADCASTSS(winoconst.Offset(8), k.c48)
	VBROADCASTSS(winoconst.Offset(12), k.c64)
	if input {
		k.c144, k.c337 = ZMM(), ZMM()
		VBROADCASTSS(winoconst.Offset(16), k.c144)
		VBROADCASTSS(winoconst.Offset(20), k.c337)
	}
	return k
}

// winoIn1 emits the 1-d input transform v = Bᵀ·d (see winoIn1 in ../../winograd.go: the
// same operations, rounded alike).
func winoIn1(d [6]VecVirtual, k winoConsts) (v [6]VecVirtual) {
	q, p, r, s := ZMM(), ZMM(), ZMM(), ZMM()
	VMULPS(k.c36, d[4], q)
	VFNMADD231PS(k.c64, d[2], q) // 36·d4 − 64·d2
	VMULPS(k.c27, d[3], p)
	VFNMADD231PS(k.c48, d[1], p) // 27·d3 − 48·d1
	VMULPS(k.c48, d[4], r)
	VFNMADD231PS(k.c27, d[2], r) // 48·d4 − 27·d2
	VMULPS(k.c64, d[3], s)
	VFNMADD231PS(k.c36, d[1], s) // 64·d3 − 36·d1
	for i := range v {
		v[i] = ZMM()
	}
	t := ZMM()
	VADDPS(d[4], d[0], t)
	VMULPS(k.c144, t, v[0])
	VFNMADD231PS(k.c337, d[2], v[0])
	VADDPS(p, q, v[1])
	VSUBPS(p, q, v[2])
	VADDPS(s, r, v[3])
	VSUBPS(s, r, v[4])
	t5 := ZMM()
	VADDPS(d[5], d[1], t5)
	VMULPS(k.c144, t5, v[5])
	VFNMADD231PS(k.c337, d[3], v[5])
	return v
}

// winoOut1 emits the 1-d output transform o = Aᵀ·m (see winoOut1 in ../../winograd.go);
// it overwrites m[0] and m[5].
func winoOut1(m [6]VecVirtual, k winoConsts) (o [4]VecVirtual) {
	a, b, c, d := ZMM(), ZMM(), ZMM(), ZMM()
	VADDPS(m[2], m[1], a)
	VSUBPS(m[2], m[1], b)
	VADDPS(m[4], m[3], c)
	VSUBPS(m[4], m[3], d)
	VFMADD231PS(k.c64, a, m[0])
	VFMADD231PS(k.c27, c, m[0])
	o[0] = m[0]
	o[1], o[2] = ZMM(), ZMM()
	VMULPS(k.c48, b, o[1])
	VFMADD231PS(k.c36, d, o[1])
	VMULPS(k.c36, a, o[2])
	VFMADD231PS(k.c48, c, o[2])
	VFMADD231PS(k.c27, b, m[5])
	VFMADD231PS(k.c64, d, m[5])
	o[3] = m[5]
	return o
}

func zmm6() (r [6]VecVirtual) {
	for i := range r {
		r[i] = ZMM()
	}
	return r
}

// winoperm holds the permute indices of the transforms: even and odd elements of a pair of
// vectors, interleaved low and high halves of a pair, and one-lane shifts right and left.
var winoperm Mem

func winopermTable() {
	winoperm = permTable("winoperm", evenLanes, oddLanes, interleaveLo, interleaveHi, shiftRight, shiftLeft)
}

// alignedScratch returns a register pointing at the first 64-byte boundary in the scratch
// area at args+off (which has 64 bytes to spare), so that its vectors do not straddle
// cache lines (a split store is not forwarded to the load that follows it).
func alignedScratch(args Register, off int) Register {
	sc := GP64()
	LEAQ(Mem{Base: args, Disp: off + 63}, sc)
	ANDQ(I8(-64), sc)
	return sc
}

// loadBytes loads the float32 count at m into r as a count of bytes.
func loadBytes(m Mem, r Register) {
	MOVQ(m, r)
	SHLQ(U8(2), r)
}

// pieceWalk is the walk over the pieces of a quarter of the flat rows in a Winograd
// kernel's argument block (the counts at nPieces, the WinoPieces at pieces), with the
// pointers into the plane at base.
type pieceWalk struct {
	args            Register
	nPieces, pieces int
	base, cnt, pb   Register // the plane; scratch for the count and the piece's pointer
}

// each emits the walk over the pieces of quarter q: for each, pb = base + 4·Off, then
// body(masks), masks the piece's six uint16 row masks. It leaves past the last piece to
// the label skip, which it places after the walk.
func (w pieceWalk) each(q int, skip string, body func(masks Mem)) {
	MOVQ(Mem{Base: w.args, Disp: w.nPieces + 8*q}, w.cnt)
	for p := 0; p < 4; p++ {
		CMPQ(w.cnt, U8(p+1))
		JL(LabelRef(skip))
		at := w.pieces + pieceSize*(4*q+p)
		MOVQ(Mem{Base: w.args, Disp: at}, w.pb)
		LEAQ(Mem{Base: w.base, Index: w.pb, Scale: 4}, w.pb)
		body(Mem{Base: w.args, Disp: at + pieceMask})
	}
	Label(skip)
}

// perm2 emits dst = the permutation idx of the 32 lanes of (a, b).
func perm2(idx, a, b, dst VecVirtual) {
	VMOVAPS(idx, dst)
	VPERMI2PS(b, a, dst)
}

// winoInputAVX512 emits the input transform of 16 tiles (see WinogradInArgs): per channel,
// each quarter of the six flat rows is assembled from its pieces (masked loads) and
// transformed along the rows (the tile rows r) into the scratch area; then, per r, the
// four quarters are split into the tiles' columns (two rounds of even/odd permutes, and
// one-lane shifts for the outer columns) and transformed along the columns into V.
func winoInputAVX512() {
	name := "winogradInputAVX512"
	gen.Kernel(name, "func(args *int64)", name+" computes the Winograd F(4×4, 3×3) input transform of 16 tiles (see WinogradInArgs).")
	args := Load(Param("args"), GP64())
	x, v, row, ldf, ldc, plane, n := GP64(), GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	loadBytes(Mem{Base: args, Disp: wiLDC}, ldc)
	loadBytes(Mem{Base: args, Disp: wiPlane}, plane)
	MOVQ(Mem{Base: args, Disp: wiX}, x)
	MOVQ(Mem{Base: args, Disp: wiV}, v)
	loadBytes(Mem{Base: args, Disp: wiRow}, row)
	loadBytes(Mem{Base: args, Disp: wiLDF}, ldf)
	MOVQ(Mem{Base: args, Disp: wiC}, n)
	kc := loadWinoConsts(true)
	ie, io, sr, sl := ZMM(), ZMM(), ZMM(), ZMM()
	VMOVUPS(winoperm, ie)
	VMOVUPS(winoperm.Offset(64), io)
	VMOVUPS(winoperm.Offset(256), sr)
	VMOVUPS(winoperm.Offset(320), sl)
	pb, cnt, vp := GP64(), GP64(), GP64()
	sc := alignedScratch(args, wiScratch)
	pfd := GP64()
	LEAQ(Mem{Base: plane, Index: plane, Scale: 1}, pfd)
	// Keep[0] without lane 0, Keep[1] without lane 15 (they have no neighbour there).
	MOVWQZX(Mem{Base: args, Disp: wiKeep}, cnt)
	ANDL(U32(0xfffe), cnt.As32())
	KMOVW(cnt.As32(), K2)
	MOVWQZX(Mem{Base: args, Disp: wiKeep + 2}, cnt)
	ANDL(U32(0x7fff), cnt.As32())
	KMOVW(cnt.As32(), K3)
	Label(name + "_chan")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	for q := 0; q < 4; q++ {
		d := zmm6()
		for r := range d {
			VXORPS(d[r], d[r], d[r])
		}
		pieces := pieceWalk{args: args, nPieces: wiNPieces, pieces: wiPieces, base: x, cnt: cnt, pb: pb}
		pieces.each(q, fmt.Sprintf("%s_q%d", name, q), func(masks Mem) {
			for r := 0; r < 6; r++ {
				KMOVW(masks.Offset(2*r), K1)
				VMOVUPS(Mem{Base: pb}, K1, d[r])
				PREFETCHT0(Mem{Base: pb, Index: pfd, Scale: 1}) // the row two channels ahead
				if r < 5 {
					ADDQ(row, pb)
				}
			}
		})
		w := winoIn1(d, kc)
		for i := 0; i < 6; i++ {
			VMOVUPS(w[i], Mem{Base: sc, Disp: 64 * (4*i + q)})
		}
	}
	MOVQ(v, vp)
	for i := 0; i < 6; i++ {
		var z [4]VecVirtual
		for q := range z {
			z[q] = ZMM()
			VMOVUPS(Mem{Base: sc, Disp: 64 * (4*i + q)}, z[q])
		}
		e0, o0, e1, o1 := ZMM(), ZMM(), ZMM(), ZMM()
		perm2(ie, z[0], z[1], e0)
		perm2(io, z[0], z[1], o0)
		perm2(ie, z[2], z[3], e1)
		perm2(io, z[2], z[3], o1)
		d := zmm6()
		perm2(ie, e0, e1, d[1]) // flat[4l]
		perm2(ie, o0, o1, d[2]) // flat[4l+1]
		perm2(io, e0, e1, d[3]) // flat[4l+2]
		perm2(io, o0, o1, d[4]) // flat[4l+3]
		VPERMPS_Z(d[4], sr, K2, d[0])
		VPERMPS_Z(d[1], sl, K3, d[5])
		o := winoIn1(d, kc)
		for j := 0; j < 6; j++ {
			VMOVUPS(o[j], Mem{Base: vp})
			if i < 5 || j < 5 {
				ADDQ(ldf, vp)
			}
		}
	}
	ADDQ(ldc, v)
	ADDQ(plane, x)
	DECQ(n)
	JMP(LabelRef(name + "_chan"))
	gen.Done(name)
}

// winoOutputAVX512 emits the output transform of 16 tiles (see WinogradOutArgs): per output
// channel, the 36 frequencies are transformed along the rows into the scratch area, then
// along the columns into the 16 output vectors (tile row i, column j); per row i, these
// are interleaved into the four quarters of the flat row (two rounds of interleaving
// permutes), go through the epilogue e (scale, shift and ReLU per quarter, the residual per
// piece, loaded with the store's mask) and are stored through the pieces (masked stores).
func winoOutputAVX512(e winoEpilogue) {
	name := e.name()
	gen.Kernel(name, "func(args *int64)", e.doc()...)
	args := Load(Param("args"), GP64())
	m, y, row, ldf, n := GP64(), GP64(), GP64(), GP64(), GP64()
	MOVQ(Mem{Base: args, Disp: woM}, m)
	MOVQ(Mem{Base: args, Disp: woY}, y)
	loadBytes(Mem{Base: args, Disp: woRow}, row)
	loadBytes(Mem{Base: args, Disp: woLDF}, ldf)
	MOVQ(Mem{Base: args, Disp: woK}, n)
	kc := loadWinoConsts(false)
	il, ih := ZMM(), ZMM()
	VMOVUPS(winoperm.Offset(128), il)
	VMOVUPS(winoperm.Offset(192), ih)
	mp, pb, cnt := GP64(), GP64(), GP64()
	sc := alignedScratch(args, woScratch)
	plane := GP64()
	loadBytes(Mem{Base: args, Disp: woPlane}, plane)
	var sp, hp, rd GPVirtual          // Scale and Shift of the channel; R − Y in bytes
	var scale, shift, zero VecVirtual // broadcast Scale[k] and Shift[k]; +0
	if e.scale {
		sp, hp = GP64(), GP64()
		MOVQ(Mem{Base: args, Disp: woScale}, sp)
		MOVQ(Mem{Base: args, Disp: woShift}, hp)
		scale, shift = ZMM(), ZMM()
	}
	if e.res {
		rd = GP64()
		MOVQ(Mem{Base: args, Disp: woR}, rd)
		SUBQ(y, rd)
	}
	if e.relu {
		zero = ZMM()
		VXORPS(zero, zero, zero)
	}
	Label(name + "_chan")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	if e.scale {
		VBROADCASTSS(Mem{Base: sp}, scale)
		VBROADCASTSS(Mem{Base: hp}, shift)
	}
	MOVQ(m, mp)
	for i := 0; i < 6; i++ {
		d := zmm6()
		for j := 0; j < 6; j++ {
			VMOVUPS(Mem{Base: mp}, d[j])
			if i < 5 || j < 5 {
				ADDQ(ldf, mp)
			}
		}
		o := winoOut1(d, kc)
		for q := 0; q < 4; q++ {
			VMOVUPS(o[q], Mem{Base: sc, Disp: 64 * (4*i + q)})
		}
	}
	for j := 0; j < 4; j++ { // output column j of every tile
		d := zmm6()
		for i := 0; i < 6; i++ {
			VMOVUPS(Mem{Base: sc, Disp: 64 * (4*i + j)}, d[i])
		}
		o := winoOut1(d, kc)
		for r := 0; r < 4; r++ {
			VMOVUPS(o[r], Mem{Base: sc, Disp: 64 * (24 + 4*r + j)})
		}
	}
	for r := 0; r < 4; r++ { // output row r of every tile
		var p [4]VecVirtual
		for j := range p {
			p[j] = ZMM()
			VMOVUPS(Mem{Base: sc, Disp: 64 * (24 + 4*r + j)}, p[j])
		}
		e0, e1, o0, o1 := ZMM(), ZMM(), ZMM(), ZMM()
		perm2(il, p[0], p[2], e0)
		perm2(ih, p[0], p[2], e1)
		perm2(il, p[1], p[3], o0)
		perm2(ih, p[1], p[3], o1)
		var f [4]VecVirtual
		for q := range f {
			f[q] = ZMM()
		}
		perm2(il, e0, o0, f[0])
		perm2(ih, e0, o0, f[1])
		perm2(il, e1, o1, f[2])
		perm2(ih, e1, o1, f[3])
		if e.scale {
			for q := range f {
				VMULPS(scale, f[q], f[q]) // rounded, then added: no FMA (as ScaleShift)
				VADDPS(shift, f[q], f[q])
				if e.relu && !e.res {
					VMAXPS(zero, f[q], f[q])
				}
			}
		}
		pieces := pieceWalk{args: args, nPieces: woNPieces, pieces: woPieces, base: y, cnt: cnt, pb: pb}
		for q := 0; q < 4; q++ {
			pieces.each(q, fmt.Sprintf("%s_r%dq%d", name, r, q), func(masks Mem) {
				for rr := 0; rr < r; rr++ {
					ADDQ(row, pb)
				}
				KMOVW(masks.Offset(2*r), K1)
				if e.add || e.res {
					// The addend: Y itself (add) or R (res), masked lanes not read.
					addend := Mem{Base: pb}
					if e.res {
						addend = Mem{Base: pb, Index: rd, Scale: 1}
					}
					t := ZMM()
					VADDPS_Z(addend, f[q], K1, t)
					if e.relu {
						VMAXPS(zero, t, t)
					}
					VMOVUPS(t, K1, Mem{Base: pb})
				} else {
					VMOVUPS(f[q], K1, Mem{Base: pb})
				}
				PREFETCHT0(Mem{Base: pb, Index: plane, Scale: 1}) // the next channel's row
			})
		}
	}
	MOVQ(Mem{Base: args, Disp: woLDK}, pb)
	LEAQ(Mem{Base: m, Index: pb, Scale: 4}, m)
	ADDQ(plane, y)
	if e.scale {
		ADDQ(U8(4), sp)
		ADDQ(U8(4), hp)
	}
	DECQ(n)
	JMP(LabelRef(name + "_chan"))
	gen.Done(name)
}
