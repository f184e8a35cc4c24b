package nn

import (
	"encoding/json"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
)

func init() { RegisterAdapter[*BatchNorm2d](batchNormAdapter{}) }

// batchNormAdapter holds the rules of BatchNorm2d: its channels are its
// input and its output (PerChannel), each the entry c of γ, β and the
// running statistics. It has no MACs.
type batchNormAdapter struct{}

func (batchNormAdapter) Axes(l *BatchNorm2d) Axes {
	return Axes{Coupling: PerChannel, In: l.C, Out: l.C}
}

func (batchNormAdapter) Tensors(l *BatchNorm2d, s Side) []ChannelTensor {
	if s != SideChannel {
		return nil
	}
	return []ChannelTensor{
		{Name: "weight", Var: l.Weight, Role: RoleScale},
		{Name: "bias", Var: l.Bias, Role: RoleShift},
		{Name: "running_mean", Var: l.RunningMean, Role: RoleBuffer},
		{Name: "running_var", Var: l.RunningVar, Role: RoleBuffer},
	}
}

func (batchNormAdapter) Resize(l *BatchNorm2d, _ Side, c Cut) { l.C = len(c.Keep) * c.Span }

// Widths is [channels].
func (batchNormAdapter) Widths(l *BatchNorm2d) any { return []int{l.C} }

// SetWidths resizes the layer with γ = 1, β = 0 and running statistics 0
// and 1.
func (batchNormAdapter) SetWidths(l *BatchNorm2d, raw json.RawMessage) error {
	v, err := widthInts(raw, 1)
	if err != nil {
		return err
	}
	l.C = v[0]
	for _, p := range []*autograd.Var{l.Weight, l.Bias, l.RunningMean, l.RunningVar} {
		resize(p, l.C)
	}
	l.ResetParameters()
	return nil
}

// Reset sets γ = 1, β = 0 and the running statistics to 0 and 1.
func (batchNormAdapter) Reset(l *BatchNorm2d, _ *rand.Rand) { l.ResetParameters() }

// Redraw draws nothing: from-scratch schemes keep γ = 1 and β = 0.
func (batchNormAdapter) Redraw(*BatchNorm2d, *rand.Rand, InitScheme) {}

func (batchNormAdapter) SquaredGrads(l *BatchNorm2d) []*autograd.Var {
	return []*autograd.Var{l.Weight, l.Bias}
}

// Probe returns nil: the compiled form folds a BatchNorm2d into the
// convolution before it.
func (batchNormAdapter) Probe(*BatchNorm2d, int, int) Module { return nil }
