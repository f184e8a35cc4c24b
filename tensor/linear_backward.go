package tensor

import "github.com/bonsai-dl/bonsai/internal/asm"

// LinearBackward adds the gradients of y = x·wᵀ + b:
//
//	dx += dy·w,  dw += dyᵀ·x,  db += Σ_n dy[n]
//
// x: [N, in], w: [out, in], dy: [N, out]; dx, dw, db may be nil. When sq is
// not nil it adds Σ_n (Scale·dy[n]ᵀx[n])² — computed as (dy²)ᵀ·(x²)·Scale² —
// into sq.W and Σ_n (Scale·dy[n])² into sq.B. tmp provides scratch space for
// the squares (may be nil).
func LinearBackward(dx, dw *Tensor, db []float32, x, w, dy *Tensor, ws *asm.Workspace, sq *SquaredGrads, tmp *Arena) {
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	mustShape("LinearBackward", dy, n, out)
	if dx != nil {
		mustShape("LinearBackward", dx, n, in)
		asm.Sgemm(false, false, n, in, out, 1, dy.Data, out, w.Data, in, 1, dx.Data, in, ws)
	}
	if dw != nil {
		mustShape("LinearBackward", dw, out, in)
		asm.Sgemm(true, false, out, in, n, 1, dy.Data, out, x.Data, in, 1, dw.Data, in, ws)
	}
	if db != nil {
		for i := range n {
			asm.Add(db, db, dy.Data[i*out:(i+1)*out])
		}
	}
	if sq == nil {
		return
	}
	dy2, x2 := tmp.Get(n, out), tmp.Get(n, in)
	for i, v := range dy.Data {
		dy2.Data[i] = v * v
	}
	for i, v := range x.Data {
		x2.Data[i] = v * v
	}
	s2 := sq.Scale * sq.Scale
	if sq.W != nil {
		asm.Sgemm(true, false, out, in, n, s2, dy2.Data, out, x2.Data, in, 1, sq.W, in, ws)
	}
	if sq.B != nil {
		for i := range n {
			asm.Axpy(s2, dy2.Data[i*out:(i+1)*out], sq.B)
		}
	}
}
