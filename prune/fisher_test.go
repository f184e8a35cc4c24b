package prune

import (
	"encoding/json"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// referenceFisher is the Fisher diagonal of kind f computed the slow way:
// for every sample, a batch-size-1 forward pass gives p(·|x); then, for
// each label y and weight w that the kind takes (labels: nil means every
// class with w = p(y|x), the exact Fisher written out without
// fisherLabels), a batch-size-1 forward and backward pass of the
// cross-entropy of y gives g = ∂(−log p(y|x))/∂w, and w·g² is added, in
// float64. The result is divided by N.
func referenceFisher(t *testing.T, m nn.Module, x *tensor.Tensor, f FisherConfig, everyClass bool) map[string][]float64 {
	t.Helper()
	fisher, _ := referenceFisherChannels(t, m, nil, x, nil, f, everyClass)
	return fisher
}

// referenceFisherChannels is referenceFisher that also returns, when g is
// not nil, the channel-mask Fisher of every non-residual prunable group of
// g: each per-sample ∂ℓ/∂m_c taken as Σ w·∂ℓ/∂w over the consumers' input
// slices of the channel (Side In), weighted and squared the same way. For
// the empirical Fisher the labels are trueLabels, with weight 1.
func referenceFisherChannels(t *testing.T, m nn.Module, g *Graph, x *tensor.Tensor, trueLabels []int, f FisherConfig, everyClass bool) (map[string][]float64, map[*Group][]float64) {
	t.Helper()
	channels := map[*Group][]float64{}
	if g != nil {
		for _, gr := range g.Prunable() {
			if !gr.Residual {
				channels[gr] = make([]float64, gr.Channels)
			}
		}
	}
	nn.SetTraining(m, false)
	params := nn.Parameters(m)
	n := x.Shape[0]
	per := x.Numel() / n
	out := map[string][]float64{}
	for _, p := range params {
		out[p.Key] = make([]float64, p.Var.Value.Numel())
	}
	sample := func(s int) *autograd.Var {
		return autograd.NewVar(tensor.FromSlice(x.Data[s*per:(s+1)*per], append([]int{1}, x.Shape[1:]...)...))
	}
	for s := range n {
		logits := m.Forward(nn.NewCtx(), sample(s)).Value
		p := make([]float64, logits.Shape[1])
		softmax64(p, logits.Data)
		var labels []int
		var weights []float64
		switch {
		case f.kind() == FisherEmpirical:
			labels, weights = []int{trueLabels[s]}, []float64{1}
		case everyClass:
			for y := range p {
				labels = append(labels, y)
				weights = append(weights, p[y])
			}
		default:
			labels, weights = fisherLabels(f, p, s, nil, nil)
		}
		for j, y := range labels {
			for _, q := range params {
				q.Var.Grad = nil
			}
			c := nn.NewCtx()
			c.Record(true)
			c.Backward(nn.CrossEntropy(c, m.Forward(c, sample(s)), []int{y}, 0, nil))
			for _, q := range params {
				for i, v := range q.Var.Grad.Data {
					out[q.Key][i] += weights[j] * float64(v) * float64(v)
				}
			}
			for gr, sums := range channels {
				for ch := range sums {
					var d float64
					for _, ps := range gr.Params(ch) {
						if ps.Dep.Side == In {
							for _, i := range ps.Index {
								d += float64(ps.Var.Value.Data[i]) * float64(ps.Var.Grad.Data[i])
							}
						}
					}
					sums[ch] += weights[j] * d * d
				}
			}
		}
	}
	for _, q := range params {
		q.Var.Grad = nil
		for i := range out[q.Key] {
			out[q.Key][i] /= float64(n)
		}
	}
	for _, sums := range channels {
		for ch := range sums {
			sums[ch] /= float64(n)
		}
	}
	return out, channels
}

// checkFisher fails t unless every parameter's Fisher diagonal in st is
// within tol of ref (relative to the parameter's largest reference value).
func checkFisher(t *testing.T, what string, m nn.Module, st *Stats, ref map[string][]float64, tol float64) {
	t.Helper()
	for _, p := range nn.Parameters(m) {
		f, ok := st.Fisher[p.Key]
		if !ok {
			t.Errorf("%s: no Fisher diagonal for %s", what, p.Key)
			continue
		}
		got := make([]float32, len(f.Data))
		want := make([]float32, len(f.Data))
		for i := range got {
			got[i], want[i] = f.Data[i], float32(ref[p.Key][i])
		}
		closeSlices(t, what+": Fisher "+p.Key, got, want, tol)
	}
}

// randomInput returns n seeded standard-normal inputs of the given shape
// and labels in [0, classes).
func randomInput(n int, shape []int, classes int, seed uint64) (*tensor.Tensor, []int) {
	rng := rand.New(rand.NewPCG(seed, 2))
	x := tensor.New(append([]int{n}, shape...)...)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(classes)
	}
	return x, labels
}

// The sampled and exact Fisher of one batched calibration equal loops of
// batch-size-1 backward passes: with the kind's own labels and weights
// (the squared-gradient hooks, the per-sample logit gradients and the
// weighting), and, for the exact Fisher over every class, the sum
// Σ_y p(y|x)·g_y² written out independently. Batches of 4 with a partial
// last one; the draws do not depend on the batch size.
func TestCalibrateFisherMatchesBruteForceTiny(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	x, labels := randomInput(10, []int{3, 6, 6}, 5, 11)
	emp, err := CalibrateFrom(m, g, tensorBatches(x, labels, 4))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name       string
		f          FisherConfig
		passes     int
		everyClass bool // also compare with the written-out exact sum
	}{
		{"sampled k=1", FisherConfig{Kind: FisherSampled, Seed: 3}, 1, false},
		{"sampled k=3", FisherConfig{Kind: FisherSampled, Samples: 3, Seed: 4}, 3, false},
		{"exact", FisherConfig{Kind: FisherExact}, 5, true},
		{"exact, 2 classes + 1 drawn", FisherConfig{Kind: FisherExact, Classes: 2, Seed: 5}, 3, false},
	} {
		if got := tc.f.Passes(5); got != tc.passes {
			t.Errorf("%s: %d passes, want %d", tc.name, got, tc.passes)
		}
		st, err := CalibrateFisher(m, g, tensorBatches(x, labels, 4), tc.f)
		if err != nil {
			t.Fatal(err)
		}
		if st.N != 10 || st.Batches != 3 || st.FisherKind != tc.f.Kind {
			t.Errorf("%s: N %d, batches %d, kind %q", tc.name, st.N, st.Batches, st.FisherKind)
		}
		if st.Loss != emp.Loss {
			t.Errorf("%s: mean loss %.9g, want the true labels' %.9g", tc.name, st.Loss, emp.Loss)
		}
		if st.Taylor != nil {
			t.Errorf("%s: Taylor statistics from labels that are not the true ones", tc.name)
		}
		for _, p := range nn.Parameters(m) {
			if p.Var.Grad != nil || p.Var.SqGrad != nil {
				t.Errorf("%s: %s: a gradient or a squared-gradient buffer left behind", tc.name, p.Key)
			}
		}
		fisher, channels := referenceFisherChannels(t, m, g, x, nil, tc.f, false)
		checkFisher(t, tc.name, m, st, fisher, 1e-5)
		checkChannels(t, tc.name, g, st, channels)
		if tc.everyClass {
			checkFisher(t, tc.name+" (Σ_y p·g²)", m, st, referenceFisher(t, m, x, tc.f, true), 1e-5)
		}
		bf := bruteForce{fisher: referenceFisher(t, m, x, tc.f, false)}
		for _, scope := range []string{ScopeAll, ScopeFilter} {
			crit, _ := NewCriterion(Sensitivity, scope, 0)
			got, err := crit.Scores(g, st)
			if err != nil {
				t.Fatal(err)
			}
			closeScores(t, tc.name+" sensitivity/"+scope, got, bf.sensitivity(g, scope == ScopeFilter), 1e-5)
		}
		crit, _ := NewCriterion(Taylor, "", 0)
		if _, err := crit.Scores(g, st); err == nil || !strings.Contains(err.Error(), "empirical") {
			t.Errorf("%s: taylor without true-label statistics: error %v", tc.name, err)
		}
	}
}

// checkChannels compares Stats.Channel and the scope-channel scores (½ of
// it) with the reference, and checks that the scope scores no residual
// group.
func checkChannels(t *testing.T, what string, g *Graph, st *Stats, ref map[*Group][]float64) {
	t.Helper()
	if len(ref) == 0 {
		t.Fatalf("%s: no group to check the channel-mask Fisher on", what)
	}
	closeScores(t, what+": channel-mask Fisher", st.Channel, ref, 1e-4)
	crit, err := NewCriterion(Sensitivity, ScopeChannel, 0)
	if err != nil {
		t.Fatal(err)
	}
	got, err := crit.Scores(g, st)
	if err != nil {
		t.Fatal(err)
	}
	half := map[*Group][]float64{}
	for gr, v := range ref {
		for _, x := range v {
			half[gr] = append(half[gr], x/2)
		}
	}
	closeScores(t, what+": sensitivity/channel", got, half, 1e-4)
}

// The empirical Fisher's channel-mask statistics against batch-size-1
// passes, on the tiny model (a flatten into a Linear, a Linear's outputs)
// and on ResNet-20 (residual streams left out), and the scope's errors.
func TestChannelFisherEmpirical(t *testing.T) {
	for _, tp := range []topology{tiny, zooTopology("resnet20", 32, 1)} {
		m := tp.model()
		g := tp.trace(t, m)
		classes := 5
		if tp.name != "tiny" {
			classes = 10
		}
		x, labels := randomInput(5, tp.inShape, classes, 14)
		st, err := CalibrateFrom(m, g, tensorBatches(x, labels, 2))
		if err != nil {
			t.Fatal(err)
		}
		_, ref := referenceFisherChannels(t, m, g, x, labels, FisherConfig{}, false)
		checkChannels(t, tp.name, g, st, ref)
		for _, gr := range g.Prunable() {
			if _, ok := st.Channel[gr]; ok == gr.Residual {
				t.Errorf("%s: group %s (residual %v): channel statistics %v", tp.name, gr, gr.Residual, ok)
			}
		}
	}
	if _, err := NewCriterion(Taylor, ScopeChannel, 0); err == nil || !strings.Contains(err.Error(), "for criterion sensitivity only") {
		t.Errorf("taylor with scope channel: error %v", err)
	}
}

// The sampled Fisher is an unbiased estimate of the exact one: with many
// draws per image their diagonals agree within the sampling error, and the
// empirical one (true labels) differs.
func TestSampledFisherConvergesToExact(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	x, labels := randomInput(6, []int{3, 6, 6}, 5, 12)
	exact, err := CalibrateFisher(m, g, tensorBatches(x, labels, 6), FisherConfig{Kind: FisherExact})
	if err != nil {
		t.Fatal(err)
	}
	sampled, err := CalibrateFisher(m, g, tensorBatches(x, labels, 6), FisherConfig{Kind: FisherSampled, Samples: 400, Seed: 1})
	if err != nil {
		t.Fatal(err)
	}
	for _, p := range nn.Parameters(m) {
		var se, ss float64
		for i := range exact.Fisher[p.Key].Data {
			se += float64(exact.Fisher[p.Key].Data[i])
			ss += float64(sampled.Fisher[p.Key].Data[i])
		}
		if !(math.Abs(ss-se) <= 0.1*se) {
			t.Errorf("%s: Σ F: sampled (400 draws) %.6g, exact %.6g", p.Key, ss, se)
		}
	}
}

// fisherLabels: the exact kind's labels in order of probability with
// weights p (summing to 1), the capped exact kind's tail label drawn in
// proportion to p among the rest with the rest's mass, the sampled kind's
// labels distributed as p; draws depend on (seed, position) only.
func TestFisherLabels(t *testing.T) {
	p := []float64{0.1, 0.4, 0.05, 0.3, 0.15}
	ls, ws := fisherLabels(FisherConfig{Kind: FisherExact}, p, 7, nil, nil)
	if !slices.Equal(ls, []int{1, 3, 4, 0, 2}) || !slices.Equal(ws, []float64{0.4, 0.3, 0.15, 0.1, 0.05}) {
		t.Errorf("exact: labels %v weights %v", ls, ws)
	}
	const draws = 40000
	tail := make([]float64, len(p))
	sampled := make([]float64, len(p))
	capped := FisherConfig{Kind: FisherExact, Classes: 2, Seed: 9}
	for pos := range draws {
		ls, ws := fisherLabels(capped, p, pos, nil, nil)
		if len(ls) != 3 || ls[0] != 1 || ls[1] != 3 || ws[0] != 0.4 || ws[1] != 0.3 || math.Abs(ws[2]-0.3) > 1e-15 {
			t.Fatalf("exact over 2 classes, position %d: labels %v weights %v", pos, ls, ws)
		}
		tail[ls[2]] += ws[2] / draws
		ls, ws = fisherLabels(FisherConfig{Kind: FisherSampled, Samples: 2, Seed: 9}, p, pos, nil, nil)
		if len(ls) != 2 || ws[0] != 0.5 || ws[1] != 0.5 {
			t.Fatalf("sampled k=2: labels %v weights %v", ls, ws)
		}
		for _, y := range ls {
			sampled[y] += 0.5 / draws
		}
	}
	for y := range p {
		want := p[y]
		if y == 1 || y == 3 {
			want = 0 // summed exactly, never drawn
		}
		// Three standard deviations of a frequency over 40000 draws.
		if d := math.Abs(tail[y] - want); d > 3*0.3*math.Sqrt(want/0.3/draws)+1e-12 {
			t.Errorf("capped exact: tail weight of label %d %.4f, want %.4f", y, tail[y], want)
		}
		if d := math.Abs(sampled[y] - p[y]); d > 3*math.Sqrt(p[y]/(2*draws)) {
			t.Errorf("sampled: frequency of label %d %.4f, want %.4f", y, sampled[y], p[y])
		}
	}
	a, _ := fisherLabels(FisherConfig{Kind: FisherSampled, Samples: 8, Seed: 1}, p, 5, nil, nil)
	b, _ := fisherLabels(FisherConfig{Kind: FisherSampled, Samples: 8, Seed: 1}, p, 5, nil, nil)
	c, _ := fisherLabels(FisherConfig{Kind: FisherSampled, Samples: 8, Seed: 2}, p, 5, nil, nil)
	if !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Errorf("draws of seed 1 twice: %v, %v; seed 2: %v", a, b, c)
	}
	// The default cap keeps a 1000-class model at 11 passes.
	if got := (FisherConfig{Kind: FisherExact}).Passes(1000); got != DefaultExactClasses+1 {
		t.Errorf("exact Fisher of a 1000-class model: %d passes per image", got)
	}
}

func TestFisherConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		f    FisherConfig
		want string
	}{
		{FisherConfig{Kind: "true"}, `unknown Fisher kind "true"`},
		{FisherConfig{Kind: FisherSampled, Samples: -1}, "-1 Fisher samples"},
		{FisherConfig{Kind: FisherExact, Classes: -2}, "over -2 classes"},
	} {
		if err := tc.f.Validate(); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%+v: error %v, want one containing %q", tc.f, err, tc.want)
		}
	}
}

// The exact Fisher over two classes plus a drawn one on ResNet-20 through
// Calibrate (residual streams, option-A shortcuts, a data set drawn with
// the seed), against batch-size-1 passes.
func TestCalibrateFisherMatchesBruteForceResNet20(t *testing.T) {
	tp := zooTopology("resnet20", 32, 1)
	m := tp.model()
	g := tp.trace(t, m)
	d := syntheticCIFAR(40, 3)
	cfg := CalibConfig{N: 3, Batch: 2, Seed: 9, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std,
		Fisher: FisherConfig{Kind: FisherExact, Classes: 2, Seed: 9}}
	st, err := Calibrate(m, g, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(d.Len(), cfg.Seed, CalibEpoch)[:cfg.N]
	x := tensor.New(cfg.N, 3, 32, 32)
	d.Normalize(x.Data, idx, cfg.Mean, cfg.Std)
	fisher, channels := referenceFisherChannels(t, m, g, x, nil, cfg.Fisher, false)
	checkFisher(t, "resnet20 exact/2+1", m, st, fisher, 1e-5)
	checkChannels(t, "resnet20 exact/2+1", g, st, channels)
}

// Augmented calibration sees the image at position i of the draw through
// data.DrawCropFlip(seed, CalibEpoch, i), and a Calibration's Stats taken
// after the first batches equal a calibration over those images alone, bit
// for bit.
func TestCalibrateAugmentAndNestedSizes(t *testing.T) {
	tp := zooTopology("resnet8", 32, 1)
	m := tp.model()
	g := tp.trace(t, m)
	d := syntheticCIFAR(30, 4)
	cfg := CalibConfig{N: 6, Batch: 2, Seed: 5, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std, Augment: true}
	st, err := Calibrate(m, g, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(d.Len(), cfg.Seed, CalibEpoch)[:cfg.N]
	x := tensor.New(cfg.N, 3, 32, 32)
	labels := make([]int, cfg.N)
	flips := 0
	for i, j := range idx {
		cf := data.DrawCropFlip(cfg.Seed, CalibEpoch, i)
		if cf.Flip || cf.Top != data.Pad || cf.Left != data.Pad {
			flips++
		}
		d.NormalizeCropFlip(x.Data[i*data.ImageBytes:(i+1)*data.ImageBytes], j, cf, cfg.Mean, cfg.Std)
		labels[i] = int(d.Labels[j])
	}
	if flips == 0 {
		t.Fatal("no image of the draw is augmented: the test would not see augmentation")
	}
	want, err := CalibrateFrom(m, g, tensorBatches(x, labels, cfg.Batch))
	if err != nil {
		t.Fatal(err)
	}
	sameStats(t, "augmented", st, want)
	plain := cfg
	plain.Augment = false
	unaug, err := Calibrate(m, g, d, plain)
	if err != nil {
		t.Fatal(err)
	}
	if unaug.Loss == st.Loss {
		t.Error("augmented and plain calibration give the same loss")
	}

	// Nested sizes: Stats after 4 of the 6 images of one pass.
	batches, err := cfg.Batches(d)
	if err != nil {
		t.Fatal(err)
	}
	cal, err := NewCalibration(m, g, FisherConfig{})
	if err != nil {
		t.Fatal(err)
	}
	var at4 *Stats
	for x, l := range batches {
		if err := cal.Add(x, l); err != nil {
			t.Fatal(err)
		}
		if cal.N() == 4 {
			if at4, err = cal.Stats(); err != nil {
				t.Fatal(err)
			}
		}
	}
	all, err := cal.Stats()
	if err != nil {
		t.Fatal(err)
	}
	cal.Close()
	sameStats(t, "one pass, all 6", all, st)
	four := cfg
	four.N = 4
	st4, err := Calibrate(m, g, d, four)
	if err != nil {
		t.Fatal(err)
	}
	sameStats(t, "one pass, first 4", at4, st4)
	if err := cal.Add(x, labels); err == nil {
		t.Error("Add after Close: no error")
	}
}

// sameStats fails t unless a and b hold the same numbers bit for bit.
func sameStats(t *testing.T, what string, a, b *Stats) {
	t.Helper()
	if a.N != b.N || a.Batches != b.Batches || a.Loss != b.Loss || len(a.Fisher) != len(b.Fisher) {
		t.Fatalf("%s: N %d/%d, batches %d/%d, loss %.9g/%.9g, %d/%d Fisher tensors", what, a.N, b.N, a.Batches, b.Batches,
			a.Loss, b.Loss, len(a.Fisher), len(b.Fisher))
	}
	for k, f := range a.Fisher {
		if !slices.Equal(f.Data, b.Fisher[k].Data) {
			t.Errorf("%s: Fisher %s differs", what, k)
		}
	}
	for gr, v := range a.Taylor {
		if !slices.Equal(v, b.Taylor[gr]) {
			t.Errorf("%s: Taylor of %s differs", what, gr)
		}
	}
	if len(a.Channel) == 0 || len(a.Channel) != len(b.Channel) {
		t.Errorf("%s: channel-mask statistics of %d and %d groups", what, len(a.Channel), len(b.Channel))
	}
	for gr, v := range a.Channel {
		if !slices.Equal(v, b.Channel[gr]) {
			t.Errorf("%s: channel-mask statistics of %s differ", what, gr)
		}
	}
}

// A calibration stopped after two batches, its State passed through JSON
// and restored into a new Calibration, then continued, gives the Stats of
// an uninterrupted one bit for bit (empirical with Taylor sums, exact).
func TestCalibrationStateResume(t *testing.T) {
	tp := zooTopology("resnet8", 32, 1)
	m := tp.model()
	g := tp.trace(t, m)
	x, labels := randomInput(6, []int{3, 32, 32}, 10, 13)
	for _, f := range []FisherConfig{{}, {Kind: FisherExact, Classes: 3, Seed: 2}} {
		want, err := CalibrateFisher(m, g, tensorBatches(x, labels, 2), f)
		if err != nil {
			t.Fatal(err)
		}
		var saved []byte
		cal, _ := NewCalibration(m, g, f)
		i := 0
		for xb, lb := range tensorBatches(x, labels, 2) {
			if i == 2 {
				if saved, err = json.Marshal(cal.State()); err != nil {
					t.Fatal(err)
				}
				cal.Close()
				var s CalibState
				if err := json.Unmarshal(saved, &s); err != nil {
					t.Fatal(err)
				}
				other, _ := NewCalibration(m, g, FisherConfig{Kind: FisherSampled})
				if err := other.Restore(&s); err == nil || !strings.Contains(err.Error(), "restoring a state of the") {
					t.Errorf("restoring into another Fisher kind: error %v", err)
				}
				other.Close()
				cal, _ = NewCalibration(m, g, f)
				if err := cal.Restore(&s); err != nil {
					t.Fatal(err)
				}
			}
			if err := cal.Add(xb, lb); err != nil {
				t.Fatal(err)
			}
			i++
		}
		got, err := cal.Stats()
		if err != nil {
			t.Fatal(err)
		}
		cal.Close()
		sameStats(t, "resumed "+f.kind(), got, want)
		if f.kind() == FisherEmpirical && len(got.Taylor) == 0 {
			t.Error("no Taylor sums to compare")
		}
		if err := cal.Restore(new(CalibState)); err == nil {
			t.Error("Restore after Add: no error")
		}
	}
}
