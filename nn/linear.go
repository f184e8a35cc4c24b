package nn

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Linear is y = x·Wᵀ + b, as torch.nn.Linear.
//
// Shape: x: [N, In] → y: [N, Out].
// State: weight [Out, In], bias [Out] when enabled.
// Init (ResetParameters): weight and bias uniform in ±1/√In.
type Linear struct {
	In, Out int
	Weight  *autograd.Var
	Bias    *autograd.Var // nil without bias
}

// NewLinear returns a Linear layer with zero weights.
func NewLinear(in, out int, bias bool) *Linear {
	if in <= 0 || out <= 0 {
		panic(fmt.Sprintf("nn.NewLinear: invalid in=%d out=%d", in, out))
	}
	l := &Linear{In: in, Out: out, Weight: autograd.NewParam(tensor.New(out, in))}
	if bias {
		l.Bias = autograd.NewParam(tensor.New(out))
	}
	return l
}

// Forward computes x·Wᵀ + b for x: [N, In].
func (m *Linear) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	if x.Value.Dims() != 2 || x.Value.Shape[1] != m.In {
		panic(fmt.Sprintf("nn.Linear: input %v, layer takes [N, %d]", x.Value.Shape, m.In))
	}
	y := c.Get(x.Value.Shape[0], m.Out)
	var bias []float32
	if m.Bias != nil {
		bias = m.Bias.Value.Data
	}
	tensor.Linear(y.Value, x.Value, m.Weight.Value, bias, c.gemm)
	c.record(OpLinear, m, y, func() {
		var db []float32
		if g := c.grad(m.Bias); g != nil {
			db = g.Data
		}
		tensor.LinearBackward(c.grad(x), c.grad(m.Weight), db, x.Value, m.Weight.Value, y.Grad, c.gemm, c.sq(m.Weight, m.Bias), c.Arena)
	}, x, m.Weight, m.Bias)
	return c.observe(m, x, y)
}

// State returns weight and, when present, bias.
func (m *Linear) State() []Entry {
	e := []Entry{{Name: "weight", Kind: Param, Var: m.Weight}}
	if m.Bias != nil {
		e = append(e, Entry{Name: "bias", Kind: Param, Var: m.Bias})
	}
	return e
}

// MACs returns In·Out per sample.
func (m *Linear) MACs(_, _ *tensor.Tensor) int64 { return int64(m.In) * int64(m.Out) }

func (m *Linear) String() string {
	return fmt.Sprintf("Linear(in_features=%d, out_features=%d, bias=%s)", m.In, m.Out, pyBool(m.Bias != nil))
}
