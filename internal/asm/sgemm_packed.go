package asm

import (
	"fmt"
	"runtime"
)

// PackedA is the left operand op(A) of a product packed once, in the layout Sgemm packs it
// into at every call, for the kernel path and kc of the moment it was packed: an inference
// engine packs its weights once and multiplies them by many right operands (SgemmPacked).
// A PackedA is read-only: any number of SgemmPacked calls may use it at once.
type PackedA struct {
	m, k, kc int
	path     Path
	kern     *gemmKernel
	data     []float32 // per kc slice s: ⌈m/mr⌉ micro-panels of mr×kb_s floats
}

// PackA packs op(A), m×k (A is m×k with lda ≥ k, or k×m with lda ≥ m when transA), for
// SgemmPacked on the current path.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	if m <= 0 || k <= 0 {
		panic(fmt.Sprintf("asm: PackA: size m=%d k=%d", m, k))
	}
	rows, cols := m, k
	if transA {
		rows, cols = k, m
	}
	checkMatrix("A", transA, rows, cols, a, lda)
	kern := cur().gemm
	bs := kern.blocks()
	mp := roundUp(m, kern.mr)
	p := &PackedA{m: m, k: k, kc: bs.kc, path: CurrentPath(), kern: kern, data: make([]float32, mp*k)}
	adviseHuge(p.data)
	for pc := 0; pc < k; pc += bs.kc {
		kb := min(bs.kc, k-pc)
		packA(kern, transA, m, kb, a, lda, 0, pc, p.data[mp*pc:mp*(pc+kb)])
	}
	return p
}

// Rows returns m, the rows of op(A).
func (p *PackedA) Rows() int { return p.m }

// block returns the packed rows [ic, ic+mb) of the k-slice starting at pc (ic a multiple of
// mr), as packA lays out a block.
func (p *PackedA) block(pc, kb, ic, mb int) []float32 {
	mp := roundUp(p.m, p.kern.mr)
	s := p.data[mp*pc : mp*(pc+kb)]
	return s[ic*kb : roundUp(ic+mb, p.kern.mr)*kb]
}

// packedBCost is the cost of reading one element of op(B) into a part (and packing it,
// unless op(B) is read in place), in multiply-adds, that partitionPacked charges. It is far
// above partition's packCost: the rows of a 1×1 convolution's input are streamed from
// memory or L3, while the multiply-adds run from L1. At batch 1 on Zen 5 (2 cores), 512→128 on 28×28 (m=128,
// n=784, k=512) took 0.39 ms split into two bands of rows (each packing all of op(B))
// against 0.31 ms split into two bands of columns, 80 and 72 columns wide in tiles of 48;
// 1024→256 on 14×14 (m=256, n=196, k=1024), whose columns split 144/52, 0.34 ms in rows
// against 0.40 ms in columns. Any value from about 15 to 200 orders those as measured.
const packedBCost = 32

// partitionPacked is partition for SgemmPacked, whose op(A) is packed already: a part
// packs no op(A), but every part reads (and packs, or reads in place) all the op(B)
// columns it multiplies, whatever its rows, so that a split of the rows reads op(B) once
// per band of rows. The grid whose largest part costs least wins, a part of r×c
// elements costing r·c + packedBCost·c per k-step; a grid using more workers wins ties.
func partitionPacked(m, n, p, mr, nr int) (pr, pc int) {
	mu := (m + mr - 1) / mr
	nu := (n + nr - 1) / nr
	p = min(p, mu*nu)
	const pack = float64(packedBCost)
	pr, pc = 1, 1
	best := -1.0
	for q := p; q >= 1 && best < 0; q-- {
		for r := 1; r <= q; r++ {
			if q%r != 0 || r > mu || q/r > nu {
				continue
			}
			rows := float64(min((mu+r-1)/r*mr, m))
			cols := float64(min((nu+q/r-1)/(q/r)*nr, n))
			if cost := rows*cols + pack*cols; best < 0 || cost < best {
				best, pr, pc = cost, r, q/r
			}
		}
	}
	return pr, pc
}

// GemmEpilogue is applied to each element of C = op(A)·B by SgemmPacked as the product is
// stored, while the element is in cache:
//
//	c[i][j] = max(float32(c[i][j]·1) + Bias[i] + R[i·LDR + j], 0)
//
// the residual R (nil: none) and the ReLU (Relu false: none) optional, rounded as
// ScaleShift (then Add) or ScaleShiftRelu or ScaleShiftAddRelu with a scale of 1 (one
// rounding per addition). Bias has m values. A positive Clip then bounds the result from
// above, as Clamp(c, c, 0, Clip) (with Relu: ReLU6 for a Clip of 6).
type GemmEpilogue struct {
	Bias []float32
	R    []float32
	LDR  int
	Relu bool
	Clip float32
}

// apply applies e to the rows × cols tile of C at row i0, column j0 (c starts there), with
// the kernel's epilogue where it has one (any tile width, the clip included).
func (e *GemmEpilogue) apply(kern *gemmKernel, c []float32, ldc, i0, rows, j0, cols int) {
	if kern.epilogue != nil {
		var r []float32
		if e.R != nil {
			r = e.R[i0*e.LDR+j0:]
		}
		kern.epilogue(c, ldc, rows, cols, e.Bias[i0:i0+rows], r, e.LDR, e.Relu, max(e.Clip, 0))
		return
	}
	for i := range rows {
		row := c[i*ldc : i*ldc+cols]
		b := e.Bias[i0+i]
		switch {
		case e.R != nil:
			r := e.R[(i0+i)*e.LDR+j0 : (i0+i)*e.LDR+j0+cols]
			if e.Relu {
				ScaleShiftAddRelu(row, row, r, 1, b)
			} else {
				ScaleShift(row, row, 1, b)
				Add(row, row, r)
			}
		case e.Relu:
			ScaleShiftRelu(row, row, 1, b)
		default:
			ScaleShift(row, row, 1, b)
		}
	}
	e.clip(c, ldc, rows, cols)
}

// clip applies a positive Clip to the rows × cols tile at c.
func (e *GemmEpilogue) clip(c []float32, ldc, rows, cols int) {
	if e.Clip > 0 {
		for i := range rows {
			row := c[i*ldc : i*ldc+cols]
			Clamp(row, row, 0, e.Clip)
		}
	}
}

// noNarrow turns the narrow products off (tests compare them with the micro-kernel).
var noNarrow bool

// SgemmPacked computes C = e(op(A)·B) with op(A) packed by PackA (m×k), B k×n (ldb ≥ n) and
// C m×n (ldc ≥ n), overwritten; e may be nil (C = op(A)·B). Every element of op(A)·B is
// computed as Sgemm computes it with alpha 1 and beta 0 (the same kc slices and kernel),
// bit for bit, and the epilogue is applied to each micro-tile after its last k-slice. It
// panics unless the current path is the one p was packed for. ws as for Sgemm.
func SgemmPacked(p *PackedA, n int, b []float32, ldb int, c []float32, ldc int, e *GemmEpilogue, ws *Workspace) {
	if cur := CurrentPath(); cur != p.path {
		panic(fmt.Sprintf("asm: SgemmPacked: A was packed for the %v path, called on %v", p.path, cur))
	}
	m, k := p.m, p.k
	if n < 0 {
		panic(fmt.Sprintf("asm: SgemmPacked: negative size n=%d", n))
	}
	checkMatrix("B", false, k, n, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)
	if e != nil {
		if len(e.Bias) != m {
			panic(fmt.Sprintf("asm: SgemmPacked: epilogue bias of %d values for %d rows", len(e.Bias), m))
		}
		if e.R != nil {
			checkMatrix("R", false, m, n, e.R, e.LDR)
		}
	}
	if n == 0 {
		return
	}
	if ws == nil {
		ws = wsPool.Get().(*Workspace)
		defer wsPool.Put(ws)
	}
	kern := p.kern
	if kern.gemmn != nil && n <= narrowCols && !noNarrow {
		sgemmPackedNarrow(p, n, b, ldb, c, ldc, e, ws, runtime.GOMAXPROCS(0))
		return
	}
	bs := kern.blocks()
	bs.kc = p.kc
	bs.nc = kern.panelCols(m, k, bs)
	parts := maxParts(m, n, k, runtime.GOMAXPROCS(0))
	direct := kern.direct && useDirectB(m, kern)
	pr, pc := partitionPacked(m, n, parts, kern.mr, kern.nr)
	parts = pr * pc // fewer parts than workers when C has fewer tiles
	ws.ensureParts(parts)
	ws.job = sgemmJob{
		kern: kern, m: m, n: n, k: k, alpha: 1, beta: 0,
		b: b, c: c, ldb: ldb, ldc: ldc,
		mc: bs.mc, kc: bs.kc, nc: bs.nc, pr: pr, pc: pc,
		packed: p, epi: e,
	}
	ws.job.direct = direct
	rows := ((m+kern.mr-1)/kern.mr + pr - 1) / pr * kern.mr
	cols := ((n+kern.nr-1)/kern.nr + pc - 1) / pc * kern.nr
	for w := range parts {
		ws.parts[w].size(&ws.job, rows, cols)
	}
	ws.next.Store(0)
	ws.runParallel(parts)
	ws.job = sgemmJob{}
}
