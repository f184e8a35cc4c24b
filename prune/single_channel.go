package prune

import (
	"fmt"
	"slices"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/train"
)

// ChannelRef is one channel of a group.
type ChannelRef struct {
	Group *Group
	Index int // in 0 … Group.Channels−1
}

// String names the channel by its group's first layer: "layer1.0.conv1[5]".
func (c ChannelRef) String() string { return fmt.Sprintf("%s[%d]", c.Group.Deps[0].Layer, c.Index) }

// InternalChannels returns every channel of the prunable groups of g that
// are not residual streams (for a CIFAR ResNet: the outputs of each
// block's first convolution), in the order of g.Groups.
func InternalChannels(g *Graph) []ChannelRef {
	var out []ChannelRef
	for _, gr := range g.Groups {
		if gr.Prunable && !gr.Residual {
			for i := range gr.Channels {
				out = append(out, ChannelRef{gr, i})
			}
		}
	}
	return out
}

// SampleChannels returns k channels of chs drawn without replacement with
// seed, in their order in chs; all of chs when k ≤ 0 or k ≥ len(chs). The
// draw is the first k entries of data.Permutation(len(chs), seed, 0).
func SampleChannels(chs []ChannelRef, k int, seed uint64) []ChannelRef {
	if k <= 0 || k >= len(chs) {
		return slices.Clone(chs)
	}
	idx := data.Permutation(len(chs), seed, 0)[:k]
	slices.Sort(idx)
	out := make([]ChannelRef, k)
	for i, j := range idx {
		out[i] = chs[j]
	}
	return out
}

// LossProbe measures the mean cross-entropy of a model on a data set (BN
// in evaluation mode, as train.Evaluator.Run) with one channel at a time
// removed: the single-channel experiment, which compares a criterion's
// scores with the true loss increases. Removing a channel is done by
// zeroing every parameter element that disappears with it (Group.Params):
// the producer's filter and bias, BN γ and β, consumers' input slices, so
// the channel is zero after its BN, which is what surgery computes (the
// tests check both against surgery). On a CIFAR ResNet the input of the
// removed channel's block is computed once and kept for every image, and
// each measurement runs the network from that block on; measuring the
// channels in graph order computes each block's input once. Other models
// are evaluated whole.
type LossProbe struct {
	m     nn.Module
	d     *data.Dataset
	ev    *train.Evaluator
	cache *blockCache // nil: evaluate whole
}

// NewLossProbe returns a probe of m (not to be changed while the probe is
// used, except by the probe) on d, in batches of batch images normalised
// with mean and std.
func NewLossProbe(m nn.Module, d *data.Dataset, batch int, mean, std [3]float32) *LossProbe {
	p := &LossProbe{m: m, d: d, ev: train.NewEvaluator(batch, mean, std)}
	p.ev.Eager = true // the cached block passes run on the training path: agree with them to the bit
	if rn, ok := m.(*zoo.CIFARResNet); ok {
		p.cache = newBlockCache(rn, d, batch, mean, std)
	}
	return p
}

// Loss returns the mean loss of the model as it is.
func (p *LossProbe) Loss() float64 { return p.ev.Run(p.m, p.d).Loss }

// LossWithout returns the mean loss of the model with channel c removed;
// the model is left unchanged.
func (p *LossProbe) LossWithout(c ChannelRef) (float64, error) {
	if c.Index < 0 || c.Index >= c.Group.Channels {
		return 0, fmt.Errorf("prune: channel %d of group %s, which has %d", c.Index, c.Group, c.Group.Channels)
	}
	if p.cache == nil {
		return withChannelZeroed(c.Group, c.Index, p.Loss), nil
	}
	b, err := p.cache.blockIndex(c.Group.Deps[0].Layer)
	if err != nil {
		return 0, fmt.Errorf("prune: channel %s: %v", c, err)
	}
	p.cache.advance(b)
	return withChannelZeroed(c.Group, c.Index, p.cache.loss), nil
}

// withChannelZeroed sets every parameter element of channel ch of gr to
// zero, calls f and puts the values back; it returns f's result.
func withChannelZeroed(gr *Group, ch int, f func() float64) float64 {
	ps := gr.Params(ch)
	saved := make([][]float32, len(ps))
	for i, p := range ps {
		for _, j := range p.Index {
			saved[i] = append(saved[i], p.Var.Value.Data[j])
			p.Var.Value.Data[j] = 0
		}
	}
	defer func() { // in reverse, so an element listed twice gets its first saved value
		for i := len(ps) - 1; i >= 0; i-- {
			for k := len(ps[i].Index) - 1; k >= 0; k-- {
				ps[i].Var.Value.Data[ps[i].Index[k]] = saved[i][k]
			}
		}
	}()
	return f()
}
