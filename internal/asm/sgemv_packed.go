package asm

import (
	"fmt"
	"runtime"

	"github.com/bonsai-dl/bonsai/internal/par"
)

// gemvMinPart is the fewest multiply-adds a part of SgemvPacked is given when it is split
// over the workers: the product of 1280→1000 (a classifier at batch 1, 1.3 M) splits in
// two, one of 512→10 runs on the caller alone.
const gemvMinPart = 1 << 18

// SgemvPacked computes y = e(op(A)·x) for op(A) packed by PackA (m×k), x: [k] and y: [m]
// (overwritten): SgemmPacked(p, 1, x, 1, y, 1, e, ws) bit for bit (the same kc slices, one
// FMA chain per element and slice, the slices added in order, then the epilogue), but with
// the packed rows as the vectors of the kernel instead of the one column, which would fill
// one lane in 16. e may be nil. Large products are split over the workers in bands of
// rows. It panics unless the current path is the one p was packed for. ws as for Sgemm.
func SgemvPacked(p *PackedA, x, y []float32, e *GemmEpilogue, ws *Workspace) {
	if cur := CurrentPath(); cur != p.path {
		panic(fmt.Sprintf("asm: SgemvPacked: A was packed for the %v path, called on %v", p.path, cur))
	}
	m, k := p.m, p.k
	if len(x) < k || len(y) < m {
		panic(fmt.Sprintf("asm: SgemvPacked: %d×%d matrix, x of %d and y of %d values", m, k, len(x), len(y)))
	}
	if e != nil && len(e.Bias) != m {
		panic(fmt.Sprintf("asm: SgemvPacked: epilogue bias of %d values for %d rows", len(e.Bias), m))
	}
	kern := p.kern
	if kern.gemv == nil || (e != nil && e.R != nil) {
		SgemmPacked(p, 1, x, 1, y, 1, e, ws)
		return
	}
	if ws == nil {
		ws = wsPool.Get().(*Workspace)
		defer wsPool.Put(ws)
	}
	panels := (m + kern.mr - 1) / kern.mr
	units := (panels + 7) / 8 // bands of 8 panels
	parts := min(units, runtime.GOMAXPROCS(0), max(1, m*k/gemvMinPart))
	ws.gemv = gemvTask{p: p, x: x, y: y, e: e, units: units, parts: parts}
	par.For(parts, &ws.gemv)
	ws.gemv = gemvTask{}
}

// gemvTask is one SgemvPacked call: part i computes the rows of the bands of 8 panels
// split(units, parts, i).
type gemvTask struct {
	p            *PackedA
	x, y         []float32
	e            *GemmEpilogue
	units, parts int
	tail         [8]float32 // the last, partial panel's rows (only the last part has one)
}

func (t *gemvTask) Part(_, i int) {
	p := t.p
	kern := p.kern
	mr := kern.mr
	mp := roundUp(p.m, mr)
	u0, u1 := split(t.units, t.parts, i)
	g0 := 8 * u0                   // first panel
	g1 := min(8*u1, (p.m+mr-1)/mr) // panels end
	full := min(g1, p.m/mr)        // panels whose rows all exist
	for pc := 0; pc < p.k; pc += p.kc {
		kb := min(p.kc, p.k-pc)
		s := p.data[mp*pc : mp*(pc+kb)]
		x := t.x[pc : pc+kb]
		add := pc > 0
		g := g0
		for ; g+8 <= full; g += 8 {
			kern.gemv(8, kb, s[g*mr*kb:], mr*kb, x, t.y[g*mr:], add)
		}
		for ; g < full; g++ {
			kern.gemv(1, kb, s[g*mr*kb:], mr*kb, x, t.y[g*mr:], add)
		}
		if g < g1 { // rows g·mr … m−1
			rows := p.m - g*mr
			copy(t.tail[:rows], t.y[g*mr:p.m])
			kern.gemv(1, kb, s[g*mr*kb:], mr*kb, x, t.tail[:mr], add)
			copy(t.y[g*mr:p.m], t.tail[:rows])
		}
	}
	e := t.e
	if e == nil {
		return
	}
	r0, r1 := g0*mr, min(g1*mr, p.m)
	if !e.Relu && e.Clip <= 0 {
		// The epilogue's c + bias, one rounded addition.
		for i := r0; i < r1; i++ {
			t.y[i] += e.Bias[i]
		}
		return
	}
	e.apply(kern, t.y[r0:], 1, r0, r1-r0, 0, 1)
}
