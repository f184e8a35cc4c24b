package autograd

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/tensor"
)

// Node is one recorded operation.
type Node struct {
	Op     string // "conv2d", "add", …
	Inputs []*Var
	Output *Var
	// Source is what performed the operation (an nn layer), or nil.
	Source any
	// Backward adds ∂loss/∂input into each input's Grad that requires a
	// gradient, given Output.Grad. Nil for operations that pass no gradient.
	Backward func()
}

// Tape records operations for a backward pass. Its gradients of
// intermediate results come from Arena, which the caller resets between
// steps along with the forward arena. The zero value records and allocates
// gradients on the heap.
type Tape struct {
	Nodes []*Node
	Arena *tensor.Arena
	// SampleScale turns a sample's contribution to the gradient of the
	// loss into the gradient of that sample's own loss, for SqGrad: N when
	// the loss averages N samples, 1 when it sums them.
	SampleScale float32

	pool []*Node // nodes of earlier passes, reused after Reset
}

// Record appends an operation. The output requires a gradient when any
// input does; Record returns the output.
func (t *Tape) Record(op string, source any, out *Var, backward func(), inputs ...*Var) *Var {
	for _, in := range inputs {
		if in != nil && in.RequiresGrad {
			out.RequiresGrad = true
			break
		}
	}
	var n *Node
	if len(t.Nodes) < len(t.pool) {
		n = t.pool[len(t.Nodes)]
	} else {
		n = new(Node)
		t.pool = append(t.pool, n)
	}
	*n = Node{Op: op, Inputs: append(n.Inputs[:0], inputs...), Output: out, Source: source, Backward: backward}
	t.Nodes = append(t.Nodes, n)
	return out
}

// Reset forgets every recorded node (the arena is reset separately). The
// Node structs are reused by later passes.
func (t *Tape) Reset() {
	t.Nodes = t.Nodes[:0]
}

// Grad returns v's gradient buffer for accumulation, creating it zeroed
// (from the tape's arena for intermediate results) on first use.
func (t *Tape) Grad(v *Var) *tensor.Tensor {
	if v.Grad == nil {
		if v.leaf {
			v.Grad = tensor.New(v.Value.Shape...)
		} else {
			v.Grad = t.Arena.Zeros(v.Value.Shape...)
		}
	}
	return v.Grad
}

// GradOut returns v's gradient buffer for an operation that either sets
// it or adds into it. When v has no gradient yet, the buffer is fresh: its
// contents are unspecified (it is not zeroed) and the caller must write
// every element (setting, not adding). Otherwise fresh is false and the
// caller must add into the buffer, as with Grad. Writing a fresh buffer
// saves the zeroing and the read of zeros that accumulating needs.
func (t *Tape) GradOut(v *Var) (g *tensor.Tensor, fresh bool) {
	if v.Grad != nil {
		return v.Grad, false
	}
	if v.leaf {
		v.Grad = tensor.New(v.Value.Shape...)
	} else {
		v.Grad = t.Arena.Get(v.Value.Shape...)
	}
	return v.Grad, true
}

// Wants reports whether a backward pass must compute v's gradient.
func Wants(v *Var) bool { return v != nil && v.RequiresGrad }

// Backward propagates from loss, a scalar (one-element) Var, with
// ∂loss/∂loss = seed (1 for the usual gradient), through every recorded
// node in reverse order. Gradients of intermediate results must be nil
// before the call (they are, for Vars made during this tape's forward
// pass); parameters' gradients are accumulated into, so zero them first.
func (t *Tape) Backward(loss *Var, seed float32) {
	if loss.Value.Numel() != 1 {
		panic(fmt.Sprintf("autograd: Backward from a tensor of shape %v, want a scalar", loss.Value.Shape))
	}
	t.Grad(loss).Data[0] += seed
	t.propagate()
}

// BackwardFrom propagates from out with ∂L/∂out = grad (out's shape)
// through every recorded node, as torch.autograd.backward(out, grad).
func (t *Tape) BackwardFrom(out *Var, grad *tensor.Tensor) {
	tensor.Accumulate(t.Grad(out), grad)
	t.propagate()
}

func (t *Tape) propagate() {
	for i := len(t.Nodes) - 1; i >= 0; i-- {
		n := t.Nodes[i]
		if n.Backward == nil || n.Output.Grad == nil || !n.Output.RequiresGrad {
			continue
		}
		n.Backward()
	}
}
