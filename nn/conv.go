package nn

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Conv2d is a 2-d convolution, as torch.nn.Conv2d (dilation 1), grouped when
// Groups > 1 (Groups = In = Out: depthwise): output channels
// [g·Out/G, (g+1)·Out/G) read input channels [g·In/G, (g+1)·In/G) only.
//
// Shape: x: [N, In, H, W] → y: [N, Out, H', W'],
// H' = ⌊(H + 2·padding − kernel)/stride⌋ + 1.
// State: weight [Out, In/Groups, kh, kw], bias [Out] when enabled.
// Init (ResetParameters): PyTorch's default, weight and bias uniform in
// ±1/√(In/Groups·kh·kw).
type Conv2d struct {
	In, Out int
	Kernel  [2]int
	tensor.ConvParams
	Weight *autograd.Var
	Bias   *autograd.Var // nil without bias
}

// ConvOpts are the optional settings of NewConv2d.
type ConvOpts struct {
	Stride  int  // default 1
	Padding int  // default 0
	Groups  int  // default 1; must divide in and out
	Bias    bool // default false (Bonsai's zoo rarely needs it; PyTorch's default is true)
}

// NewConv2d returns a square-kernel convolution with zero weights; call
// ResetParameters or load a state to fill them.
func NewConv2d(in, out, kernel int, o ConvOpts) *Conv2d {
	g := max(o.Groups, 1)
	if in <= 0 || out <= 0 || kernel <= 0 || o.Stride < 0 || o.Padding < 0 || o.Groups < 0 || in%g != 0 || out%g != 0 {
		panic(fmt.Sprintf("nn.NewConv2d: invalid in=%d out=%d kernel=%d %+v", in, out, kernel, o))
	}
	s := max(o.Stride, 1)
	c := &Conv2d{
		In: in, Out: out, Kernel: [2]int{kernel, kernel},
		ConvParams: tensor.ConvParams{Stride: [2]int{s, s}, Padding: [2]int{o.Padding, o.Padding}, Groups: g},
		Weight:     autograd.NewParam(tensor.New(out, in/g, kernel, kernel)),
	}
	if o.Bias {
		c.Bias = autograd.NewParam(tensor.New(out))
	}
	return c
}

// Forward computes the convolution. x: [N, In, H, W] → [N, Out, H', W'].
func (m *Conv2d) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	n, ho, wo := m.outShape(x)
	y := c.Get(n, m.Out, ho, wo)
	var bias []float32
	if m.Bias != nil {
		bias = m.Bias.Value.Data
	}
	tensor.Conv2dForward(y.Value, x.Value, m.Weight.Value, bias, m.ConvParams, &c.conv)
	c.record(OpConv2d, m, y, func() {
		if dx, fresh := c.gradOut(x); dx != nil {
			tensor.Conv2dBackwardData(dx, y.Grad, m.Weight.Value, m.ConvParams, &c.conv, beta(fresh))
		}
		dw, dbT := c.grad(m.Weight), c.grad(m.Bias)
		if dw == nil && dbT == nil {
			return
		}
		var db []float32
		if dbT != nil {
			db = dbT.Data
		}
		if dw == nil { // a frozen weight with a trained bias
			dw = c.Arena.Zeros(m.Weight.Value.Shape...)
		}
		tensor.Conv2dBackwardFilter(dw, db, x.Value, y.Grad, m.ConvParams, &c.conv, c.sq(m.Weight, m.Bias))
	}, x, m.Weight, m.Bias)
	return c.observe(m, x, y)
}

// outShape panics unless x is [N, m.In, H, W] and returns N, H' and W' of the output.
func (m *Conv2d) outShape(x *autograd.Var) (n, ho, wo int) {
	n, ch, h, w := x.Value.NCHW()
	if ch != m.In {
		panic(fmt.Sprintf("nn.Conv2d: input %v has %d channels, layer takes %d", x.Value.Shape, ch, m.In))
	}
	ho, wo = m.OutSize(h, w, m.Kernel[0], m.Kernel[1])
	return n, ho, wo
}

// State returns weight and, when present, bias.
func (m *Conv2d) State() []Entry {
	e := []Entry{{Name: "weight", Kind: Param, Var: m.Weight}}
	if m.Bias != nil {
		e = append(e, Entry{Name: "bias", Kind: Param, Var: m.Bias})
	}
	return e
}

// MACs returns the multiply-accumulates of one forward for output y:
// Out·(In/Groups)·kh·kw per output pixel, per sample.
func (m *Conv2d) MACs(_, y *tensor.Tensor) int64 {
	_, _, ho, wo := y.NCHW()
	return int64(m.Out) * int64(m.In/m.GroupCount()) * int64(m.Kernel[0]*m.Kernel[1]) * int64(ho*wo)
}

// GroupCount returns the number of groups (1 for an ordinary convolution).
func (m *Conv2d) GroupCount() int { return max(m.Groups, 1) }

func (m *Conv2d) String() string {
	groups := ""
	if g := m.GroupCount(); g > 1 {
		groups = fmt.Sprintf(", groups=%d", g)
	}
	return fmt.Sprintf("Conv2d(%d, %d, kernel_size=(%d, %d), stride=(%d, %d), padding=(%d, %d)%s, bias=%s)",
		m.In, m.Out, m.Kernel[0], m.Kernel[1], m.Stride[0], m.Stride[1], m.Padding[0], m.Padding[1], groups, pyBool(m.Bias != nil))
}

func pyBool(b bool) string {
	if b {
		return "True"
	}
	return "False"
}
