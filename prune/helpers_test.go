package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/hashinit"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// tinyNet is a model built from nn layers outside the zoo whose flatten
// sees 3×3 maps: conv1 → bn1 → relu → conv2 (stride 2) → bn2 → relu →
// flatten → fc1 → relu → dropout → fc2.
type tinyNet struct {
	Conv1, Conv2 *nn.Conv2d
	BN1, BN2     *nn.BatchNorm2d
	ReLU         *nn.ReLU
	Flatten      *nn.Flatten
	FC1, FC2     *nn.Linear
	Drop         *nn.Dropout
}

// newTinyNet takes [N, 3, 6, 6] inputs.
func newTinyNet() *tinyNet {
	return &tinyNet{
		Conv1: nn.NewConv2d(3, 8, 3, nn.ConvOpts{Padding: 1, Bias: true}), BN1: nn.NewBatchNorm2d(8),
		Conv2: nn.NewConv2d(8, 6, 3, nn.ConvOpts{Stride: 2, Padding: 1}), BN2: nn.NewBatchNorm2d(6),
		ReLU: nn.NewReLU(), Flatten: nn.NewFlatten(),
		FC1: nn.NewLinear(6*3*3, 12, true), Drop: nn.NewDropout(0.5, 1), FC2: nn.NewLinear(12, 5, true),
	}
}

func (m *tinyNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = m.ReLU.Forward(c, m.BN1.Forward(c, m.Conv1.Forward(c, x)))
	x = m.ReLU.Forward(c, m.BN2.Forward(c, m.Conv2.Forward(c, x)))
	x = m.ReLU.Forward(c, m.FC1.Forward(c, m.Flatten.Forward(c, x)))
	return m.FC2.Forward(c, m.Drop.Forward(c, x))
}

func (m *tinyNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "bn1", Module: m.BN1}, {Name: "relu", Module: m.ReLU},
		{Name: "conv2", Module: m.Conv2}, {Name: "bn2", Module: m.BN2}, {Name: "flatten", Module: m.Flatten},
		{Name: "fc1", Module: m.FC1}, {Name: "drop", Module: m.Drop}, {Name: "fc2", Module: m.FC2}}
}

func (m *tinyNet) String() string { return "TinyNet" }

// topology is a model to test: how to build it, its input and a batch.
type topology struct {
	name    string
	build   func() nn.Module
	inShape []int
	batch   int
}

func zooTopology(arch string, size, batch int) topology {
	return topology{name: arch, inShape: []int{3, size, size}, batch: batch, build: func() nn.Module {
		m, err := zoo.New(arch)
		if err != nil {
			panic(err)
		}
		return m
	}}
}

var tiny = topology{name: "tiny", inShape: []int{3, 6, 6}, batch: 3, build: func() nn.Module { return newTinyNet() }}

// model builds the topology with the deterministic non-trivial weights and
// running statistics of hashinit, in evaluation mode.
func (tp topology) model() nn.Module {
	m := tp.build()
	hashinit.Model(m)
	nn.SetTraining(m, false)
	return m
}

// input returns the topology's deterministic input batch.
func (tp topology) input() *autograd.Var {
	x := tensor.New(append([]int{tp.batch}, tp.inShape...)...)
	hashinit.Input(x.Data)
	return autograd.NewVar(x)
}

func (tp topology) trace(t *testing.T, m nn.Module) *Graph {
	t.Helper()
	g, err := Trace(m, tp.inShape...)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

// removal is a set of channels of one group.
type removal struct {
	g   *Group
	idx []int
}

// randomChannels picks about a quarter (at least one) of g's channels.
func randomChannels(rng *rand.Rand, g *Group) []int {
	k := max(1, g.Channels/4)
	idx := rng.Perm(g.Channels)[:k]
	slices.Sort(idx)
	return idx
}

// forwardZeroed runs m on x with every tensor of each removal's group set
// to zero, after the operation that makes it, in the removal's channels:
// the reference that surgery must reproduce. ops are the operation names
// of the traced pass, checked against the pass.
func forwardZeroed(t *testing.T, m nn.Module, x *autograd.Var, g *Graph, rs []removal) *tensor.Tensor {
	t.Helper()
	zero := map[int][]func(*tensor.Tensor){}
	for _, r := range rs {
		for _, tr := range r.g.tensors {
			zero[tr.Node] = append(zero[tr.Node], func(y *tensor.Tensor) {
				zeroChannels(y, r.idx, tr.Span, tr.at.offset())
			})
		}
	}
	c := nn.NewCtx()
	i := 0
	c.ObserveOp = func(op string, _ any, out *autograd.Var) {
		if i < len(g.ops) && op != g.ops[i] {
			t.Fatalf("operation %d is %s, the traced pass had %s", i, op, g.ops[i])
		}
		for _, f := range zero[i] {
			f(out.Value)
		}
		i++
	}
	y := m.Forward(c, x).Value.Clone()
	if i != len(g.ops) {
		t.Fatalf("%d operations, the traced pass had %d", i, len(g.ops))
	}
	return y
}

// zeroChannels zeroes the features [off + c·span, off + (c+1)·span) of
// dimension 1 of y for each c in idx.
func zeroChannels(y *tensor.Tensor, idx []int, span, off int) {
	n, d := y.Shape[0], y.Shape[1]
	inner := y.Numel() / (n * d)
	for s := range n {
		for _, c := range idx {
			lo := (s*d + off + c*span) * inner
			clear(y.Data[lo : lo+span*inner])
		}
	}
}

func run(m nn.Module, x *autograd.Var) *tensor.Tensor {
	return m.Forward(nn.NewCtx(), x).Value.Clone()
}

// maxAbsDiff returns max|a − b| and max|b|.
func maxAbsDiff(a, b *tensor.Tensor) (diff, ref float64) {
	if !tensor.SameShape(a, b) {
		return math.Inf(1), 0
	}
	for i := range b.Data {
		diff = max(diff, math.Abs(float64(a.Data[i])-float64(b.Data[i])))
		ref = max(ref, math.Abs(float64(b.Data[i])))
	}
	return diff, ref
}

// checkEquivalent removes the channels of rs (groups of g, a trace of m)
// from m and compares its output on x with ref to 1e-5·max|ref|; it also
// checks that ref differs from the unpruned output orig, so the channels
// mattered.
func checkEquivalent(t *testing.T, m nn.Module, x *autograd.Var, rs []removal, ref, orig *tensor.Tensor) {
	t.Helper()
	for _, r := range rs {
		if err := r.g.Remove(r.idx, nil); err != nil {
			t.Fatal(err)
		}
	}
	got := run(m, x)
	diff, mag := maxAbsDiff(got, ref)
	t.Logf("max|pruned − zeroed| = %.2g·max|ref| (max|ref| = %.3g)", diff/mag, mag)
	if !(diff <= 1e-5*mag) {
		t.Errorf("pruned output differs from the zeroed reference by %.3g, max|ref| = %.3g", diff, mag)
	}
	if d, _ := maxAbsDiff(orig, ref); !(d > 1e-3*mag) {
		t.Errorf("zeroing the channels changed the output by only %.3g (max|ref| %.3g): the test proves nothing", d, mag)
	}
}

// findGroup returns the group of g whose String starts with prefix.
func findGroup(t *testing.T, g *Graph, prefix string) *Group {
	t.Helper()
	for _, gr := range g.Groups {
		if len(gr.String()) >= len(prefix) && gr.String()[:len(prefix)] == prefix {
			return gr
		}
	}
	t.Fatalf("no group starts with %q in\n%s", prefix, g)
	return nil
}

func describe(rs []removal) string {
	s := ""
	for _, r := range rs {
		s += fmt.Sprintf("%s: %v\n", r.g.Deps[0], r.idx)
	}
	return s
}

// contains reports whether some layer of m prints as s.
func contains(m nn.Module, s string) bool {
	found := false
	nn.Walk(m, func(_ string, l nn.Module) { found = found || l.String() == s })
	return found
}
