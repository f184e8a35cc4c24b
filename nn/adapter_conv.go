package nn

import (
	"encoding/json"
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

func init() { RegisterAdapter[*Conv2d](conv2dAdapter{}) }

// conv2dAdapter holds the rules of Conv2d. Its output channels are the
// rows of weight [Out, In, kh, kw] and the entries of bias; its input
// channels are weight[:, c] (Span consecutive columns per channel when it
// reads a flatten). Its MACs scale with both widths.
//
// A grouped convolution would couple its sides group by group; a depthwise
// one (groups = In = Out) is Shared, each channel's filter weight[c] of
// shape [1, kh, kw] and bias[c] on SideOut, nothing on SideIn (which
// Resize gives the new In and groups), its MACs proportional to SideOut
// alone, and its initialisation's fan-in In/groups·kh·kw.
type conv2dAdapter struct{}

func (conv2dAdapter) Axes(l *Conv2d) Axes {
	return Axes{Coupling: Transform, In: l.In, Out: l.Out, Spans: true, MACs: []Side{SideIn, SideOut}}
}

func (conv2dAdapter) Tensors(l *Conv2d, s Side) []ChannelTensor {
	switch s {
	case SideOut:
		t := []ChannelTensor{{Name: "weight", Var: l.Weight, Axis: 0, Role: RoleWeight}}
		if l.Bias != nil {
			t = append(t, ChannelTensor{Name: "bias", Var: l.Bias, Axis: 0, Role: RoleBias})
		}
		return t
	case SideIn:
		return []ChannelTensor{{Name: "weight", Var: l.Weight, Axis: 1, Role: RoleWeight}}
	}
	return nil
}

func (conv2dAdapter) Resize(l *Conv2d, s Side, c Cut) {
	if s == SideOut {
		l.Out = len(c.Keep) * c.Span
	} else {
		l.In = len(c.Keep) * c.Span
	}
}

// Widths is [out, in].
func (conv2dAdapter) Widths(l *Conv2d) any { return []int{l.Out, l.In} }

func (conv2dAdapter) SetWidths(l *Conv2d, raw json.RawMessage) error {
	v, err := widthInts(raw, 2)
	if err != nil {
		return err
	}
	l.Out, l.In = v[0], v[1]
	l.Weight.Value = tensor.New(l.Out, l.In, l.Kernel[0], l.Kernel[1])
	resize(l.Bias, l.Out)
	return nil
}

// Reset draws weight and bias uniform in ±1/√(In·kh·kw).
func (conv2dAdapter) Reset(l *Conv2d, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.In*l.Kernel[0]*l.Kernel[1]))
	uniform(rng, l.Weight.Value, bound)
	if l.Bias != nil {
		uniform(rng, l.Bias.Value, bound)
	}
}

// Redraw draws the weight as s.Conv says.
func (conv2dAdapter) Redraw(l *Conv2d, rng *rand.Rand, s InitScheme) {
	redraw(rng, l.Weight.Value, s.Conv)
}

func (conv2dAdapter) SquaredGrads(l *Conv2d) []*autograd.Var {
	return []*autograd.Var{l.Weight, l.Bias}
}
