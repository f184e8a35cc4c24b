package tensor

import (
	"fmt"
	"math"
)

// MaxPool2d takes the maximum over each k×k window, as
// torch.nn.functional.max_pool2d (floor mode; padding counts as −∞).
// x: [N, C, H, W] → y: [N, C, H', W'] with H', W' from ConvParams.OutSize.
func MaxPool2d(y, x *Tensor, kh, kw int, p ConvParams) {
	n, c, h, w := x.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	mustShape("MaxPool2d", y, n, c, ho, wo)
	for i := range n * c {
		src := x.Data[i*h*w : (i+1)*h*w]
		dst := y.Data[i*ho*wo : (i+1)*ho*wo]
		for oy := range ho {
			y0 := oy*p.Stride[0] - p.Padding[0]
			for ox := range wo {
				x0 := ox*p.Stride[1] - p.Padding[1]
				m := float32(math.Inf(-1))
				for iy := max(y0, 0); iy < min(y0+kh, h); iy++ {
					for ix := max(x0, 0); ix < min(x0+kw, w); ix++ {
						if v := src[iy*w+ix]; v > m || v != v {
							m = v
						}
					}
				}
				dst[oy*wo+ox] = m
			}
		}
	}
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
