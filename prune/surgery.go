package prune

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// surgeon shrinks layers by their adapters and slices the optimizer state
// of what it shrinks.
type surgeon struct {
	opt optim.Optimizer
}

// check verifies that d's layer still has the group's channels on its side.
func (s surgeon) check(d Dep, channels int) error {
	a := d.adapter()
	if a == nil {
		return fmt.Errorf("%s: no surgery for a %T (it has no pruning adapter)", d, d.Module)
	}
	ax := a.Axes(d.Module)
	want, have := channels*d.Span, ax.In
	if v := d.at.v; v != nil {
		if v.l.sizes[d.at.i] != channels {
			return fmt.Errorf("%s: its piece of a concatenation has %d channels, the group %d", d, v.l.sizes[d.at.i], channels)
		}
		want = v.features()
	}
	if d.Side == Out {
		have = ax.Out
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
// d's layer: every tensor its adapter lists for the side (value, gradient,
// squared gradient, optimizer state), then the adapter's Resize.
func (s surgeon) apply(d Dep, keep []int, removed []bool, span int) {
	a := d.adapter()
	for _, t := range a.Tensors(d.Module, d.Side) {
		s.slice(d.Layer, t.Name, t.Var, t.Axis, keep, span)
	}
	a.Resize(d.Module, d.Side, nn.Cut{Keep: keep, Removed: removed, Span: span})
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
