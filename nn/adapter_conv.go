package nn

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

func init() { RegisterAdapter[*Conv2d](conv2dAdapter{}) }

// conv2dAdapter holds the rules of Conv2d. Its output channels are the
// rows of weight [Out, In/groups, kh, kw] and the entries of bias; its
// input channels are weight[:, c] (Span consecutive columns per channel
// when it reads a flatten). Its MACs scale with both widths.
//
// A depthwise convolution (groups = In = Out) is Shared: each channel's
// filter weight[c] of shape [1, kh, kw] and bias[c] are on SideOut,
// nothing on SideIn, Resize gives it the new In, Out and groups, and its
// MACs are proportional to SideOut alone. Other grouped convolutions
// (1 < groups < channels) couple their sides group by group and are
// Unsupported. The initialisation's fan-in is In/groups·kh·kw.
type conv2dAdapter struct{}

// depthwise reports whether l is a depthwise convolution: groups = In =
// Out (and more than one channel).
func depthwise(l *Conv2d) bool {
	g := l.GroupCount()
	return g > 1 && g == l.In && g == l.Out
}

func (conv2dAdapter) Axes(l *Conv2d) Axes {
	switch g := l.GroupCount(); {
	case depthwise(l):
		return Axes{Coupling: Shared, In: l.In, Out: l.Out, MACs: []Side{SideOut}}
	case g > 1:
		return Axes{Coupling: Unsupported, In: l.In, Out: l.Out,
			Reason: fmt.Sprintf("grouped convolution, %d groups of %d → %d channels", g, l.In/g, l.Out/g)}
	}
	return Axes{Coupling: Transform, In: l.In, Out: l.Out, Spans: true, MACs: []Side{SideIn, SideOut}}
}

func (conv2dAdapter) Tensors(l *Conv2d, s Side) []ChannelTensor {
	if s == SideIn && depthwise(l) {
		return nil // channel c's filter is weight[c], listed on SideOut
	}
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
	if depthwise(l) {
		n := len(c.Keep) * c.Span
		l.In, l.Out, l.Groups = n, n, n
		return
	}
	if s == SideOut {
		l.Out = len(c.Keep) * c.Span
	} else {
		l.In = len(c.Keep) * c.Span
	}
}

// Widths is [out, in], or [out, in, groups] for a grouped convolution.
func (conv2dAdapter) Widths(l *Conv2d) any {
	if g := l.GroupCount(); g > 1 {
		return []int{l.Out, l.In, g}
	}
	return []int{l.Out, l.In}
}

// SetWidths reads [out, in], or [out, in, groups] when l is grouped; the
// groups must divide both channel counts.
func (conv2dAdapter) SetWidths(l *Conv2d, raw json.RawMessage) error {
	n := 2
	if l.GroupCount() > 1 {
		n = 3 // out, in, groups
	}
	v, err := widthInts(raw, n)
	if err != nil {
		return err
	}
	g := 1
	if n == 3 {
		g = v[2]
		if v[0]%g != 0 || v[1]%g != 0 {
			return fmt.Errorf("widths %s: %d groups do not divide %d and %d channels", raw, g, v[1], v[0])
		}
	}
	l.Out, l.In, l.Groups = v[0], v[1], g
	l.Weight.Value = tensor.New(l.Out, l.In/g, l.Kernel[0], l.Kernel[1])
	resize(l.Bias, l.Out)
	return nil
}

// Reset draws weight and bias uniform in ±1/√(In/groups·kh·kw).
func (conv2dAdapter) Reset(l *Conv2d, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.In/l.GroupCount()*l.Kernel[0]*l.Kernel[1]))
	uniform(rng, l.Weight.Value, bound)
	if l.Bias != nil {
		uniform(rng, l.Bias.Value, bound)
	}
}

// Redraw draws the weight as s.Conv says (and zeroes the bias when s.ZeroBias).
func (conv2dAdapter) Redraw(l *Conv2d, rng *rand.Rand, s InitScheme) {
	redraw(rng, l.Weight, l.Bias, s.Conv, s.ZeroBias)
}

func (conv2dAdapter) SquaredGrads(l *Conv2d) []*autograd.Var {
	return []*autograd.Var{l.Weight, l.Bias}
}

// Probe returns a Conv2d of l's kernel, stride, padding and bias with in
// and out channels; a depthwise l gives a depthwise one of out channels.
func (conv2dAdapter) Probe(l *Conv2d, in, out int) Module {
	g := 1
	if depthwise(l) {
		in, g = out, out
	} else if l.GroupCount() > 1 {
		return nil // not prunable: never resized
	}
	c := &Conv2d{In: in, Out: out, Kernel: l.Kernel, ConvParams: l.ConvParams,
		Weight: autograd.NewParam(tensor.New(out, in/g, l.Kernel[0], l.Kernel[1]))}
	c.Groups = g
	if l.Bias != nil {
		c.Bias = autograd.NewParam(tensor.New(out))
	}
	return c
}
