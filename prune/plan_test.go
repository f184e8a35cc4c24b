package prune

import (
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
)

// l1Scores scores g's prunable groups by the L1 norm of their filters.
func l1Scores(t *testing.T, g *Graph) map[*Group][]float64 {
	t.Helper()
	c, err := NewCriterion(L1, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	sc, err := c.Scores(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	return sc
}

// checkPlan checks that p meets its target and respects its limits.
func checkPlan(t *testing.T, p *Plan) {
	t.Helper()
	c := p.Config
	if c.FLOPs > 0 && !(float64(p.MACsAfter) <= (1-c.FLOPs)*float64(p.MACsBefore)) {
		t.Errorf("MACs %d → %d: not %.0f %% fewer", p.MACsBefore, p.MACsAfter, 100*c.FLOPs)
	}
	if c.Ratio > 0 && !(float64(p.ChannelsBefore-p.ChannelsAfter) >= c.Ratio*float64(p.ChannelsBefore)-1e-9) {
		t.Errorf("channels %d → %d: not %.0f %% fewer", p.ChannelsBefore, p.ChannelsAfter, 100*c.Ratio)
	}
	for _, gp := range p.Groups {
		removed := gp.Before - gp.After
		if len(gp.Remove) != removed || !slices.IsSorted(gp.Remove) {
			t.Errorf("group %s: %d → %d channels, Remove %v", gp.Group, gp.Before, gp.After, gp.Remove)
		}
		if !gp.Eligible {
			if removed != 0 {
				t.Errorf("group %s (%s) loses %d channels", gp.Group, gp.Why, removed)
			}
			continue
		}
		if gp.Group.Residual && !c.PruneResidual {
			t.Errorf("residual group %s is eligible", gp.Group)
		}
		if removed == 0 {
			continue
		}
		if gp.After < c.MinChannels || float64(removed) > c.MaxRatio*float64(gp.Before)+1e-9 {
			t.Errorf("group %s: %d → %d channels breaks min-channels %d or max-ratio %g", gp.Group, gp.Before, gp.After, c.MinChannels, c.MaxRatio)
		}
		if gp.After%c.RoundTo != 0 {
			t.Errorf("group %s keeps %d channels, not a multiple of %d", gp.Group, gp.After, c.RoundTo)
		}
		// The removed channels are the lowest-scored ones.
		var maxRemoved, minKept = math.Inf(-1), math.Inf(1)
		for ch, s := range gp.Scores {
			if slices.Contains(gp.Remove, ch) {
				maxRemoved = max(maxRemoved, s)
			} else {
				minKept = min(minKept, s)
			}
		}
		if maxRemoved > minKept {
			t.Errorf("group %s removes a channel of score %g and keeps one of %g", gp.Group, maxRemoved, minKept)
		}
	}
}

// applyAndCheck applies p with an SGD optimizer of m's parameters and
// checks the model's MACs, parameters and output shape.
func applyAndCheck(t *testing.T, tp topology, m nn.Module, p *Plan) {
	t.Helper()
	var params []optim.Param
	for _, e := range nn.Parameters(m) {
		params = append(params, optim.Param{Name: e.Key, Var: e.Var})
	}
	opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	if err := p.Apply(opt); err != nil {
		t.Fatal(err)
	}
	s := nn.Summarize(m, tp.inShape...)
	if s.MACs != p.MACsAfter || s.Params != p.ParamsAfter {
		t.Errorf("after Apply: %d MACs, %d parameters; the plan says %d and %d", s.MACs, s.Params, p.MACsAfter, p.ParamsAfter)
	}
	var layers []LayerPlan
	for _, l := range s.Layers {
		if l.MACs > 0 {
			lp := LayerPlan{Name: l.Name, Layer: l.Layer, MACsAfter: l.MACs}
			switch l := l.Layer.(type) {
			case *nn.Conv2d:
				lp.InAfter, lp.OutAfter = l.In, l.Out
			case *nn.Linear:
				lp.InAfter, lp.OutAfter = l.In, l.Out
			}
			layers = append(layers, lp)
		}
	}
	if len(layers) != len(p.Layers) {
		t.Fatalf("%d layers with MACs after Apply, the plan lists %d", len(layers), len(p.Layers))
	}
	for i, l := range layers {
		q := p.Layers[i]
		if q.Name != l.Name || q.Layer != l.Layer || q.InAfter != l.InAfter || q.OutAfter != l.OutAfter || q.MACsAfter != l.MACsAfter {
			t.Errorf("layer %d after Apply: %s %d → %d, %d MACs; the plan says %s %d → %d, %d MACs",
				i, l.Name, l.InAfter, l.OutAfter, l.MACsAfter, q.Name, q.InAfter, q.OutAfter, q.MACsAfter)
		}
	}
	y := run(m, tp.input())
	want := run(tp.model(), tp.input()).Shape
	if !slices.Equal(y.Shape, want) {
		t.Errorf("output shape %v after pruning, want %v", y.Shape, want)
	}
	if err := p.Apply(opt); err == nil {
		t.Error("a plan applied twice")
	}
}

func TestPlanMeetsTargets(t *testing.T) {
	tops := []topology{tiny, zooTopology("resnet20", 32, 2), zooTopology("vgg11_bn", 32, 2)}
	if !testing.Short() {
		tops = append(tops, zooTopology("resnet50", 64, 1))
	}
	for _, tp := range tops {
		for _, c := range []PlanConfig{
			{FLOPs: 0.5, Ranking: Global},
			{FLOPs: 0.3, Ranking: Uniform},
			{FLOPs: 0.5, Ranking: GlobalFLOPs},
			{Ratio: 0.4, Ranking: Global},
			{Ratio: 0.4, Ranking: Uniform},
			{FLOPs: 0.4, Ranking: Global, MinChannels: 3, MaxRatio: 0.6, RoundTo: 2},
			{FLOPs: 0.4, Ranking: Uniform, RoundTo: 4},
			{FLOPs: 0.6, Ranking: GlobalFLOPs, PruneResidual: true, MaxRatio: 1},
		} {
			name := fmt.Sprintf("%s/flops%g-ratio%g-%s-min%d-max%g-round%d-residual%v",
				tp.name, c.FLOPs, c.Ratio, c.Ranking, c.MinChannels, c.MaxRatio, c.RoundTo, c.PruneResidual)
			t.Run(name, func(t *testing.T) {
				m := tp.model()
				g := tp.trace(t, m)
				p, err := MakePlan(m, g, l1Scores(t, g), c, tp.inShape...)
				if err != nil {
					t.Fatal(err)
				}
				t.Log(p)
				checkPlan(t, p)
				applyAndCheck(t, tp, m, p)
			})
		}
	}
}

func TestPlanResidualGroups(t *testing.T) {
	tp := zooTopology("resnet20", 32, 2)
	m := tp.model()
	g := tp.trace(t, m)
	p, err := MakePlan(m, g, l1Scores(t, g), PlanConfig{FLOPs: 0.5, MaxRatio: 1}, tp.inShape...)
	if err != nil {
		t.Fatal(err)
	}
	residual := 0
	for _, gp := range p.Groups {
		if gp.Group.Residual {
			residual++
			if gp.Eligible || gp.Why != "residual stream" || gp.After != gp.Before {
				t.Errorf("residual group %s: eligible %v (%q), %d → %d", gp.Group, gp.Eligible, gp.Why, gp.Before, gp.After)
			}
		}
		if !gp.Group.Prunable && (gp.Eligible || !strings.HasPrefix(gp.Why, "not prunable: ")) {
			t.Errorf("unprunable group %s: eligible %v (%q)", gp.Group, gp.Eligible, gp.Why)
		}
	}
	if residual != 3 {
		t.Errorf("%d residual groups in ResNet-20, want 3", residual)
	}
	// With PruneResidual they may shrink, and the surgery follows.
	c := PlanConfig{Ratio: 0.5, PruneResidual: true, Ranking: Uniform}
	p, err = MakePlan(m, g, l1Scores(t, g), c, tp.inShape...)
	if err != nil {
		t.Fatal(err)
	}
	shrunk := 0
	for _, gp := range p.Groups {
		if gp.Group.Residual && gp.After < gp.Before {
			shrunk++
		}
	}
	if shrunk != 3 {
		t.Errorf("uniform pruning of every group shrank %d residual groups, want 3", shrunk)
	}
	checkPlan(t, p)
	applyAndCheck(t, tp, m, p)
}

func TestPlanUnreachable(t *testing.T) {
	tp := zooTopology("resnet20", 32, 2)
	m := tp.model()
	g := tp.trace(t, m)
	sc := l1Scores(t, g)
	for _, tc := range []struct {
		c    PlanConfig
		want []string
	}{
		{PlanConfig{FLOPs: 0.9}, []string{
			"prune: plan: cannot remove 90.0 % of the MACs (40.55M → at most 4.055M): the limits (min-channels 1, max-ratio 0.9, 3 residual-stream groups excluded) let at most ",
			"% of the MACs go; with one limit relaxed: max-ratio 1: ", "%, pruning residual streams: "}},
		{PlanConfig{FLOPs: 0.5, Ranking: Uniform, MinChannels: 12, RoundTo: 8}, []string{
			"the limits (min-channels 12, max-ratio 0.9, round-to 8, 3 residual-stream groups excluded) let at most ",
			"min-channels 1: ", "no rounding: "}},
		{PlanConfig{Ratio: 0.95}, []string{"cannot remove 320 of 336 eligible channels (95.0 %)", "% of the eligible channels go"}},
	} {
		_, err := MakePlan(m, g, sc, tc.c, tp.inShape...)
		if err == nil {
			t.Errorf("%+v: no error", tc.c)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%+v: error\n%v\nwants %q", tc.c, err, w)
			}
		}
	}
}

// Uniform removes the same fraction of every group; global removes the
// lowest scores wherever they are, up to each group's ceiling; ties go to
// the earlier group.
func TestPlanUniformVersusGlobal(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	pr := g.Prunable() // conv1 (8 channels), conv2 (6, flattened), fc1 (12)
	if len(pr) != 3 || pr[0].Channels != 8 || pr[1].Channels != 6 || pr[2].Channels != 12 {
		t.Fatalf("tinyNet groups:\n%s", g)
	}
	sc := map[*Group][]float64{}
	for i, gr := range pr {
		sc[gr] = make([]float64, gr.Channels)
		for ch := range sc[gr] {
			sc[gr][ch] = 1 + float64(gr.Channels-ch) // the last channels lowest
			if i == 0 {
				sc[gr][ch] /= 1000 // conv1's channels matter least
			}
		}
	}
	after := func(c PlanConfig) []int {
		p, err := MakePlan(m, g, sc, c)
		if err != nil {
			t.Fatal(err)
		}
		checkPlan(t, p)
		var w []int
		for _, gp := range p.Groups {
			if gp.Eligible {
				w = append(w, gp.After)
			}
		}
		return w
	}
	// 26 channels, remove ≥ 13. Global: conv1 down to its ceiling (8 −
	// ⌊0.9·8⌋ = 1), then the others' lowest scores 2, 2 (tie: conv2 first), 3, 3, …
	if got, want := after(PlanConfig{Ratio: 0.5, Ranking: Global}), []int{1, 3, 9}; !slices.Equal(got, want) {
		t.Errorf("global: widths %v, want %v", got, want)
	}
	// Uniform: half of every group.
	if got, want := after(PlanConfig{Ratio: 0.5, Ranking: Uniform}), []int{4, 3, 6}; !slices.Equal(got, want) {
		t.Errorf("uniform: widths %v, want %v", got, want)
	}
	// With equal scores, global-flops takes first the channel that saves
	// the most MACs; measure each group's saving by surgery.
	for _, gr := range pr {
		for ch := range sc[gr] {
			sc[gr][ch] = 1
		}
	}
	p, err := MakePlan(m, g, sc, PlanConfig{FLOPs: 1e-6, Ranking: GlobalFLOPs})
	if err != nil {
		t.Fatal(err)
	}
	bestSaving, best := int64(0), -1
	before := nn.Summarize(m, tiny.inShape...).MACs
	for i := range pr {
		mm := tiny.model()
		gg := tiny.trace(t, mm)
		if err := gg.Prunable()[i].Remove([]int{0}, nil); err != nil {
			t.Fatal(err)
		}
		if s := before - nn.Summarize(mm, tiny.inShape...).MACs; s > bestSaving {
			bestSaving, best = s, i
		}
	}
	for i, gp := range eligiblePlans(p) {
		if want := map[bool]int{true: 1, false: 0}[i == best]; gp.Before-gp.After != want {
			t.Errorf("global-flops, one step: group %s loses %d channels, want %d (group %d saves most, %d MACs)",
				gp.Group, gp.Before-gp.After, want, best, bestSaving)
		}
	}
	if p.MACsBefore-p.MACsAfter != bestSaving {
		t.Errorf("one step saves %d MACs, surgery says %d", p.MACsBefore-p.MACsAfter, bestSaving)
	}
}

func eligiblePlans(p *Plan) []GroupPlan {
	var out []GroupPlan
	for _, gp := range p.Groups {
		if gp.Eligible {
			out = append(out, gp)
		}
	}
	return out
}

func TestSchedule(t *testing.T) {
	tp := zooTopology("resnet20", 32, 2)
	m := tp.model()
	g := tp.trace(t, m)
	s := &Schedule{Final: PlanConfig{FLOPs: 0.5, Ranking: GlobalFLOPs}, Steps: 3}
	if got := s.Target(3); math.Abs(got-0.5) > 1e-12 {
		t.Errorf("Target(3) = %g, want 0.5", got)
	}
	if got, want := s.Target(1), 1-math.Pow(0.5, 1.0/3); math.Abs(got-want) > 1e-12 {
		t.Errorf("Target(1) = %g, want %g", got, want)
	}
	base := nn.Summarize(m, tp.inShape...).MACs
	for i := 1; i <= s.Steps; i++ {
		p, err := s.Plan(i, m, g, l1Scores(t, g))
		if err != nil {
			t.Fatal(err)
		}
		if s.BaseMACs != base || s.BaseChannels != 336 {
			t.Errorf("step %d: base %d MACs, %d channels; want %d, 336", i, s.BaseMACs, s.BaseChannels, base)
		}
		if lim := (1 - s.Target(i)) * float64(base); !(float64(p.MACsAfter) <= lim) {
			t.Errorf("step %d: %d MACs, above %.0f", i, p.MACsAfter, lim)
		}
		t.Logf("step %d: %s", i, p)
		if err := p.Apply(nil); err != nil {
			t.Fatal(err)
		}
	}
	if _, err := s.Plan(4, m, g, l1Scores(t, g)); err == nil {
		t.Error("step 4 of 3: no error")
	}
}

func TestPlanErrors(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	sc := l1Scores(t, g)
	for _, tc := range []struct {
		c    PlanConfig
		want string
	}{
		{PlanConfig{}, "no target"},
		{PlanConfig{FLOPs: 0.5, Ratio: 0.5}, "not both"},
		{PlanConfig{FLOPs: 1}, "FLOPs target 1: want a fraction of the MACs to remove in (0, 1)"},
		{PlanConfig{Ratio: -0.1}, "channel ratio -0.1"},
		{PlanConfig{FLOPs: 0.5, Ranking: "best"}, `unknown ranking "best"`},
		{PlanConfig{FLOPs: 0.5, MaxRatio: 1.5}, "max-ratio 1.5"},
		{PlanConfig{FLOPs: 0.5, RoundTo: -8}, "negative"},
	} {
		if _, err := MakePlan(m, g, sc, tc.c); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.c, err, tc.want)
		}
	}
	short := map[*Group][]float64{}
	for gr, s := range sc {
		short[gr] = s[1:]
	}
	if _, err := MakePlan(m, g, short, PlanConfig{FLOPs: 0.5}); err == nil || !strings.Contains(err.Error(), "scores of an earlier width?") {
		t.Errorf("stale scores: error %v", err)
	}
	if _, err := MakePlan(m, g, nil, PlanConfig{FLOPs: 0.5}); err == nil || !strings.Contains(err.Error(), "no scores for group conv1 out") {
		t.Errorf("no scores: error %v", err)
	}
	if _, err := MakePlan(tiny.model(), g, sc, PlanConfig{FLOPs: 0.5}); err == nil || !strings.Contains(err.Error(), "same model") {
		t.Errorf("another model: error %v", err)
	}
	p, err := MakePlan(m, g, sc, PlanConfig{FLOPs: 0.5})
	if err != nil {
		t.Fatal(err)
	}
	if err := g.Prunable()[0].Remove([]int{0}, nil); err != nil {
		t.Fatal(err)
	}
	if err := p.Apply(nil); err == nil || !strings.Contains(err.Error(), "the plan was made for 8") {
		t.Errorf("a plan for other widths: error %v", err)
	}
}

func TestPlanConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		c    PlanConfig
		want string
	}{
		{PlanConfig{FLOPs: 0.5}, ""},
		{PlanConfig{Ratio: 0.3, Ranking: Uniform, MinChannels: 2, RoundTo: 8}, ""},
		{PlanConfig{}, "no target"},
		{PlanConfig{FLOPs: 1}, "FLOPs target 1"},
		{PlanConfig{FLOPs: 0.5, Ratio: 0.5}, "not both"},
		{PlanConfig{FLOPs: 0.5, Ranking: "best"}, `unknown ranking "best"`},
		{PlanConfig{FLOPs: 0.5, MaxRatio: 1.5}, "max-ratio 1.5"},
		{PlanConfig{FLOPs: 0.5, MinChannels: -1}, "negative"},
	} {
		err := tc.c.Validate()
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: Validate() = %v, want %q", tc.c, err, tc.want)
		}
	}
}
