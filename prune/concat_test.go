package prune

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// graphTopology is a topology built from a zoo.GraphSpec, as ONNX import makes them.
func graphTopology(name string, spec zoo.GraphSpec, batch int) topology {
	return topology{name: name, inShape: spec.Input, batch: batch, build: func() nn.Module {
		g, err := zoo.NewGraph(spec)
		if err != nil {
			panic(err)
		}
		return g
	}}
}

// inceptionSpec is an Inception/DenseNet-like block: a stem, three branches concatenated
// (a 1×1 conv, a 3×3 conv with BatchNorm, a max pooling of the stem), a BatchNorm and a
// per-channel scale over the concatenation, a second concatenation that nests the first
// with a new branch, then a 1×1 conv and a linear head.
func inceptionSpec() zoo.GraphSpec {
	return zoo.GraphSpec{Input: []int{3, 8, 8}, Classes: 4, Output: "logits", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "stem", Inputs: []string{"input"}, Output: "s0", In: 3, Out: 6, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "stem_bn", Inputs: []string{"s0"}, Output: "s1", Out: 6},
		{Op: zoo.GraphReLU, Inputs: []string{"s1"}, Output: "s"},
		{Op: zoo.GraphConv, Name: "b1", Inputs: []string{"s"}, Output: "b1c", In: 6, Out: 4, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"b1c"}, Output: "b1"},
		{Op: zoo.GraphConv, Name: "b2", Inputs: []string{"s"}, Output: "b2c", In: 6, Out: 5, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "b2_bn", Inputs: []string{"b2c"}, Output: "b2n", Out: 5},
		{Op: zoo.GraphReLU, Inputs: []string{"b2n"}, Output: "b2"},
		{Op: zoo.GraphMaxPool, Name: "b3", Inputs: []string{"s"}, Output: "b3", Kernel: 3, Stride: 1, Padding: 1},
		{Op: zoo.GraphConcat, Inputs: []string{"b1", "b2", "b3"}, Output: "cat1"},
		{Op: zoo.GraphBatchNorm, Name: "cat_bn", Inputs: []string{"cat1"}, Output: "cat1n", Out: 15},
		{Op: zoo.GraphChannelScale, Name: "cat_scale", Inputs: []string{"cat1n"}, Output: "cat1s", Out: 15},
		{Op: zoo.GraphReLU, Inputs: []string{"cat1s"}, Output: "cat1r"},
		{Op: zoo.GraphConv, Name: "c", Inputs: []string{"cat1r"}, Output: "cc", In: 15, Out: 3, Kernel: 3, Stride: 2, Padding: 1, Groups: 1},
		{Op: zoo.GraphMaxPool, Name: "down", Inputs: []string{"cat1r"}, Output: "down", Kernel: 2, Stride: 2},
		{Op: zoo.GraphConcat, Inputs: []string{"down", "cc"}, Output: "cat2"},
		{Op: zoo.GraphConv, Name: "d", Inputs: []string{"cat2"}, Output: "dc", In: 18, Out: 7, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"dc"}, Output: "dr"},
		{Op: zoo.GraphFlatten, Inputs: []string{"dr"}, Output: "flat"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"flat"}, Output: "logits", In: 7 * 16, Out: 4, Bias: true},
	}}
}

// seSpec has two squeeze-and-excitation blocks: one of linear layers on the pooled
// features (a view back to [N, C, 1, 1] before the gating), one of 1×1 convolutions on
// the pooled map (torchvision's SqueezeExcitation); the head reads a concatenation of
// the gated tensor and a flatten.
func seSpec() zoo.GraphSpec {
	return zoo.GraphSpec{Input: []int{3, 6, 6}, Classes: 3, Output: "logits", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "conv1", Inputs: []string{"input"}, Output: "c1", In: 3, Out: 8, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "bn1", Inputs: []string{"c1"}, Output: "n1", Out: 8},
		{Op: zoo.GraphReLU, Inputs: []string{"n1"}, Output: "x1"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"x1"}, Output: "p1"},
		{Op: zoo.GraphLinear, Name: "se1.fc1", Inputs: []string{"p1"}, Output: "f1", In: 8, Out: 3, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"f1"}, Output: "f1r"},
		{Op: zoo.GraphLinear, Name: "se1.fc2", Inputs: []string{"f1r"}, Output: "f2", In: 3, Out: 8, Bias: true},
		{Op: zoo.GraphSigmoid, Inputs: []string{"f2"}, Output: "g1"},
		{Op: zoo.GraphView, Inputs: []string{"g1"}, Output: "g1v", Shape: []int{-1, 1, 1}},
		{Op: zoo.GraphMulChannels, Inputs: []string{"x1", "g1v"}, Output: "y1"},
		{Op: zoo.GraphConv, Name: "conv2", Inputs: []string{"y1"}, Output: "c2", In: 8, Out: 6, Kernel: 3, Stride: 2, Padding: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"c2"}, Output: "x2"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"x2"}, Output: "p2"},
		{Op: zoo.GraphView, Inputs: []string{"p2"}, Output: "p2v", Shape: []int{-1, 1, 1}},
		{Op: zoo.GraphConv, Name: "se2.fc1", Inputs: []string{"p2v"}, Output: "h1", In: 6, Out: 2, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"h1"}, Output: "h1r"},
		{Op: zoo.GraphConv, Name: "se2.fc2", Inputs: []string{"h1r"}, Output: "h2", In: 2, Out: 6, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphSigmoid, Inputs: []string{"h2"}, Output: "g2"},
		{Op: zoo.GraphMulChannels, Inputs: []string{"x2", "g2"}, Output: "y2"},
		{Op: zoo.GraphFlatten, Inputs: []string{"y2"}, Output: "flat"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"y1"}, Output: "p3"},
		{Op: zoo.GraphConcat, Inputs: []string{"flat", "p3"}, Output: "head"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"head"}, Output: "logits", In: 6*9 + 8, Out: 3, Bias: true},
	}}
}

var (
	inception = graphTopology("inception", inceptionSpec(), 2)
	seNet     = graphTopology("se", seSpec(), 2)
)

func TestConcatGroups(t *testing.T) {
	g := inception.trace(t, inception.build())
	want := []string{
		"6 channels", "stem out ⇒ stem_bn ⇒ b1 in ⇒ b2 in ⇒ cat_bn @9 ⇒ cat_scale @9 ⇒ c in @9 ⇒ d in @9",
		"4 channels", "b1 out ⇒ cat_bn @0 ⇒ cat_scale @0 ⇒ c in @0 ⇒ d in @0",
		"5 channels", "b2 out ⇒ b2_bn ⇒ cat_bn @4 ⇒ cat_scale @4 ⇒ c in @4 ⇒ d in @4",
		"3 channels", "c out ⇒ d in @15",
		"7 channels", "d out ⇒ fc in ×16",
	}
	have := map[string]bool{}
	for _, gr := range g.Groups {
		have[gr.Summary()+"\n"+gr.String()] = true
	}
	for i := 0; i < len(want); i += 2 {
		if !have[want[i]+"\n"+want[i+1]] {
			t.Errorf("no group\n  %s\n  %s\nin\n%s", want[i], want[i+1], g)
		}
	}
	if n := len(g.Prunable()); n != 5 {
		t.Errorf("%d prunable groups, want 5:\n%s", n, g)
	}
}

func TestGateGroups(t *testing.T) {
	g := seNet.trace(t, seNet.build())
	want := []string{
		"8 channels", "conv1 out ⇒ bn1 ⇒ se1.fc1 in ⇒ se1.fc2 out ⇒ conv2 in ⇒ fc in @54",
		"3 channels", "se1.fc1 out ⇒ se1.fc2 in",
		"6 channels", "conv2 out ⇒ se2.fc1 in ⇒ se2.fc2 out ⇒ fc in ×9 @0",
		"2 channels", "se2.fc1 out ⇒ se2.fc2 in",
	}
	have := map[string]bool{}
	for _, gr := range g.Groups {
		have[gr.Summary()+"\n"+gr.String()] = true
	}
	for i := 0; i < len(want); i += 2 {
		if !have[want[i]+"\n"+want[i+1]] {
			t.Errorf("no group\n  %s\n  %s\nin\n%s", want[i], want[i+1], g)
		}
	}
}

func TestEquivalenceConcat(t *testing.T) {
	equivalence(t, inception,
		"stem out", // a piece of both concatenations (through the max pooling), at offset 9
		"b2 out",   // a middle piece: the pieces after it move
		"c out",    // the last piece of the second concatenation
		"d out")    // read by the head through a flatten
	// Every piece at once, in the order that moves the most offsets.
	t.Run("pieces_in_order", func(t *testing.T) {
		m := inception.model()
		g := inception.trace(t, m)
		rs := []removal{
			{findGroup(t, g, "b1 out"), []int{0, 3}},
			{findGroup(t, g, "b2 out"), []int{1, 2, 4}},
			{findGroup(t, g, "stem out"), []int{0, 5}},
			{findGroup(t, g, "c out"), []int{1}},
		}
		x := inception.input()
		orig := run(m, x)
		ref := forwardZeroed(t, m, x, g, rs)
		checkEquivalent(t, m, x, rs, ref, orig)
		if d := m.(*zoo.Graph); !contains(d, "ChannelScale(8)") || !contains(d, "BatchNorm2d(8, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)") {
			t.Errorf("the concatenation's BatchNorm and scale did not shrink to 15 − 7 = 8 channels")
		}
	})
}

func TestEquivalenceGate(t *testing.T) {
	equivalence(t, seNet,
		"conv1 out", // gated by se1: the gate's producer se1.fc2 loses the channel too
		"conv2 out") // gated by se2 (1×1 convolutions), read through a flatten
}

// TestPlanConcat checks the planner's MACs through concatenations against the model's
// after the plan is applied.
func TestPlanConcat(t *testing.T) {
	for _, tp := range []topology{inception, seNet} {
		t.Run(tp.name, func(t *testing.T) {
			m := tp.model()
			g := tp.trace(t, m)
			rng := rand.New(rand.NewPCG(3, 4))
			scores := map[*Group][]float64{}
			for _, gr := range g.Prunable() {
				s := make([]float64, gr.Channels)
				for i := range s {
					s[i] = rng.Float64()
				}
				scores[gr] = s
			}
			p, err := MakePlan(m, g, scores, PlanConfig{FLOPs: 0.4, Ranking: Global, MinChannels: 1})
			if err != nil {
				t.Fatal(err)
			}
			if err := p.Apply(nil); err != nil {
				t.Fatal(err)
			}
			got := nn.Summarize(m, tp.inShape...).MACs
			if got != p.MACsAfter {
				t.Errorf("plan predicts %d MACs after, the pruned model has %d", p.MACsAfter, got)
			}
			if !(float64(got) <= 0.6*float64(p.MACsBefore)) {
				t.Errorf("%d MACs of %d: the target 0.4 is not met", got, p.MACsBefore)
			}
			for _, l := range p.Layers {
				if l.InAfter > l.InBefore || slices.Contains([]int{l.InAfter, l.OutAfter}, 0) {
					t.Errorf("layer %s: %+v", l.Name, l)
				}
			}
		})
	}
}
