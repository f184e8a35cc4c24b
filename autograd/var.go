// Package autograd is Bonsai's reverse-mode differentiation.
//
// A Var holds a tensor value and, once a backward pass has reached it, its
// gradient. Operations that run with a Tape record a Node: the operation's
// name, its inputs, its output and a backward function that adds the
// gradient of the output into the gradients of the inputs (+=, so fan-out
// such as a residual branch accumulates correctly). Tape.Backward runs the
// recorded nodes in reverse order, which is a valid topological order
// because a node is recorded after all the nodes that made its inputs.
//
// Without a tape nothing is recorded: that is the no-grad mode used for
// evaluation.
package autograd

import "github.com/bonsai-dl/bonsai/tensor"

// Var is a tensor that takes part in a computation: a parameter, an input
// or an intermediate result. Grad has Value's shape once a backward pass
// has reached it, and is nil before.
type Var struct {
	Value        *tensor.Tensor
	Grad         *tensor.Tensor
	RequiresGrad bool

	// SqGrad, when set on a weight of a Conv2d or Linear layer or on a
	// BatchNorm2d γ or β, receives per-sample squared gradients:
	// Σ_n (∂ℓ_n/∂w)², with ℓ_n sample n's own un-averaged loss (see
	// Tape.SampleScale). It has Value's shape.
	SqGrad *tensor.Tensor

	leaf bool // a parameter: its gradient outlives the tape's arena
}

// NewVar wraps a tensor as a Var that does not require a gradient.
func NewVar(t *tensor.Tensor) *Var { return &Var{Value: t} }

// NewParam wraps a tensor as a Var that requires a gradient (a parameter).
func NewParam(t *tensor.Tensor) *Var { return &Var{Value: t, RequiresGrad: true, leaf: true} }

// Shape returns the shape of v's value.
func (v *Var) Shape() []int { return v.Value.Shape }

// ZeroGrad sets v's gradient to zero, allocating it on first use.
func (v *Var) ZeroGrad() {
	if v.Grad == nil {
		v.Grad = tensor.New(v.Value.Shape...)
		return
	}
	clear(v.Grad.Data)
}
