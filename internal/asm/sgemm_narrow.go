package asm

import "github.com/bonsai-dl/bonsai/internal/par"

// narrowCols is the most columns of B a product of SgemmPacked may have to run on the
// kernel's narrow products (gemmKernel.gemmn) instead of its micro-kernel, whose tile
// holds the columns in the lanes of its vectors: a 3×3 convolution on a 2×2 map at batch 1
// has 4 output pixels, which would fill 4 of 48 columns and read each packed weight with a
// broadcast of its own. The narrow products read the weights as vectors, once per call.
const narrowCols = 4

// narrowPanels returns the panels of one narrow product of cols columns when left panels
// remain: the most, a power of two, that keeps at most 8 FMA chains (enough to hide the
// FMA latency: one column on two panels ran at a quarter of the load rate).
func narrowPanels(cols, left int) int {
	p := 1
	for 2*p*cols <= 8 && 2*p <= left {
		p *= 2
	}
	return p
}

// narrowTask is one SgemmPacked call on the narrow products: part i computes the rows of
// the panels split(panels, parts, i), accumulated over the kc slices in its worker's tile
// buffer and then stored into C with the epilogue.
type narrowTask struct {
	p     *PackedA
	n     int
	b     []float32
	ldb   int
	c     []float32
	ldc   int
	e     *GemmEpilogue
	parts int
	t     [][]float32 // per worker: the rows of a part, n columns
}

// sgemmPackedNarrow is SgemmPacked for n ≤ narrowCols on a kernel with narrow products:
// each element is computed by the same sequence of operations (one FMA chain per kc slice,
// the slices added in order, then the epilogue).
func sgemmPackedNarrow(p *PackedA, n int, b []float32, ldb int, c []float32, ldc int, e *GemmEpilogue, ws *Workspace, procs int) {
	mr := p.kern.mr
	panels := (p.m + mr - 1) / mr
	parts := min(panels, procs, max(1, p.m*p.k*n/gemvMinPart))
	if len(ws.narrowT) < procs {
		ws.narrowT = append(ws.narrowT, make([][]float32, procs-len(ws.narrowT))...)
	}
	for w := range ws.narrowT { // any worker may take a part
		ws.narrowT[w] = grow(ws.narrowT[w], (panels+parts-1)/parts*mr*n)
	}
	ws.narrow = narrowTask{p: p, n: n, b: b, ldb: ldb, c: c, ldc: ldc, e: e, parts: parts, t: ws.narrowT}
	par.For(parts, &ws.narrow)
	ws.narrow = narrowTask{}
}

func (t *narrowTask) Part(w, i int) {
	p, n := t.p, t.n
	kern := p.kern
	mr := kern.mr
	mp := roundUp(p.m, mr)
	g0, g1 := split(mp/mr, t.parts, i) // this part's panels
	tile := t.t[w]
	// Slice by slice, the part's panels are one contiguous run of packed op(A): streamed
	// once, in order.
	for pc := 0; pc < p.k; pc += p.kc {
		kb := min(p.kc, p.k-pc)
		s := p.data[mp*pc : mp*(pc+kb)]
		b := t.b[pc*t.ldb:]
		for g := g0; g < g1; {
			np := narrowPanels(n, g1-g)
			kern.gemmn(np, n, kb, s[g*mr*kb:], mr*kb, b, t.ldb, tile[(g-g0)*n*mr:], pc > 0)
			g += np
		}
	}
	// Store the part's rows: tile[(g·n + j)·mr + r] is row (g0+g)·mr + r, column j.
	r0, r1 := g0*mr, min(g1*mr, p.m)
	for row := r0; row < r1; row++ {
		g, r := (row-r0)/mr, (row-r0)%mr
		src := tile[g*n*mr+r:]
		dst := t.c[row*t.ldc : row*t.ldc+n]
		for j := range dst {
			dst[j] = src[j*mr]
		}
	}
	if t.e != nil && r1 > r0 {
		t.e.apply(kern, t.c[r0*t.ldc:], t.ldc, r0, r1-r0, 0, n)
	}
}
