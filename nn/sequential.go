package nn

import (
	"strconv"

	"github.com/bonsai-dl/bonsai/autograd"
)

// Sequential applies its layers in order, as torch.nn.Sequential; they are
// named "0", "1", … in the state dict.
type Sequential struct {
	Layers []Module
}

// NewSequential returns a Sequential of the given layers.
func NewSequential(layers ...Module) *Sequential { return &Sequential{Layers: layers} }

// Forward feeds x through every layer in turn.
func (s *Sequential) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	for _, l := range s.Layers {
		x = l.Forward(c, x)
	}
	return x
}

// Children names the layers by their index.
func (s *Sequential) Children() []Child {
	ch := make([]Child, len(s.Layers))
	for i, l := range s.Layers {
		ch[i] = Child{Name: strconv.Itoa(i), Module: l}
	}
	return ch
}

func (s *Sequential) String() string { return "Sequential" }
