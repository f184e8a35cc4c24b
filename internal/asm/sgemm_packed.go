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
	bs := kern.blocks()
	bs.kc = p.kc
	bs.nc = kern.panelCols(m, k, bs)
	parts := maxParts(m, n, k, runtime.GOMAXPROCS(0))
	pr, pc := partition(m, n, parts, bs.nc, kern.mr, kern.nr)
	ws.ensureParts(parts)
	ws.job = sgemmJob{
		kern: kern, m: m, n: n, k: k, alpha: 1, beta: 0,
		b: b, c: c, ldb: ldb, ldc: ldc,
		mc: bs.mc, kc: bs.kc, nc: bs.nc, pr: pr, pc: pc,
		packed: p, epi: e,
	}
	ws.job.direct = kern.direct && useDirectB(m, kern)
	rows := ((m+kern.mr-1)/kern.mr + pr - 1) / pr * kern.mr
	cols := ((n+kern.nr-1)/kern.nr + pc - 1) / pc * kern.nr
	for w := range parts {
		ws.parts[w].size(&ws.job, rows, cols)
	}
	ws.next.Store(0)
	ws.runParallel(parts)
	ws.job = sgemmJob{}
}
