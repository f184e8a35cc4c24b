// Command conv generates Bonsai's amd64 convolution kernels (../../conv_amd64.s and the Go
// stubs in ../../conv_amd64.go) with avo. Run it through `go generate` in package asm:
//
//	cd asm && go generate
//
// It shares the module of ../ (asm/_gen) but is a program of its own, so that the SGEMM
// generator and this one can change independently. CI regenerates the files and fails when
// they differ from the committed ones.
//
// The kernels take one pointer to an argument block (ConvTileArgs, WgradArgs in
// ../../conv.go) whose field offsets are fixed here and checked by a test in package asm
// (TestConvArgsLayout). Conventions as in ../main.go: ABI0, NOSPLIT, no frame, VZEROUPPER
// before every RET; accumulators live in fixed (physical) vector registers.
package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

func main() {
	ConstraintExpr("!noasm,gc")
	bitTable()
	convTileAVX512(false)
	convTileAVX512(true)
	convTileAVX2()
	wgradKernels()
	phaseKernels()
	phaseRowKernels()
	prefetchRows()
	winogradKernels()
	Generate()
}

// Byte offsets of the fields of ConvTileArgs (../../conv.go).
const (
	taA      = 0
	taX      = 8
	taY      = 16
	taRuns   = 24
	taNRuns  = 32
	taLDX    = 40
	taLDY    = 48
	taRows   = 56
	taBeta   = 64
	taXOff   = 72   // [4]int
	taYOff   = 104  // [4]int
	taMask   = 136  // [4]*uint32
	taSMask  = 168  // [4]uint32
	taScrtch = 184  // [32]uint32: AVX2 expanded masks
	taFlushd = 336  // int: accumulators flushed (set by the kernel)
	taAcc    = 344  // [384]float32: flushed partial sums
	taPF     = 1880 // uintptr: memory to prefetch, one line per two k-steps
	taPFN    = 1888 // int: lines left to prefetch
	taPerm   = 1896 // *int32: the pair kernel's permute indices, 16 per run
	taPairD  = 1904 // int: bytes from a pair's first table to its second

	runSize = 24 // ConvRun: Delta, Count, Flush
)

var zmm = []VecPhysical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}
var ymm = []VecPhysical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15}

// convbits is the lane-bit table of bitTable; convperm the permute indices of phaseKernels.
var convbits, convperm Mem

var kregs = []OpmaskPhysical{K1, K2, K3, K4, K5, K6, K7}

// bitTable emits convbits<>: the eight int32 lane bits 1, 2, 4, … 128, with which the AVX2
// kernels turn a bit mask into a vector mask (broadcast, AND, compare-equal).
func bitTable() {
	convbits = GLOBL("convbits", RODATA|NOPTR)
	for i := 0; i < 8; i++ {
		DATA(4*i, U32(1<<i))
	}
}

// prefetchStep emits the tile kernels' prefetch of one line of PF, while PFN > 0: memory the
// caller reads next, fetched at the pace of the k-loop rather than in a burst that would
// fill the miss buffers and stall, and into L2 only (PREFETCHT1), leaving L1 to the tile's
// own operands.
func prefetchStep(name string, args, t Register) {
	CMPQ(Mem{Base: args, Disp: taPFN}, U8(0))
	JLE(LabelRef(name + "_nopf"))
	MOVQ(Mem{Base: args, Disp: taPF}, t)
	PREFETCHT1(Mem{Base: t})
	ADDQ(U8(64), Mem{Base: args, Disp: taPF})
	DECQ(Mem{Base: args, Disp: taPFN})
	Label(name + "_nopf")
}

// flush emits the end-of-run check of a tile kernel: if the run just finished has its Flush
// field set, the accumulators are added into the argument block's partial sums (stored
// there on the first flush) and zeroed: each k-slice is summed from zero, and the slices
// are added in order (see ConvTileArgs).
func flush(name string, args, runs Register, accs []VecPhysical, vbytes, bits int) {
	CMPQ(Mem{Base: runs, Disp: 16}, U8(0))
	JE(LabelRef(name + "_noflush"))
	CMPQ(Mem{Base: args, Disp: taFlushd}, U8(0))
	JE(LabelRef(name + "_firstflush"))
	for k, r := range accs {
		m := Mem{Base: args, Disp: taAcc + k*vbytes}
		VADDPS(m, r, r)
	}
	Label(name + "_firstflush")
	for k, r := range accs {
		VMOVUPS(r, Mem{Base: args, Disp: taAcc + k*vbytes})
		zero(r, bits)
	}
	MOVQ(U32(1), Mem{Base: args, Disp: taFlushd})
	Label(name + "_noflush")
}

// unflush emits the merge after the last run: if anything was flushed, acc = partial + acc.
func unflush(name string, args Register, accs []VecPhysical, vbytes int) {
	CMPQ(Mem{Base: args, Disp: taFlushd}, U8(0))
	JE(LabelRef(name + "_nounflush"))
	for k, r := range accs {
		VADDPS(Mem{Base: args, Disp: taAcc + k*vbytes}, r, r)
	}
	Label(name + "_nounflush")
}

func zero(v VecPhysical, bits int) {
	if bits == 512 {
		VPXORD(v, v, v)
	} else {
		VXORPS(v, v, v)
	}
}

// convTileAVX512 emits convTile8x48AVX512: one 8-row × 3-vector (48-lane) tile of the
// direct convolution, the contract of ConvTileArgs (../../conv.go):
//
//	p[v] = X + XOff[v]                                  (bytes)
//	for r < NRuns: p[v] += Runs[r].Delta; load mask k[v] = Mask[v][r]
//	    for q < Runs[r].Count (the k-steps): B[v] = p[v][0:16] where k[v], else 0
//	        acc[i][v] += A[s*8+i] · B[v]   (s: the k-step, counted over all runs)
//	        p[v] += LDX
//	then for i < Rows, v < 3, lanes l in SMask[v]:
//	    Y[YOff[v] + i*LDY + 4l] = acc[i][v][l]            (Beta == 0)
//	    Y[YOff[v] + i*LDY + 4l] = old + acc[i][v][l]       (Beta != 0)
//
// 24 ZMM accumulators (Z0–Z23, row i vector v = Z(3i+v)), Z24–Z26 the three B vectors,
// Z27–Z31 broadcasts in rotation; per k-step 3 masked loads, 8 broadcasts, 24 FMAs.
// Masked-off lanes are never read (AVX-512 suppresses faults on them), so p[v] may point
// outside the input where a whole vector is masked.
//
// With pair set it emits convTilePair8x48AVX512, which gathers each B vector from two
// 16-float tables instead (ConvTileArgs.Perm): B[v] = lanes Perm[r] of the 32 floats at
// p[v] and p[v]+PairD, zeroed where k[v] is clear: one load and one two-table permute
// (VPERMT2PS, with the second table as its memory operand) per vector. Both tables are
// read in full whatever the mask. Z27 holds the run's indices and Z28–Z31 the broadcasts.
func convTileAVX512(pair bool) {
	const mr, nv = 8, 3
	name := "convTile8x48AVX512"
	if pair {
		name = "convTilePair8x48AVX512"
	}
	TEXT(name, NOSPLIT, "func(args *int64)")
	Pragma("noescape")
	Doc(name+" computes one 8×48 tile of a direct convolution (see ConvTileArgs in conv.go and",
		"convTileAVX512 in _gen/conv/main.go).")
	args := Load(Param("args"), GP64())
	a := GP64()
	MOVQ(Mem{Base: args, Disp: taA}, a)
	p := make([]GPVirtual, nv)
	x := GP64()
	MOVQ(Mem{Base: args, Disp: taX}, x)
	for v := range p {
		p[v] = GP64()
		MOVQ(x, p[v])
		ADDQ(Mem{Base: args, Disp: taXOff + 8*v}, p[v])
	}
	ldx := GP64()
	runs := GP64()
	nr := GP64()
	ridx := GP64()
	cnt := GP64()
	tmp := GP64()
	prefetchTile(args, mr, nv, 64, ldx, runs, nr)
	MOVQ(Mem{Base: args, Disp: taLDX}, ldx)
	MOVQ(Mem{Base: args, Disp: taRuns}, runs)
	MOVQ(Mem{Base: args, Disp: taNRuns}, nr)
	XORQ(ridx, ridx)
	var pd GPVirtual
	if pair {
		pd = GP64()
		MOVQ(Mem{Base: args, Disp: taPairD}, pd)
	}

	accs := zmm[:24]
	bvec := zmm[24:27]
	bcast := zmm[27:32]
	idx := zmm[27]
	if pair {
		bcast = zmm[28:32]
	}
	for _, r := range accs {
		VPXORD(r, r, r)
	}
	MOVQ(U32(0), Mem{Base: args, Disp: taFlushd})
	nb := 0
	step := func(off func(v int) Mem, aOff int) {
		for v := 0; v < nv; v++ {
			if pair {
				VMOVUPS(off(v), bvec[v])
				VPERMT2PS_Z(Mem{Base: p[v], Index: pd, Scale: 1}, idx, kregs[v], bvec[v])
			} else {
				VMOVUPS_Z(off(v), kregs[v], bvec[v])
			}
		}
		for i := 0; i < mr; i++ {
			bc := bcast[nb%len(bcast)]
			nb++
			VBROADCASTSS(Mem{Base: a, Disp: aOff + 4*i}, bc)
			for v := 0; v < nv; v++ {
				VFMADD231PS(bc, bvec[v], accs[i*nv+v])
			}
		}
	}
	Label(name + "_run")
	TESTQ(nr, nr)
	JZ(LabelRef(name + "_store"))
	for v := 0; v < nv; v++ {
		ADDQ(Mem{Base: runs}, p[v])
		MOVQ(Mem{Base: args, Disp: taMask + 8*v}, tmp)
		KMOVW(Mem{Base: tmp, Index: ridx, Scale: 4}, kregs[v])
	}
	if pair {
		MOVQ(ridx, cnt)
		SHLQ(U8(6), cnt)
		ADDQ(Mem{Base: args, Disp: taPerm}, cnt)
		VMOVDQU32(Mem{Base: cnt}, idx)
	}
	MOVQ(Mem{Base: runs, Disp: 8}, cnt)
	Label(name + "_loop2")
	CMPQ(cnt, U8(2))
	JL(LabelRef(name + "_tail"))
	if pair {
		// The second table's address already takes the index register: advance the
		// pointers between the two k-steps instead.
		step(func(v int) Mem { return Mem{Base: p[v]} }, 0)
		for v := 0; v < nv; v++ {
			ADDQ(ldx, p[v])
		}
		step(func(v int) Mem { return Mem{Base: p[v]} }, 4*mr)
		for v := 0; v < nv; v++ {
			ADDQ(ldx, p[v])
		}
	} else {
		step(func(v int) Mem { return Mem{Base: p[v]} }, 0)
		step(func(v int) Mem { return Mem{Base: p[v], Index: ldx, Scale: 1} }, 4*mr)
		for v := 0; v < nv; v++ {
			LEAQ(Mem{Base: p[v], Index: ldx, Scale: 2}, p[v])
		}
	}
	ADDQ(U8(8*mr), a)
	prefetchStep(name, args, tmp)
	SUBQ(U8(2), cnt)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_tail")
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "_next"))
	step(func(v int) Mem { return Mem{Base: p[v]} }, 0)
	for v := 0; v < nv; v++ {
		ADDQ(ldx, p[v])
	}
	ADDQ(U8(4*mr), a)
	Label(name + "_next")
	flush(name, args, runs, accs, 64, 512)
	ADDQ(U8(runSize), runs)
	INCQ(ridx)
	DECQ(nr)
	JMP(LabelRef(name + "_run"))

	Label(name + "_store")
	unflush(name, args, accs, 64)
	y := make([]GPVirtual, nv)
	ybase := GP64()
	MOVQ(Mem{Base: args, Disp: taY}, ybase)
	for v := range y {
		y[v] = GP64()
		MOVQ(ybase, y[v])
		ADDQ(Mem{Base: args, Disp: taYOff + 8*v}, y[v])
		KMOVW(Mem{Base: args, Disp: taSMask + 4*v}, kregs[3+v])
	}
	ldy := GP64()
	MOVQ(Mem{Base: args, Disp: taLDY}, ldy)
	rows := GP64()
	MOVQ(Mem{Base: args, Disp: taRows}, rows)
	MOVQ(Mem{Base: args, Disp: taBeta}, tmp)
	TESTQ(tmp, tmp)
	JZ(LabelRef(name + "_overwrite"))
	for _, beta := range []bool{true, false} {
		if !beta {
			Label(name + "_overwrite")
		}
		for i := 0; i < mr; i++ {
			CMPQ(rows, U8(i))
			JLE(LabelRef(name + "_done"))
			for v := 0; v < nv; v++ {
				m := Mem{Base: y[v]}
				if beta {
					VADDPS_Z(m, accs[i*nv+v], kregs[3+v], accs[i*nv+v])
				}
				VMOVUPS(accs[i*nv+v], kregs[3+v], m)
				if i+1 < mr {
					ADDQ(ldy, y[v])
				}
			}
		}
		if beta {
			JMP(LabelRef(name + "_done"))
		}
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// prefetchTile prefetches the output tile of a tile kernel (mr rows of nv vectors of vbytes
// each, the first and last byte of every vector), so that storing it after the k-loop
// (and reading it first when Beta != 0) does not wait for memory. It uses the three
// scratch registers y, ldy and t.
func prefetchTile(args Register, mr, nv, vbytes int, y, ldy, t Register) {
	MOVQ(Mem{Base: args, Disp: taLDY}, ldy)
	for v := 0; v < nv; v++ {
		MOVQ(Mem{Base: args, Disp: taY}, y)
		ADDQ(Mem{Base: args, Disp: taYOff + 8*v}, y)
		for i := 0; i < mr; i++ {
			PREFETCHT0(Mem{Base: y})
			PREFETCHT0(Mem{Base: y, Disp: vbytes - 1})
			if i+1 < mr {
				ADDQ(ldy, y)
			}
		}
	}
	_ = t
}

// convTileAVX2 emits convTile4x24AVX2: the contract of convTile8x48AVX512 with 4 rows and
// three 8-lane vectors. Loads and stores go through VMASKMOVPS (which also never touches
// masked-off lanes); each run's three bit masks are expanded into vector masks in the
// argument block's scratch area, since all 16 YMM registers are taken: Y0–Y11 accumulators,
// Y12–Y14 the B vectors, Y15 masks and broadcasts in turn.
func convTileAVX2() {
	const mr, nv = 4, 3
	name := "convTile4x24AVX2"
	TEXT(name, NOSPLIT, "func(args *int64)")
	Pragma("noescape")
	Doc(name+" computes one 4×24 tile of a direct convolution (see ConvTileArgs in conv.go and",
		"convTileAVX2 in _gen/conv/main.go).")
	args := Load(Param("args"), GP64())
	a := GP64()
	MOVQ(Mem{Base: args, Disp: taA}, a)
	p := make([]GPVirtual, nv)
	x := GP64()
	MOVQ(Mem{Base: args, Disp: taX}, x)
	for v := range p {
		p[v] = GP64()
		MOVQ(x, p[v])
		ADDQ(Mem{Base: args, Disp: taXOff + 8*v}, p[v])
	}
	ldx := GP64()
	runs := GP64()
	nr := GP64()
	ridx := GP64()
	cnt := GP64()
	tmp := GP64()
	prefetchTile(args, mr, nv, 32, ldx, runs, nr)
	MOVQ(Mem{Base: args, Disp: taLDX}, ldx)
	MOVQ(Mem{Base: args, Disp: taRuns}, runs)
	MOVQ(Mem{Base: args, Disp: taNRuns}, nr)
	XORQ(ridx, ridx)
	bits := convbits

	accs := ymm[:12]
	bvec := ymm[12:15]
	t := ymm[15]
	for _, r := range accs {
		VXORPS(r, r, r)
	}
	MOVQ(U32(0), Mem{Base: args, Disp: taFlushd})
	scratch := func(v int) Mem { return Mem{Base: args, Disp: taScrtch + 32*v} }
	// expand writes the vector form of the 32-bit mask at m into scratch(v).
	expand := func(m Mem, v int) {
		VPBROADCASTD(m, t)
		VPAND(bits, t, t)
		VPCMPEQD(bits, t, t)
		VMOVDQU(t, scratch(v))
	}
	step := func(off func(v int) Mem, aOff int) {
		for v := 0; v < nv; v++ {
			VMOVDQU(scratch(v), t)
			VMASKMOVPS(off(v), t, bvec[v])
		}
		for i := 0; i < mr; i++ {
			VBROADCASTSS(Mem{Base: a, Disp: aOff + 4*i}, t)
			for v := 0; v < nv; v++ {
				VFMADD231PS(t, bvec[v], accs[i*nv+v])
			}
		}
	}
	Label(name + "_run")
	TESTQ(nr, nr)
	JZ(LabelRef(name + "_store"))
	for v := 0; v < nv; v++ {
		ADDQ(Mem{Base: runs}, p[v])
		MOVQ(Mem{Base: args, Disp: taMask + 8*v}, tmp)
		expand(Mem{Base: tmp, Index: ridx, Scale: 4}, v)
	}
	MOVQ(Mem{Base: runs, Disp: 8}, cnt)
	Label(name + "_loop2")
	CMPQ(cnt, U8(2))
	JL(LabelRef(name + "_tail"))
	step(func(v int) Mem { return Mem{Base: p[v]} }, 0)
	step(func(v int) Mem { return Mem{Base: p[v], Index: ldx, Scale: 1} }, 4*mr)
	for v := 0; v < nv; v++ {
		LEAQ(Mem{Base: p[v], Index: ldx, Scale: 2}, p[v])
	}
	ADDQ(U8(8*mr), a)
	prefetchStep(name, args, tmp)
	SUBQ(U8(2), cnt)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_tail")
	TESTQ(cnt, cnt)
	JZ(LabelRef(name + "_next"))
	step(func(v int) Mem { return Mem{Base: p[v]} }, 0)
	for v := 0; v < nv; v++ {
		ADDQ(ldx, p[v])
	}
	ADDQ(U8(4*mr), a)
	Label(name + "_next")
	flush(name, args, runs, accs, 32, 256)
	ADDQ(U8(runSize), runs)
	INCQ(ridx)
	DECQ(nr)
	JMP(LabelRef(name + "_run"))

	Label(name + "_store")
	unflush(name, args, accs, 32)
	y := make([]GPVirtual, nv)
	ybase := GP64()
	MOVQ(Mem{Base: args, Disp: taY}, ybase)
	full := GP32()
	MOVL(U32(0xff), full)
	for v := range y {
		y[v] = GP64()
		MOVQ(ybase, y[v])
		ADDQ(Mem{Base: args, Disp: taYOff + 8*v}, y[v])
		expand(Mem{Base: args, Disp: taSMask + 4*v}, v)
		ANDL(Mem{Base: args, Disp: taSMask + 4*v}, full)
	}
	ldy := GP64()
	MOVQ(Mem{Base: args, Disp: taLDY}, ldy)
	rows := GP64()
	MOVQ(Mem{Base: args, Disp: taRows}, rows)
	MOVQ(Mem{Base: args, Disp: taBeta}, tmp)
	// Four variants: Beta ≠ 0 or not, all three store masks full (plain stores) or not.
	CMPL(full, U8(0xff))
	JNE(LabelRef(name + "_masked"))
	TESTQ(tmp, tmp)
	JZ(LabelRef(name + "_full0"))
	for _, masked := range []bool{false, true} {
		for _, beta := range []bool{true, false} {
			switch {
			case !masked && !beta:
				Label(name + "_full0")
			case masked && beta:
				Label(name + "_masked")
				TESTQ(tmp, tmp)
				JZ(LabelRef(name + "_masked0"))
			case masked && !beta:
				Label(name + "_masked0")
			}
			for i := 0; i < mr; i++ {
				CMPQ(rows, U8(i))
				JLE(LabelRef(name + "_done"))
				for v := 0; v < nv; v++ {
					m := Mem{Base: y[v]}
					acc := accs[i*nv+v]
					if masked {
						VMOVDQU(scratch(v), t)
						if beta {
							VMASKMOVPS(m, t, bvec[v])
							VADDPS(bvec[v], acc, acc)
						}
						VMASKMOVPS(acc, t, m)
					} else {
						if beta {
							VADDPS(m, acc, acc)
						}
						VMOVUPS(acc, m)
					}
					if i+1 < mr {
						ADDQ(ldy, y[v])
					}
				}
			}
			JMP(LabelRef(name + "_done"))
		}
	}
	Label(name + "_done")
	VZEROUPPER()
	RET()
}

// Byte offsets of the fields of WgradArgs (../../conv.go).
const (
	wgX       = 0
	wgD       = 8
	wgAcc     = 16
	wgRows    = 24
	wgCols    = 32
	wgXCol    = 40
	wgXRow    = 48
	wgXPlane  = 56
	wgDCol    = 64
	wgDRow    = 72
	wgDTapRow = 80
	wgDTapCol = 88
	wgImgs    = 96
	wgXImg    = 104
	wgDImg    = 112
	wgPF      = 136 // uintptr: memory to prefetch, one line per position
	wgPFN     = 144 // int: lines left to prefetch
)

// wgradSpec is one weight-gradient kernel: nic input channels × an R×C window of taps ×
// nv vectors of output channels, all accumulated in registers.
type wgradSpec struct {
	nic, r, c, nv int
	bits          int // 512 (ZMM, 16 lanes) or 256 (YMM, 8 lanes)
}

func (s wgradSpec) name() string {
	isa := "AVX512"
	if s.bits == 256 {
		isa = "AVX2"
	}
	return fmt.Sprintf("wgrad%dx%dx%dx%d%s", s.nic, s.r, s.c, s.nv, isa)
}

// wgradMaxNIC is the most input channels of one weight-gradient kernel (three base
// registers, x, x+3·XPlane and x+6·XPlane, each with offsets 0, 1 and 2 planes).
const wgradMaxNIC = 9

// wgradNIC is the largest number of input channels a kernel with an r×c window and nv
// vectors handles at once on a register file of nregs vectors: nic·r·c·nv accumulators
// plus nic broadcasts plus one loaded vector (when nic > 1), at most wgradMaxNIC. Kernels
// exist for every count from 1 to that one (a channel count's remainder takes a smaller one).
func wgradNIC(r, c, nv, nregs int) int {
	for nic := wgradMaxNIC; nic > 1; nic-- {
		if nic*r*c*nv+nic+1 <= nregs {
			return nic
		}
	}
	return 1
}

// wgradWindows are the tap windows the kernels exist for: 3×3 (stride 1) and the four
// phase windows of a stride-2 3×3 convolution.
var wgradWindows = [][2]int{{3, 3}, {1, 1}, {1, 2}, {2, 1}, {2, 2}}

func wgradKernels() {
	for _, bits := range []int{512, 256} {
		nregs := 32
		if bits == 256 {
			nregs = 16
		}
		for _, w := range wgradWindows {
			for nv := 1; nv <= 2; nv++ {
				if w[0]*w[1]*nv+2 > nregs {
					continue
				}
				for nic := 1; nic <= wgradNIC(w[0], w[1], nv, nregs); nic++ {
					wgradKernel(wgradSpec{nic: nic, r: w[0], c: w[1], nv: nv, bits: bits})
				}
			}
		}
	}
}

// wgradKernel emits one weight-gradient kernel, the contract of WgradArgs (../../conv.go):
// over Imgs images of a grid of Rows × Cols input positions (x moving XCol bytes per
// column, XRow per row and XImg per image; the dy window origin d moving DCol, DRow and
// DImg),
//
//	acc[i][r][c][v] += x[i·XPlane] · d[r·DTapRow + c·DTapCol + v·lanes·4 : +lanes·4]
//
// for input channel i < nic, tap row r < R, tap column c < C, vector v < nv, with the
// accumulators loaded from Acc ([nic][R][C][nv][lanes] float32s) first and stored back
// at the end. The sum over positions runs in order (images, rows, columns), one FMA per
// term.
func wgradKernel(s wgradSpec) {
	name := s.name()
	TEXT(name, NOSPLIT, "func(args *int64)")
	Pragma("noescape")
	Doc(fmt.Sprintf("%s accumulates the weight gradient of %d input channel(s) × a %d×%d tap window × %d vector(s) of output channels", name, s.nic, s.r, s.c, s.nv),
		"(see WgradArgs in conv.go and wgradKernel in _gen/conv/main.go).")
	regs := zmm
	if s.bits == 256 {
		regs = ymm
	}
	vbytes := s.bits / 8
	nacc := s.nic * s.r * s.c * s.nv
	accs := regs[:nacc]
	bc := regs[nacc : nacc+s.nic]
	tmp := regs[nacc+s.nic]
	acc := func(i, r, c, v int) VecPhysical { return accs[((i*s.r+r)*s.c+c)*s.nv+v] }

	args := Load(Param("args"), GP64())
	accp := GP64()
	MOVQ(Mem{Base: args, Disp: wgAcc}, accp)
	for k, a := range accs {
		VMOVUPS(Mem{Base: accp, Disp: k * vbytes}, a)
	}
	xrow := GP64()
	MOVQ(Mem{Base: args, Disp: wgX}, xrow)
	drow := GP64()
	MOVQ(Mem{Base: args, Disp: wgD}, drow)
	var pl, pl3, rs, cs Register
	if s.nic > 1 {
		pl = GP64()
		MOVQ(Mem{Base: args, Disp: wgXPlane}, pl)
	}
	if s.nic > 3 {
		pl3 = GP64()
		LEAQ(Mem{Base: pl, Index: pl, Scale: 2}, pl3)
	}
	if s.r > 1 {
		rs = GP64()
		MOVQ(Mem{Base: args, Disp: wgDTapRow}, rs)
	}
	if s.c > 1 {
		cs = GP64()
		MOVQ(Mem{Base: args, Disp: wgDTapCol}, cs)
	}
	imgs := GP64()
	MOVQ(Mem{Base: args, Disp: wgImgs}, imgs)
	rows := GP64()
	x := GP64()
	xb := []Register{x}
	for b := 1; 3*b < s.nic; b++ {
		xb = append(xb, GP64())
	}
	d := make([]Register, s.r)
	d[0] = GP64()
	for r := 1; r < s.r; r++ {
		d[r] = GP64()
	}
	cols := GP64()

	Label(name + "_img")
	TESTQ(imgs, imgs)
	JZ(LabelRef(name + "_done"))
	MOVQ(Mem{Base: args, Disp: wgRows}, rows)
	Label(name + "_row")
	TESTQ(rows, rows)
	JZ(LabelRef(name + "_imgend"))
	MOVQ(xrow, x)
	MOVQ(drow, d[0])
	MOVQ(Mem{Base: args, Disp: wgCols}, cols)
	Label(name + "_col")
	TESTQ(cols, cols)
	JZ(LabelRef(name + "_rowend"))
	for b := 1; b < len(xb); b++ {
		LEAQ(Mem{Base: x, Index: pl3, Scale: uint8(b)}, xb[b])
	}
	for i := 0; i < s.nic; i++ {
		m := Mem{Base: xb[i/3]}
		if i%3 > 0 {
			m = Mem{Base: xb[i/3], Index: pl, Scale: uint8(i % 3)}
		}
		VBROADCASTSS(m, bc[i])
	}
	for r := 1; r < s.r; r++ {
		LEAQ(Mem{Base: d[0], Index: rs, Scale: uint8(r)}, d[r])
	}
	for r := 0; r < s.r; r++ {
		for c := 0; c < s.c; c++ {
			for v := 0; v < s.nv; v++ {
				m := Mem{Base: d[r], Disp: v * vbytes}
				if c > 0 {
					m = Mem{Base: d[r], Index: cs, Scale: uint8(c), Disp: v * vbytes}
				}
				if s.nic == 1 {
					VFMADD231PS(m, bc[0], acc(0, r, c, v))
					continue
				}
				VMOVUPS(m, tmp)
				for i := 0; i < s.nic; i++ {
					VFMADD231PS(bc[i], tmp, acc(i, r, c, v))
				}
			}
		}
	}
	// Prefetch one line of the caller's next data per position while any is left.
	CMPQ(Mem{Base: args, Disp: wgPFN}, U8(0))
	JLE(LabelRef(name + "_nopf"))
	pft := GP64()
	MOVQ(Mem{Base: args, Disp: wgPF}, pft)
	PREFETCHT0(Mem{Base: pft})
	ADDQ(U8(64), Mem{Base: args, Disp: wgPF})
	DECQ(Mem{Base: args, Disp: wgPFN})
	Label(name + "_nopf")
	ADDQ(Mem{Base: args, Disp: wgXCol}, x)
	ADDQ(Mem{Base: args, Disp: wgDCol}, d[0])
	DECQ(cols)
	JMP(LabelRef(name + "_col"))
	Label(name + "_rowend")
	ADDQ(Mem{Base: args, Disp: wgXRow}, xrow)
	ADDQ(Mem{Base: args, Disp: wgDRow}, drow)
	DECQ(rows)
	JMP(LabelRef(name + "_row"))
	// Next image: back by Rows rows, on by one image.
	Label(name + "_imgend")
	MOVQ(Mem{Base: args, Disp: wgRows}, rows)
	MOVQ(rows, x)
	IMULQ(Mem{Base: args, Disp: wgXRow}, x)
	SUBQ(x, xrow)
	ADDQ(Mem{Base: args, Disp: wgXImg}, xrow)
	IMULQ(Mem{Base: args, Disp: wgDRow}, rows)
	SUBQ(rows, drow)
	ADDQ(Mem{Base: args, Disp: wgDImg}, drow)
	DECQ(imgs)
	JMP(LabelRef(name + "_img"))

	Label(name + "_done")
	MOVQ(Mem{Base: args, Disp: wgAcc}, x)
	for k, a := range accs {
		VMOVUPS(a, Mem{Base: x, Disp: k * vbytes})
	}
	VZEROUPPER()
	RET()
}

// phaseKernels emits the stride-2 helpers: deinterleave2 (even and odd elements of a row
// into two rows, for the forward pass's phase planes) and interleaveAdd2 (two rows added
// into the even and odd elements of one, for the data gradient's phase planes), with
// AVX-512 (two-table permutes) and AVX2 (shuffles and lane permutes).
func phaseKernels() {
	// Permute indices: even, odd (deinterleave); low, high halves of the interleave.
	convperm = GLOBL("convperm", RODATA|NOPTR)
	idx := convperm
	for t, f := range []func(i int) int{
		func(i int) int { return 2 * i },
		func(i int) int { return 2*i + 1 },
		func(i int) int { return i/2 + 16*(i%2) },
		func(i int) int { return 8 + i/2 + 16*(i%2) },
	} {
		for i := 0; i < 16; i++ {
			DATA(64*t+4*i, U32(f(i)))
		}
	}
	for _, bits := range []int{512, 256} {
		lanes := bits / 32
		isa := "AVX512"
		if bits == 256 {
			isa = "AVX2"
		}
		{
			name := "deinterleave2" + isa
			TEXT(name, NOSPLIT, "func(n int, src, even, odd *float32)")
			Pragma("noescape")
			Doc(fmt.Sprintf("%s sets even[j] = src[2j], odd[j] = src[2j+1] for j < n &^ %d.", name, lanes-1))
			n := Load(Param("n"), GP64())
			src := Load(Param("src"), GP64())
			even := Load(Param("even"), GP64())
			odd := Load(Param("odd"), GP64())
			ANDQ(I32(-lanes), n)
			var a, b, e, o VecVirtual
			if bits == 512 {
				a, b, e, o = ZMM(), ZMM(), ZMM(), ZMM()
			} else {
				a, b, e, o = YMM(), YMM(), YMM(), YMM()
			}
			Label(name + "_loop")
			TESTQ(n, n)
			JZ(LabelRef(name + "_done"))
			VMOVUPS(Mem{Base: src}, a)
			VMOVUPS(Mem{Base: src, Disp: bits / 8}, b)
			if bits == 512 {
				VMOVUPS(idx, e)
				VPERMI2PS(b, a, e)
				VMOVUPS(idx.Offset(64), o)
				VPERMI2PS(b, a, o)
			} else {
				VSHUFPS(U8(0x88), b, a, e) // a0 a2 b0 b2 | a4 a6 b4 b6
				VSHUFPS(U8(0xDD), b, a, o)
				VPERMPD(U8(0xD8), e, e) // a0 a2 a4 a6 b0 b2 b4 b6
				VPERMPD(U8(0xD8), o, o)
			}
			VMOVUPS(e, Mem{Base: even})
			VMOVUPS(o, Mem{Base: odd})
			ADDQ(U32(2*bits/8), src)
			ADDQ(U32(bits/8), even)
			ADDQ(U32(bits/8), odd)
			SUBQ(U32(lanes), n)
			JMP(LabelRef(name + "_loop"))
			Label(name + "_done")
			VZEROUPPER()
			RET()
		}
		{
			name := "interleaveAdd2" + isa
			TEXT(name, NOSPLIT, "func(n int, a, b, dst *float32)")
			Pragma("noescape")
			Doc(fmt.Sprintf("%s adds a[j] into dst[2j] and b[j] into dst[2j+1] for j < n &^ %d.", name, lanes-1))
			n := Load(Param("n"), GP64())
			ap := Load(Param("a"), GP64())
			bp := Load(Param("b"), GP64())
			dst := Load(Param("dst"), GP64())
			ANDQ(I32(-lanes), n)
			var a, b, lo, hi VecVirtual
			if bits == 512 {
				a, b, lo, hi = ZMM(), ZMM(), ZMM(), ZMM()
			} else {
				a, b, lo, hi = YMM(), YMM(), YMM(), YMM()
			}
			Label(name + "_loop")
			TESTQ(n, n)
			JZ(LabelRef(name + "_done"))
			VMOVUPS(Mem{Base: ap}, a)
			VMOVUPS(Mem{Base: bp}, b)
			if bits == 512 {
				VMOVUPS(idx.Offset(128), lo)
				VPERMI2PS(b, a, lo)
				VMOVUPS(idx.Offset(192), hi)
				VPERMI2PS(b, a, hi)
			} else {
				t0, t1 := YMM(), YMM()
				VUNPCKLPS(b, a, t0) // a0 b0 a1 b1 | a4 b4 a5 b5
				VUNPCKHPS(b, a, t1) // a2 b2 a3 b3 | a6 b6 a7 b7
				VPERM2F128(U8(0x20), t1, t0, lo)
				VPERM2F128(U8(0x31), t1, t0, hi)
			}
			VADDPS(Mem{Base: dst}, lo, lo)
			VADDPS(Mem{Base: dst, Disp: bits / 8}, hi, hi)
			VMOVUPS(lo, Mem{Base: dst})
			VMOVUPS(hi, Mem{Base: dst, Disp: bits / 8})
			ADDQ(U32(bits/8), ap)
			ADDQ(U32(bits/8), bp)
			ADDQ(U32(2*bits/8), dst)
			SUBQ(U32(lanes), n)
			JMP(LabelRef(name + "_loop"))
			Label(name + "_done")
			VZEROUPPER()
			RET()
		}
	}
}

// Byte offsets of the fields of PhaseRowsArgs (../../phase.go).
const (
	prInter      = 0
	prPhase      = 8
	prPlanes     = 16
	prRows       = 24
	prPairs      = 32
	prInterRow   = 40
	prInterPlane = 48
	prPhaseRow   = 56
	prPhasePlane = 64
	prPhaseOdd   = 72
	prMaskT      = 80
	prMaskLo     = 84
	prMaskHi     = 88
)

// phaseRowKernels emits deinterleaveRowsAVX512 and interleaveAddRowsAVX512: Deinterleave2
// and InterleaveAdd2 over Planes × Rows rows of Pairs pairs in one call (see PhaseRowsArgs),
// 16 pairs at a time with a masked tail.
func phaseRowKernels() {
	idx := convperm
	for _, add := range []bool{false, true} {
		name := "deinterleaveRowsAVX512"
		if add {
			name = "interleaveAddRowsAVX512"
		}
		TEXT(name, NOSPLIT, "func(args *int64)")
		Pragma("noescape")
		if add {
			Doc(name + " adds the phase rows into the even and odd elements of the interleaved rows (see PhaseRowsArgs).")
		} else {
			Doc(name + " splits the interleaved rows into their even and odd elements (see PhaseRowsArgs).")
		}
		args := Load(Param("args"), GP64())
		planes := GP64()
		MOVQ(Mem{Base: args, Disp: prPlanes}, planes)
		ip, pp := GP64(), GP64() // current plane bases
		MOVQ(Mem{Base: args, Disp: prInter}, ip)
		MOVQ(Mem{Base: args, Disp: prPhase}, pp)
		odd := GP64()
		MOVQ(Mem{Base: args, Disp: prPhaseOdd}, odd)
		KMOVW(Mem{Base: args, Disp: prMaskT}, K1)
		KMOVW(Mem{Base: args, Disp: prMaskLo}, K2)
		KMOVW(Mem{Base: args, Disp: prMaskHi}, K3)
		ie, io := ZMM(), ZMM() // permute indices (even/odd elements, or low/high interleave)
		if add {
			VMOVUPS(idx.Offset(128), ie)
			VMOVUPS(idx.Offset(192), io)
		} else {
			VMOVUPS(idx, ie)
			VMOVUPS(idx.Offset(64), io)
		}
		rows, ir, pr, n, si, sp := GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
		a, b, t0, t1 := ZMM(), ZMM(), ZMM(), ZMM()
		Label(name + "_plane")
		TESTQ(planes, planes)
		JZ(LabelRef(name + "_done"))
		MOVQ(Mem{Base: args, Disp: prRows}, rows)
		MOVQ(ip, ir)
		MOVQ(pp, pr)
		Label(name + "_row")
		TESTQ(rows, rows)
		JZ(LabelRef(name + "_planeend"))
		MOVQ(Mem{Base: args, Disp: prPairs}, n)
		MOVQ(ir, si)
		MOVQ(pr, sp)
		// body processes 16 pairs at si (32 interleaved floats) and sp (16 + 16 at sp+odd).
		body := func(masked bool) {
			lo, hi := Mem{Base: si}, Mem{Base: si, Disp: 64}
			pe, po := Mem{Base: sp}, Mem{Base: sp, Index: odd, Scale: 1}
			if !add {
				if masked {
					VMOVUPS_Z(lo, K2, a)
					VMOVUPS_Z(hi, K3, b)
				} else {
					VMOVUPS(lo, a)
					VMOVUPS(hi, b)
				}
				VMOVUPS(ie, t0)
				VPERMI2PS(b, a, t0)
				VMOVUPS(io, t1)
				VPERMI2PS(b, a, t1)
				if masked {
					VMOVUPS(t0, K1, pe)
					VMOVUPS(t1, K1, po)
				} else {
					VMOVUPS(t0, pe)
					VMOVUPS(t1, po)
				}
				return
			}
			if masked {
				VMOVUPS_Z(pe, K1, a)
				VMOVUPS_Z(po, K1, b)
			} else {
				VMOVUPS(pe, a)
				VMOVUPS(po, b)
			}
			VMOVUPS(ie, t0)
			VPERMI2PS(b, a, t0)
			VMOVUPS(io, t1)
			VPERMI2PS(b, a, t1)
			if masked {
				VADDPS_Z(lo, t0, K2, t0)
				VADDPS_Z(hi, t1, K3, t1)
				VMOVUPS(t0, K2, lo)
				VMOVUPS(t1, K3, hi)
			} else {
				VADDPS(lo, t0, t0)
				VADDPS(hi, t1, t1)
				VMOVUPS(t0, lo)
				VMOVUPS(t1, hi)
			}
		}
		Label(name + "_loop")
		CMPQ(n, U8(16))
		JL(LabelRef(name + "_tail"))
		body(false)
		ADDQ(U8(128), si)
		ADDQ(U8(64), sp)
		SUBQ(U8(16), n)
		JMP(LabelRef(name + "_loop"))
		Label(name + "_tail")
		TESTQ(n, n)
		JZ(LabelRef(name + "_rowend"))
		body(true)
		Label(name + "_rowend")
		ADDQ(Mem{Base: args, Disp: prInterRow}, ir)
		ADDQ(Mem{Base: args, Disp: prPhaseRow}, pr)
		DECQ(rows)
		JMP(LabelRef(name + "_row"))
		Label(name + "_planeend")
		ADDQ(Mem{Base: args, Disp: prInterPlane}, ip)
		ADDQ(Mem{Base: args, Disp: prPhasePlane}, pp)
		DECQ(planes)
		JMP(LabelRef(name + "_plane"))
		Label(name + "_done")
		VZEROUPPER()
		RET()
	}
}

// prefetchRows emits prefetchRowsAVX: PREFETCHT0 of every 64-byte line of rows slices of n
// bytes, stride bytes apart, starting at p (one prefetch per line start plus the last byte).
func prefetchRows() {
	name := "prefetchRows"
	TEXT(name, NOSPLIT, "func(p *float32, rows, stride, n int)")
	Pragma("noescape")
	Doc(name + " prefetches (PREFETCHT0) the lines of rows byte ranges [p+r·stride, p+r·stride+n).")
	p := Load(Param("p"), GP64())
	rows := Load(Param("rows"), GP64())
	stride := Load(Param("stride"), GP64())
	n := Load(Param("n"), GP64())
	q, i := GP64(), GP64()
	Label(name + "_row")
	TESTQ(rows, rows)
	JZ(LabelRef(name + "_done"))
	MOVQ(p, q)
	MOVQ(n, i)
	Label(name + "_line")
	PREFETCHT0(Mem{Base: q})
	ADDQ(U8(64), q)
	SUBQ(U8(64), i)
	JG(LabelRef(name + "_line"))
	PREFETCHT0(Mem{Base: p, Index: n, Scale: 1, Disp: -1})
	ADDQ(stride, p)
	DECQ(rows)
	JMP(LabelRef(name + "_row"))
	Label(name + "_done")
	RET()
}
