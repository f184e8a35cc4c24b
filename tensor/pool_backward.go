package tensor

import (
	"fmt"
	"math"
	"sync"
)

// MaxPool2dBackward adds dy into dx at the position of each window's
// maximum in x (the first one in row-major order on ties, as PyTorch).
// x, dx: [N, C, H, W]; dy: [N, C, H', W'].
func MaxPool2dBackward(dx, dy, x *Tensor, kh, kw int, p ConvParams) {
	n, c, h, w := x.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	mustShape("MaxPool2dBackward", dy, n, c, ho, wo)
	mustShape("MaxPool2dBackward", dx, n, c, h, w)
	for i := range n * c {
		src := x.Data[i*h*w : (i+1)*h*w]
		dst := dx.Data[i*h*w : (i+1)*h*w]
		g := dy.Data[i*ho*wo : (i+1)*ho*wo]
		for oy := range ho {
			y0 := oy*p.Stride[0] - p.Padding[0]
			for ox := range wo {
				x0 := ox*p.Stride[1] - p.Padding[1]
				m, at := float32(math.Inf(-1)), -1
				for iy := max(y0, 0); iy < min(y0+kh, h); iy++ {
					for ix := max(x0, 0); ix < min(x0+kw, w); ix++ {
						if v := src[iy*w+ix]; v > m || (v != v && m == m) || at < 0 {
							m, at = v, iy*w+ix
						}
					}
				}
				if at >= 0 {
					dst[at] += g[oy*wo+ox]
				}
			}
		}
	}
}

// AvgPool2dBackward adds each dy/(kh·kw) into its window of dx (padding
// positions dropped). dx: [N, C, H, W]; dy: [N, C, H', W'].
func AvgPool2dBackward(dx, dy *Tensor, kh, kw int, p ConvParams) {
	n, c, h, w := dx.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	mustShape("AvgPool2dBackward", dy, n, c, ho, wo)
	div := float32(kh * kw)
	for i := range n * c {
		dst := dx.Data[i*h*w : (i+1)*h*w]
		g := dy.Data[i*ho*wo : (i+1)*ho*wo]
		for oy := range ho {
			y0 := oy*p.Stride[0] - p.Padding[0]
			for ox := range wo {
				x0 := ox*p.Stride[1] - p.Padding[1]
				v := g[oy*wo+ox] / div
				for iy := max(y0, 0); iy < min(y0+kh, h); iy++ {
					for ix := max(x0, 0); ix < min(x0+kw, w); ix++ {
						dst[iy*w+ix] += v
					}
				}
			}
		}
	}
}

// GlobalAvgPoolBackward adds dy[n,c]/(H·W) to every element of plane (n, c)
// of dx. dx: [N, C, H, W]; dy: N·C values.
func GlobalAvgPoolBackward(dx, dy *Tensor) {
	n, c, h, w := dx.NCHW()
	if dy.Numel() != n*c {
		panic(fmt.Sprintf("tensor.GlobalAvgPoolBackward: dy %v for dx %v", dy.Shape, dx.Shape))
	}
	plane := h * w
	for i := range n * c {
		v := dy.Data[i] / float32(plane)
		row := dx.Data[i*plane : (i+1)*plane]
		for j := range row {
			row[j] += v
		}
	}
}

// SubsamplePadChannelsBackward computes the gradient of SubsamplePadChannels,
// dx = beta·dx + g with g[n, c, oy·s, ox·s] = dy[n, c+padBefore, oy, ox] and 0
// at the other positions. beta 0 sets dx (which need not be initialised),
// beta 1 adds into it, any other beta scales dx first.
func SubsamplePadChannelsBackward(dx, dy *Tensor, stride, padBefore int, beta float32) {
	checkSubsampleBackward(dx, dy, stride, padBefore)
	add := betaAdds(dx, beta)
	runSubsample(subsampleTask{backward: true, add: add, x: dx, y: dy, stride: stride, padBefore: padBefore})
}

func checkSubsampleBackward(dx, dy *Tensor, stride, padBefore int) {
	n, c, h, w := dx.NCHW()
	_, k, ho, wo := dy.NCHW()
	if ho != (h+stride-1)/stride || wo != (w+stride-1)/stride || padBefore+c > k || dy.Shape[0] != n {
		panic(fmt.Sprintf("tensor.SubsamplePadChannelsBackward: dy %v for dx %v", dy.Shape, dx.Shape))
	}
}

// The option-A shortcut in parallel over fixed parts of the samples (each element is
// written by the same code whatever the cut).

var subsample struct {
	mu   sync.Mutex
	task subsampleTask
}

type subsampleTask struct {
	backward, add     bool
	x, y              *Tensor // backward: dx, dy
	stride, padBefore int
}

func runSubsample(t subsampleTask) {
	n := t.x.Shape[0]
	parts := min(n, 4*maxProcs())
	if parts <= 1 {
		for i := range n {
			t.sample(i)
		}
		return
	}
	subsample.mu.Lock()
	defer subsample.mu.Unlock()
	subsample.task = t
	parallelFor(parts, &subsample.task)
	subsample.task = subsampleTask{}
}

func (t *subsampleTask) Part(_, p int) {
	n := t.x.Shape[0]
	lo, hi := split(n, min(n, 4*maxProcs()), p)
	for i := lo; i < hi; i++ {
		t.sample(i)
	}
}

// sample computes sample i: y[i] from x[i] forward, dx[i] from dy[i] backward.
func (t *subsampleTask) sample(i int) {
	_, c, h, w := t.x.NCHW()
	_, k, ho, wo := t.y.NCHW()
	s, pb := t.stride, t.padBefore
	if wo == 0 { // then w = 0: no elements
		return
	}
	if !t.backward {
		out := t.y.Data[i*k*ho*wo : (i+1)*k*ho*wo]
		clear(out[:pb*ho*wo])
		clear(out[(pb+c)*ho*wo:])
		for ch := range c {
			src := t.x.Data[(i*c+ch)*h*w : (i*c+ch+1)*h*w]
			dst := out[(pb+ch)*ho*wo : (pb+ch+1)*ho*wo]
			for oy := range ho {
				row, d := src[oy*s*w:], dst[oy*wo:(oy+1)*wo]
				_ = row[(wo-1)*s]
				for ox := range d {
					d[ox] = row[ox*s]
				}
			}
		}
		return
	}
	for ch := range c {
		g := t.x.Data[(i*c+ch)*h*w : (i*c+ch+1)*h*w]
		src := t.y.Data[(i*k+pb+ch)*ho*wo : (i*k+pb+ch+1)*ho*wo]
		if !t.add && s == 2 && h == 2*ho && w == 2*wo {
			// Set in one pass: even rows interleave the gradient with zeros, odd rows are zero.
			for oy := range ho {
				even, odd := g[2*oy*w:(2*oy+1)*w], g[(2*oy+1)*w:(2*oy+2)*w]
				d := src[oy*wo : (oy+1)*wo]
				_ = even[2*len(d)-1]
				for ox, v := range d {
					even[2*ox], even[2*ox+1] = 0+v, 0
				}
				clear(odd)
			}
			continue
		}
		if !t.add {
			clear(g)
		}
		for oy := range ho {
			row, d := g[oy*s*w:], src[oy*wo:(oy+1)*wo]
			_ = row[(wo-1)*s]
			for ox, v := range d {
				row[ox*s] += v
			}
		}
	}
}
