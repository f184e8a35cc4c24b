package tensor

import "fmt"

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
	clear(y.Data)
	for i := range n {
		for ch, o := range dst {
			if o < 0 {
				continue
			}
			src := x.Data[(i*c+ch)*h*w:]
			out := y.Data[(i*k+o)*ho*wo:]
			for oy := range ho {
				for ox := range wo {
					out[oy*wo+ox] = src[oy*stride*w+ox*stride]
				}
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
