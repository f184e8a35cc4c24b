// Package autograd is Bonsai's reverse-mode differentiation: a Var holds a
// tensor value and, once a backward pass has run, its gradient.
//
// This file holds the value type shared by the layers of package nn; the
// recording tape and the backward pass are built on it.
package autograd

import "github.com/bonsai-dl/bonsai/tensor"

// Var is a tensor that takes part in a computation: a parameter, an input
// or an intermediate result. Grad has Value's shape once a backward pass
// has reached it, and is nil before.
type Var struct {
	Value        *tensor.Tensor
	Grad         *tensor.Tensor
	RequiresGrad bool
}

// NewVar wraps a tensor as a Var that does not require a gradient.
func NewVar(t *tensor.Tensor) *Var { return &Var{Value: t} }

// NewParam wraps a tensor as a Var that requires a gradient (a parameter).
func NewParam(t *tensor.Tensor) *Var { return &Var{Value: t, RequiresGrad: true} }

// Shape returns the shape of v's value.
func (v *Var) Shape() []int { return v.Value.Shape }
