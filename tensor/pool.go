package tensor

import (
	"fmt"
	"math"
	"sync"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// MaxPool2d takes the maximum over each k×k window, as
// torch.nn.functional.max_pool2d (floor mode; padding counts as −∞; a NaN in a window
// gives NaN). x: [N, C, H, W] → y: [N, C, H', W'] with H', W' from ConvParams.OutSize.
//
// Each output row is the maximum of its kh input rows, taken element-wise into a row
// buffer (asm.Max), then of each kw-wide window of that buffer; planes are computed in
// parallel. Equal values give the first (so −0 and +0 may come out either way).
func MaxPool2d(y, x *Tensor, kh, kw int, p ConvParams) {
	n, c, h, w := x.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	mustShape("MaxPool2d", y, n, c, ho, wo)
	t := maxPoolTask{y: y.Data, x: x.Data, planes: n * c, h: h, w: w, ho: ho, wo: wo, kh: kh, kw: kw, p: p}
	t.parts = min(t.planes, 4*maxProcs())
	if t.parts <= 1 || t.planes*h*w < 1<<14 {
		t.parts = 1
	}
	maxPool.mu.Lock()
	defer maxPool.mu.Unlock()
	for len(maxPool.rows) < maxProcs() {
		maxPool.rows = append(maxPool.rows, nil)
	}
	for i := range maxPool.rows {
		maxPool.rows[i] = grow(maxPool.rows[i], 2*w)
	}
	t.rows = maxPool.rows
	if need := t.planeFloats(); need > 0 {
		for len(maxPool.planes) < maxProcs() {
			maxPool.planes = append(maxPool.planes, nil)
		}
		for i := range maxPool.planes {
			maxPool.planes[i] = grow(maxPool.planes[i], need)
		}
		t.planeBufs = maxPool.planes
	}
	if t.parts == 1 {
		t.Part(0, 0)
		return
	}
	maxPool.task = t
	parallelFor(t.parts, &maxPool.task)
	maxPool.task = maxPoolTask{}
}

// maxPool holds the task of the MaxPool2d call in progress.
var maxPool struct {
	mu     sync.Mutex
	task   maxPoolTask
	rows   [][]float32 // per worker: two row buffers
	planes [][]float32 // per worker: five plane buffers (pool3x3s2)
}

// maxPoolTask computes the planes split(planes, parts, i) of a max pooling.
type maxPoolTask struct {
	y, x                 []float32
	planes, parts        int
	h, w, ho, wo, kh, kw int
	p                    ConvParams
	rows                 [][]float32 // per worker: two row buffers of w floats
	planeBufs            [][]float32 // per worker: five planes of h·w floats (pool3x3s2)
}

// planeFloats returns the floats of each worker's plane buffers that t's fast path needs
// (pool2x2 on even sides: 3 per input element of a part; pool3x3s2: 5 planes), or 0.
func (t *maxPoolTask) planeFloats() int {
	switch {
	case t.isPool2x2Even():
		return 3 * (t.planes + t.parts - 1) / t.parts * t.h * t.w
	case t.isPool3x3s2():
		return 5 * t.h * t.w
	}
	return 0
}

// isPool2x2Even reports whether t is a 2×2 pooling at stride 2 without padding on planes
// of even sides.
func (t *maxPoolTask) isPool2x2Even() bool {
	return t.kh == 2 && t.kw == 2 && t.p.Stride == [2]int{2, 2} && t.p.Padding == [2]int{0, 0} && t.h%2 == 0 && t.w%2 == 0
}

// isPool3x3s2 reports whether t is a 3×3 pooling at stride 2 with padding 1 (ResNet's
// stem pooling) on planes of at least 3×3.
func (t *maxPoolTask) isPool3x3s2() bool {
	return t.kh == 3 && t.kw == 3 && t.p.Stride == [2]int{2, 2} && t.p.Padding == [2]int{1, 1} && t.h >= 3 && t.w >= 3
}

func (t *maxPoolTask) Part(w, i int) {
	switch {
	case t.isPool2x2Even():
		t.pool2x2Even(w, i)
		return
	case t.kh == 2 && t.kw == 2 && t.p.Stride == [2]int{2, 2} && t.p.Padding == [2]int{0, 0}:
		t.pool2x2(i)
		return
	case t.isPool3x3s2():
		t.pool3x3s2(w, i)
		return
	}
	row, hm := t.rows[w][:t.w], t.rows[w][t.w:2*t.w]
	negInf := float32(math.Inf(-1))
	sy, sx, py, px := t.p.Stride[0], t.p.Stride[1], t.p.Padding[0], t.p.Padding[1]
	// Outputs [ox0, ox1) have their whole window inside the row: they read hm, the
	// maximum of each kw-wide window (hm[j] over row[j … j+kw-1]).
	ox0 := min(t.wo, ceilDiv(px, sx))
	ox1 := max(ox0, min(t.wo, (t.w+px-t.kw)/sx+1))
	nh := t.w - t.kw + 1
	lo, hi := split(t.planes, t.parts, i)
	for pl := lo; pl < hi; pl++ {
		src := t.x[pl*t.h*t.w : (pl+1)*t.h*t.w]
		dst := t.y[pl*t.ho*t.wo : (pl+1)*t.ho*t.wo]
		for oy := range t.ho {
			y0 := oy*sy - py
			y1 := min(y0+t.kh, t.h)
			y0 = max(y0, 0)
			out := dst[oy*t.wo : (oy+1)*t.wo]
			if y0 >= y1 {
				for ox := range out {
					out[ox] = negInf
				}
				continue
			}
			copy(row, src[y0*t.w:(y0+1)*t.w])
			for iy := y0 + 1; iy < y1; iy++ {
				asm.Max(row, row, src[iy*t.w:(iy+1)*t.w])
			}
			if ox1 > ox0 && nh > 0 {
				copy(hm[:nh], row[:nh])
				for kx := 1; kx < t.kw; kx++ {
					asm.Max(hm[:nh], hm[:nh], row[kx:kx+nh])
				}
				for ox := ox0; ox < ox1; ox++ {
					out[ox] = hm[ox*sx-px]
				}
			}
			for ox := range out {
				if ox >= ox0 && ox < ox1 {
					continue
				}
				x0 := ox*sx - px
				m := negInf
				for ix := max(x0, 0); ix < min(x0+t.kw, t.w); ix++ {
					if v := row[ix]; v > m || v != v {
						m = v
					}
				}
				out[ox] = m
			}
		}
	}
}

// pool2x2 computes the planes split(planes, parts, i) of a 2×2 pooling at stride 2 without
// padding on planes with an odd side (pool2x2Even takes the others): one pass of scalar
// maxima, which costs less than the row kernels' calls.
func (t *maxPoolTask) pool2x2(i int) {
	lo, hi := split(t.planes, t.parts, i)
	w, ho, wo := t.w, t.ho, t.wo
	for pl := lo; pl < hi; pl++ {
		src := t.x[pl*t.h*w : (pl+1)*t.h*w]
		dst := t.y[pl*ho*wo : (pl+1)*ho*wo]
		for oy := range ho {
			r0 := src[2*oy*w : 2*oy*w+2*wo]
			r1 := src[(2*oy+1)*w : (2*oy+1)*w+2*wo]
			out := dst[oy*wo : (oy+1)*wo]
			for ox := range out {
				out[ox] = max2x2(r0[2*ox], r0[2*ox+1], r1[2*ox], r1[2*ox+1])
			}
		}
	}
}

// pool2x2Even computes the planes split(planes, parts, i) of a 2×2 pooling at stride 2 on
// even sides in three vector passes over all of them at once, with worker w's buffers:
// m = the maximum of rows r and r+1 (the planes shifted by a row; pairs across two planes
// are never read), its even and odd elements split, their maximum r; output row oy of
// plane pl is then row 2·oy of r, copied out.
func (t *maxPoolTask) pool2x2Even(wk, i int) {
	h, w, ho, wo := t.h, t.w, t.ho, t.wo
	lo, hi := split(t.planes, t.parts, i)
	if lo == hi {
		return
	}
	n := (hi - lo) * h * w
	src := t.x[lo*h*w : hi*h*w]
	buf := t.planeBufs[wk]
	m := buf[:n-w]
	even, odd := buf[n:n+(n-w)/2], buf[n+(n-w)/2:n+(n-w)]
	asm.Max(m, src[:n-w], src[w:])
	asm.Deinterleave2(even, odd, m)
	r := m[:(n-w)/2] // over m, read already
	asm.Max(r, even, odd)
	dst := t.y[lo*ho*wo : hi*ho*wo]
	for row := range (hi - lo) * ho { // output row oy of plane pl: row pl·h + 2·oy of r
		copy(dst[row*wo:(row+1)*wo], r[2*row*wo:])
	}
}

// pool3x3s2 computes the planes split(planes, parts, i) of a 3×3 pooling at stride 2 with
// padding 1 in whole-plane passes of asm.Max, with worker w's buffers: m1 = the maximum of
// rows r and r+1 (the plane shifted by a row), m2 = of rows r…r+2, then g1 and g2 the same
// along m2's columns (values across a row's end are never read); an output reads the
// level its clipped window needs. On even widths g2's odd elements, split off in one more
// pass, hold each output row's interior contiguously. A plane of 112×112 costs five vector
// passes and a copy per output row instead of a dozen short calls per output row.
func (t *maxPoolTask) pool3x3s2(wk, i int) {
	h, w, ho, wo := t.h, t.w, t.ho, t.wo
	buf := t.planeBufs[wk]
	m1, m2 := buf[:(h-1)*w], buf[h*w:h*w+(h-2)*w]
	g1, g2 := buf[2*h*w:2*h*w+(h-2)*w-1], buf[3*h*w:3*h*w+(h-2)*w-2]
	even, odd := buf[4*h*w:4*h*w+h*w/2], buf[4*h*w+h*w/2:5*h*w]
	lo, hi := split(t.planes, t.parts, i)
	for pl := lo; pl < hi; pl++ {
		src := t.x[pl*h*w : (pl+1)*h*w]
		dst := t.y[pl*ho*wo : (pl+1)*ho*wo]
		asm.Max(m1, src[:(h-1)*w], src[w:])
		asm.Max(m2, m1[:(h-2)*w], m1[w:])
		asm.Max(g1, m2[:len(g1)], m2[1:])
		asm.Max(g2, g1[:len(g2)], g1[1:])
		if w%2 == 0 {
			asm.Deinterleave2(even[:(len(g2)+1)/2], odd[:len(g2)/2], g2)
		}
		for oy := range ho {
			y0, y1 := max(2*oy-1, 0), min(2*oy+1, h-1) // the window's rows, inclusive
			out := dst[oy*wo : (oy+1)*wo]
			if y1-y0 == 2 {
				row := y0 * w
				out[0] = g1[row] // columns 0 and 1
				if w%2 == 0 {
					// Output ox ≥ 1 reads g2[row + 2ox − 1], odd element row/2 + ox − 1.
					n := min(wo-1, w/2-1)
					copy(out[1:1+n], odd[row/2:row/2+n])
					for ox := 1 + n; ox < wo; ox++ { // a window clipped at the right
						out[ox] = g1[row+2*ox-1]
					}
					continue
				}
				for ox := 1; ox < wo; ox++ {
					if 2*ox+1 <= w-1 {
						out[ox] = g2[row+2*ox-1]
					} else {
						out[ox] = g1[row+2*ox-1]
					}
				}
				continue
			}
			// A clipped window at the top or bottom: its one or two rows, column by column.
			var v []float32
			if y1 == y0 {
				v = src[y0*w : y0*w+w]
			} else {
				v = m1[y0*w : y0*w+w]
			}
			for ox := range out {
				x0, x1 := max(2*ox-1, 0), min(2*ox+1, w-1)
				m := v[x0]
				for ix := x0 + 1; ix <= x1; ix++ {
					if u := v[ix]; u > m || u != u {
						m = u
					}
				}
				out[ox] = m
			}
		}
	}
}

// max2x2 returns the largest of a, b, c, d, or NaN when one is NaN, as the row kernels'
// maximum does (equal values: the first).
func max2x2(a, b, c, d float32) float32 {
	m := a
	if b > m || b != b {
		m = b
	}
	if c > m || c != c {
		m = c
	}
	if d > m || d != d {
		m = d
	}
	return m
}

// AvgPool2d averages each k×k window, as torch.nn.functional.avg_pool2d
// with count_include_pad=True (padding counts as zeros in the divisor).
// x: [N, C, H, W] → y: [N, C, H', W'].
func AvgPool2d(y, x *Tensor, kh, kw int, p ConvParams) {
	n, c, h, w := x.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	mustShape("AvgPool2d", y, n, c, ho, wo)
	div := float32(kh * kw)
	for i := range n * c {
		src := x.Data[i*h*w : (i+1)*h*w]
		dst := y.Data[i*ho*wo : (i+1)*ho*wo]
		for oy := range ho {
			y0 := oy*p.Stride[0] - p.Padding[0]
			for ox := range wo {
				x0 := ox*p.Stride[1] - p.Padding[1]
				var s float32
				for iy := max(y0, 0); iy < min(y0+kh, h); iy++ {
					for ix := max(x0, 0); ix < min(x0+kw, w); ix++ {
						s += src[iy*w+ix]
					}
				}
				dst[oy*wo+ox] = s / div
			}
		}
	}
}

// GlobalAvgPool averages each channel plane, as adaptive_avg_pool2d(x, 1).
// x: [N, C, H, W] → y: [N, C, 1, 1] (or any shape holding N·C values).
func GlobalAvgPool(y, x *Tensor) {
	n, c, h, w := x.NCHW()
	if y.Numel() != n*c {
		panic(fmt.Sprintf("tensor.GlobalAvgPool: output %v for input %v", y.Shape, x.Shape))
	}
	plane := h * w
	for i := range n * c {
		var s float32
		for _, v := range x.Data[i*plane : (i+1)*plane] {
			s += v
		}
		y.Data[i] = s / float32(plane)
	}
}

// SubsamplePadChannels is the CIFAR ResNet "option A" shortcut:
// y = zero-pad-channels(x[:, :, ::stride, ::stride]) with padBefore zero
// channels before x's and the rest after.
// x: [N, C, H, W] → y: [N, K, ⌈H/stride⌉, ⌈W/stride⌉] with K ≥ C + padBefore.
func SubsamplePadChannels(y, x *Tensor, stride, padBefore int) {
	n, c, h, w := x.NCHW()
	ho, wo := (h+stride-1)/stride, (w+stride-1)/stride
	k := y.Shape[1]
	mustShape("SubsamplePadChannels", y, n, k, ho, wo)
	if padBefore < 0 || padBefore+c > k {
		panic(fmt.Sprintf("tensor.SubsamplePadChannels: %d+%d channels do not fit %d", padBefore, c, k))
	}
	runSubsample(subsampleTask{x: x, y: y, stride: stride, padBefore: padBefore})
}
