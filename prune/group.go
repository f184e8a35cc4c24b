package prune

import (
	"fmt"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
)

// Group is one set of coupled channels: channel c of the group is index c
// (or the Span indices from c·Span) on the given side of every layer in
// Deps, and removing it removes all of them at once.
type Group struct {
	// Deps lists the layers the channels run through, in the order the
	// traced forward pass met them; producers have Side Out.
	Deps []Dep
	// Channels is the number of channels the group has now.
	Channels int
	// Residual reports a residual stream: tensors joined by add or
	// add_relu (e.g. every block output of a ResNet stage).
	Residual bool
	// Prunable reports whether channels may be removed; Reason says why
	// not (the network input, the model output, an unsupported operation).
	Prunable bool
	Reason   string

	tensors []tensorRef // the traced pass's tensors that carry the channels
	pieces  []piece     // the pieces of concatenations that are the group's channels
}

// String reads like the chain of layers the channels pass through:
// "layer1.0.conv1 out ⇒ layer1.0.bn1 ⇒ layer1.0.conv2 in".
func (g *Group) String() string {
	s := make([]string, len(g.Deps))
	for i, d := range g.Deps {
		s[i] = d.String()
	}
	return strings.Join(s, " ⇒ ")
}

// Summary describes the group in a few words: "16 channels, residual
// stream" or "3 channels, not prunable: the network input".
func (g *Group) Summary() string {
	s := fmt.Sprintf("%d channels", g.Channels)
	if g.Residual {
		s += ", residual stream"
	}
	if !g.Prunable {
		s += ", not prunable: " + g.Reason
	}
	return s
}

// ParamSlice is the part of one parameter that belongs to a channel: the
// flat indices into Var.Value.Data of the elements that disappear with it.
type ParamSlice struct {
	Name  string // state-dict key, "layer1.0.conv1.weight"
	Var   *autograd.Var
	Dep   Dep     // the dependency through which the channel reaches the parameter
	Role  nn.Role // what the parameter is to the channel: weight, bias, scale, shift
	Index []int
}

// Params returns, for channel c of the group, every learned parameter
// element that is removed with it, as the layers' adapters list them
// (nn.Adapter.Tensors, the learned ones): each producer's filter and bias
// (Side Out), each BatchNorm2d's γ and β (Side Channel; the running
// statistics are buffers, not parameters) and each consumer's input slice
// (Side In: weight[:, c, …] of a Conv2d, the c·Span … (c+1)·Span−1 columns
// of a Linear). A criterion sums per-element saliency over them; "filter
// only" is the Side Out weights. The indices are valid until the model's
// shapes change.
func (g *Group) Params(c int) []ParamSlice {
	if c < 0 || c >= g.Channels {
		panic(fmt.Sprintf("prune: channel %d of a group of %d", c, g.Channels))
	}
	var out []ParamSlice
	for _, d := range g.Deps {
		lo, hi := d.Indices(c)
		for _, t := range d.tensors() {
			if t.Role.Learned() {
				out = append(out, ParamSlice{Name: key(d.Layer, t.Name), Var: t.Var, Dep: d, Role: t.Role,
					Index: blockIndices(t.Var.Value.Shape, t.Axis, lo, hi)})
			}
		}
	}
	return out
}

// blockIndices returns the flat indices of a tensor of the given shape
// whose index along axis is in [lo, hi).
func blockIndices(shape []int, axis, lo, hi int) []int {
	outer, inner := 1, 1
	for _, d := range shape[:axis] {
		outer *= d
	}
	for _, d := range shape[axis+1:] {
		inner *= d
	}
	var idx []int
	for o := range outer {
		for i := (o*shape[axis] + lo) * inner; i < (o*shape[axis]+hi)*inner; i++ {
			idx = append(idx, i)
		}
	}
	return idx
}

func key(layer, name string) string {
	if layer == "" {
		return name
	}
	return layer + "." + name
}

// Keep removes every channel of the group that is not in keep; see Remove.
func (g *Group) Keep(keep []int, opt optim.Optimizer) error {
	drop := make([]bool, g.Channels)
	for i := range drop {
		drop[i] = true
	}
	for _, k := range keep {
		if k < 0 || k >= g.Channels {
			return fmt.Errorf("prune: group %s: channel %d to keep is outside 0…%d", g, k, g.Channels-1)
		}
		drop[k] = false
	}
	var idx []int
	for i, d := range drop {
		if d {
			idx = append(idx, i)
		}
	}
	return g.Remove(idx, opt)
}

// Remove deletes channels idx (any order, no repeats, not all of them) of
// the group from the model by surgery: the tensors of every layer in Deps
// shrink (see the package doc), the layers' In/Out/C fields follow, and,
// when opt is not nil, the optimizer state of every parameter that shrank
// is sliced the same way. The parameters' Vars stay the same (their Value,
// Grad and SqGrad are replaced), so an optimizer's parameter list stays
// valid. The other groups of the same Graph stay valid; the group's
// Channels drops by len(idx). On error nothing has changed.
func (g *Group) Remove(idx []int, opt optim.Optimizer) error {
	if !g.Prunable {
		return fmt.Errorf("prune: group %s is not prunable: %s", g, g.Reason)
	}
	removed := make([]bool, g.Channels)
	for _, c := range idx {
		if c < 0 || c >= g.Channels || removed[c] {
			return fmt.Errorf("prune: group %s: channel %d to remove is outside 0…%d or repeated", g, c, g.Channels-1)
		}
		removed[c] = true
	}
	if len(idx) == g.Channels {
		return fmt.Errorf("prune: group %s: removing all %d channels", g, g.Channels)
	}
	if len(idx) == 0 {
		return nil
	}
	keep := make([]int, 0, g.Channels-len(idx))
	for c, r := range removed {
		if !r {
			keep = append(keep, c)
		}
	}
	s := surgeon{opt: opt}
	for _, d := range g.Deps {
		if err := s.check(d, g.Channels); err != nil {
			return fmt.Errorf("prune: group %s: %v", g, err)
		}
	}
	// A side that reads a concatenation is cut once, over all of the group's pieces
	// in it, at the offsets of now.
	type side struct {
		m  nn.Module
		s  Side
		at *view
	}
	var order []side
	deps := map[side][]Dep{}
	for _, d := range g.Deps {
		k := side{d.Module, d.Side, d.at.v}
		if _, seen := deps[k]; !seen {
			order = append(order, k)
		}
		deps[k] = append(deps[k], d)
	}
	for _, k := range order {
		ds := deps[k]
		if k.at == nil {
			s.apply(ds[0], keep, removed, ds[0].Span)
			continue
		}
		var at []piece
		for _, d := range ds {
			at = append(at, d.at)
		}
		fk, fr := cutOf(at, keep, removed)
		s.apply(ds[0], fk, fr, 1) // feature by feature
	}
	for _, p := range g.pieces {
		p.v.l.sizes[p.i] = len(keep)
	}
	g.Channels = len(keep)
	return nil
}
