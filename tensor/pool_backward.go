package tensor

import (
	"fmt"
	"math"
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

// SubsamplePadChannelsBackward adds the gradient of SubsamplePadChannels:
// dx[n, c, oy·s, ox·s] += dy[n, c+padBefore, oy, ox].
func SubsamplePadChannelsBackward(dx, dy *Tensor, stride, padBefore int) {
	n, c, h, w := dx.NCHW()
	_, k, ho, wo := dy.NCHW()
	if ho != (h+stride-1)/stride || wo != (w+stride-1)/stride || padBefore+c > k || dy.Shape[0] != n {
		panic(fmt.Sprintf("tensor.SubsamplePadChannelsBackward: dy %v for dx %v", dy.Shape, dx.Shape))
	}
	for i := range n {
		for ch := range c {
			dst := dx.Data[(i*c+ch)*h*w:]
			src := dy.Data[(i*k+padBefore+ch)*ho*wo:]
			for oy := range ho {
				for ox := range wo {
					dst[oy*stride*w+ox*stride] += src[oy*wo+ox]
				}
			}
		}
	}
}
