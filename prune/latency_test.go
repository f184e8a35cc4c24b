package prune

import (
	"errors"
	"io/fs"
	"math"
	"slices"
	"strings"
	"testing"
)

func TestLatencyGrid(t *testing.T) {
	for _, tc := range []struct {
		c, n   int
		varies bool
		want   []int
	}{
		{16, 16, true, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16}},
		{64, 8, true, []int{8, 16, 24, 32, 40, 48, 56, 64}},
		{20, 8, true, []int{3, 5, 8, 10, 13, 15, 18, 20}},
		{64, 16, false, []int{64}},
		{3, 8, true, []int{1, 2, 3}},
	} {
		if got := latencyGrid(tc.c, tc.n, tc.varies); !slices.Equal(got, tc.want) {
			t.Errorf("latencyGrid(%d, %d, %v) = %v, want %v", tc.c, tc.n, tc.varies, got, tc.want)
		}
	}
}

// bilinearEntry returns a table entry of f on the grid in × out.
func bilinearEntry(in, out []int, f func(i, o float64) float64) *LayerLatency {
	e := &LayerLatency{In: in, Out: out}
	for _, i := range in {
		var row []float64
		for _, o := range out {
			row = append(row, f(float64(i), float64(o)))
		}
		e.MS = append(e.MS, row)
	}
	return e
}

func TestLayerLatencyAt(t *testing.T) {
	// A bilinear function is interpolated and extrapolated exactly.
	f := func(i, o float64) float64 { return 0.5 + 0.01*i*o + 0.02*i + 0.003*o }
	e := bilinearEntry([]int{4, 8, 16}, []int{2, 10, 32}, f)
	for _, p := range [][2]float64{{4, 2}, {5, 7}, {16, 32}, {12, 20}, {2, 1}, {20, 40}} {
		if got, want := e.At(p[0], p[1]), f(p[0], p[1]); math.Abs(got-want) > 1e-9 {
			t.Errorf("At(%v, %v) = %v, want %v", p[0], p[1], got, want)
		}
	}
	// One width on a side: that side is constant.
	e = bilinearEntry([]int{16}, []int{8, 16}, f)
	if got, want := e.At(3, 12), f(16, 12); math.Abs(got-want) > 1e-9 {
		t.Errorf("one input width: At(3, 12) = %v, want %v", got, want)
	}
	// Never negative.
	e = bilinearEntry([]int{8, 16}, []int{16}, func(i, _ float64) float64 { return i - 7 })
	if got := e.At(1, 16); got != 0 {
		t.Errorf("extrapolated below zero: At(1, 16) = %v, want 0", got)
	}
}

// tinyTable is a latency table of tinyNet whose layer times are
// coefficient × in × out at every width (fc1 is slow per MAC).
func tinyTable() *LatencyTable {
	full := map[string][2]int{"conv1": {3, 8}, "conv2": {8, 6}, "fc1": {54, 12}, "fc2": {12, 5}}
	coef := map[string]float64{"conv1": 36 * 1e-4, "conv2": 9 * 9 * 1e-4, "fc1": 50e-4, "fc2": 1e-4}
	t := &LatencyTable{Batch: 1, Layers: map[string]*LayerLatency{}}
	for name, w := range full {
		c := coef[name]
		t.Layers[name] = bilinearEntry(latencyGrid(w[0], 8, true), latencyGrid(w[1], 8, true),
			func(i, o float64) float64 { return c * i * o })
	}
	return t
}

func TestPlanLatency(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	pr := g.Prunable()
	sc := map[*Group][]float64{}
	for _, gr := range pr {
		sc[gr] = slices.Repeat([]float64{1}, gr.Channels)
	}
	table := tinyTable()
	var sum float64
	for _, e := range table.Layers {
		sum += e.MS[len(e.In)-1][len(e.Out)-1]
	}
	tm := &LatencyModel{Table: table, Measured: sum + 0.25, Correction: 0.1}

	// One step of global-latency removes the channel that saves the most
	// time by the table: conv2's (81e-4·8 of conv2 and 50e-4·9·12 of fc1,
	// which reads its 3×3 map), not conv1's, whose MACs are more (0.0108
	// + 0.0486 ms) nor fc1's (0.27 + 0.0005 ms).
	p, err := MakePlan(m, g, sc, PlanConfig{Latency: 1e-6, Ranking: GlobalLatency, Timing: tm})
	if err != nil {
		t.Fatal(err)
	}
	var lost []int
	for _, gp := range eligiblePlans(p) {
		lost = append(lost, gp.Before-gp.After)
	}
	if want := []int{0, 1, 0}; !slices.Equal(lost, want) {
		t.Errorf("global-latency, one step: channels removed per group %v, want %v", lost, want)
	}
	if want := sum + 0.25 + 0.1; math.Abs(p.LatencyBefore-want) > 1e-9 {
		t.Errorf("LatencyBefore %v, want the measured latency plus the correction %v", p.LatencyBefore, want)
	}
	if want := p.LatencyBefore - (81e-4*8 + 50e-4*9*12); math.Abs(p.LatencyAfter-want) > 1e-9 {
		t.Errorf("LatencyAfter %v, want %v", p.LatencyAfter, want)
	}
	// global-flops takes a channel of conv1 instead (it saves the most MACs).
	pf, err := MakePlan(m, g, sc, PlanConfig{FLOPs: 1e-6, Ranking: GlobalFLOPs})
	if err != nil {
		t.Fatal(err)
	}
	if gp := eligiblePlans(pf); gp[1].After != gp[1].Before {
		t.Errorf("global-flops removed a channel of conv2: the test's costs do not separate the rankings")
	}

	// A latency target is met by the prediction, for every ranking, and a
	// base latency makes it a fraction of that instead.
	for _, c := range []PlanConfig{
		{Latency: 0.3, Ranking: GlobalLatency, Timing: tm},
		{Latency: 0.3, Ranking: Global, Timing: tm},
		{Latency: 0.3, Ranking: Uniform, Timing: tm},
		{Latency: 0.2, Ranking: GlobalLatency, Timing: tm, BaseLatency: 2 * tm.Measured},
	} {
		p, err := MakePlan(m, g, sc, c)
		if err != nil {
			t.Fatal(err)
		}
		base := c.BaseLatency
		if base == 0 {
			base = tm.Measured
		}
		if p.LatencyAfter > (1-c.Latency)*base+1e-12 {
			t.Errorf("%s, −%g: predicted %.4f ms, target %.4f", c.Ranking, c.Latency, p.LatencyAfter, (1-c.Latency)*base)
		}
		checkPlan(t, p)
	}
	// Without a table, a latency target is an error that says what is missing.
	if _, err := MakePlan(m, g, sc, PlanConfig{Latency: 0.3}); err == nil || !strings.Contains(err.Error(), "latency table") {
		t.Errorf("latency target without a table: %v", err)
	}
	// An unreachable target says so in terms of latency.
	if _, err := MakePlan(m, g, sc, PlanConfig{Latency: 0.99, Ranking: GlobalLatency, Timing: tm}); err == nil || !strings.Contains(err.Error(), "latency") {
		t.Errorf("unreachable latency target: %v", err)
	}
	// Two targets at once are refused.
	if err := (PlanConfig{Latency: 0.3, FLOPs: 0.3}).Validate(); err == nil {
		t.Error("FLOPs and Latency together: no error")
	}
}

func TestMeasureLatencyTable(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	var logged string
	table, err := MeasureLatencyTable(m, g, tiny.inShape, 1, false, func(s string) { logged = s })
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(logged, "latency table: 4 layers") {
		t.Errorf("log %q", logged)
	}
	// conv1: input (the network's) fixed, output (8) varies; fc2: the
	// output (the model's) fixed.
	for name, want := range map[string][2][]int{
		"conv1": {{3}, {1, 2, 3, 4, 5, 6, 7, 8}},
		"conv2": {{1, 2, 3, 4, 5, 6, 7, 8}, {1, 2, 3, 4, 5, 6}},
		"fc2":   {{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12}, {5}},
	} {
		e := table.Layers[name]
		if e == nil {
			t.Fatalf("no entry for %s: %v", name, table.Layers)
		}
		if !slices.Equal(e.In, want[0]) || !slices.Equal(e.Out, want[1]) {
			t.Errorf("%s: grid %v × %v, want %v × %v", name, e.In, e.Out, want[0], want[1])
		}
		for _, row := range e.MS {
			for _, v := range row {
				if !(v > 0) {
					t.Errorf("%s: time %v", name, v)
				}
			}
		}
	}
	// The directory's copy reads back the same.
	dir := t.TempDir()
	if _, err := ReadLatencyTable(dir); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("no table yet: %v", err)
	}
	if err := table.Write(dir); err != nil {
		t.Fatal(err)
	}
	back, err := ReadLatencyTable(dir)
	if err != nil {
		t.Fatal(err)
	}
	if back.CPU != table.CPU || len(back.Layers) != len(table.Layers) || back.Layers["conv2"].At(5, 4) != table.Layers["conv2"].At(5, 4) {
		t.Errorf("read back %+v, wrote %+v", back, table)
	}
	// A plan with the measured table meets its predicted target.
	ms, err := MeasureLatency(m, tiny.inShape, 1)
	if err != nil || !(ms > 0) {
		t.Fatalf("MeasureLatency: %v ms, %v", ms, err)
	}
	p, err := MakePlan(m, g, l1Scores(t, g), PlanConfig{Latency: 0.2, Ranking: GlobalLatency, Timing: &LatencyModel{Table: table, Measured: ms}})
	if err != nil {
		t.Fatal(err)
	}
	if p.LatencyAfter > 0.8*ms {
		t.Errorf("predicted %v ms, target %v", p.LatencyAfter, 0.8*ms)
	}
}

func TestDriverReusesLatencyTable(t *testing.T) {
	dir := t.TempDir()
	stored := tinyTable()
	stored.CPU = "a CPU elsewhere"
	if err := stored.Write(dir); err != nil {
		t.Fatal(err)
	}
	var log strings.Builder
	d := &Driver{
		Config:  RunConfig{Criterion: L1, Ranking: GlobalLatency, Latency: 0.2, Steps: 1, Seed: 1, Std: [3]float32{1, 1, 1}},
		Dir:     dir,
		Model:   tiny.model(),
		InShape: tiny.inShape,
		Log:     &log,
	}
	err := d.Run(t.Context())
	if err := d.Close(err); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), "measured on a CPU elsewhere") || strings.Contains(log.String(), "stand-ins timed") {
		t.Errorf("the stored table was not reused:\n%s", log.String())
	}
	back, err := ReadLatencyTable(dir)
	if err != nil || back.CPU != stored.CPU {
		t.Errorf("the stored table changed: %+v, %v", back, err)
	}
	st, err := ReadRunState(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := st.StepsDone[0]
	if !(st.BaseLatency > 0) || !(s.LatencyMeasured > 0) || s.LatencyRounds != 1 {
		t.Errorf("base latency %v ms, step %+v", st.BaseLatency, s)
	}
	// The plan is the stored table's: its prediction (the measured latency
	// now plus the table's difference) meets the target.
	if s.LatencyPredicted > 0.8*st.BaseLatency*(1+1e-9) {
		t.Errorf("predicted %v ms, target %v", s.LatencyPredicted, 0.8*st.BaseLatency)
	}
	// A table of another batch is refused.
	dir2 := t.TempDir()
	stored.Batch = 4
	stored.Write(dir2)
	d2 := &Driver{Config: d.Config, Dir: dir2, Model: tiny.model(), InShape: tiny.inShape}
	err = d2.Close(d2.Run(t.Context()))
	if err == nil || !strings.Contains(err.Error(), "batch 4") {
		t.Errorf("table of batch 4 for a run at batch 1: %v", err)
	}
}

// TestPlanLatencyPlateau: fc1's time falls only at multiples of 4 output
// features (a kernel's block), so removing one feature saves nothing; the
// global-latency ranking looks ahead and takes fc1 from 12 to 8 features
// rather than the channels of conv1 and conv2, which save little time each.
func TestPlanLatencyPlateau(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	sc := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		sc[gr] = slices.Repeat([]float64{1}, gr.Channels)
	}
	table := tinyTable()
	for name, e := range table.Layers {
		for i, in := range e.In {
			for j, out := range e.Out {
				switch name {
				case "fc1":
					e.MS[i][j] = 0.1 * math.Ceil(float64(out)/4)
				default:
					e.MS[i][j] = 1e-4 * float64(in*out)
				}
			}
		}
	}
	tm := &LatencyModel{Table: table, Measured: 1}
	p, err := MakePlan(m, g, sc, PlanConfig{Latency: 0.05, Ranking: GlobalLatency, Timing: tm})
	if err != nil {
		t.Fatal(err)
	}
	var after []int
	for _, gp := range eligiblePlans(p) {
		after = append(after, gp.After)
	}
	if want := []int{8, 6, 8}; !slices.Equal(after, want) {
		t.Errorf("widths %v, want %v (fc1 down one block of 4)", after, want)
	}
}
