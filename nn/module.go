package nn

import (
	"fmt"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Module is a layer or a network of layers.
type Module interface {
	// Forward computes the module's output for x in the context c.
	Forward(c *Ctx, x *autograd.Var) *autograd.Var
	// String describes the module in one line, as PyTorch's repr of a
	// leaf layer: "Conv2d(3, 16, kernel_size=(3, 3), ...)", or the type
	// name of a container.
	String() string
}

// Child is a named sub-module.
type Child struct {
	Name   string
	Module Module
}

// Container is a Module made of named sub-modules.
type Container interface {
	Module
	Children() []Child
}

// Kind tells a parameter from a buffer in a module's state.
type Kind int

const (
	// Param is a learned parameter (it requires a gradient).
	Param Kind = iota
	// Buffer is persistent state that is not learned (BN running statistics).
	Buffer
	// Counter is an integer buffer (BN num_batches_tracked), saved as a 0-d I64.
	Counter
)

// Entry is one tensor of a module's state, named relative to the module.
type Entry struct {
	Name  string
	Kind  Kind
	Var   *autograd.Var // Param and Buffer
	Count *int64        // Counter
}

// Stateful is a Module that owns parameters or buffers.
type Stateful interface {
	Module
	State() []Entry
}

// Trainable is a Module whose behaviour differs between training and
// evaluation (BatchNorm2d, Dropout).
type Trainable interface {
	// SetTraining selects training (true) or evaluation mode.
	SetTraining(training bool)
	// IsTraining reports the mode.
	IsTraining() bool
}

// Ctx is the context of one forward pass: the arena its tensors come from,
// the workspaces of the kernels, and an optional observer of every leaf
// layer's call. Reset the arena between passes (c.Reset). A Ctx is not safe
// for concurrent use; the zero value is not usable, call NewCtx.
type Ctx struct {
	Arena *tensor.Arena
	// Tape, when set, records every operation for a backward pass (see
	// Ctx.Record); nil means no-grad mode.
	Tape *autograd.Tape
	// Observe, when set, is called after each leaf layer's forward with the
	// layer, its input and its output.
	Observe func(m Module, in, out *autograd.Var)
	// ObserveOp, when set, is called after every operation, a layer's or a
	// functional one (add, relu, reshape, …), with the operation's name as
	// a tape records it, its source (the layer, or nil) and its output,
	// before the next operation reads that output: changing out's values in
	// place changes what the rest of the pass computes (pruning tests zero
	// channels this way). It is called with and without a tape.
	ObserveOp func(op string, src any, out *autograd.Var)

	conv tensor.ConvWorkspace
	gemm *asm.Workspace
	vars []*autograd.Var // handed out by Get, reused after Reset
	next int
}

// NewCtx returns a context with a fresh arena and workspaces.
func NewCtx() *Ctx {
	return &Ctx{Arena: new(tensor.Arena), gemm: asm.NewWorkspace()}
}

// Reset returns every tensor of the previous pass to the arena and
// forgets the recorded operations.
func (c *Ctx) Reset() {
	c.Arena.Reset()
	c.next = 0
	if c.Tape != nil {
		c.Tape.Reset()
	}
}

// Record switches recording for backward passes on (with a tape whose
// gradients share the context's arena) or off (no-grad mode).
func (c *Ctx) Record(on bool) {
	if !on {
		c.Tape = nil
		return
	}
	if c.Tape == nil {
		c.Tape = &autograd.Tape{Arena: c.Arena, SampleScale: 1}
	}
}

// Backward propagates from the scalar loss through the recorded pass.
func (c *Ctx) Backward(loss *autograd.Var) { c.Tape.Backward(loss, 1) }

// record registers y's backward function when c records.
func (c *Ctx) record(op string, src any, y *autograd.Var, backward func(), inputs ...*autograd.Var) {
	if c.Tape != nil {
		c.Tape.Record(op, src, y, backward, inputs...)
	}
	if c.ObserveOp != nil {
		c.ObserveOp(op, src, y)
	}
}

// RecordOp is what a layer defined outside this package calls after it
// computed y = op(inputs…), with itself as src: the tape (when c records)
// gets the operation and its backward function, which adds the inputs'
// gradients (Tape.Grad) from y.Grad, and ObserveOp sees y. A layer whose
// channels can be pruned has an Adapter and records one operation per
// call (see Adapter).
func (c *Ctx) RecordOp(op string, src any, y *autograd.Var, backward func(), inputs ...*autograd.Var) {
	c.record(op, src, y, backward, inputs...)
}

// Observed returns out after handing m's call to Observe, when set: the
// last call of a layer's Forward (nn.Summarize counts layers this way).
func (c *Ctx) Observed(m Module, in, out *autograd.Var) *autograd.Var { return c.observe(m, in, out) }

// grad returns v's gradient buffer for accumulation, or nil when v needs none.
func (c *Ctx) grad(v *autograd.Var) *tensor.Tensor {
	if !autograd.Wants(v) {
		return nil
	}
	return c.Tape.Grad(v)
}

// gradOut returns v's gradient buffer, or nil when v needs none, and
// whether it is fresh: then the caller must set every element instead of
// adding into it (see autograd.Tape.GradOut).
func (c *Ctx) gradOut(v *autograd.Var) (g *tensor.Tensor, fresh bool) {
	if !autograd.Wants(v) {
		return nil, false
	}
	return c.Tape.GradOut(v)
}

// sq returns the per-sample squared-gradient sink of a weight and bias, or
// nil when neither tracks them.
func (c *Ctx) sq(w, b *autograd.Var) *tensor.SquaredGrads {
	var sw, sb []float32
	if w != nil && w.SqGrad != nil {
		sw = w.SqGrad.Data
	}
	if b != nil && b.SqGrad != nil {
		sb = b.SqGrad.Data
	}
	if sw == nil && sb == nil {
		return nil // before the struct, which escapes: no allocation when not tracking
	}
	return &tensor.SquaredGrads{W: sw, B: sb, Scale: c.Tape.SampleScale}
}

// Get returns a Var over an arena tensor of the given shape whose contents
// the caller must overwrite. Like the tensor, the Var is the context's and
// is handed out again after Reset.
func (c *Ctx) Get(shape ...int) *autograd.Var {
	if c.next == len(c.vars) {
		c.vars = append(c.vars, new(autograd.Var))
	}
	v := c.vars[c.next]
	c.next++
	*v = autograd.Var{Value: c.Arena.Get(shape...)}
	return v
}

// alias returns a Var of the context (handed out again after Reset, like
// those of Get) whose value is t itself.
func (c *Ctx) alias(t *tensor.Tensor) *autograd.Var {
	if c.next == len(c.vars) {
		c.vars = append(c.vars, new(autograd.Var))
	}
	v := c.vars[c.next]
	c.next++
	*v = autograd.Var{Value: t}
	return v
}

func (c *Ctx) observe(m Module, in, out *autograd.Var) *autograd.Var {
	if c.Observe != nil {
		c.Observe(m, in, out)
	}
	return out
}

// Walk calls fn for m and every module below it, depth first in
// registration order, with its dotted path ("" for m itself).
func Walk(m Module, fn func(path string, m Module)) {
	walk("", m, fn)
}

func walk(path string, m Module, fn func(string, Module)) {
	fn(path, m)
	if c, ok := m.(Container); ok {
		for _, ch := range c.Children() {
			walk(join(path, ch.Name), ch.Module, fn)
		}
	}
}

func join(prefix, name string) string {
	if prefix == "" {
		return name
	}
	return prefix + "." + name
}

// NamedEntry is a state entry with its full state-dict key.
type NamedEntry struct {
	Key string
	Entry
}

// State returns every parameter and buffer of m under its state-dict key,
// in PyTorch's order (a module's own entries, then its children's).
func State(m Module) []NamedEntry {
	var out []NamedEntry
	Walk(m, func(path string, m Module) {
		if s, ok := m.(Stateful); ok {
			for _, e := range s.State() {
				out = append(out, NamedEntry{Key: join(path, e.Name), Entry: e})
			}
		}
	})
	return out
}

// Parameters returns the learned parameters of m with their keys.
func Parameters(m Module) []NamedEntry {
	var out []NamedEntry
	for _, e := range State(m) {
		if e.Kind == Param {
			out = append(out, e)
		}
	}
	return out
}

// CountParams returns the number of learned scalars in m.
func CountParams(m Module) int64 {
	var n int64
	for _, e := range Parameters(m) {
		n += int64(e.Var.Value.Numel())
	}
	return n
}

// SetTraining puts m and every module below it in training (true) or
// evaluation (false) mode, as PyTorch's module.train(mode).
func SetTraining(m Module, training bool) {
	Walk(m, func(_ string, m Module) {
		if t, ok := m.(Trainable); ok {
			t.SetTraining(training)
		}
	})
}

// EvalMode puts m and every module below it in evaluation mode and
// returns the function that gives each Trainable layer back the mode it
// had.
func EvalMode(m Module) (restore func()) {
	type mode struct {
		t        Trainable
		training bool
	}
	var was []mode
	Walk(m, func(_ string, m Module) {
		if t, ok := m.(Trainable); ok {
			was = append(was, mode{t, t.IsTraining()})
			t.SetTraining(false)
		}
	})
	return func() {
		for i := len(was) - 1; i >= 0; i-- { // a layer met twice ends with its first mode
			was[i].t.SetTraining(was[i].training)
		}
	}
}

// Format prints m as a tree, in the style of PyTorch's print(model):
//
//	ResNet(
//	  (conv1): Conv2d(3, 16, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)
//	  ...
//	)
func Format(m Module) string {
	var b strings.Builder
	format(&b, m, "")
	return b.String()
}

func format(b *strings.Builder, m Module, indent string) {
	c, ok := m.(Container)
	if !ok || len(c.Children()) == 0 {
		b.WriteString(m.String())
		return
	}
	fmt.Fprintf(b, "%s(\n", m.String())
	for _, ch := range c.Children() {
		fmt.Fprintf(b, "%s  (%s): ", indent, ch.Name)
		format(b, ch.Module, indent+"  ")
		b.WriteByte('\n')
	}
	b.WriteString(indent + ")")
}
