package prune

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// surgeon shrinks layers, one function per layer type and side, and slices
// the optimizer state of what it shrinks.
type surgeon struct {
	opt optim.Optimizer
}

// check verifies that d's layer still has the group's channels on its side.
func (s surgeon) check(d Dep, channels int) error {
	want, have := channels*d.Span, -1
	switch l := d.Module.(type) {
	case *nn.Conv2d:
		have = l.In
		if d.Side == Out {
			have = l.Out
		}
	case *nn.Linear:
		have = l.In
		if d.Side == Out {
			have = l.Out
		}
	case *nn.BatchNorm2d:
		have = l.C
	case ChannelMapper:
		out, dst := l.ChannelMap()
		have = len(dst)
		if d.Side == Out {
			have = out
		}
	default:
		return fmt.Errorf("%s: no surgery for a %T", d, d.Module)
	}
	if have != want {
		side := "channels"
		if d.Side != Channel {
			side = d.Side.String() + "put channels"
		}
		return fmt.Errorf("%s has %d %s, the group expects %d (was the model changed since Trace?)", d, have, side, want)
	}
	return nil
}

// apply removes the channels not in keep (removed[c] marks the others) from
// d's layer; channels is the group's size before.
func (s surgeon) apply(d Dep, channels int, keep []int, removed []bool) {
	switch l := d.Module.(type) {
	case *nn.Conv2d:
		s.conv2d(d, l, keep)
	case *nn.Linear:
		s.linear(d, l, keep)
	case *nn.BatchNorm2d:
		s.batchNorm(d, l, keep)
	case ChannelMapper:
		s.mapper(d, l, keep, removed)
	}
}

// conv2d removes output channels (weight rows and bias) or input channels
// (weight[:, c]) of a convolution.
func (s surgeon) conv2d(d Dep, l *nn.Conv2d, keep []int) {
	if d.Side == Out {
		s.slice(d.Layer, "weight", l.Weight, 0, keep, 1)
		if l.Bias != nil {
			s.slice(d.Layer, "bias", l.Bias, 0, keep, 1)
		}
		l.Out = len(keep)
		return
	}
	s.slice(d.Layer, "weight", l.Weight, 1, keep, 1)
	l.In = len(keep)
}

// linear removes output features (weight rows and bias) or input features
// (weight columns, Span per channel) of a linear layer.
func (s surgeon) linear(d Dep, l *nn.Linear, keep []int) {
	if d.Side == Out {
		s.slice(d.Layer, "weight", l.Weight, 0, keep, 1)
		if l.Bias != nil {
			s.slice(d.Layer, "bias", l.Bias, 0, keep, 1)
		}
		l.Out = len(keep)
		return
	}
	s.slice(d.Layer, "weight", l.Weight, 1, keep, d.Span)
	l.In = len(keep) * d.Span
}

// batchNorm removes channels of γ, β and the running statistics.
func (s surgeon) batchNorm(d Dep, l *nn.BatchNorm2d, keep []int) {
	s.slice(d.Layer, "weight", l.Weight, 0, keep, 1)
	s.slice(d.Layer, "bias", l.Bias, 0, keep, 1)
	s.slice(d.Layer, "running_mean", l.RunningMean, 0, keep, 1)
	s.slice(d.Layer, "running_var", l.RunningVar, 0, keep, 1)
	l.C = len(keep)
}

// mapper removes input channels of a ChannelMapper (their entries of the
// map) or output channels (the others are renumbered; an input that landed
// in a removed channel is dropped). Removing a padded output channel only
// shrinks the padding, so the zero channels before and after the mapped
// ones move with the removals.
func (s surgeon) mapper(d Dep, l ChannelMapper, keep []int, removed []bool) {
	out, dst := l.ChannelMap()
	if d.Side == In {
		nd := make([]int, len(keep))
		for i, j := range keep {
			nd[i] = dst[j]
		}
		l.SetChannelMap(out, nd)
		return
	}
	renum := make([]int, out)
	n := 0
	for o := range out {
		renum[o] = -1
		if !removed[o] {
			renum[o] = n
			n++
		}
	}
	for j, o := range dst {
		if o >= 0 {
			dst[j] = renum[o]
		}
	}
	l.SetChannelMap(n, dst)
}

// slice keeps the blocks keep (span indices each) of v along axis: its
// value, its gradient and per-sample squared gradient when they have its
// shape, and the optimizer state of parameter layer.name that does. The
// Var itself stays.
func (s surgeon) slice(layer, name string, v *autograd.Var, axis int, keep []int, span int) {
	old := v.Value
	cut := func(t *tensor.Tensor) *tensor.Tensor {
		if t == nil || !tensor.SameShape(t, old) {
			return nil
		}
		return sliceAxis(t, axis, keep, span)
	}
	v.Value, v.Grad, v.SqGrad = cut(old), cut(v.Grad), cut(v.SqGrad)
	if s.opt == nil {
		return
	}
	state := s.opt.ParamState(key(layer, name))
	for k, t := range state {
		if tensor.SameShape(t, old) { // momentum_buffer, exp_avg, exp_avg_sq; not step
			state[k] = sliceAxis(t, axis, keep, span)
		}
	}
}

// sliceAxis returns the tensor made of the blocks [k·span, (k+1)·span) of t
// along axis, for each k of keep in order.
func sliceAxis(t *tensor.Tensor, axis int, keep []int, span int) *tensor.Tensor {
	shape := append([]int(nil), t.Shape...)
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	n := shape[axis]
	shape[axis] = len(keep) * span
	u := tensor.New(shape...)
	block := span * inner
	w := 0
	for o := range outer {
		for _, k := range keep {
			src := (o*n + k*span) * inner
			copy(u.Data[w:w+block], t.Data[src:src+block])
			w += block
		}
	}
	return u
}
