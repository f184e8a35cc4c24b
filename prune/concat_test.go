package prune

import (
	"math/rand/v2"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testgraphs"
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

var (
	inception = graphTopology("inception", testgraphs.Inception(), 2)
	seNet     = graphTopology("se", testgraphs.SqueezeExcitation(), 2)
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
