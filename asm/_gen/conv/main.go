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

	"github.com/bonsai-dl/bonsai/asm/_gen/internal/gen"
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

// prefetchStep emits the prefetch (the instruction hint) of the next line of the pointer at
// pf while the count of lines at pfn is positive, with t as scratch: memory the caller
// reads next, fetched at the pace of a kernel's loop rather than in a burst that would
// fill the miss buffers and stall. The tile kernels fetch into L2 only (PREFETCHT1),
// leaving L1 to the tile's own operands; the weight-gradient kernels into L1.
func prefetchStep(name string, pf, pfn Mem, t Register, hint func(Op)) {
	CMPQ(pfn, U8(0))
	JLE(LabelRef(name + "_nopf"))
	MOVQ(pf, t)
	hint(Mem{Base: t})
	ADDQ(U8(64), pf)
	DECQ(pfn)
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
		gen.Zero(r, bits)
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
	name := "convTile8x48AVX512"
	if pair {
		name = "convTilePair8x48AVX512"
	}
	tile := &convTile{name: name, mr: 8, nv: 3, bits: 512,
		accs: gen.Z[:24], bvec: gen.Z[24:27], bcast: gen.Z[27:32]}
	idx := gen.Z[27]
	if pair {
		tile.bcast = gen.Z[28:32]
	}
	tile.begin("convTileAVX512")
	var pd GPVirtual
	if pair {
		pd = GP64()
		MOVQ(Mem{Base: tile.args, Disp: taPairD}, pd)
	}
	tile.zeroAccs()
	run := tileRun{
		loadMask: func(v int, m Mem) { KMOVW(m, kregs[v]) },
		loadB:    func(v int, m Mem) { VMOVUPS_Z(m, kregs[v], tile.bvec[v]) },
	}
	if pair {
		run.beginRun = func() { // the run's permute indices: Perm + 64·r
			MOVQ(tile.ridx, tile.cnt)
			SHLQ(U8(6), tile.cnt)
			ADDQ(Mem{Base: tile.args, Disp: taPerm}, tile.cnt)
			VMOVDQU32(Mem{Base: tile.cnt}, idx)
		}
		run.loadB = func(v int, m Mem) {
			VMOVUPS(m, tile.bvec[v])
			VPERMT2PS_Z(Mem{Base: tile.p[v], Index: pd, Scale: 1}, idx, kregs[v], tile.bvec[v])
		}
		run.stepwise = true
	}
	tile.runLoop(run)

	tile.loadOutputs(tile.load(taY), func(v int, m Mem) { KMOVW(m, kregs[3+v]) })
	TESTQ(tile.tmp, tile.tmp)
	JZ(LabelRef(name + "_overwrite"))
	for _, beta := range []bool{true, false} {
		if !beta {
			Label(name + "_overwrite")
		}
		tile.storeRows(func(acc VecPhysical, v int, m Mem) {
			if beta {
				VADDPS_Z(m, acc, kregs[3+v], acc)
			}
			VMOVUPS(acc, kregs[3+v], m)
		})
		if beta {
			JMP(LabelRef(name + "_done"))
		}
	}
	gen.Done(name)
}

// convTile is what the tile kernels of both instruction sets share (see convTileAVX512):
// the tile's shape and vector registers, and the general registers of its k-loop and its
// store.
type convTile struct {
	name   string
	mr, nv int           // rows; vectors per row
	bits   int           // vector width: 512 (ZMM) or 256 (YMM)
	accs   []VecPhysical // accumulators, row i vector v = accs[i*nv+v]
	bvec   []VecPhysical // the nv B vectors of a k-step
	bcast  []VecPhysical // broadcasts of A's elements, in rotation
	nb     int           // broadcasts emitted so far (the rotation's position)

	args                             Register
	a, ldx, runs, nr, ridx, cnt, tmp GPVirtual
	p                                []GPVirtual // B pointers, one per vector
	y                                []GPVirtual // output pointers, one per vector
	ldy, rows                        GPVirtual
}

// tileRun is what a tile kernel does its own way in the loop over the runs.
type tileRun struct {
	loadMask func(v int, m Mem) // takes vector v's mask of the run from the uint32 at m
	beginRun func()             // if set, the rest of a run's set-up, after the masks
	loadB    func(v int, m Mem) // loads B vector v of a k-step from m, masked
	// stepwise moves the B pointers on after every k-step, where the k-loop otherwise
	// addresses the second of two k-steps as p[v]+LDX (the pair kernel, whose second table
	// takes the address's index register).
	stepwise bool
}

// begin emits the kernel's header (generator: the function its doc names) and the
// loads of its pointers A and p[v] = X + XOff[v], LDX, Runs and NRuns, with the run index
// at 0 and the output tile prefetched.
func (t *convTile) begin(generator string) {
	gen.Kernel(t.name, "func(args *int64)", fmt.Sprintf("%s computes one %d×%d tile of a direct convolution (see ConvTileArgs in conv.go and", t.name, t.mr, t.nv*t.bits/32),
		generator+" in _gen/conv/main.go).")
	t.args = Load(Param("args"), GP64())
	t.a = t.load(taA)
	t.p = t.offsetPointers(t.load(taX), taXOff, nil)
	t.ldx, t.runs, t.nr, t.ridx, t.cnt, t.tmp = GP64(), GP64(), GP64(), GP64(), GP64(), GP64()
	prefetchTile(t.args, t.mr, t.nv, t.bits/8, t.ldx, t.runs, t.nr)
	MOVQ(Mem{Base: t.args, Disp: taLDX}, t.ldx)
	MOVQ(Mem{Base: t.args, Disp: taRuns}, t.runs)
	MOVQ(Mem{Base: t.args, Disp: taNRuns}, t.nr)
	XORQ(t.ridx, t.ridx)
}

// load returns a new register holding the 8-byte field of the argument block at disp.
func (t *convTile) load(disp int) GPVirtual {
	r := GP64()
	MOVQ(Mem{Base: t.args, Disp: disp}, r)
	return r
}

// offsetPointers returns nv new registers base + the argument block's int at offs + 8v,
// calling each (if set) after each one with its vector v.
func (t *convTile) offsetPointers(base GPVirtual, offs int, each func(v int)) []GPVirtual {
	p := make([]GPVirtual, t.nv)
	for v := range p {
		p[v] = GP64()
		MOVQ(base, p[v])
		ADDQ(Mem{Base: t.args, Disp: offs + 8*v}, p[v])
		if each != nil {
			each(v)
		}
	}
	return p
}

// zeroAccs zeroes the accumulators and the argument block's flushed flag.
func (t *convTile) zeroAccs() {
	for _, r := range t.accs {
		gen.Zero(r, t.bits)
	}
	MOVQ(U32(0), Mem{Base: t.args, Disp: taFlushd})
}

// runLoop emits the loop over the runs, each a k-loop unrolled by two with a one-step
// tail, flushing after the runs that ask for it, and the merge of the flushed sums at the
// label name_store, where it ends.
func (t *convTile) runLoop(r tileRun) {
	name := t.name
	at := func(v int) Mem { return Mem{Base: t.p[v]} }
	step := func(at func(v int) Mem, aOff int) {
		for v := 0; v < t.nv; v++ {
			r.loadB(v, at(v))
		}
		t.multiply(aOff)
	}
	Label(name + "_run")
	TESTQ(t.nr, t.nr)
	JZ(LabelRef(name + "_store"))
	for v := 0; v < t.nv; v++ {
		ADDQ(Mem{Base: t.runs}, t.p[v])
		MOVQ(Mem{Base: t.args, Disp: taMask + 8*v}, t.tmp)
		r.loadMask(v, Mem{Base: t.tmp, Index: t.ridx, Scale: 4})
	}
	if r.beginRun != nil {
		r.beginRun()
	}
	MOVQ(Mem{Base: t.runs, Disp: 8}, t.cnt)
	Label(name + "_loop2")
	CMPQ(t.cnt, U8(2))
	JL(LabelRef(name + "_tail"))
	if r.stepwise {
		step(at, 0)
		t.advance()
		step(at, 4*t.mr)
		t.advance()
	} else {
		step(at, 0)
		step(func(v int) Mem { return Mem{Base: t.p[v], Index: t.ldx, Scale: 1} }, 4*t.mr)
		for v := 0; v < t.nv; v++ {
			LEAQ(Mem{Base: t.p[v], Index: t.ldx, Scale: 2}, t.p[v])
		}
	}
	ADDQ(U8(8*t.mr), t.a)
	prefetchStep(name, Mem{Base: t.args, Disp: taPF}, Mem{Base: t.args, Disp: taPFN}, t.tmp, PREFETCHT1)
	SUBQ(U8(2), t.cnt)
	JMP(LabelRef(name + "_loop2"))
	Label(name + "_tail")
	TESTQ(t.cnt, t.cnt)
	JZ(LabelRef(name + "_next"))
	step(at, 0)
	t.advance()
	ADDQ(U8(4*t.mr), t.a)
	Label(name + "_next")
	flush(name, t.args, t.runs, t.accs, t.bits/8, t.bits)
	ADDQ(U8(runSize), t.runs)
	INCQ(t.ridx)
	DECQ(t.nr)
	JMP(LabelRef(name + "_run"))

	Label(name + "_store")
	unflush(name, t.args, t.accs, t.bits/8)
}

// multiply emits the FMAs of one k-step: each row's element of A, at a+aOff+4i, broadcast
// into the next register of the rotation, times the B vectors into the row's accumulators.
func (t *convTile) multiply(aOff int) {
	for i := 0; i < t.mr; i++ {
		bc := t.bcast[t.nb%len(t.bcast)]
		t.nb++
		VBROADCASTSS(Mem{Base: t.a, Disp: aOff + 4*i}, bc)
		for v := 0; v < t.nv; v++ {
			VFMADD231PS(bc, t.bvec[v], t.accs[i*t.nv+v])
		}
	}
}

// advance moves the B pointers on by LDX, one k-step.
func (t *convTile) advance() {
	for v := 0; v < t.nv; v++ {
		ADDQ(t.ldx, t.p[v])
	}
}

// loadOutputs loads the output pointers y[v] = ybase + YOff[v], calling storeMask with each
// vector's store mask (the uint32 SMask[v]) after its pointer, then LDY, Rows, and Beta
// into tmp.
func (t *convTile) loadOutputs(ybase GPVirtual, storeMask func(v int, m Mem)) {
	t.y = t.offsetPointers(ybase, taYOff, func(v int) {
		storeMask(v, Mem{Base: t.args, Disp: taSMask + 4*v})
	})
	t.ldy = t.load(taLDY)
	t.rows = t.load(taRows)
	MOVQ(Mem{Base: t.args, Disp: taBeta}, t.tmp)
}

// storeRows emits one variant of the store: store(acc, v, m) for the accumulator of each
// vector v of each row i < Rows and its place m in the output, the output pointers moving
// on by LDY a row; past the last row it jumps to name_done.
func (t *convTile) storeRows(store func(acc VecPhysical, v int, m Mem)) {
	for i := 0; i < t.mr; i++ {
		CMPQ(t.rows, U8(i))
		JLE(LabelRef(t.name + "_done"))
		for v := 0; v < t.nv; v++ {
			store(t.accs[i*t.nv+v], v, Mem{Base: t.y[v]})
			if i+1 < t.mr {
				ADDQ(t.ldy, t.y[v])
			}
		}
	}
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
	const nv = 3
	name := "convTile4x24AVX2"
	t := gen.Y[15]
	tile := &convTile{name: name, mr: 4, nv: nv, bits: 256,
		accs: gen.Y[:12], bvec: gen.Y[12:15], bcast: []VecPhysical{t}}
	tile.begin("convTileAVX2")
	tile.zeroAccs()
	scratch := func(v int) Mem { return Mem{Base: tile.args, Disp: taScrtch + 32*v} }
	// expand writes the vector form of the 32-bit mask at m into scratch(v).
	expand := func(v int, m Mem) {
		VPBROADCASTD(m, t)
		VPAND(convbits, t, t)
		VPCMPEQD(convbits, t, t)
		VMOVDQU(t, scratch(v))
	}
	tile.runLoop(tileRun{
		loadMask: expand,
		loadB: func(v int, m Mem) {
			VMOVDQU(scratch(v), t)
			VMASKMOVPS(m, t, tile.bvec[v])
		},
	})

	ybase := tile.load(taY)
	full := GP32()
	MOVL(U32(0xff), full)
	tile.loadOutputs(ybase, func(v int, m Mem) {
		expand(v, m)
		ANDL(m, full)
	})
	// Four variants: Beta ≠ 0 or not, all three store masks full (plain stores) or not.
	CMPL(full, U8(0xff))
	JNE(LabelRef(name + "_masked"))
	TESTQ(tile.tmp, tile.tmp)
	JZ(LabelRef(name + "_full0"))
	for _, masked := range []bool{false, true} {
		for _, beta := range []bool{true, false} {
			switch {
			case !masked && !beta:
				Label(name + "_full0")
			case masked && beta:
				Label(name + "_masked")
				TESTQ(tile.tmp, tile.tmp)
				JZ(LabelRef(name + "_masked0"))
			case masked && !beta:
				Label(name + "_masked0")
			}
			tile.storeRows(func(acc VecPhysical, v int, m Mem) {
				if masked {
					VMOVDQU(scratch(v), t)
					if beta {
						VMASKMOVPS(m, t, tile.bvec[v])
						VADDPS(tile.bvec[v], acc, acc)
					}
					VMASKMOVPS(acc, t, m)
				} else {
					if beta {
						VADDPS(m, acc, acc)
					}
					VMOVUPS(acc, m)
				}
			})
			JMP(LabelRef(name + "_done"))
		}
	}
	gen.Done(name)
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
	return fmt.Sprintf("wgrad%dx%dx%dx%d%s", s.nic, s.r, s.c, s.nv, gen.ISA(s.bits))
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
	gen.Kernel(name, "func(args *int64)", fmt.Sprintf("%s accumulates the weight gradient of %d input channel(s) × a %d×%d tap window × %d vector(s) of output channels", name, s.nic, s.r, s.c, s.nv),
		"(see WgradArgs in conv.go and wgradKernel in _gen/conv/main.go).")
	regs := gen.Regs(s.bits)
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
	prefetchStep(name, Mem{Base: args, Disp: wgPF}, Mem{Base: args, Disp: wgPFN}, GP64(), PREFETCHT0)
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
	convperm = permTable("convperm", evenLanes, oddLanes, interleaveLo, interleaveHi)
	for _, bits := range []int{512, 256} {
		deinterleave2(bits)
		interleaveAdd2(bits)
	}
}

// Permutations of the permute tables, lane i of 16 taken from lane f(i) of a pair of
// vectors (32 lanes) or, for the shifts, of one.
func evenLanes(i int) int    { return 2 * i }              // even lanes of the pair
func oddLanes(i int) int     { return 2*i + 1 }            // odd lanes of the pair
func interleaveLo(i int) int { return i/2 + 16*(i%2) }     // low halves, interleaved
func interleaveHi(i int) int { return 8 + i/2 + 16*(i%2) } // high halves, interleaved
func shiftRight(i int) int   { return (i + 15) % 16 }      // one lane right, rotating
func shiftLeft(i int) int    { return (i + 1) % 16 }       // one lane left, rotating

// permTable emits the read-only table name of 16 int32 lane indices per permutation of
// perms, 64 bytes apart, and returns it.
func permTable(name string, perms ...func(i int) int) Mem {
	m := GLOBL(name, RODATA|NOPTR)
	for t, f := range perms {
		for i := 0; i < 16; i++ {
			DATA(64*t+4*i, U32(f(i)))
		}
	}
	return m
}

// deinterleave2 emits deinterleave2{ISA}: the even and odd elements of a row into two rows
// (two-table permutes on AVX-512, shuffles and lane permutes on AVX2).
func deinterleave2(bits int) {
	lanes := bits / 32
	name := "deinterleave2" + gen.ISA(bits)
	doc := fmt.Sprintf("%s sets even[j] = src[2j], odd[j] = src[2j+1] for j < n &^ %d.", name, lanes-1)
	stride2Kernel(name, doc, bits, [3]string{"src", "even", "odd"}, [3]int{2, 1, 1}, func(p [3]Register, v [4]VecVirtual) {
		src, even, odd := p[0], p[1], p[2]
		a, b, e, o := v[0], v[1], v[2], v[3]
		VMOVUPS(Mem{Base: src}, a)
		VMOVUPS(Mem{Base: src, Disp: bits / 8}, b)
		if bits == 512 {
			VMOVUPS(convperm, e)
			VPERMI2PS(b, a, e)
			VMOVUPS(convperm.Offset(64), o)
			VPERMI2PS(b, a, o)
		} else {
			VSHUFPS(U8(0x88), b, a, e) // a0 a2 b0 b2 | a4 a6 b4 b6
			VSHUFPS(U8(0xDD), b, a, o)
			VPERMPD(U8(0xD8), e, e) // a0 a2 a4 a6 b0 b2 b4 b6
			VPERMPD(U8(0xD8), o, o)
		}
		VMOVUPS(e, Mem{Base: even})
		VMOVUPS(o, Mem{Base: odd})
	})
}

// interleaveAdd2 emits interleaveAdd2{ISA}: two rows added into the even and odd elements
// of one (two-table permutes on AVX-512, unpacks and lane permutes on AVX2).
func interleaveAdd2(bits int) {
	lanes := bits / 32
	name := "interleaveAdd2" + gen.ISA(bits)
	doc := fmt.Sprintf("%s adds a[j] into dst[2j] and b[j] into dst[2j+1] for j < n &^ %d.", name, lanes-1)
	stride2Kernel(name, doc, bits, [3]string{"a", "b", "dst"}, [3]int{1, 1, 2}, func(p [3]Register, v [4]VecVirtual) {
		ap, bp, dst := p[0], p[1], p[2]
		a, b, lo, hi := v[0], v[1], v[2], v[3]
		VMOVUPS(Mem{Base: ap}, a)
		VMOVUPS(Mem{Base: bp}, b)
		if bits == 512 {
			VMOVUPS(convperm.Offset(128), lo)
			VPERMI2PS(b, a, lo)
			VMOVUPS(convperm.Offset(192), hi)
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
	})
}

// stride2Kernel emits the frame of a stride-2 helper, the kernel name of signature
// func(n int, ptrs… *float32): a loop over the first n &^ (lanes-1) pairs that calls body
// with the pointers and four vectors of width bits for one vector of pairs, then moves
// each pointer ptrs[i] on by vecs[i] vectors.
func stride2Kernel(name, doc string, bits int, ptrs [3]string, vecs [3]int, body func(p [3]Register, v [4]VecVirtual)) {
	lanes := bits / 32
	gen.Kernel(name, fmt.Sprintf("func(n int, %s, %s, %s *float32)", ptrs[0], ptrs[1], ptrs[2]), doc)
	n := Load(Param("n"), GP64())
	var p [3]Register
	for i, name := range ptrs {
		p[i] = Load(Param(name), GP64())
	}
	ANDQ(I32(-lanes), n)
	var v [4]VecVirtual
	for i := range v {
		v[i] = gen.NewVec(bits)
	}
	Label(name + "_loop")
	TESTQ(n, n)
	JZ(LabelRef(name + "_done"))
	body(p, v)
	for i, r := range p {
		ADDQ(U32(vecs[i]*bits/8), r)
	}
	SUBQ(U32(lanes), n)
	JMP(LabelRef(name + "_loop"))
	gen.Done(name)
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
		doc := name + " splits the interleaved rows into their even and odd elements (see PhaseRowsArgs)."
		if add {
			doc = name + " adds the phase rows into the even and odd elements of the interleaved rows (see PhaseRowsArgs)."
		}
		gen.Kernel(name, "func(args *int64)", doc)
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
		// body processes 16 pairs at si (32 interleaved floats) and sp (16 + 16 at sp+odd):
		// from the interleaved rows to the phase rows, or (add) from the phase rows added
		// into the interleaved ones, through the masks K2, K3 (interleaved) and K1 (phase)
		// in the masked tail.
		body := func(masked bool) {
			inter := [2]Mem{{Base: si}, {Base: si, Disp: 64}}
			phase := [2]Mem{{Base: sp}, {Base: sp, Index: odd, Scale: 1}}
			from, to := inter, phase
			fromK, toK := [2]OpmaskPhysical{K2, K3}, [2]OpmaskPhysical{K1, K1}
			if add {
				from, to = phase, inter
				fromK, toK = toK, fromK
			}
			t := [2]VecVirtual{t0, t1}
			for i, v := range []VecVirtual{a, b} {
				if masked {
					VMOVUPS_Z(from[i], fromK[i], v)
				} else {
					VMOVUPS(from[i], v)
				}
			}
			VMOVUPS(ie, t0)
			VPERMI2PS(b, a, t0)
			VMOVUPS(io, t1)
			VPERMI2PS(b, a, t1)
			for i := range t {
				switch {
				case add && masked:
					VADDPS_Z(to[i], t[i], toK[i], t[i])
				case add:
					VADDPS(to[i], t[i], t[i])
				}
			}
			for i := range t {
				if masked {
					VMOVUPS(t[i], toK[i], to[i])
				} else {
					VMOVUPS(t[i], to[i])
				}
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
		gen.Done(name)
	}
}

// prefetchRows emits prefetchRowsAVX: PREFETCHT0 of every 64-byte line of rows slices of n
// bytes, stride bytes apart, starting at p (one prefetch per line start plus the last byte).
func prefetchRows() {
	name := "prefetchRows"
	gen.Kernel(name, "func(p *float32, rows, stride, n int)", name+" prefetches (PREFETCHT0) the lines of rows byte ranges [p+r·stride, p+r·stride+n).")
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
