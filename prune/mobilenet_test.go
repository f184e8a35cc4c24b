package prune

import (
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/hashinit"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Issue 14, part 3: pruning through MobileNetV2's inverted residuals. Each
// depthwise convolution (nn.Shared) joins the group of the expansion 1×1
// before it and the projection 1×1 after it; the block outputs of a stage
// with more than one block are a residual stream, pruned only with
// PruneResidual; a grouped convolution with 1 < groups < channels is not
// pruned (its groups are reported unprunable).

// TestEquivalenceMobileNetV2ImageNet is TestEquivalenceMobileNetV2 for
// torchvision's ImageNet layout, at 64×64 (a 2×2 map at the end).
func TestEquivalenceMobileNetV2ImageNet(t *testing.T) {
	equivalence(t, zooTopology("mobilenet_v2", 64, 1),
		"features.0.0 out",         // the stem, through features.1's depthwise layer (no expansion)
		"features.2.conv.2",        // the 24-channel residual stream (features.2 writes it, 3 adds to it)
		"features.14.conv.0.0 out", // a stride-2 block's expansion, through its depthwise layer
		"features.16.conv.0.0 out", // an expansion inside a residual block
		"features.18.0 out")        // the last 1×1 convolution, read by the classifier
}

// mobileNetStreams are the residual streams of MobileNetV2 (either
// variant): the stages of more than one block, by channel count.
var mobileNetStreams = map[int]bool{24: true, 32: true, 64: true, 96: true, 160: true}

// TestMobileNetV2Groups checks the groups of both variants: one per
// expansion (expansion out ⇒ depthwise in ⇒ depthwise out ⇒ projection
// in, with their batch norms), one per residual stream, every group
// prunable.
func TestMobileNetV2Groups(t *testing.T) {
	for _, tp := range []topology{zooTopology("mobilenet_v2_cifar", 32, 1), zooTopology("mobilenet_v2", 64, 1)} {
		t.Run(tp.name, func(t *testing.T) {
			g := tp.trace(t, tp.model())
			expansions, streams := 0, map[int]bool{}
			for _, gr := range g.Groups {
				s := gr.String()
				if !gr.Prunable && !strings.HasPrefix(s, "features.0.0 in") && !strings.HasPrefix(s, "classifier.1 out") {
					t.Errorf("group %s is not prunable", gr)
				}
				if gr.Residual {
					streams[gr.Channels] = true
					continue
				}
				// features.B.conv.0.0 out ⇒ …conv.0.1 ⇒ …conv.1.0 in ⇒ …conv.1.0 out ⇒ …conv.1.1 ⇒ …conv.2 in
				i := strings.Index(s, ".conv.0.0 out")
				if i < 0 || !strings.HasPrefix(s, "features.") || strings.HasPrefix(s, "features.0.0 out") {
					continue // not an expansion (the stem's group holds features.1's depthwise layer)
				}
				expansions++
				b := s[:i]
				for _, want := range []string{b + ".conv.1.0 in", b + ".conv.1.0 out", b + ".conv.1.1", b + ".conv.2 in"} {
					if !strings.Contains(s, want) {
						t.Errorf("expansion group %s lacks %s", s, want)
					}
				}
			}
			if expansions != 16 { // every block but features.1 (expansion 1)
				t.Errorf("%d expansion groups, want 16", expansions)
			}
			if len(streams) != len(mobileNetStreams) {
				t.Errorf("residual streams of %v channels, want %v", streams, mobileNetStreams)
			}
			for c := range streams {
				if !mobileNetStreams[c] {
					t.Errorf("a residual stream of %d channels", c)
				}
			}
		})
	}
}

// TestPlanMobileNetV2 plans and applies −50 % of the MACs of the CIFAR
// variant, without and with the residual streams: without, the streams
// keep their width and only expansions and the stem shrink; with, every
// stream shrinks under uniform ranking. The pruned model's layers and
// MACs are the plan's (applyAndCheck).
func TestPlanMobileNetV2(t *testing.T) {
	tp := zooTopology("mobilenet_v2_cifar", 32, 2)
	for _, c := range []PlanConfig{
		{FLOPs: 0.5, Ranking: Global},
		{FLOPs: 0.5, Ranking: GlobalFLOPs, PruneResidual: true},
		{Ratio: 0.5, Ranking: Uniform, PruneResidual: true},
	} {
		t.Run(c.Ranking+map[bool]string{false: "", true: "-residual"}[c.PruneResidual], func(t *testing.T) {
			m := tp.model()
			g := tp.trace(t, m)
			p, err := MakePlan(m, g, l1Scores(t, g), c, tp.inShape...)
			if err != nil {
				t.Fatal(err)
			}
			shrunk, streams := 0, 0
			for _, gp := range p.Groups {
				if !gp.Group.Residual {
					continue
				}
				streams++
				if gp.After < gp.Before {
					shrunk++
				}
				if !c.PruneResidual && (gp.Eligible || gp.Why != "residual stream") {
					t.Errorf("residual group %s: eligible %v (%q)", gp.Group, gp.Eligible, gp.Why)
				}
			}
			if streams != len(mobileNetStreams) {
				t.Errorf("%d residual groups, want %d", streams, len(mobileNetStreams))
			}
			if want := map[bool]int{false: 0, true: streams}[c.PruneResidual]; c.Ranking == Uniform && shrunk != want || !c.PruneResidual && shrunk != 0 {
				t.Errorf("%d residual groups shrank", shrunk)
			}
			checkPlan(t, p)
			applyAndCheck(t, tp, m, p)
		})
	}
}

// groupedNet is conv1 (3 → 8) → grouped (8 → 8, 2 groups, 3×3) → relu →
// conv2 (8 → 6) → global average pooling → fc.
type groupedNet struct {
	Conv1, Grouped, Conv2 *nn.Conv2d
	FC                    *nn.Linear
}

func (m *groupedNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = nn.Relu(c, m.Grouped.Forward(c, m.Conv1.Forward(c, x)))
	return m.FC.Forward(c, nn.GlobalAvgPool(c, m.Conv2.Forward(c, x)))
}

func (m *groupedNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "grouped", Module: m.Grouped},
		{Name: "conv2", Module: m.Conv2}, {Name: "fc", Module: m.FC}}
}

func (m *groupedNet) String() string { return "GroupedNet" }

// A grouped convolution with 1 < groups < channels is reported, not
// pruned: the groups on both its sides are unprunable with a reason that
// names it, a plan leaves them whole, and removing their channels is an
// error; the other groups still prune.
func TestGroupedConvUnsupported(t *testing.T) {
	m := &groupedNet{Conv1: nn.NewConv2d(3, 8, 1, nn.ConvOpts{}),
		Grouped: nn.NewConv2d(8, 8, 3, nn.ConvOpts{Padding: 1, Groups: 2}),
		Conv2:   nn.NewConv2d(8, 6, 1, nn.ConvOpts{}), FC: nn.NewLinear(6, 4, true)}
	hashinit.Model(m)
	g, err := Trace(m, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	var blocked []*Group
	for _, gr := range g.Groups {
		if strings.Contains(gr.Reason, "grouped") {
			blocked = append(blocked, gr)
		}
	}
	if p := g.Prunable(); len(blocked) != 2 || len(p) != 1 || p[0].String() != "conv2 out ⇒ fc in" {
		t.Fatalf("groups:\n%s", g)
	}
	for _, gr := range blocked {
		if gr.Prunable || !strings.Contains(gr.Reason, "grouped convolution, 2 groups of 4 → 4 channels") {
			t.Errorf("group %s: prunable %v, reason %q", gr, gr.Prunable, gr.Reason)
		}
		if err := gr.Remove([]int{0}, nil); err == nil || !strings.Contains(err.Error(), "grouped convolution") {
			t.Errorf("removing a channel of %s: %v", gr, err)
		}
	}
	p, err := MakePlan(m, g, l1Scores(t, g), PlanConfig{Ratio: 0.5, Ranking: Uniform}, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, gp := range p.Groups {
		if !gp.Group.Prunable && (gp.Eligible || gp.After != gp.Before) {
			t.Errorf("unprunable group %s: eligible %v, %d → %d", gp.Group, gp.Eligible, gp.Before, gp.After)
		}
	}
	if err := p.Apply(nil); err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 3, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(i%7) - 3
	}
	if y := run(m, autograd.NewVar(x)); y.Shape[1] != 4 || m.Conv2.Out != 3 || m.Grouped.In != 8 || m.Grouped.Out != 8 {
		t.Errorf("after the plan: output %v, conv2 → %d channels, grouped %d → %d", y.Shape, m.Conv2.Out, m.Grouped.In, m.Grouped.Out)
	}
}
