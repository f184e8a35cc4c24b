package prune

import (
	"fmt"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
)

// channelSums accumulates the Fisher information of channel masks: for a
// group that is not a residual stream, a mask m_c multiplying channel c of
// the group's last tensor in the traced pass (the input its consumers
// read, after BN, ReLU and pooling, which commute with a positive scale),
// so that m_c = 0 removes the channel and m_c = 1 is the model. Per sample,
//
//	∂ℓ_n/∂m_c = Σ_{h,w} a_{n,c,h,w} · ∂ℓ_n/∂a_{n,c,h,w}
//
// with a that tensor: the sum of w·∂ℓ_n/∂w over the consumers' input
// slices of the channel, with every correlation between the channel's
// weights in it, where a diagonal Fisher keeps none. OBD's saliency of
// removing the channel is ½·F_c with F_c = (1/N)·Σ_n (∂ℓ_n/∂m_c)².
type channelSums struct {
	groups []*Group    // non-residual prunable groups, in Graph.Prunable order
	node   []int       // index of each group's last tensor in the traced pass
	refs   []tensorRef // that tensor
	sum    [][]float64 // Σ_n (∂ℓ_n/∂m_c)² per group and channel
}

// newChannelSums finds the last tensor of every non-residual prunable
// group of g.
func newChannelSums(g *Graph) *channelSums {
	cs := &channelSums{}
	for _, gr := range g.Prunable() {
		if gr.Residual || len(gr.tensors) == 0 {
			continue
		}
		last := slices.MaxFunc(gr.tensors, func(a, b tensorRef) int { return a.Node - b.Node })
		cs.groups = append(cs.groups, gr)
		cs.node = append(cs.node, last.Node)
		cs.refs = append(cs.refs, last)
		cs.sum = append(cs.sum, make([]float64, gr.Channels))
	}
	return cs
}

// add adds, for each sample n of the batch of size b just run backward
// through nodes (the recorded pass of the traced model), (scale·∂/∂m_c)²
// for every channel, the tape's gradients being scale⁻¹ times the
// per-sample ones (scale b for a mean loss, 1 for per-sample logit
// gradients).
func (cs *channelSums) add(nodes []*autograd.Node, ops []string, b int, scale float64) error {
	for i, gr := range cs.groups {
		k := cs.node[i]
		if k >= len(nodes) || nodes[k].Op != ops[k] {
			return fmt.Errorf("prune: calibration: the recorded pass differs from the traced one at operation %d; trace the model again", k)
		}
		v := nodes[k].Output
		if v.Grad == nil {
			return fmt.Errorf("prune: calibration: the output of operation %d (%s, group %s) has no gradient", k, ops[k], gr)
		}
		// Channel c is the features [off + c·Span, off + (c+1)·Span) of dimension 1,
		// inner elements each (off: the group's piece of a concatenation).
		ref := cs.refs[i]
		per := v.Value.Numel() / b
		feats, off := gr.Channels*ref.Span, ref.at.offset()
		if ref.at.v != nil {
			feats = ref.at.v.features()
		}
		inner := per / feats
		if v.Value.Dims() < 2 || per*b != v.Value.Numel() || v.Value.Shape[1] != feats || inner*feats != per {
			return fmt.Errorf("prune: calibration: the output of operation %d has shape %v, not %d features of a batch of %d", k, v.Value.Shape, feats, b)
		}
		span := ref.Span * inner
		val, grad := v.Value.Data, v.Grad.Data
		for n := range b {
			for c := range gr.Channels {
				var dot float64
				for j := n*per + off*inner + c*span; j < n*per+off*inner+(c+1)*span; j++ {
					dot += float64(val[j]) * float64(grad[j])
				}
				dot *= scale
				cs.sum[i][c] += dot * dot
			}
		}
	}
	return nil
}
