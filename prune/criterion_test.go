package prune

import (
	"math"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// handNet is conv (2 → 3, 1×1, bias) → bn → relu → global pool → flatten
// → linear (3 → 2, bias) with small hand-set values: its one prunable
// group is "0 out ⇒ 1 ⇒ 5 in".
func handNet() (nn.Module, *nn.Conv2d, *nn.BatchNorm2d, *nn.Linear) {
	conv := nn.NewConv2d(2, 3, 1, nn.ConvOpts{Bias: true})
	bn := nn.NewBatchNorm2d(3)
	fc := nn.NewLinear(3, 2, true)
	copy(conv.Weight.Value.Data, []float32{1, -2, 0.5, 0.5, -3, 1})
	copy(conv.Bias.Value.Data, []float32{0.1, -0.2, 0.3})
	copy(bn.Weight.Value.Data, []float32{1, -0.5, 2})
	copy(bn.Bias.Value.Data, []float32{0, 0.1, -0.1})
	copy(fc.Weight.Value.Data, []float32{1, 2, 3, -1, 0, 1})
	m := nn.NewSequential(conv, bn, nn.NewReLU(), nn.NewAdaptiveAvgPool2d(), nn.NewFlatten(), fc)
	nn.SetTraining(m, false)
	return m, conv, bn, fc
}

// handStats are statistics with a hand-set Fisher diagonal: 2 for the
// conv weight, 4 for its bias, 1 for γ, 10 for β, 0.5 for the linear
// weight and 3 for its bias.
func handStats(m nn.Module, g *Graph) *Stats {
	fill := map[string]float32{"0.weight": 2, "0.bias": 4, "1.weight": 1, "1.bias": 10, "5.weight": 0.5, "5.bias": 3}
	st := &Stats{N: 1, Batches: 1, Fisher: map[string]*tensor.Tensor{}, Taylor: map[*Group][]float64{},
		TaylorFilter: map[*Group][]float64{}, graph: g, channels: map[*Group]int{}}
	for _, p := range nn.Parameters(m) {
		f := tensor.New(p.Var.Value.Shape...)
		for i := range f.Data {
			f.Data[i] = fill[p.Key]
		}
		st.Fisher[p.Key] = f
	}
	for _, gr := range g.Prunable() {
		st.channels[gr] = gr.Channels
		st.Taylor[gr] = []float64{7, 8, 9}
		st.TaylorFilter[gr] = []float64{1, 2, 3}
	}
	return st
}

func TestCriteriaByHand(t *testing.T) {
	m, _, _, _ := handNet()
	g, err := Trace(m, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	pr := g.Prunable()
	if len(pr) != 1 || pr[0].String() != "0 out ⇒ 1 ⇒ 5 in" {
		t.Fatalf("prunable groups:\n%s", g)
	}
	gr := pr[0]
	st := handStats(m, g)
	// Per channel c: ½·F·w² over conv W[c, :], conv b[c], γ[c], β[c] and
	// linear W[:, c] (all); conv W[c, :] and b[c] only (filter).
	//   c=0: ½·2·(1+4) + ½·4·0.01 + ½·1·1 + 0 + ½·0.5·(1+1)          = 5 + 0.02 + 0.5 + 0.5
	//   c=1: ½·2·(0.25+0.25) + ½·4·0.04 + ½·0.25 + ½·10·0.01 + ½·0.5·4 = 0.5 + 0.08 + 0.125 + 0.05 + 1
	//   c=2: ½·2·(9+1) + ½·4·0.09 + ½·4 + ½·10·0.01 + ½·0.5·(9+1)     = 10 + 0.18 + 2 + 0.05 + 2.5
	for _, tc := range []struct {
		name, scope string
		want        []float64
	}{
		{Sensitivity, "", []float64{6.02, 1.755, 14.73}},
		{Sensitivity, ScopeFilter, []float64{5.02, 0.58, 10.18}},
		{L1, "", []float64{3, 1, 4}},
		{L2, "", []float64{math.Sqrt(5), math.Sqrt(0.5), math.Sqrt(10)}},
		{BNScale, "", []float64{1, 0.5, 2}},
		{Taylor, ScopeAll, []float64{7, 8, 9}},
		{Taylor, ScopeFilter, []float64{1, 2, 3}},
	} {
		c, err := NewCriterion(tc.name, tc.scope, 0)
		if err != nil {
			t.Fatal(err)
		}
		if c.Name() != tc.name {
			t.Errorf("Name() = %q, want %q", c.Name(), tc.name)
		}
		sc, err := c.Scores(g, st)
		if err != nil {
			t.Fatalf("%s/%s: %v", tc.name, tc.scope, err)
		}
		if len(sc) != 1 || len(sc[gr]) != 3 {
			t.Fatalf("%s/%s: scores %v", tc.name, tc.scope, sc)
		}
		for ch, w := range tc.want {
			if math.Abs(sc[gr][ch]-w) > 1e-6*math.Abs(w) {
				t.Errorf("%s/%s: channel %d scores %.8g, want %.8g", tc.name, tc.scope, ch, sc[gr][ch], w)
			}
		}
	}
}

func TestRandomCriterion(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	scores := func(seed uint64) map[*Group][]float64 {
		c, err := NewCriterion(Random, "", seed)
		if err != nil {
			t.Fatal(err)
		}
		sc, err := c.Scores(g, nil) // needs no statistics
		if err != nil {
			t.Fatal(err)
		}
		return sc
	}
	a, b, c := scores(1), scores(1), scores(2)
	if len(a) != len(g.Prunable()) {
		t.Fatalf("scores for %d groups, want %d", len(a), len(g.Prunable()))
	}
	differ := false
	for gr, s := range a {
		for ch, v := range s {
			if !(v >= 0 && v < 1) || v != b[gr][ch] {
				t.Errorf("group %s channel %d: %v, again %v", gr, ch, v, b[gr][ch])
			}
			differ = differ || v != c[gr][ch]
		}
	}
	if !differ {
		t.Error("seeds 1 and 2 give the same scores")
	}
}

func TestCriterionErrors(t *testing.T) {
	m, _, _, _ := handNet()
	g, err := Trace(m, 2, 1, 1)
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Sensitivity, Taylor} {
		if !NeedsStats(name) {
			t.Errorf("NeedsStats(%q) = false", name)
		}
		c, _ := NewCriterion(name, "", 0)
		if _, err := c.Scores(g, nil); err == nil || !strings.Contains(err.Error(), "needs calibration statistics") {
			t.Errorf("%s without statistics: error %v", name, err)
		}
		other, _ := Trace(m, 2, 1, 1)
		if _, err := c.Scores(other, handStats(m, g)); err == nil || !strings.Contains(err.Error(), "another Graph") {
			t.Errorf("%s with the statistics of another Graph: error %v", name, err)
		}
	}
	for _, name := range []string{L1, L2, BNScale, Random} {
		if NeedsStats(name) {
			t.Errorf("NeedsStats(%q) = true", name)
		}
	}
	if _, err := NewCriterion("obs", "", 0); err == nil || !strings.Contains(err.Error(), `unknown criterion "obs": want one of sensitivity, l1, l2, bn-scale, taylor, random`) {
		t.Errorf("unknown criterion: error %v", err)
	}
	if _, err := NewCriterion(Sensitivity, "layer", 0); err == nil || !strings.Contains(err.Error(), `unknown scope "layer"`) {
		t.Errorf("unknown scope: error %v", err)
	}
	// After surgery the statistics are stale.
	st := handStats(m, g)
	if err := g.Prunable()[0].Remove([]int{1}, nil); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{Sensitivity, Taylor} {
		c, _ := NewCriterion(name, "", 0)
		if _, err := c.Scores(g, st); err == nil || !strings.Contains(err.Error(), "stale") {
			t.Errorf("%s after surgery: error %v", name, err)
		}
	}
	// bn-scale needs a BatchNorm2d in every group: tinyNet's fc1 group has none.
	tm := tiny.model()
	c, _ := NewCriterion(BNScale, "", 0)
	if _, err := c.Scores(tiny.trace(t, tm), nil); err == nil || !strings.Contains(err.Error(), "fc1 out ⇒ fc2 in has no BatchNorm2d") {
		t.Errorf("bn-scale without a BatchNorm2d: error %v", err)
	}
}
