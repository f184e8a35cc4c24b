package asm

import (
	"fmt"
	"runtime"
	"sync/atomic"
)

// Built-in cache-blocking parameters of the Generic path (4×2 micro-tile); see SetBlockSizes.
// The SIMD paths derive theirs from the cache sizes the CPU reports (see blockDefaults).
const (
	DefaultMC = 128  // rows of op(A) packed per block (mc×kc floats, 128 KiB, meant for L2)
	DefaultKC = 256  // depth of one packed slice (kc×nr micro-panel of op(B): 2 KiB, for L1)
	DefaultNC = 4096 // columns of op(B) packed per panel (kc×nc floats, 4 MiB, meant for L3)
)

// parallelThreshold is the smallest m·n·k for which Sgemm uses more than one goroutine.
const parallelThreshold = 64 * 64 * 64

type blockSizes struct{ mc, kc, nc int }

// override holds the values given to SetBlockSizes (0: the path's default).
var override atomic.Pointer[blockSizes]

func init() { override.Store(&blockSizes{}) }

// SetBlockSizes overrides Sgemm's cache-blocking parameters on every path: mc rows of op(A)
// are packed per block (rounded up to a multiple of the micro-tile height), kc is the depth
// of each packed slice of the k dimension, nc columns of op(B) are packed per panel (rounded
// up to a multiple of the micro-tile width). A value ≤ 0 selects the path's default (derived
// from the CPU's cache sizes, see the package documentation), so SetBlockSizes(0, 0, 0)
// restores all defaults.
//
// The setting is global and takes effect for calls that start after SetBlockSizes returns;
// it is safe to call concurrently with Sgemm. mc and nc only affect speed; kc also decides
// where the k-sum is split into partial sums that are merged into C one after the other, so
// changing kc can change the rounding of results (never their dependence on GOMAXPROCS).
func SetBlockSizes(mc, kc, nc int) {
	override.Store(&blockSizes{max(mc, 0), max(kc, 0), max(nc, 0)})
}

// BlockSizes reports the cache-blocking parameters in force on the current path (see
// SetBlockSizes and CurrentPath), rounded as Sgemm uses them.
func BlockSizes() (mc, kc, nc int) {
	bs := cur().gemm.blocks()
	return bs.mc, bs.kc, bs.nc
}

// blocks returns the block sizes for kernel g: the override where set, else g's defaults,
// with mc and nc rounded up to tile multiples.
func (g *gemmKernel) blocks() blockSizes {
	o := override.Load()
	d := g.defaults()
	bs := blockSizes{o.mc, o.kc, o.nc}
	if bs.mc == 0 {
		bs.mc = d.mc
	}
	if bs.kc == 0 {
		bs.kc = d.kc
	}
	if bs.nc == 0 {
		bs.nc = d.nc
	}
	bs.mc = roundUp(bs.mc, g.mr)
	bs.nc = roundUp(bs.nc, g.nr)
	return bs
}

func roundUp(x, m int) int { return (x + m - 1) / m * m }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C for row-major matrices, as BLAS sgemm does
// with CblasRowMajor. op(A) is m×k (A is m×k with lda ≥ k, or k×m with lda ≥ m when transA),
// op(B) is k×n (B k×n, ldb ≥ n, or n×k, ldb ≥ k when transB), C is m×n with ldc ≥ n. beta == 0
// means C is overwritten (its old contents, even NaN, are ignored). ws is a caller-owned
// workspace for the packed panels, reused across calls so that steady state allocates
// nothing; nil means use an internal pool.
//
// Reference loop (what every element of C receives; op(A)[i][p] is a[i*lda+p], or a[p*lda+i]
// when transA; op(B)[p][j] is b[p*ldb+j], or b[j*ldb+p] when transB):
//
//	for i := 0; i < m; i++ {
//		for j := 0; j < n; j++ {
//			var s float32
//			for p := 0; p < k; p++ {
//				s += opA(i, p) * opB(p, j)
//			}
//			if beta == 0 {
//				c[i*ldc+j] = alpha * s
//			} else {
//				c[i*ldc+j] = alpha*s + beta*c[i*ldc+j]
//			}
//		}
//	}
//
// The rounding differs from this loop in one documented way: the k-sum is split into
// consecutive slices of kc terms (see SetBlockSizes); each slice is summed sequentially from
// zero and merged into C in order, C = beta·C + alpha·s₀, then C += alpha·s₁, … (products by
// alpha and beta rounded before the sum). On the AVX2 and AVX512 paths each term of a slice
// is added with a fused multiply-add (one rounding), so results differ from the Generic
// path's in their low-order bits (see CurrentPath). As in BLAS,
// when alpha == 0 or k == 0 A and B are not read and C becomes beta·C (zero if beta == 0).
// Elements of C outside the m×n window (the ldc padding) are never touched.
//
// Determinism: the work is split over up to runtime.GOMAXPROCS(0) goroutines (products with
// m·n·k ≥ 64³ only) by a fixed partition of C into rectangles; every element is computed by
// exactly the same sequence of floating-point operations whatever the number of goroutines,
// so on a given path and block sizes results are bit-identical for any GOMAXPROCS.
//
// Sgemm panics if m, n or k is negative, if a leading dimension is smaller than the row
// length it describes, or if a, b or c is too short for the given sizes (the last row of a
// matrix need only be as long as its width). ws must not be used by two calls at once.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ws *Workspace) {
	if m < 0 || n < 0 || k < 0 {
		panic(fmt.Sprintf("asm: Sgemm: negative size m=%d n=%d k=%d", m, n, k))
	}
	aRows, aCols := m, k
	if transA {
		aRows, aCols = k, m
	}
	bRows, bCols := k, n
	if transB {
		bRows, bCols = n, k
	}
	checkMatrix("A", transA, aRows, aCols, a, lda)
	checkMatrix("B", transB, bRows, bCols, b, ldb)
	checkMatrix("C", false, m, n, c, ldc)

	if m == 0 || n == 0 {
		return
	}
	if k == 0 || alpha == 0 {
		scaleC(m, n, beta, c, ldc)
		return
	}

	if ws == nil {
		ws = wsPool.Get().(*Workspace)
		defer wsPool.Put(ws)
	}
	kern := cur().gemm
	bs := kern.blocks()
	bs.nc = kern.panelCols(m, k, bs)
	p := maxParts(m, n, k, runtime.GOMAXPROCS(0))
	pr, pc := partition(m, n, p, bs.nc, kern.mr, kern.nr)
	p = pr * pc // fewer parts than workers when C has fewer tiles
	ws.ensureParts(p)
	ws.job = sgemmJob{
		kern:   kern,
		transA: transA, transB: transB,
		m: m, n: n, k: k,
		alpha: alpha, beta: beta,
		a: a, b: b, c: c,
		lda: lda, ldb: ldb, ldc: ldc,
		mc: bs.mc, kc: bs.kc, nc: bs.nc,
		pr: pr, pc: pc,
	}
	ws.job.direct = kern.direct && !transB && useDirectB(m, kern)
	// Size every worker's buffers for the largest part now: any worker may run any part,
	// and growing them later, in whichever call a worker first joins, would allocate in
	// steady state.
	rows := ((m+kern.mr-1)/kern.mr + pr - 1) / pr * kern.mr
	cols := ((n+kern.nr-1)/kern.nr + pc - 1) / pc * kern.nr
	for w := range p {
		ws.parts[w].size(&ws.job, rows, cols)
	}
	ws.next.Store(0)
	ws.runParallel(p)
	ws.job = sgemmJob{} // drop references to the caller's matrices
}

// checkMatrix validates one operand stored as rows×cols with leading dimension ld.
func checkMatrix(name string, trans bool, rows, cols int, s []float32, ld int) {
	if ld < cols || ld < 0 {
		t := ""
		if trans {
			t = " (transposed)"
		}
		panic(fmt.Sprintf("asm: Sgemm: leading dimension of %s%s is %d, want ≥ %d (stored %d×%d)", name, t, ld, cols, rows, cols))
	}
	need := 0
	if rows > 0 && cols > 0 {
		need = (rows-1)*ld + cols
	}
	if len(s) < need {
		panic(fmt.Sprintf("asm: Sgemm: len(%s) = %d, want ≥ %d for a %d×%d matrix with leading dimension %d", name, len(s), need, rows, cols, ld))
	}
}

// scaleC sets C = beta·C on the m×n window (C = 0 when beta == 0, ignoring NaN).
func scaleC(m, n int, beta float32, c []float32, ldc int) {
	if beta == 1 {
		return
	}
	for i := 0; i < m; i++ {
		row := c[i*ldc : i*ldc+n]
		if beta == 0 {
			clear(row)
			continue
		}
		for j := range row {
			row[j] *= beta
		}
	}
}

// sgemmJob is one Sgemm call as seen by the workers.
type sgemmJob struct {
	kern           *gemmKernel // the path's micro-kernel, snapshot for this call
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	a, b, c        []float32
	lda, ldb, ldc  int
	mc, kc, nc     int  // block sizes snapshot for this call
	pr, pc         int  // C is split into pr×pc rectangles, one per part
	direct         bool // op(B) read in place (see useDirectB)

	packed *PackedA      // op(A) packed once (SgemmPacked), or nil: pack it
	epi    *GemmEpilogue // applied to each tile after its last k-slice (SgemmPacked), or nil
}

// maxParts is the number of parts an m×n×k product may be split into with procs
// goroutines available: 1 below parallelThreshold, otherwise up to procs but with at least
// half the threshold's worth of multiply-adds per part, so that handing a part to a pool
// worker (a few µs) stays small next to the part itself.
func maxParts(m, n, k, procs int) int {
	work := float64(m) * float64(n) * float64(k)
	if work < parallelThreshold || procs <= 1 {
		return 1
	}
	return int(min(float64(procs), work/(parallelThreshold/2)))
}

// partition chooses a pr×pc grid of rectangles of C (pr·pc ≤ p) for p workers. Rows are
// split in units of mr and columns in units of nr. The cost of a rectangle of r×c elements is
// modelled per k-step as r·c multiply-adds plus packing: its op(B) columns are packed once
// (c) and its op(A) rows once per nc-wide panel (r·⌈c/nc⌉), a packed element costing about
// packCost multiply-adds. The grid with the smallest cost of its largest rectangle wins.
// The result only affects speed, never the value of any element of C.
func partition(m, n, p, nc, mr, nr int) (pr, pc int) {
	mu := (m + mr - 1) / mr
	nu := (n + nr - 1) / nr
	if p > mu*nu {
		p = mu * nu
	}
	const packCost = 3
	pr, pc = 1, 1
	best := -1.0
	for q := p; q >= 1 && best < 0; q-- { // prefer using as many workers as possible
		for d := 1; d <= q; d++ {
			if q%d != 0 {
				continue
			}
			r, cc := d, q/d
			if r > mu || cc > nu {
				continue
			}
			rows := float64(min((mu+r-1)/r*mr, m))
			cols := float64(min((nu+cc-1)/cc*nr, n))
			cost := rows*cols + packCost*(cols+rows*float64((int(cols)+nc-1)/nc))
			if best < 0 || cost < best {
				best, pr, pc = cost, r, cc
			}
		}
	}
	return pr, pc
}

// split returns the half-open range [lo, hi) of units given to part i when `units` units
// are dealt to `parts` parts as evenly as possible (the first units%parts parts get one more).
func split(units, parts, i int) (lo, hi int) {
	q, r := units/parts, units%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

// work runs worker w's share of ws.job: it claims parts until none is left, from the last
// one down, so that the caller, which normally claims first, takes the last part and the
// pool workers the first ones. Measured on the 2-core development VM, with the caller on
// part 0 that part often took 40 % longer on it (105 µs against 74 µs on the worker for
// the 256³ product, an effect not pinned down), and the 256³ product ran at 378–413
// GFLOP/s (5 runs) against 413–440 in this order.
func (ws *Workspace) work(w int) {
	parts := ws.job.pr * ws.job.pc
	for {
		i := int(ws.next.Add(1) - 1)
		if i >= parts {
			return
		}
		ws.runPart(parts-1-i, &ws.parts[w])
	}
}

// runPart computes part i of ws.job, one rectangle of C, with the buffers buf.
func (ws *Workspace) runPart(i int, buf *partBuf) {
	j := &ws.job
	pi, pj := i/j.pc, i%j.pc
	mr, nr := j.kern.mr, j.kern.nr
	u0, u1 := split((j.m+mr-1)/mr, j.pr, pi)
	v0, v1 := split((j.n+nr-1)/nr, j.pc, pj)
	r0, r1 := u0*mr, min(u1*mr, j.m)
	c0, c1 := v0*nr, min(v1*nr, j.n)
	if r0 >= r1 || c0 >= c1 {
		return
	}
	gemmRect(j, r0, r1, c0, c1, buf)
}

// gemmRect computes rows [r0, r1) × columns [c0, c1) of C with the GotoBLAS loop nest:
// nc-wide panels of op(B), kc-deep slices of k, mc-tall blocks of op(A), then nr-wide by
// mr-tall micro-tiles. Full tiles are merged into C by the micro-kernel itself; edge tiles
// are computed in full into buf.t (the packed operands are zero-padded) and merged by
// storeTile, with the same rounding.
//
// When the kernel allows it and B is not transposed, small-m products read full-width
// micro-panels of op(B) in place instead of packing them (see useDirectB); only a partial
// last micro-panel is packed then. The values the kernel sees are the same either way.
func gemmRect(j *sgemmJob, r0, r1, c0, c1 int, buf *partBuf) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	direct := j.direct
	buf.size(j, r1-r0, c1-c0)
	for jc := c0; jc < c1; jc += j.nc {
		nb := min(j.nc, c1-jc)
		full := nb / nr * nr // columns in complete micro-panels
		for pc := 0; pc < j.k; pc += j.kc {
			kb := min(j.kc, j.k-pc)
			beta := j.beta
			if pc > 0 {
				beta = 1
			}
			var pb []float32
			switch {
			case !direct:
				pb = buf.b[:roundUp(nb, nr)*kb]
				packB(kern, j.transB, kb, nb, j.b, j.ldb, pc, jc, pb)
			case full < nb:
				pb = buf.b[:nr*kb]
				packB(kern, false, kb, nb-full, j.b, j.ldb, pc, jc+full, pb)
			}
			for ic := r0; ic < r1; ic += j.mc {
				mb := min(j.mc, r1-ic)
				var pa []float32
				if j.packed != nil {
					pa = j.packed.block(pc, kb, ic, mb)
				} else {
					pa = buf.a[:roundUp(mb, mr)*kb]
					packA(kern, j.transA, mb, kb, j.a, j.lda, ic, pc, pa)
				}
				gemmBlock(j, pa, pb, buf.t, ic, mb, jc, nb, pc, kb, beta, direct)
			}
		}
	}
}

// gemmBlock multiplies the packed mb×kb block pa of op(A) (rows ic…) by the kb×nb panel of
// op(B) at (pc, jc), packed in pb or, when direct, read in place (only a partial last
// micro-panel is in pb then), and merges the result into C with the given beta. t is an
// mr×nr scratch tile for the edge tiles.
func gemmBlock(j *sgemmJob, pa, pb, t []float32, ic, mb, jc, nb, pc, kb int, beta float32, direct bool) {
	kern := j.kern
	mr, nr := kern.mr, kern.nr
	full := nb / nr * nr
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		bp, ldb := pb, nr
		switch {
		case !direct:
			bp = pb[jr*kb : (jr+nr)*kb]
		case jr < full:
			bp, ldb = j.b[pc*j.ldb+jc+jr:], j.ldb
		}
		if cols <= narrowCols && cols < nr && kern.gemmn != nil && !noNarrow {
			// The last few columns on the narrow products: the packed rows as the vectors,
			// two panels at a time, instead of a tile whose vectors hold mostly padding.
			gemmBlockNarrow(j, pa, bp, ldb, t, ic, mb, jc+jr, cols, pc, kb, beta)
			continue
		}
		for ir := 0; ir < mb; ir += mr {
			rows := min(mr, mb-ir)
			ap := pa[ir*kb : (ir+mr)*kb]
			off := (ic+ir)*j.ldc + jc + jr
			micro, w := kern.micro, nr
			if cols < nr && kern.lanes > 0 {
				if v := (cols + kern.lanes - 1) / kern.lanes; v < len(kern.narrow) && kern.narrow[v] != nil {
					micro, w = kern.narrow[v], v*kern.lanes
				}
			}
			if rows == mr && cols == w {
				micro(kb, ap, bp, ldb, j.c[off:], j.ldc, j.alpha, beta)
			} else {
				micro(kb, ap, bp, ldb, t, nr, 1, 0)
				storeTile(t, nr, rows, cols, j.alpha, beta, j.c[off:], j.ldc)
			}
			if j.epi != nil && pc+kb == j.k {
				j.epi.apply(kern, j.c[off:], j.ldc, ic+ir, rows, jc+jr, cols)
			}
		}
	}
}

// gemmBlockNarrow is gemmBlock's loop over the row tiles for the last cols ≤ narrowCols
// columns of C at column j0, whose op(B) rows are bp (ldb floats apart): each pair of
// packed row panels is multiplied by them with the kernel's narrow products into t and
// merged into C as storeTile merges an edge tile, then the epilogue applied (panels in
// groups of narrowPanels). Every element
// is computed by the same operations as on the micro-kernel.
func gemmBlockNarrow(j *sgemmJob, pa, bp []float32, ldb int, t []float32, ic, mb, j0, cols, pc, kb int, beta float32) {
	kern := j.kern
	mr := kern.mr
	panels := (mb + mr - 1) / mr
	for g := 0; g < panels; {
		np := narrowPanels(cols, panels-g)
		kern.gemmn(np, cols, kb, pa[g*mr*kb:], mr*kb, bp, ldb, t, false)
		i0 := g * mr
		rows := min(np*mr, mb-i0)
		alpha := j.alpha
		for i := range rows {
			src := t[(i/mr)*cols*mr+i%mr:]
			row := j.c[(ic+i0+i)*j.ldc+j0 : (ic+i0+i)*j.ldc+j0+cols]
			switch {
			case beta == 0 && alpha == 1:
				for jj := range row {
					row[jj] = src[jj*mr]
				}
			case beta == 0:
				for jj := range row {
					row[jj] = alpha * src[jj*mr]
				}
			case beta == 1 && alpha == 1:
				for jj := range row {
					row[jj] += src[jj*mr]
				}
			case beta == 1:
				for jj := range row {
					row[jj] += float32(alpha * src[jj*mr])
				}
			default:
				for jj := range row {
					row[jj] = float32(alpha*src[jj*mr]) + float32(beta*row[jj])
				}
			}
		}
		if j.epi != nil && pc+kb == j.k {
			j.epi.apply(kern, j.c[(ic+i0)*j.ldc+j0:], j.ldc, ic+i0, rows, j0, cols)
		}
		g += np
	}
}

// size makes buf large enough for a rows×cols rectangle of C of job j.
func (buf *partBuf) size(j *sgemmJob, rows, cols int) {
	mr, nr := j.kern.mr, j.kern.nr
	kcMax := min(j.kc, j.k)
	buf.a = grow(buf.a, roundUp(min(j.mc, rows), mr)*kcMax)
	if j.direct {
		buf.b = grow(buf.b, nr*kcMax)
	} else {
		buf.b = grow(buf.b, roundUp(min(j.nc, cols), nr)*kcMax)
	}
	buf.t = grow(buf.t, mr*nr)
}

// useDirectB reports whether an m-row product reads op(B) in place. Packing a micro-panel
// of op(B) costs a copy of it; reading it in place costs strided loads (one row of nr floats
// per k-step, ldb apart) on each of the ⌈m/mr⌉ tiles that use it. With few row tiles the copy
// is the larger cost (it doubles the memory traffic of the wide, short im2col products).
func useDirectB(m int, kern *gemmKernel) bool {
	return m <= directMaxTiles*kern.mr
}

// directMaxTiles is the most row tiles for which op(B) is read in place (see useDirectB).
var directMaxTiles = 8
