package nn

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// MaxPool2d takes the maximum of each Kernel×Kernel window, as
// torch.nn.MaxPool2d (floor mode). Shape: [N, C, H, W] → [N, C, H', W'].
type MaxPool2d struct {
	Kernel int
	tensor.ConvParams
}

// NewMaxPool2d returns a max pooling; stride 0 means stride = kernel.
func NewMaxPool2d(kernel, stride, padding int) *MaxPool2d {
	if stride == 0 {
		stride = kernel
	}
	return &MaxPool2d{Kernel: kernel, ConvParams: tensor.ConvParams{Stride: [2]int{stride, stride}, Padding: [2]int{padding, padding}}}
}

// Forward pools x: [N, C, H, W].
func (m *MaxPool2d) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	ho, wo := m.OutSize(h, w, m.Kernel, m.Kernel)
	y := c.Get(n, ch, ho, wo)
	tensor.MaxPool2d(y.Value, x.Value, m.Kernel, m.Kernel, m.ConvParams)
	c.record(OpMaxPool, m, y, func() {
		if dx := c.grad(x); dx != nil {
			tensor.MaxPool2dBackward(dx, y.Grad, x.Value, m.Kernel, m.Kernel, m.ConvParams)
		}
	}, x)
	return c.observe(m, x, y)
}

func (m *MaxPool2d) String() string {
	return fmt.Sprintf("MaxPool2d(kernel_size=%d, stride=%d, padding=%d, dilation=1, ceil_mode=False)", m.Kernel, m.Stride[0], m.Padding[0])
}

// AvgPool2d averages each Kernel×Kernel window, as torch.nn.AvgPool2d
// (count_include_pad). Shape: [N, C, H, W] → [N, C, H', W'].
type AvgPool2d struct {
	Kernel int
	tensor.ConvParams
}

// NewAvgPool2d returns an average pooling; stride 0 means stride = kernel.
func NewAvgPool2d(kernel, stride, padding int) *AvgPool2d {
	if stride == 0 {
		stride = kernel
	}
	return &AvgPool2d{Kernel: kernel, ConvParams: tensor.ConvParams{Stride: [2]int{stride, stride}, Padding: [2]int{padding, padding}}}
}

// Forward pools x: [N, C, H, W].
func (m *AvgPool2d) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	ho, wo := m.OutSize(h, w, m.Kernel, m.Kernel)
	y := c.Get(n, ch, ho, wo)
	tensor.AvgPool2d(y.Value, x.Value, m.Kernel, m.Kernel, m.ConvParams)
	c.record(OpAvgPool, m, y, func() {
		if dx := c.grad(x); dx != nil {
			tensor.AvgPool2dBackward(dx, y.Grad, m.Kernel, m.Kernel, m.ConvParams)
		}
	}, x)
	return c.observe(m, x, y)
}

func (m *AvgPool2d) String() string {
	return fmt.Sprintf("AvgPool2d(kernel_size=%d, stride=%d, padding=%d)", m.Kernel, m.Stride[0], m.Padding[0])
}

// AdaptiveAvgPool2d averages each channel to a 1×1 map, as
// torch.nn.AdaptiveAvgPool2d((1, 1)) (the only output size supported).
// Shape: [N, C, H, W] → [N, C, 1, 1].
type AdaptiveAvgPool2d struct{}

// NewAdaptiveAvgPool2d returns a global average pooling to 1×1.
func NewAdaptiveAvgPool2d() *AdaptiveAvgPool2d { return &AdaptiveAvgPool2d{} }

// Forward averages each plane of x: [N, C, H, W].
func (m *AdaptiveAvgPool2d) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	return c.observe(m, x, globalAvgPool(c, m, x, true))
}

func (m *AdaptiveAvgPool2d) String() string { return "AdaptiveAvgPool2d(output_size=(1, 1))" }

// GlobalAvgPool averages each channel plane: [N, C, H, W] → [N, C], as
// torch.nn.functional.adaptive_avg_pool2d(x, 1).flatten(1).
func GlobalAvgPool(c *Ctx, x *autograd.Var) *autograd.Var { return globalAvgPool(c, nil, x, false) }

func globalAvgPool(c *Ctx, src any, x *autograd.Var, keepDims bool) *autograd.Var {
	n, ch, _, _ := x.Value.NCHW()
	var y *autograd.Var
	if keepDims {
		y = c.Get(n, ch, 1, 1)
	} else {
		y = c.Get(n, ch)
	}
	tensor.GlobalAvgPool(y.Value, x.Value)
	c.record(OpGlobalAvgPool, src, y, func() {
		if dx := c.grad(x); dx != nil {
			tensor.GlobalAvgPoolBackward(dx, y.Grad)
		}
	}, x)
	return y
}
