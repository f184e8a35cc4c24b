package nn

import (
	"encoding/json"
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

func init() { RegisterAdapter[*Linear](linearAdapter{}) }

// linearAdapter holds the rules of Linear. Its output features are the
// rows of weight [Out, In] and the entries of bias; its input features
// are the columns of weight, Span per channel after a flatten. Its MACs
// scale with both widths.
type linearAdapter struct{}

func (linearAdapter) Axes(l *Linear) Axes {
	return Axes{Coupling: Transform, In: l.In, Out: l.Out, Spans: true, MACs: []Side{SideIn, SideOut}}
}

func (linearAdapter) Tensors(l *Linear, s Side) []ChannelTensor {
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

func (linearAdapter) Resize(l *Linear, s Side, c Cut) {
	if s == SideOut {
		l.Out = len(c.Keep) * c.Span
	} else {
		l.In = len(c.Keep) * c.Span
	}
}

// Widths is [out, in].
func (linearAdapter) Widths(l *Linear) any { return []int{l.Out, l.In} }

func (linearAdapter) SetWidths(l *Linear, raw json.RawMessage) error {
	v, err := widthInts(raw, 2)
	if err != nil {
		return err
	}
	l.Out, l.In = v[0], v[1]
	l.Weight.Value = tensor.New(l.Out, l.In)
	resize(l.Bias, l.Out)
	return nil
}

// Reset draws weight and bias uniform in ±1/√In.
func (linearAdapter) Reset(l *Linear, rng *rand.Rand) {
	bound := 1 / math.Sqrt(float64(l.In))
	uniform(rng, l.Weight.Value, bound)
	if l.Bias != nil {
		uniform(rng, l.Bias.Value, bound)
	}
}

// Redraw draws the weight as s.Linear says (and zeroes the bias when s.ZeroBias).
func (linearAdapter) Redraw(l *Linear, rng *rand.Rand, s InitScheme) {
	redraw(rng, l.Weight, l.Bias, s.Linear, s.ZeroBias)
}

func (linearAdapter) SquaredGrads(l *Linear) []*autograd.Var {
	return []*autograd.Var{l.Weight, l.Bias}
}

// Probe returns a Linear of in and out features, with a bias when l has one.
func (linearAdapter) Probe(l *Linear, in, out int) Module { return NewLinear(in, out, l.Bias != nil) }
