package nn_test

import (
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// TraceForward records every operation in evaluation mode, names the layers by their
// paths, gives each layer its mode back, and returns a bad input shape as an error.
func TestTraceForward(t *testing.T) {
	bn := nn.NewBatchNorm2d(4)
	drop := nn.NewDropout(0.5, 1)
	m := nn.NewSequential(nn.NewConv2d(3, 4, 3, nn.ConvOpts{Padding: 1}), bn, nn.NewReLU(), drop, nn.NewFlatten(), nn.NewLinear(4*5*5, 2, true))
	bn.SetTraining(true)
	drop.SetTraining(false)
	var seen []bool
	m.Layers = append(m.Layers, spy{func() { seen = []bool{bn.IsTraining(), drop.IsTraining()} }})
	tr, err := nn.TraceForward(m, 3, 5, 5)
	if err != nil {
		t.Fatal(err)
	}
	if len(seen) != 2 || seen[0] || seen[1] {
		t.Errorf("modes during the pass (BatchNorm2d, Dropout) = %v, want both evaluation", seen)
	}
	if !bn.IsTraining() || drop.IsTraining() {
		t.Errorf("modes after the pass: BatchNorm2d training %v, Dropout training %v; want true, false", bn.IsTraining(), drop.IsTraining())
	}
	if got := tr.Input.Value.Shape; len(got) != 4 || got[0] != 1 || got[1] != 3 {
		t.Errorf("input shape %v, want [1 3 5 5]", got)
	}
	if got := tr.Output.Value.Shape; len(got) != 2 || got[1] != 2 {
		t.Errorf("output shape %v, want [1 2]", got)
	}
	if tr.Names[bn] != "1" || tr.Names[m] != "" {
		t.Errorf("names: BatchNorm2d %q, root %q; want \"1\", \"\"", tr.Names[bn], tr.Names[m])
	}
	var ops []string
	for _, n := range tr.Ctx.Tape.Nodes {
		ops = append(ops, n.Op)
	}
	if len(ops) < 5 {
		t.Errorf("recorded operations %q: want at least conv, batch norm, relu, flatten, linear", ops)
	}

	if _, err := nn.TraceForward(m, 3, 7, 7); err == nil || !strings.Contains(err.Error(), "[1 3 7 7]") {
		t.Errorf("input 3×7×7 into a linear layer of 100 inputs: err %v, want an error naming the shape", err)
	}
	if !bn.IsTraining() {
		t.Error("after a failed trace, BatchNorm2d is left in evaluation mode")
	}
	if _, err := nn.TraceForward(m, 3, 0, 5); err == nil {
		t.Error("input shape [3 0 5]: no error")
	}
}

// spy is a layer that calls f in its forward pass and passes its input on.
type spy struct{ f func() }

func (s spy) Forward(_ *nn.Ctx, x *autograd.Var) *autograd.Var { s.f(); return x }
func (s spy) String() string                                   { return "spy" }
