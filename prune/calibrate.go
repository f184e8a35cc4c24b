package prune

import (
	"errors"
	"fmt"
	"iter"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// DefaultCalibBatch is the batch size of a calibration run when
// CalibConfig.Batch is 0.
const DefaultCalibBatch = 128

// CalibConfig says which images a calibration run sees.
type CalibConfig struct {
	// N is the number of images drawn from the data set, without
	// replacement; it must be in 1 … d.Len() (4096 is a good choice for
	// CIFAR-10).
	N int
	// Batch is the batch size of the passes (0: DefaultCalibBatch). It
	// changes the Taylor statistics (which square batch gradients), not
	// the Fisher diagonal, which is per sample.
	Batch int
	// Seed draws the images: they are the first N of
	// data.Permutation(d.Len(), Seed, CalibEpoch).
	Seed uint64
	// Mean and Std normalise the pixels (data.Dataset.Normalize); they
	// must be the model's own normalisation, and Std must not be zero.
	Mean, Std [3]float32
}

// CalibEpoch is the epoch number Calibrate passes to data.Permutation. It
// is far from any training epoch, so the calibration draw of a seed is not
// the order of a training epoch of the same seed.
const CalibEpoch = 1<<31 - 1

// Stats are the statistics of a calibration run (Calibrate,
// CalibrateFrom) of a model and its Graph, which the criteria that need
// data read. They describe the model as it was: after surgery they are
// stale, and the criteria say so instead of using them.
type Stats struct {
	// N is the number of samples and Batches the number of passes.
	N, Batches int
	// Loss is the mean cross-entropy over the N samples.
	Loss float64
	// Fisher is the empirical Fisher diagonal of every parameter that
	// tracks per-sample squared gradients (nn.TrackSquaredGrads: Conv2d
	// and Linear weights and biases, BatchNorm2d γ and β), by state-dict
	// key, with the parameter's shape:
	//
	//	F_i = (1/N)·Σ_n (∂ℓ_n/∂w_i)²
	//
	// with ℓ_n sample n's own cross-entropy; OBD's h_ii. It is never the
	// square of a batch gradient.
	Fisher map[string]*tensor.Tensor
	// Taylor holds, for every prunable group of the calibrated Graph and
	// each of its channels c (len = the group's Channels), Molchanov et
	// al.'s (2019) first-order estimate averaged over the B batches,
	//
	//	(1/B)·Σ_b (Σ_{s ∈ Params(c)} g_s·w_s)²
	//
	// with g the batch-mean gradient of batch b, summed over every
	// parameter element of the channel (scope "all"). TaylorFilter is the
	// same over the producers' filters and biases only (scope "filter").
	Taylor, TaylorFilter map[*Group][]float64

	graph    *Graph
	channels map[*Group]int // the groups' widths at calibration
}

// Calibrate draws c.N images of d (the training split; no augmentation)
// with c.Seed and gathers the statistics of m, whose channel groups are g
// (a Trace of m), over them: see CalibrateFrom. The draw is the first
// c.N entries of data.Permutation(d.Len(), c.Seed, CalibEpoch), in
// batches of c.Batch in that order.
func Calibrate(m nn.Module, g *Graph, d *data.Dataset, c CalibConfig) (*Stats, error) {
	if d == nil || d.Len() == 0 {
		return nil, errors.New("prune: calibration needs a data set with images")
	}
	if c.N <= 0 || c.N > d.Len() {
		return nil, fmt.Errorf("prune: calibration over %d images of a data set of %d: want 1 … %d", c.N, d.Len(), d.Len())
	}
	for i, s := range c.Std {
		if s == 0 {
			return nil, fmt.Errorf("prune: calibration: std of channel %d is 0; give the model's input normalisation", i)
		}
	}
	batch := c.Batch
	if batch == 0 {
		batch = DefaultCalibBatch
	}
	if batch < 0 {
		return nil, fmt.Errorf("prune: calibration batch size %d", batch)
	}
	idx := data.Permutation(d.Len(), c.Seed, CalibEpoch)[:c.N]
	return CalibrateFrom(m, g, datasetBatches(d, idx, batch, c.Mean, c.Std))
}

// datasetBatches yields the images idx of d, normalised, in batches of
// size batch: x is [b, 3, 32, 32] and labels [b], valid until the next
// batch.
func datasetBatches(d *data.Dataset, idx []int, batch int, mean, std [3]float32) iter.Seq2[*tensor.Tensor, []int] {
	return func(yield func(*tensor.Tensor, []int) bool) {
		buf := make([]float32, batch*data.ImageBytes)
		labels := make([]int, batch)
		for i0 := 0; i0 < len(idx); i0 += batch {
			b := min(batch, len(idx)-i0)
			d.Normalize(buf, idx[i0:i0+b], mean, std)
			for j := range b {
				labels[j] = int(d.Labels[idx[i0+j]])
			}
			x := tensor.FromSlice(buf[:b*data.ImageBytes], b, data.Channels, data.ImageSize, data.ImageSize)
			if !yield(x, labels[:b]) {
				return
			}
		}
	}
}

// CalibrateFrom gathers the statistics of m over the batches of batches
// (x: [b, C, H, W] as m takes it, labels: [b] class indices; both may be
// reused by the sequence after each step), where g is a Trace of m. Each
// batch runs forward and backward through the mean cross-entropy with
// BatchNorm2d and Dropout in evaluation mode and the tape's SampleScale
// set to b, so that each parameter's SqGrad accumulates Σ_n (∂ℓ_n/∂w)² of
// each sample's own loss (nn.TrackSquaredGrads), and the batch-mean
// gradients feed the Taylor sums. Afterwards the layers' modes, the
// parameters' gradients (Var.Grad) and their squared-gradient tracking are
// what they were before the call (tracking is switched off), so the model
// is left as it was found. A sequence with no samples is an error.
func CalibrateFrom(m nn.Module, g *Graph, batches iter.Seq2[*tensor.Tensor, []int]) (*Stats, error) {
	if g == nil || g.Model != m {
		return nil, errors.New("prune: calibration needs the Graph traced from the same model")
	}
	restore := evalMode(m, map[nn.Module]string{})
	defer restore()
	params := nn.Parameters(m)
	oldGrad := make([]*tensor.Tensor, len(params))
	oldSq := make([]*tensor.Tensor, len(params))
	for i, p := range params {
		oldGrad[i], oldSq[i] = p.Var.Grad, p.Var.SqGrad
		p.Var.Grad = nil
	}
	nn.TrackSquaredGrads(m, true)
	defer func() {
		nn.TrackSquaredGrads(m, false)
		for i, p := range params {
			p.Var.Grad, p.Var.SqGrad = oldGrad[i], oldSq[i]
		}
	}()

	st := &Stats{Fisher: map[string]*tensor.Tensor{}, Taylor: map[*Group][]float64{},
		TaylorFilter: map[*Group][]float64{}, graph: g, channels: map[*Group]int{}}
	taylor := newTaylorSums(g)
	for gr, t := range taylor {
		st.Taylor[gr] = make([]float64, len(t.all))
		st.TaylorFilter[gr] = make([]float64, len(t.all))
		st.channels[gr] = gr.Channels
	}

	c := nn.NewCtx()
	c.Record(true)
	var lossSum float64
	var perSample []float32
	for x, labels := range batches {
		b := x.Shape[0]
		if b == 0 {
			continue
		}
		if len(labels) != b {
			return nil, fmt.Errorf("prune: calibration batch of %d images with %d labels", b, len(labels))
		}
		c.Reset()
		for _, p := range params {
			p.Var.ZeroGrad()
		}
		c.Tape.SampleScale = float32(b)
		y, err := forward(c, m, autograd.NewVar(x))
		if err != nil {
			return nil, err
		}
		if y.Value.Dims() != 2 || y.Value.Shape[0] != b {
			return nil, fmt.Errorf("prune: calibration: the model's output has shape %v, want [%d, classes]", y.Value.Shape, b)
		}
		for _, l := range labels {
			if l < 0 || l >= y.Value.Shape[1] {
				return nil, fmt.Errorf("prune: calibration: label %d outside the model's %d classes", l, y.Value.Shape[1])
			}
		}
		perSample = slices.Grow(perSample[:0], b)[:b]
		c.Backward(nn.CrossEntropy(c, y, labels, 0, perSample))
		for _, l := range perSample {
			lossSum += float64(l)
		}
		for gr, t := range taylor {
			t.add(st.Taylor[gr], st.TaylorFilter[gr])
		}
		st.N += b
		st.Batches++
	}
	if st.N == 0 {
		return nil, errors.New("prune: calibration saw no samples")
	}
	st.Loss = lossSum / float64(st.N)
	for _, p := range params {
		if p.Var.SqGrad == nil {
			continue
		}
		f := p.Var.SqGrad.Clone()
		inv := 1 / float32(st.N)
		for i := range f.Data {
			f.Data[i] *= inv
		}
		st.Fisher[p.Key] = f
	}
	for gr := range taylor {
		for i := range st.Taylor[gr] {
			st.Taylor[gr][i] /= float64(st.Batches)
			st.TaylorFilter[gr][i] /= float64(st.Batches)
		}
	}
	return st, nil
}

// taylorSums holds, for one group, the parameter slices of each channel
// (all of them, and the producers' filters and biases).
type taylorSums struct {
	all, filter [][]ParamSlice
}

// newTaylorSums lists the parameter slices of every channel of every
// prunable group of g.
func newTaylorSums(g *Graph) map[*Group]*taylorSums {
	out := map[*Group]*taylorSums{}
	for _, gr := range g.Prunable() {
		t := &taylorSums{all: make([][]ParamSlice, gr.Channels), filter: make([][]ParamSlice, gr.Channels)}
		for c := range gr.Channels {
			t.all[c] = gr.Params(c)
			t.filter[c] = filterParams(t.all[c])
		}
		out[gr] = t
	}
	return out
}

// add adds, for each channel, (Σ g·w)² over its slices to all and filter.
func (t *taylorSums) add(all, filter []float64) {
	dot := func(ps []ParamSlice) float64 {
		var s float64
		for _, p := range ps {
			if p.Var.Grad == nil {
				continue
			}
			g, w := p.Var.Grad.Data, p.Var.Value.Data
			for _, i := range p.Index {
				s += float64(g[i]) * float64(w[i])
			}
		}
		return s
	}
	for c := range t.all {
		a, f := dot(t.all[c]), dot(t.filter[c])
		all[c] += a * a
		filter[c] += f * f
	}
}

// filterParams keeps the slices of producer (Side Out) Conv2d and Linear
// weights and biases: a channel's filter.
func filterParams(ps []ParamSlice) []ParamSlice {
	var out []ParamSlice
	for _, p := range ps {
		if p.Dep.Side != Out {
			continue
		}
		switch p.Dep.Module.(type) {
		case *nn.Conv2d, *nn.Linear:
			out = append(out, p)
		}
	}
	return out
}

// check returns an error unless s are statistics of g's model as it is
// now; what names the criterion that needs them.
func (s *Stats) check(g *Graph, what string) error {
	if s == nil {
		return fmt.Errorf("prune: criterion %s needs calibration statistics (run Calibrate first); there are none", what)
	}
	if s.graph != g {
		return fmt.Errorf("prune: criterion %s: the statistics were gathered for another Graph; calibrate this one", what)
	}
	for gr, c := range s.channels {
		if gr.Channels != c {
			return fmt.Errorf("prune: criterion %s: the statistics are stale: group %s had %d channels at calibration and has %d now; calibrate again after pruning",
				what, gr, c, gr.Channels)
		}
	}
	return nil
}
