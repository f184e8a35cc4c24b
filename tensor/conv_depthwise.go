package tensor

import (
	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Depthwise convolutions (Groups = C = K): each output channel is its own input channel
// convolved with its own kh×kw kernel. The 3×3 layers with padding 1 at stride 1 or 2 (those
// of MobileNetV2) run on asm.Depthwise3x3, whose kernels vectorise along the output rows;
// other geometries run plain Go loops. Every pass is parallel over fixed pieces of work
// (planes, or channels for the weight gradient), so results do not depend on GOMAXPROCS.
//
// The pieces are contiguous runs, one per worker (each worker streams its own rows, and
// only the ends of the runs share cache lines), and a pass runs on one goroutine when it
// touches less data than dwMinPart floats per worker: below that, handing a part to a
// pool worker costs about as much as the part. The weight gradient gives each worker
// whole channels, in runs of 16 (their 9·16 weights fill whole cache lines), summing each
// channel's samples in order: no reduction across workers, and the same sums whatever
// GOMAXPROCS.

// dwFast reports whether asm.Depthwise3x3 computes a depthwise convolution of this
// geometry: 3×3, padding 1, stride 1 or 2 in both directions.
func dwFast(kh, kw int, p ConvParams) bool {
	return kh == 3 && kw == 3 && p.Padding == [2]int{1, 1} && (p.Stride == [2]int{1, 1} || p.Stride == [2]int{2, 2})
}

// depthwiseTask is one pass of a depthwise convolution over parts of planes or channels.
type depthwiseTask struct {
	pass     groupedPass
	y, x, w  *Tensor // output (dy), input (dx), weights (dw)
	r        *Tensor // residual added into the output (forward), or nil
	bias     []float32
	wrot     []float32 // the data gradient's weights, turned by 180° (fast path)
	p        ConvParams
	mode     int // asm.Depthwise3x3's mode (forward and data gradient)
	hi       float32
	chunk    int // planes (forward, data gradient) or channels (weight gradient) per part
	perImage int // parts per image (forward, data gradient)
	sq       *SquaredGrads
	g        *groupedWorkspace // the workers' buffers (weight gradient)
}

// dwMinPart returns the fewest floats (input and output) a part of a depthwise pass
// should touch: as many as the L1 data cache holds. Measured on a 2-core AMD EPYC (family
// 26, model 2), handing a part to the pool's other worker costs about 0.4 µs, what a 3×3
// depthwise pass takes for some 6000 floats, and a part whose data the other core wrote
// last moves it across first.
func dwMinPart() int {
	l1, _, _ := asm.CacheSizes()
	return l1 / 4
}

// dwParts sets the chunking of t for planes channels per image over n images, of
// floats floats each (input and output plane together): one contiguous run of planes per
// worker (whole images when there are at least as many as workers), and fewer workers,
// down to one, when a run would touch fewer than dwMinPart floats.
func (t *depthwiseTask) dwParts(n, planes, floats int) int {
	procs := min(maxProcs(), max(1, n*planes*floats/dwMinPart()))
	per := max(1, min(planes, (procs+n-1)/max(n, 1)))
	t.chunk = (planes + per - 1) / per
	t.perImage = (planes + t.chunk - 1) / t.chunk
	return n * t.perImage
}

// depthwiseForward computes y = act(conv(x, w) + bias [+ residual]) for a depthwise
// convolution, with mode and hi as for asm.Depthwise3x3 (DWRelu, DWClip; DWAdd is set
// here when residual is not nil, which is then copied into y first).
func (ws *ConvWorkspace) depthwiseForward(y, x, w *Tensor, bias []float32, p ConvParams, mode int, hi float32, residual *Tensor) {
	n, c, h, wd := x.NCHW()
	_, _, ho, wo := y.NCHW()
	t := &ws.grouped.dw
	*t = depthwiseTask{pass: groupedFwd, y: y, x: x, w: w, r: residual, bias: bias, p: p, mode: mode, hi: hi}
	if residual != nil {
		t.mode |= asm.DWAdd
	}
	parallelFor(t.dwParts(n, c, h*wd+ho*wo), t)
	*t = depthwiseTask{}
}

// depthwiseBackwardData adds (add) or sets the gradient of a depthwise convolution with
// respect to its input: for 3×3 kernels with padding 1, at stride 1 the convolution of dy
// with the weights turned by 180° (asm.Depthwise3x3), at stride 2 asm.DepthwiseBackward3x3s2.
func (ws *ConvWorkspace) depthwiseBackwardData(dx, dy, w *Tensor, p ConvParams, add bool) {
	n, c, h, wd := dx.NCHW()
	_, _, ho, wo := dy.NCHW()
	_, _, kh, kw := w.NCHW()
	t := &ws.grouped.dw
	*t = depthwiseTask{pass: groupedData, y: dy, x: dx, w: w, p: p}
	if add {
		t.mode = asm.DWAdd
	}
	if dwFast(kh, kw, p) && p.Stride[0] == 1 {
		ws.grouped.wrot = grow(ws.grouped.wrot, 9*c)
		for ch := range c {
			for i := range 9 {
				ws.grouped.wrot[9*ch+8-i] = w.Data[9*ch+i]
			}
		}
		t.wrot = ws.grouped.wrot
	}
	parallelFor(t.dwParts(n, c, h*wd+ho*wo), t)
	*t = depthwiseTask{}
}

// depthwiseBackwardFilter adds the weight and bias gradients of a depthwise convolution
// into dw and db, and the per-sample squared gradients into sq when it is not nil: in
// parallel over runs of whole channels (a multiple of 16), each channel summing its
// samples in order.
func (ws *ConvWorkspace) depthwiseBackwardFilter(dw *Tensor, db []float32, x, dy *Tensor, p ConvParams, sq *SquaredGrads) {
	n, c, h, wd := x.NCHW()
	_, _, ho, wo := dy.NCHW()
	t := &ws.grouped.dw
	*t = depthwiseTask{pass: groupedFilter, y: dy, x: x, w: dw, bias: db, p: p, sq: sq, g: &ws.grouped}
	ws.grouped.ensureWorkers()
	parts := min(c, maxProcs(), max(1, n*c*(h*wd+ho*wo)/dwMinPart()))
	t.chunk = min(c, ((c+parts-1)/parts+15)/16*16)
	parallelFor((c+t.chunk-1)/t.chunk, t)
	*t = depthwiseTask{}
}

func (t *depthwiseTask) Part(wk, i int) {
	p := t.p
	_, _, kh, kw := t.w.NCHW()
	if t.pass == groupedFilter {
		t.filter(&t.g.workers[wk], i*t.chunk, min(t.x.Shape[1], (i+1)*t.chunk), kh, kw)
		return
	}
	img, part := i/t.perImage, i%t.perImage
	_, c, h, wd := t.x.NCHW()
	_, _, ho, wo := t.y.NCHW()
	c0 := part * t.chunk
	c1 := min(c, c0+t.chunk)
	planes := c1 - c0
	xs := t.x.Data[(img*c+c0)*h*wd : (img*c+c1)*h*wd]
	ys := t.y.Data[(img*c+c0)*ho*wo : (img*c+c1)*ho*wo]
	if t.pass == groupedFwd {
		var bias []float32
		if t.bias != nil {
			bias = t.bias[c0:c1]
		}
		if t.r != nil {
			copy(ys, t.r.Data[(img*c+c0)*ho*wo:(img*c+c1)*ho*wo])
		}
		if dwFast(kh, kw, p) {
			asm.Depthwise3x3(ys, xs, t.w.Data[9*c0:9*c1], bias, planes, h, wd, p.Stride[0], t.mode, t.hi)
			return
		}
		for j := range planes {
			var b float32
			if bias != nil {
				b = bias[j]
			}
			dwPlaneForward(ys[j*ho*wo:(j+1)*ho*wo], xs[j*h*wd:(j+1)*h*wd], t.w.Data[(c0+j)*kh*kw:(c0+j+1)*kh*kw], b,
				h, wd, ho, wo, kh, kw, p, t.mode, t.hi)
		}
		return
	}
	// The data gradient: xs is dx, ys is dy.
	switch {
	case t.wrot != nil: // stride 1
		asm.Depthwise3x3(xs, ys, t.wrot[9*c0:9*c1], nil, planes, ho, wo, 1, t.mode, 0)
		return
	case dwFast(kh, kw, p): // stride 2
		asm.DepthwiseBackward3x3s2(xs, ys, t.w.Data[9*c0:9*c1], planes, h, wd, t.mode)
		return
	}
	for j := range planes {
		dx := xs[j*h*wd : (j+1)*h*wd]
		if t.mode&asm.DWAdd == 0 {
			clear(dx)
		}
		dwPlaneBackwardData(dx, ys[j*ho*wo:(j+1)*ho*wo], t.w.Data[(c0+j)*kh*kw:(c0+j+1)*kh*kw], h, wd, ho, wo, kh, kw, p)
	}
}

// filter computes the weight gradient of channels [c0, c1) with buf's scratch memory:
// sample by sample, the gradient of the sample's planes (asm.DepthwiseWgrad3x3 for the 3×3
// geometries it handles, dwPlaneFilter otherwise), added into dw (and squared into sq) in
// the order of the samples.
func (t *depthwiseTask) filter(buf *groupedWorker, c0, c1, kh, kw int) {
	n, c, h, wd := t.x.NCHW()
	_, _, ho, wo := t.y.NCHW()
	taps := kh * kw
	fast := dwFast(kh, kw, t.p)
	buf.out = grow(buf.out, taps*(c1-c0))
	for s := range n {
		xs := t.x.Data[(s*c+c0)*h*wd : (s*c+c1)*h*wd]
		dys := t.y.Data[(s*c+c0)*ho*wo : (s*c+c1)*ho*wo]
		if fast {
			asm.DepthwiseWgrad3x3(buf.out, xs, dys, c1-c0, h, wd, t.p.Stride[0])
		} else {
			for j := range c1 - c0 {
				dwPlaneFilter(buf.out[j*taps:(j+1)*taps], xs[j*h*wd:(j+1)*h*wd], dys[j*ho*wo:(j+1)*ho*wo], h, wd, ho, wo, kh, kw, t.p)
			}
		}
		for ch := c0; ch < c1; ch++ {
			gs := buf.out[(ch-c0)*taps : (ch-c0+1)*taps]
			dw := t.w.Data[ch*taps : (ch+1)*taps]
			dy := dys[(ch-c0)*ho*wo : (ch-c0+1)*ho*wo]
			asm.Add(dw, dw, gs)
			if t.sq != nil && t.sq.W != nil {
				addSquares(t.sq.W[ch*taps:(ch+1)*taps], gs, t.sq.Scale)
			}
			if t.bias != nil || (t.sq != nil && t.sq.B != nil) {
				v := asm.Sum(dy)
				if t.bias != nil {
					t.bias[ch] += v
				}
				if t.sq != nil && t.sq.B != nil {
					gv := t.sq.Scale * v
					t.sq.B[ch] += gv * gv
				}
			}
		}
	}
}

// dwEpilogue applies asm.Depthwise3x3's mode to the value v of an output whose old value
// is old.
func dwEpilogue(v, old float32, mode int, hi float32) float32 {
	if mode&asm.DWAdd != 0 {
		v = old + v
	}
	if mode&asm.DWRelu != 0 && !(v > 0) {
		v = 0
	}
	if mode&asm.DWClip != 0 && !(v < hi) {
		v = hi
	}
	return v
}

// dwPlaneForward computes one plane of a depthwise convolution of any geometry:
// y[oy][ox] = mode(Σ_{ky,kx} w[ky·kw+kx]·x[oy·sh−ph+ky][ox·sw−pw+kx] + b), the taps in
// row-major order. x: [h][wd], y: [ho][wo], w: [kh·kw].
func dwPlaneForward(y, x, w []float32, b float32, h, wd, ho, wo, kh, kw int, p ConvParams, mode int, hi float32) {
	sh, sw, ph, pw := p.Stride[0], p.Stride[1], p.Padding[0], p.Padding[1]
	for oy := range ho {
		for ox := range wo {
			var s float32
			for ky := range kh {
				iy := oy*sh - ph + ky
				if iy < 0 || iy >= h {
					continue
				}
				row := x[iy*wd : (iy+1)*wd]
				for kx := range kw {
					if ix := ox*sw - pw + kx; ix >= 0 && ix < wd {
						s += float32(w[ky*kw+kx] * row[ix])
					}
				}
			}
			y[oy*wo+ox] = dwEpilogue(s+b, y[oy*wo+ox], mode, hi)
		}
	}
}

// dwPlaneBackwardData adds the data gradient of one plane of a depthwise convolution into
// dx: dx[oy·sh−ph+ky][ox·sw−pw+kx] += w[ky·kw+kx]·dy[oy][ox].
func dwPlaneBackwardData(dx, dy, w []float32, h, wd, ho, wo, kh, kw int, p ConvParams) {
	sh, sw, ph, pw := p.Stride[0], p.Stride[1], p.Padding[0], p.Padding[1]
	for oy := range ho {
		g := dy[oy*wo : (oy+1)*wo]
		for ky := range kh {
			iy := oy*sh - ph + ky
			if iy < 0 || iy >= h {
				continue
			}
			row := dx[iy*wd : (iy+1)*wd]
			for kx := range kw {
				wv := w[ky*kw+kx]
				lo := max(ceilDiv(pw-kx, sw), 0)
				hi := min(ceilDiv(wd+pw-kx, sw), wo)
				ix := lo*sw - pw + kx
				for ox := lo; ox < hi; ox++ {
					row[ix] += wv * g[ox]
					ix += sw
				}
			}
		}
	}
}

// dwPlaneFilter sets g[ky·kw+kx] to the weight gradient of one plane of a depthwise
// convolution: Σ_{oy,ox} dy[oy][ox]·x[oy·sh−ph+ky][ox·sw−pw+kx], summed row by row (each
// row a dot product at stride 1).
func dwPlaneFilter(g, x, dy []float32, h, wd, ho, wo, kh, kw int, p ConvParams) {
	sh, sw, ph, pw := p.Stride[0], p.Stride[1], p.Padding[0], p.Padding[1]
	for ky := range kh {
		for kx := range kw {
			lo := max(ceilDiv(pw-kx, sw), 0)
			hi := min(ceilDiv(wd+pw-kx, sw), wo)
			var s float32
			for oy := range ho {
				iy := oy*sh - ph + ky
				if iy < 0 || iy >= h || lo >= hi {
					continue
				}
				d := dy[oy*wo+lo : oy*wo+hi]
				ix := lo*sw - pw + kx
				row := x[iy*wd:]
				if sw == 1 {
					s += asm.Dot(d, row[ix:ix+len(d)])
					continue
				}
				var r float32
				for _, v := range d {
					r += v * row[ix]
					ix += sw
				}
				s += r
			}
			g[ky*kw+kx] = s
		}
	}
}
