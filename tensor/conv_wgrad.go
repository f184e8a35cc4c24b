package tensor

import (
	"github.com/bonsai-dl/bonsai/internal/asm"
)

// The weight gradient with asm.ConvKernel.Wgrad:
//
//	dw[k][c][ky][kx] = Σ_{n,iy,ix} x[n][c][iy][ix] · dy[n][k][oy][ox],  iy = s·oy − ph + ky (same for x)
//
// computed as an outer product per input pixel: the pixel x[n][c][iy][ix] is broadcast and
// multiplied by the vectors of output channels dy[n][·][oy][ox] of every output pixel it
// reaches, read from a channels-last, zero-bordered copy of one sample's dy (dyT), so that
// the taps that fall outside the output read zeros. With stride 2, the input pixels of each
// parity class (even/odd row × even/odd column) reach a 1×1, 1×2, 2×1 or 2×2 window of
// output pixels.
//
// The batch is cut into wgradSlabs fixed slabs of samples, each with its own accumulators
// (laid out as the kernels keep them: [oc block][c][window taps][oc in block]); the slabs
// are summed in order at the end. The slabs, not the workers, fix the order of the sums,
// so the result does not depend on GOMAXPROCS.

// wgradSlabs is the number of slabs the batch is cut into (at most one per sample).
const wgradSlabs = 8

// wgradChain is about the most input pixels whose products one accumulator sums before
// the sum is added to the slab's.
const wgradChain = 1024

// wgradClass is one parity class of input pixels with its window of output pixels.
type wgradClass struct {
	py, px int // first input row and column of the class
	r, c   int // window: r×c output pixels
	ky, kx [3]int
	oy, ox int // output pixel (top-left of the window) reached by the class's first input pixel, before padding
	off    int // taps of the classes before this one
	nic    int // input channels per kernel call
}

// wgradPlan describes the weight gradient of one convolution for the Wgrad kernels.
type wgradPlan struct {
	k            *asm.ConvKernel
	n, c, h, w   int
	kout, ho, wo int
	s            int
	nv, vl, kp   int          // vectors per block, output channels per block, padded output channels
	nic          int          // largest channel count per call
	classes      []wgradClass // the parity classes (one at stride 1), in cls
	cls          [4]wgradClass
	taps         int // taps per input channel (9)
	tw, th       int // dyT: th rows × tw pixels of kp channels (one pixel of zeros all round)
}

// directWgradOK reports whether the direct weight gradient handles a convolution: 3×3,
// padding 1, stride 1 or 2, on a path with direct kernels.
func directWgradOK(kh, kw int, p ConvParams) bool {
	return kh == 3 && kw == 3 && p.Padding == [2]int{1, 1} &&
		(p.Stride == [2]int{1, 1} || p.Stride == [2]int{2, 2}) && asm.CurrentPath() != asm.Generic
}

// init sets up the plan for input x, output gradient dy and kout output channels.
func (pl *wgradPlan) init(x, dy *Tensor, kout int, p ConvParams) {
	n, c, h, w := x.NCHW()
	_, _, ho, wo := dy.NCHW()
	k := asm.CurrentConvKernel()
	*pl = wgradPlan{k: k, n: n, c: c, h: h, w: w, kout: kout, ho: ho, wo: wo, s: p.Stride[0], taps: 9}
	// Stride 1 takes one vector of output channels per call (the 3×3 window's widest
	// kernel with two vectors has only one input channel and streams twice the loads);
	// stride 2's smaller windows take two when there are enough channels.
	pl.nv = 1
	if p.Stride[0] == 2 && kout > k.Lanes && k.WgradNIC(2, 2, 2) > 0 {
		pl.nv = 2
	}
	pl.vl = pl.nv * k.Lanes
	pl.kp = (kout + pl.vl - 1) / pl.vl * pl.vl
	pl.th, pl.tw = ho+2, wo+2
	if pl.s == 1 {
		// Input pixel (iy, ix) reaches output (iy+1−ky, ix+1−kx): window row r is ky = 2−r.
		pl.cls[0] = wgradClass{r: 3, c: 3, ky: [3]int{2, 1, 0}, kx: [3]int{2, 1, 0}, oy: -1, ox: -1,
			nic: k.WgradNIC(3, 3, pl.nv)}
		pl.classes = pl.cls[:1]
		return
	}
	// Stride 2: input row iy = 2·oy − 1 + ky. Even rows (iy = 2i) have ky = 1 (oy = i); odd
	// rows (iy = 2i+1) have ky = 2 (oy = i) and ky = 0 (oy = i+1). Likewise for columns.
	type dim struct {
		n   int
		k   [3]int
		o   int
		off int
	}
	even := dim{n: 1, k: [3]int{1}, o: 0}
	odd := dim{n: 2, k: [3]int{2, 0}, o: 0}
	off := 0
	pl.classes = pl.cls[:0]
	for py, ry := range [2]dim{even, odd} {
		for px, rx := range [2]dim{even, odd} {
			cl := wgradClass{py: py, px: px, r: ry.n, c: rx.n, ky: ry.k, kx: rx.k, oy: ry.o, ox: rx.o, off: off,
				nic: k.WgradNIC(ry.n, rx.n, pl.nv)}
			off += ry.n * rx.n
			pl.classes = append(pl.classes, cl)
		}
	}
}

// accLen is the number of accumulators of one slab.
func (pl *wgradPlan) accLen() int { return pl.kp * pl.c * pl.taps }

// group accumulates the contributions of nimg samples into acc (accLen floats): xs holds
// the samples' inputs (one after the other), dyT their channels-last output gradients
// (zero borders, already filled; dyLen floats per sample).
//
// The calls prefetch pf, the memory the caller reads next, spread evenly over them.
func (pl *wgradPlan) group(a *asm.WgradArgs, acc []float32, xs []float32, dyT []float32, nimg int, pf []float32) {
	k := pl.k
	pixel := 4 * pl.kp
	calls := 0
	for _, cl := range pl.classes {
		calls += (pl.c + cl.nic - 1) / cl.nic
	}
	calls *= (pl.kp + pl.vl - 1) / pl.vl
	pfPer := ((len(pf)+15)/16 + calls - 1) / max(calls, 1)
	pfOff := 0
	for ob := 0; ob*pl.vl < pl.kp; ob++ {
		for _, cl := range pl.classes {
			rows := (pl.h - cl.py + pl.s - 1) / pl.s
			cols := (pl.w - cl.px + pl.s - 1) / pl.s
			if rows <= 0 || cols <= 0 {
				continue
			}
			// As few calls as the widest kernel allows, with channel counts as even as
			// possible (16 channels at 3 per call: 3,3,3,3,2,2, not 3,3,3,3,3,1, whose
			// single-channel kernel has too few accumulators to hide the FMA latency).
			blocks := (pl.c + cl.nic - 1) / cl.nic
			for bi := range blocks {
				c0, c1 := split(pl.c, blocks, bi)
				nic := c1 - c0
				xo := c0*pl.h*pl.w + cl.py*pl.w + cl.px
				do := ((cl.oy+1)*pl.tw+cl.ox+1)*pl.kp + ob*pl.vl
				a.X, a.XLen = &xs[xo], len(xs)-xo
				a.D, a.DLen = &dyT[do], len(dyT)-do
				a.Imgs, a.Rows, a.Cols = nimg, rows, cols
				a.XCol, a.XRow, a.XPlane, a.XImg = 4*pl.s, 4*pl.s*pl.w, 4*pl.h*pl.w, 4*pl.c*pl.h*pl.w
				a.DCol, a.DRow, a.DImg = pixel, pl.tw*pixel, pl.dyLen()*4
				a.DTapRow, a.DTapCol = pl.tw*pixel, pixel
				a.Acc = &acc[pl.accOffset(ob, &cl, c0)]
				if pfOff < len(pf) {
					a.SetPrefetch(pf[pfOff:], pfPer)
					pfOff += 16 * pfPer
				} else {
					a.SetPrefetch(nil, 0)
				}
				k.Wgrad(nic, cl.r, cl.c, pl.nv, a)
			}
		}
	}
}

// accOffset is the position in a slab's accumulators of output-channel block ob, class cl
// and input channel ic: the layout is [ob][class][ic][r][c][vl], so that the nic channels
// of a kernel call are laid out as the kernel keeps them.
func (pl *wgradPlan) accOffset(ob int, cl *wgradClass, ic int) int {
	return ((ob*pl.c*pl.taps + cl.off*pl.c) + ic*cl.r*cl.c) * pl.vl
}

// dyLen is the length of one sample's channels-last output gradient.
func (pl *wgradPlan) dyLen() int { return pl.th * pl.tw * pl.kp }

// groupSize is the number of samples whose products one accumulator sums before the sum is
// added to the slab's: about wgradChain input pixels.
func (pl *wgradPlan) groupSize() int { return max(1, wgradChain/(pl.h*pl.w)) }

// scatter adds the accumulators of output-channel block ob and input channels [c0, c1),
// laid out as a slab's, into dw: [kout][c][3][3].
func (pl *wgradPlan) scatter(dw, acc []float32, ob, c0, c1 int) {
	vl := pl.vl
	nol := min(vl, pl.kout-ob*vl)
	for ci := range pl.classes {
		cl := &pl.classes[ci]
		j := pl.accOffset(ob, cl, c0)
		for ic := c0; ic < c1; ic++ {
			for r := range cl.r {
				for c := range cl.c {
					o := ic*9 + cl.ky[r]*3 + cl.kx[c]
					for ol, v := range acc[j : j+nol] {
						dw[(ob*vl+ol)*pl.c*9+o] += v
					}
					j += vl
				}
			}
		}
	}
}

// transposeDY writes sample dys: [kout][ho][wo] into dyT: [th][tw][kp], pixel (oy, ox) at
// row oy+1, column ox+1, with zeros in the border pixels and the padding channels.
func (pl *wgradPlan) transposeDY(dyT, dys []float32) {
	plane := pl.ho * pl.wo
	row := pl.tw * pl.kp
	clear(dyT[:row])
	clear(dyT[(pl.th-1)*row : pl.th*row])
	for oy := range pl.ho {
		r := dyT[(oy+1)*row : (oy+2)*row]
		clear(r[:pl.kp])
		clear(r[len(r)-pl.kp:])
		asm.Transpose(r[pl.kp:], pl.kp, dys[oy*pl.wo:], plane, pl.kout, pl.wo)
		if pl.kp > pl.kout {
			for ox := 1; ox <= pl.wo; ox++ {
				clear(r[ox*pl.kp+pl.kout : (ox+1)*pl.kp])
			}
		}
	}
}

// directBackwardFilter adds the weight (and bias) gradient into dw and db, and the
// per-sample squared gradients into sq when it is not nil (see directWgradOK).
func (ws *ConvWorkspace) directBackwardFilter(dw *Tensor, db []float32, x, dy *Tensor, p ConvParams, sq *SquaredGrads) {
	kout := dw.Shape[0]
	d := &ws.direct
	pl := &d.wplan
	pl.init(x, dy, kout, p)
	n := pl.n
	slabs := min(n, wgradSlabs)
	alen := pl.accLen()
	d.slabs = grow(d.slabs, slabs*alen)
	if sq != nil {
		d.slabSq = grow(d.slabSq, slabs*alen)
	}
	d.slabDB = growF64(d.slabDB, 2*slabs*kout)
	procs := maxProcs()
	d.ensureWorkers(procs)
	glen := pl.groupSize() * pl.dyLen()
	for i := range procs {
		wk := &d.workers[i]
		wk.buf = grow(wk.buf, glen)
		wk.acc = grow(wk.acc, alen)
	}
	d.wgrad = wgradTask{d: d, pl: pl, x: x, dy: dy, db: db, sq: sq, slabs: slabs}
	parallelFor(slabs, &d.wgrad)
	d.wgrad = wgradTask{}
	// Sum the slabs in order into the first and add it into the gradient, in parallel over
	// blocks of output and input channels (each element is summed by one goroutine, in the
	// same order whatever their number).
	nob := (pl.kp + pl.vl - 1) / pl.vl
	icParts := min(pl.c, 4)
	d.wreduce = wgradReduceTask{pl: pl, dw: dw.Data, slabs: slabs, acc: d.slabs, icParts: icParts}
	if sq != nil && sq.W != nil {
		d.wreduce.sq, d.wreduce.sacc = sq.W, d.slabSq
	}
	parallelFor(nob*icParts, &d.wreduce)
	d.wreduce = wgradReduceTask{}
	if db != nil || (sq != nil && sq.B != nil) {
		for kk := range kout {
			var g, g2 float64
			for s := range slabs {
				g += d.slabDB[2*s*kout+kk]
				g2 += d.slabDB[2*s*kout+kout+kk]
			}
			if db != nil {
				db[kk] += float32(g)
			}
			if sq != nil && sq.B != nil {
				sq.B[kk] += float32(g2)
			}
		}
	}
}

func growF64(buf []float64, n int) []float64 {
	if cap(buf) < n {
		return make([]float64, n)
	}
	return buf[:n]
}

// wgradTask computes slab s of a weight gradient into the slab's accumulators.
type wgradTask struct {
	d     *directWorkspace
	pl    *wgradPlan
	x, dy *Tensor
	db    []float32
	sq    *SquaredGrads
	slabs int
}

func (t *wgradTask) Part(w, s int) {
	d, pl, sq, db := t.d, t.pl, t.sq, t.db
	kout, n := pl.kout, pl.n
	alen := pl.accLen()
	xplane, yplane := pl.c*pl.h*pl.w, kout*pl.ho*pl.wo
	wk := &d.workers[w]
	acc := d.slabs[s*alen : (s+1)*alen]
	clear(acc)
	sdb := d.slabDB[2*s*kout : 2*(s+1)*kout]
	clear(sdb)
	var sacc []float32
	if sq != nil {
		sacc = d.slabSq[s*alen : (s+1)*alen]
		clear(sacc)
	}
	// Samples are summed in groups of about wgradChain input pixels into the worker's
	// accumulators g, then g into the slab's (a sample at a time for squared gradients):
	// no chain of additions is much longer than wgradChain.
	group := pl.groupSize()
	if sq != nil {
		group = 1
	}
	g := wk.acc
	i0, i1 := split(n, t.slabs, s)
	for j0 := i0; j0 < i1; j0 += group {
		j1 := min(i1, j0+group)
		clear(g)
		for i := j0; i < j1; i++ {
			pl.transposeDY(wk.buf[(i-j0)*pl.dyLen():], t.dy.Data[i*yplane:(i+1)*yplane])
		}
		// Prefetch the start of the next group's output gradient (read first, by
		// transposeDY; at most 128 KiB, so as not to crowd this group's data out of L2).
		var pf []float32
		if j1 < i1 {
			pf = t.dy.Data[j1*yplane : min(i1, j1+group)*yplane]
			pf = pf[:min(len(pf), 32<<10)]
		}
		pl.group(&wk.wargs, g, t.x.Data[j0*xplane:j1*xplane], wk.buf[:(j1-j0)*pl.dyLen()], j1-j0, pf)
		asm.Add(acc, acc, g)
		if sq != nil && sq.W != nil {
			addSquares(sacc, g, sq.Scale)
		}
	}
	for i := i0; i < i1; i++ {
		dys := t.dy.Data[i*yplane : (i+1)*yplane]
		if db != nil || (sq != nil && sq.B != nil) {
			for kk := range kout {
				v := asm.Sum(dys[kk*pl.ho*pl.wo : (kk+1)*pl.ho*pl.wo])
				sdb[kk] += float64(v)
				if sq != nil {
					g := float64(sq.Scale * v)
					sdb[kout+kk] += g * g
				}
			}
		}
	}
}

// wgradReduceTask sums the slabs' accumulators and scatters them into the gradient (and the
// squared gradients) for output-channel block i/icParts and input channels
// [split(c, icParts, i%icParts)).
type wgradReduceTask struct {
	pl             *wgradPlan
	dw, sq         []float32
	acc, sacc      []float32
	slabs, icParts int
}

func (t *wgradReduceTask) Part(_, i int) {
	pl := t.pl
	ob := i / t.icParts
	c0, c1 := split(pl.c, t.icParts, i%t.icParts)
	alen := pl.accLen()
	for ci := range pl.classes {
		cl := &pl.classes[ci]
		lo, hi := pl.accOffset(ob, cl, c0), pl.accOffset(ob, cl, c1)
		for _, a := range [2][]float32{t.acc, t.sacc} {
			if a == nil {
				continue
			}
			for s := 1; s < t.slabs; s++ {
				asm.Add(a[lo:hi], a[lo:hi], a[s*alen+lo:s*alen+hi])
			}
		}
	}
	pl.scatter(t.dw, t.acc, ob, c0, c1)
	if t.sq != nil {
		pl.scatter(t.sq, t.sacc, ob, c0, c1)
	}
}
