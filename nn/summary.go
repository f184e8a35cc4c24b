package nn

import (
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// MACCounter is a layer that performs multiply-accumulates (Conv2d, Linear).
type MACCounter interface {
	// MACs returns the multiply-accumulates of one sample's forward that
	// produced y from x.
	MACs(x, y *tensor.Tensor) int64
}

// LayerStat describes one call of a leaf layer in a forward pass.
type LayerStat struct {
	Name     string // state-dict path, e.g. "layer1.0.conv1"
	Layer    Module
	InShape  []int // for batch 1
	OutShape []int
	Params   int64 // parameters owned by the layer (weights and biases, not buffers)
	MACs     int64 // multiply-accumulates per sample; 0 for layers that do none
}

// Summary is the accounting of a model for one input size.
type Summary struct {
	Layers []LayerStat
	Params int64 // all learned parameters of the model
	MACs   int64 // sum over the layers' MACs (Conv2d and Linear) per sample
}

// Summarize runs one forward pass of m (which must be in evaluation mode)
// on a zero input of shape [1, inShape...] and reports every leaf layer
// call with its output shape, parameters and MACs. Only Conv2d and Linear
// count MACs; BatchNorm, activations, pooling and residual adds are excluded.
func Summarize(m Module, inShape ...int) Summary {
	names := map[Module]string{}
	Walk(m, func(path string, mod Module) {
		if _, seen := names[mod]; !seen {
			names[mod] = path
		}
	})
	var s Summary
	c := NewCtx()
	c.Observe = func(l Module, in, out *autograd.Var) {
		st := LayerStat{Name: names[l], Layer: l, InShape: slices.Clone(in.Value.Shape), OutShape: slices.Clone(out.Value.Shape)}
		if sf, ok := l.(Stateful); ok {
			for _, e := range sf.State() {
				if e.Kind == Param {
					st.Params += int64(e.Var.Value.Numel())
				}
			}
		}
		if mc, ok := l.(MACCounter); ok {
			st.MACs = mc.MACs(in.Value, out.Value)
		}
		s.Layers = append(s.Layers, st)
		s.MACs += st.MACs
	}
	m.Forward(c, autograd.NewVar(tensor.New(append([]int{1}, inShape...)...)))
	s.Params = CountParams(m)
	return s
}
