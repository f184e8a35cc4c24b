package nn

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Concat concatenates tensors along dimension 1, as torch.cat(xs, 1): the channels of
// an Inception or DenseNet block. xs[i]: [N, C_i, rest...] with one N and rest → [N, ΣC_i,
// rest...].
func Concat(c *Ctx, xs ...*autograd.Var) *autograd.Var {
	if len(xs) == 0 {
		panic("nn.Concat: no input")
	}
	shape := slices.Clone(xs[0].Value.Shape)
	if len(shape) < 2 {
		panic(fmt.Sprintf("nn.Concat: input of shape %v has no channels", shape))
	}
	vals := make([]*tensor.Tensor, len(xs))
	shape[1] = 0
	for i, x := range xs {
		s := x.Value.Shape
		if len(s) != len(shape) || s[0] != shape[0] || !slices.Equal(s[2:], shape[2:]) {
			panic(fmt.Sprintf("nn.Concat: inputs of shapes %v and %v", xs[0].Value.Shape, s))
		}
		shape[1] += s[1]
		vals[i] = x.Value
	}
	y := c.Get(shape...)
	tensor.ConcatChannels(y.Value, vals)
	inputs := slices.Clone(xs)
	c.record(OpConcat, nil, y, func() {
		off := 0
		for _, x := range inputs {
			if dx, fresh := c.gradOut(x); dx != nil {
				tensor.ConcatChannelsBackward(dx, y.Grad, off, fresh)
			}
			off += x.Value.Shape[1]
		}
	}, inputs...)
	return y
}

// Sigmoid returns 1/(1 + e^(−x)) element-wise, as torch.sigmoid. Shape: any → same.
func Sigmoid(c *Ctx, x *autograd.Var) *autograd.Var {
	y := c.Get(x.Value.Shape...)
	tensor.Sigmoid(y.Value, x.Value)
	c.record(OpSigmoid, nil, y, func() {
		if dx, fresh := c.gradOut(x); dx != nil {
			tensor.SigmoidBackward(dx, y.Grad, y.Value, fresh)
		}
	}, x)
	return y
}

// MulChannels multiplies each channel of x by a gate of the same channels, one value per
// image and channel, as x * g with PyTorch's broadcasting: the scaling of a
// squeeze-and-excitation block, x · sigmoid(fc(pool(x))). x: [N, C, rest...], g: [N, C]
// or [N, C, 1, …] → [N, C, rest...].
func MulChannels(c *Ctx, x, g *autograd.Var) *autograd.Var {
	xs, gs := x.Value.Shape, g.Value.Shape
	if len(xs) < 2 || len(gs) < 2 || gs[0] != xs[0] || gs[1] != xs[1] || g.Value.Numel() != xs[0]*xs[1] {
		panic(fmt.Sprintf("nn.MulChannels: input %v and gate %v: want a gate [N, C] or [N, C, 1, …]", xs, gs))
	}
	y := c.Get(xs...)
	tensor.ScaleChannels(y.Value, x.Value, g.Value.Data)
	c.record(OpMulChannels, nil, y, func() {
		var dxd, dgd []float32
		dx, fresh := c.gradOut(x)
		if dx != nil {
			dxd = dx.Data
		}
		if dg := c.grad(g); dg != nil {
			dgd = dg.Data
		}
		tensor.ScaleChannelsBackward(dxd, dgd, y.Grad, x.Value, g.Value.Data, fresh, nil, 0)
	}, x, g)
	return y
}

// ChannelScale multiplies each channel by a learned scale: y[n, c, …] = x[n, c, …]·w[c],
// an ONNX Mul by a per-channel constant ([1, C, 1, 1]) as exporters write a layer scale
// or a normalisation folded into the network. Weight: [C], initialised to 1.
// Shape: [N, C, rest...] → same.
type ChannelScale struct {
	C      int
	Weight *autograd.Var
}

// NewChannelScale returns a ChannelScale of c channels with every scale 1.
func NewChannelScale(c int) *ChannelScale {
	if c <= 0 {
		panic(fmt.Sprintf("nn.NewChannelScale: %d channels", c))
	}
	m := &ChannelScale{C: c, Weight: autograd.NewParam(tensor.New(c))}
	m.ResetParameters()
	return m
}

// ResetParameters sets every scale to 1.
func (m *ChannelScale) ResetParameters() {
	for i := range m.Weight.Value.Data {
		m.Weight.Value.Data[i] = 1
	}
}

// Forward returns x scaled channel by channel.
func (m *ChannelScale) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	if x.Value.Dims() < 2 || x.Value.Shape[1] != m.C {
		panic(fmt.Sprintf("nn.ChannelScale(%d): input of shape %v", m.C, x.Value.Shape))
	}
	y := c.Get(x.Value.Shape...)
	tensor.ScaleChannels(y.Value, x.Value, m.Weight.Value.Data)
	c.record(OpChannelScale, m, y, func() {
		var dxd, dwd, sq []float32
		dx, fresh := c.gradOut(x)
		if dx != nil {
			dxd = dx.Data
		}
		if dw := c.grad(m.Weight); dw != nil {
			dwd = dw.Data
		}
		if m.Weight.SqGrad != nil {
			sq = m.Weight.SqGrad.Data
		}
		tensor.ScaleChannelsBackward(dxd, dwd, y.Grad, x.Value, m.Weight.Value.Data, fresh, sq, c.Tape.SampleScale)
	}, x)
	return c.observe(m, x, y)
}

// State is the weight.
func (m *ChannelScale) State() []Entry { return []Entry{{Name: "weight", Var: m.Weight, Kind: Param}} }

func (m *ChannelScale) String() string { return fmt.Sprintf("ChannelScale(%d)", m.C) }

func init() { RegisterAdapter[*ChannelScale](channelScaleAdapter{}) }

// channelScaleAdapter holds the rules of ChannelScale: its channels are its input and its
// output (PerChannel), each the entry c of its weight. It has no MACs.
type channelScaleAdapter struct{}

func (channelScaleAdapter) Axes(l *ChannelScale) Axes {
	return Axes{Coupling: PerChannel, In: l.C, Out: l.C}
}

func (channelScaleAdapter) Tensors(l *ChannelScale, s Side) []ChannelTensor {
	if s != SideChannel {
		return nil
	}
	return []ChannelTensor{{Name: "weight", Var: l.Weight, Role: RoleScale}}
}

func (channelScaleAdapter) Resize(l *ChannelScale, _ Side, c Cut) { l.C = len(c.Keep) * c.Span }

// Widths is [channels].
func (channelScaleAdapter) Widths(l *ChannelScale) any { return []int{l.C} }

// SetWidths resizes the layer with every scale 1.
func (channelScaleAdapter) SetWidths(l *ChannelScale, raw json.RawMessage) error {
	v, err := widthInts(raw, 1)
	if err != nil {
		return err
	}
	l.C = v[0]
	resize(l.Weight, l.C)
	l.ResetParameters()
	return nil
}

// Reset sets every scale to 1.
func (channelScaleAdapter) Reset(l *ChannelScale, _ *rand.Rand) { l.ResetParameters() }

// Redraw draws nothing.
func (channelScaleAdapter) Redraw(*ChannelScale, *rand.Rand, InitScheme) {}

func (channelScaleAdapter) SquaredGrads(l *ChannelScale) []*autograd.Var {
	return []*autograd.Var{l.Weight}
}

// Probe returns nil: a per-channel multiply has no time worth modelling per width.
func (channelScaleAdapter) Probe(*ChannelScale, int, int) Module { return nil }
