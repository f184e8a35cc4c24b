package prune

import (
	"iter"
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// syntheticCIFAR returns n random 32×32 images with random labels.
func syntheticCIFAR(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = byte(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.IntN(data.NumClasses))
	}
	return d
}

// tensorBatches cuts x: [N, …] and its labels into batches of size batch.
func tensorBatches(x *tensor.Tensor, labels []int, batch int) iter.Seq2[*tensor.Tensor, []int] {
	return func(yield func(*tensor.Tensor, []int) bool) {
		n := x.Shape[0]
		if n == 0 {
			return
		}
		per := x.Numel() / n
		for i0 := 0; i0 < n; i0 += batch {
			b := min(batch, n-i0)
			xb := tensor.FromSlice(x.Data[i0*per:(i0+b)*per], append([]int{b}, x.Shape[1:]...)...)
			if !yield(xb, labels[i0:i0+b]) {
				return
			}
		}
	}
}

// bruteForce is the reference of a calibration: per-sample gradients from
// batch-size-1 backward passes (BN in evaluation mode), summed in float64.
type bruteForce struct {
	fisher map[string][]float64 // (1/N)·Σ_n g_n²
	// taylor[g][c] is (1/B)·Σ_b (Σ_{s ∈ Params(c)} ḡ_s·w_s)², ḡ the mean of
	// the per-sample gradients of batch b.
	taylor, taylorFilter map[*Group][]float64
	loss                 float64
}

// referenceStats computes bruteForce for m on x: [N, …] in batches of
// size batch (the batches only matter for Taylor).
func referenceStats(t *testing.T, m nn.Module, g *Graph, x *tensor.Tensor, labels []int, batch int) bruteForce {
	t.Helper()
	nn.SetTraining(m, false)
	params := nn.Parameters(m)
	n := x.Shape[0]
	per := x.Numel() / n
	bf := bruteForce{fisher: map[string][]float64{}, taylor: map[*Group][]float64{}, taylorFilter: map[*Group][]float64{}}
	for _, p := range params {
		bf.fisher[p.Key] = make([]float64, p.Var.Value.Numel())
	}
	for _, gr := range g.Prunable() {
		bf.taylor[gr] = make([]float64, gr.Channels)
		bf.taylorFilter[gr] = make([]float64, gr.Channels)
	}
	mean := map[string][]float64{} // Σ over the batch of g_n, then the mean
	batches := 0
	for i0 := 0; i0 < n; i0 += batch {
		b := min(batch, n-i0)
		for _, p := range params {
			mean[p.Key] = make([]float64, p.Var.Value.Numel())
		}
		for s := i0; s < i0+b; s++ {
			for _, p := range params {
				p.Var.Grad = nil
			}
			c := nn.NewCtx()
			c.Record(true)
			xs := tensor.FromSlice(x.Data[s*per:(s+1)*per], append([]int{1}, x.Shape[1:]...)...)
			loss := nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(xs)), labels[s:s+1], 0, nil)
			bf.loss += float64(loss.Value.Data[0])
			c.Backward(loss)
			for _, p := range params {
				for j, v := range p.Var.Grad.Data {
					bf.fisher[p.Key][j] += float64(v) * float64(v)
					mean[p.Key][j] += float64(v) / float64(b)
				}
			}
		}
		for gr := range bf.taylor {
			for ch := range gr.Channels {
				var all, filter float64
				for _, ps := range gr.Params(ch) {
					for _, i := range ps.Index {
						gw := mean[ps.Name][i] * float64(ps.Var.Value.Data[i])
						all += gw
						if ps.Dep.Side == Out {
							filter += gw
						}
					}
				}
				bf.taylor[gr][ch] += all * all
				bf.taylorFilter[gr][ch] += filter * filter
			}
		}
		batches++
	}
	for _, p := range params {
		p.Var.Grad = nil
		for j := range bf.fisher[p.Key] {
			bf.fisher[p.Key][j] /= float64(n)
		}
	}
	for gr := range bf.taylor {
		for ch := range gr.Channels {
			bf.taylor[gr][ch] /= float64(batches)
			bf.taylorFilter[gr][ch] /= float64(batches)
		}
	}
	bf.loss /= float64(n)
	return bf
}

// sensitivity returns OBD's channel scores from the reference Fisher.
func (bf bruteForce) sensitivity(g *Graph, filter bool) map[*Group][]float64 {
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		sc := make([]float64, gr.Channels)
		for ch := range sc {
			for _, ps := range gr.Params(ch) {
				if filter && ps.Dep.Side != Out {
					continue
				}
				for _, i := range ps.Index {
					w := float64(ps.Var.Value.Data[i])
					sc[ch] += 0.5 * bf.fisher[ps.Name][i] * w * w
				}
			}
		}
		out[gr] = sc
	}
	return out
}

// closeScores fails t unless every group's scores agree to tol relative to
// the largest reference score of the group.
func closeScores(t *testing.T, what string, got, want map[*Group][]float64, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: scores for %d groups, want %d", what, len(got), len(want))
	}
	worst := 0.0
	for gr, w := range want {
		g := got[gr]
		if len(g) != len(w) {
			t.Fatalf("%s: group %s: %d scores, want %d", what, gr, len(g), len(w))
		}
		ref := 0.0
		for _, v := range w {
			ref = max(ref, math.Abs(v))
		}
		for ch := range w {
			d := math.Abs(g[ch] - w[ch])
			worst = max(worst, d/ref)
			if !(d <= tol*ref) {
				t.Errorf("%s: group %s channel %d: %.8g, brute force %.8g (max %.3g)", what, gr, ch, g[ch], w[ch], ref)
			}
		}
	}
	t.Logf("%s: worst |Δ|/max|ref| per group %.2g", what, worst)
}

// checkCalibration compares the statistics st of m (traced as g) with the
// brute-force reference.
func checkCalibration(t *testing.T, m nn.Module, g *Graph, st *Stats, bf bruteForce) {
	t.Helper()
	if math.Abs(st.Loss-bf.loss) > 1e-5*math.Abs(bf.loss) {
		t.Errorf("mean loss %.8g, brute force %.8g", st.Loss, bf.loss)
	}
	for _, p := range nn.Parameters(m) {
		f, ok := st.Fisher[p.Key]
		if !ok {
			t.Errorf("no Fisher diagonal for %s", p.Key)
			continue
		}
		got := make([]float32, len(f.Data))
		want := make([]float32, len(f.Data))
		for i := range got {
			got[i], want[i] = f.Data[i], float32(bf.fisher[p.Key][i])
		}
		closeSlices(t, "Fisher "+p.Key, got, want, 1e-5)
	}
	for _, scope := range []string{ScopeAll, ScopeFilter} {
		crit, err := NewCriterion(Sensitivity, scope, 0)
		if err != nil {
			t.Fatal(err)
		}
		got, err := crit.Scores(g, st)
		if err != nil {
			t.Fatal(err)
		}
		closeScores(t, "sensitivity/"+scope, got, bf.sensitivity(g, scope == ScopeFilter), 1e-5)
	}
	closeScores(t, "taylor/all", st.Taylor, bf.taylor, 1e-4)
	closeScores(t, "taylor/filter", st.TaylorFilter, bf.taylorFilter, 1e-4)
}

// closeSlices fails t unless max|got − want| ≤ tol·max|want|.
func closeSlices(t *testing.T, what string, got, want []float32, tol float64) {
	t.Helper()
	var d, ref float64
	for i := range want {
		d = max(d, math.Abs(float64(got[i])-float64(want[i])))
		ref = max(ref, math.Abs(float64(want[i])))
	}
	if !(d <= tol*ref) {
		t.Errorf("%s: max|Δ| = %.3g, max|ref| = %.3g", what, d, ref)
	}
}

// Acceptance 2, first half: the per-sample statistics of one batched pass
// with the squared-gradient hooks equal a loop of batch-size-1 backward
// passes, on a small model (flatten into a Linear, conv bias, dropout) with
// a partial last batch.
func TestCalibrateMatchesBruteForceTiny(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	const n = 10
	rng := rand.New(rand.NewPCG(7, 8))
	x := tensor.New(n, 3, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := make([]int, n)
	for i := range labels {
		labels[i] = rng.IntN(5)
	}
	m.(*tinyNet).Drop.Training = true // Calibrate must switch it off
	st, err := CalibrateFrom(m, g, tensorBatches(x, labels, 4))
	if err != nil {
		t.Fatal(err)
	}
	if st.N != n || st.Batches != 3 {
		t.Errorf("N %d, batches %d; want %d, 3", st.N, st.Batches, n)
	}
	if !m.(*tinyNet).Drop.Training || m.(*tinyNet).BN1.Training {
		t.Error("Calibrate did not restore the layers' modes")
	}
	for _, p := range nn.Parameters(m) {
		if p.Var.Grad != nil || p.Var.SqGrad != nil {
			t.Errorf("%s: Calibrate left a gradient or a squared-gradient buffer behind", p.Key)
		}
	}
	bf := referenceStats(t, m, g, x, labels, 4)
	checkCalibration(t, m, g, st, bf)
}

// The same on ResNet-20 (residual streams, option-A shortcuts) through
// Calibrate, which draws the images of a data set with the seed.
func TestCalibrateMatchesBruteForceResNet20(t *testing.T) {
	tp := zooTopology("resnet20", 32, 1)
	m := tp.model()
	g := tp.trace(t, m)
	d := syntheticCIFAR(40, 3)
	cfg := CalibConfig{N: 6, Batch: 4, Seed: 9, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std}
	st, err := Calibrate(m, g, d, cfg)
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(d.Len(), cfg.Seed, CalibEpoch)[:cfg.N]
	x := tensor.New(cfg.N, 3, 32, 32)
	d.Normalize(x.Data, idx, cfg.Mean, cfg.Std)
	labels := make([]int, cfg.N)
	for i, j := range idx {
		labels[i] = int(d.Labels[j])
	}
	bf := referenceStats(t, m, g, x, labels, cfg.Batch)
	checkCalibration(t, m, g, st, bf)
}

func TestCalibrateErrors(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	d := syntheticCIFAR(5, 1)
	for _, tc := range []struct {
		name string
		c    CalibConfig
		want string
	}{
		{"too many", CalibConfig{N: 6, Std: data.CIFAR10Std}, "6 images of a data set of 5"},
		{"none", CalibConfig{N: 0, Std: data.CIFAR10Std}, "want 1 … 5"},
		{"no std", CalibConfig{N: 2}, "std of channel 0 is 0"},
	} {
		_, err := Calibrate(m, g, d, tc.c)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
	other := tiny.trace(t, tiny.model())
	if _, err := CalibrateFrom(m, other, tensorBatches(tensor.New(1, 3, 6, 6), []int{0}, 1)); err == nil ||
		!strings.Contains(err.Error(), "same model") {
		t.Errorf("a Graph of another model: error %v", err)
	}
	if _, err := CalibrateFrom(m, g, tensorBatches(tensor.New(0, 3, 6, 6), nil, 1)); err == nil ||
		!strings.Contains(err.Error(), "no samples") {
		t.Errorf("no samples: error %v", err)
	}
	if _, err := CalibrateFrom(m, g, tensorBatches(tensor.New(1, 3, 6, 6), []int{7}, 1)); err == nil ||
		!strings.Contains(err.Error(), "label 7 outside the model's 5 classes") {
		t.Errorf("bad label: error %v", err)
	}
	// A model whose parameters had gradients gets them back.
	p := nn.Parameters(m)[0].Var
	p.ZeroGrad()
	p.Grad.Data[0] = 42
	grad := p.Grad
	if _, err := CalibrateFrom(m, g, tensorBatches(tensor.New(2, 3, 6, 6), []int{0, 1}, 2)); err != nil {
		t.Fatal(err)
	}
	if p.Grad != grad || p.Grad.Data[0] != 42 {
		t.Error("Calibrate did not give a parameter its gradient back")
	}
}
