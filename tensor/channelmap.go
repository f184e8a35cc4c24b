package tensor

import (
	"fmt"
	"sync"
)

// SubsampleMapChannels is the option-A shortcut after channel pruning:
// y[:, dst[c]] = x[:, c, ::stride, ::stride] for every input channel c with
// dst[c] ≥ 0 (dst[c] < 0 drops channel c), and every other channel of y is
// zero. SubsamplePadChannels(y, x, s, p) is the case dst[c] = c + p.
// x: [N, C, H, W], len(dst) = C → y: [N, K, ⌈H/stride⌉, ⌈W/stride⌉], dst[c] < K.
func SubsampleMapChannels(y, x *Tensor, stride int, dst []int) {
	n, c, h, w := x.NCHW()
	ho, wo := (h+stride-1)/stride, (w+stride-1)/stride
	k := y.Shape[1]
	mustShape("SubsampleMapChannels", y, n, k, ho, wo)
	checkChannelMap("SubsampleMapChannels", dst, c, k)
	t := channelMapTask{y: y.Data, x: x.Data, dst: dst, n: n, c: c, k: k, h: h, w: w, ho: ho, wo: wo, stride: stride}
	if n*c*h*w < 1<<15 || maxProcs() == 1 {
		for i := range n {
			t.image(i)
		}
		return
	}
	channelMap.mu.Lock()
	defer channelMap.mu.Unlock()
	channelMap.task = t
	parallelFor(n, &channelMap.task)
	channelMap.task = channelMapTask{}
}

// channelMap holds the SubsampleMapChannels call in progress.
var channelMap struct {
	mu   sync.Mutex
	task channelMapTask
}

// channelMapTask computes SubsampleMapChannels for one image per part.
type channelMapTask struct {
	y, x                          []float32
	dst                           []int
	n, c, k, h, w, ho, wo, stride int
}

func (t *channelMapTask) Part(_, i int) { t.image(i) }

// image computes image i: its mapped channels subsampled, the others zero.
func (t *channelMapTask) image(i int) {
	plane := t.ho * t.wo
	clear(t.y[i*t.k*plane : (i+1)*t.k*plane])
	for ch, o := range t.dst {
		if o < 0 {
			continue
		}
		src := t.x[(i*t.c+ch)*t.h*t.w:]
		out := t.y[(i*t.k+o)*plane : (i*t.k+o+1)*plane]
		for oy := range t.ho {
			row := src[oy*t.stride*t.w:]
			o := out[oy*t.wo : (oy+1)*t.wo]
			for ox := range o {
				o[ox] = row[ox*t.stride]
			}
		}
	}
}

// SubsampleMapChannelsBackward adds dy[:, dst[c]] into dx[:, c, ::stride,
// ::stride] for every c with dst[c] ≥ 0.
// dx: [N, C, H, W], dy: [N, K, ⌈H/stride⌉, ⌈W/stride⌉], len(dst) = C.
func SubsampleMapChannelsBackward(dx, dy *Tensor, stride int, dst []int) {
	n, c, h, w := dx.NCHW()
	_, k, ho, wo := dy.NCHW()
	if ho != (h+stride-1)/stride || wo != (w+stride-1)/stride || dy.Shape[0] != n {
		panic(fmt.Sprintf("tensor.SubsampleMapChannelsBackward: dy %v for dx %v", dy.Shape, dx.Shape))
	}
	checkChannelMap("SubsampleMapChannelsBackward", dst, c, k)
	for i := range n {
		for ch, o := range dst {
			if o < 0 {
				continue
			}
			g := dx.Data[(i*c+ch)*h*w:]
			src := dy.Data[(i*k+o)*ho*wo:]
			for oy := range ho {
				for ox := range wo {
					g[oy*stride*w+ox*stride] += src[oy*wo+ox]
				}
			}
		}
	}
}

func checkChannelMap(op string, dst []int, c, k int) {
	if len(dst) != c {
		panic(fmt.Sprintf("tensor.%s: channel map of %d entries for %d input channels", op, len(dst), c))
	}
	// Distinct targets: a bitmap on the stack for up to 4096 output channels.
	var small [64]uint64
	var seen []uint64
	if k <= 64*len(small) {
		seen = small[:(k+63)/64]
	} else {
		seen = make([]uint64, (k+63)/64)
	}
	for ch, o := range dst {
		if o >= k || (o >= 0 && seen[o/64]&(1<<(o%64)) != 0) {
			panic(fmt.Sprintf("tensor.%s: input channel %d maps to output channel %d of %d (or to one already taken)", op, ch, o, k))
		}
		if o >= 0 {
			seen[o/64] |= 1 << (o % 64)
		}
	}
}
