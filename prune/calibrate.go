package prune

import (
	"errors"
	"fmt"
	"iter"

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
	// Augment gives each image the training crop and flip
	// (data.DrawCropFlipPad(Seed, CalibEpoch, i, d.Pad()) for the i-th
	// image drawn; data.DrawCropFlip(Seed, CalibEpoch, i) at 32×32),
	// so that a model that fits its training images sees them as training
	// did rather than as it has memorised them.
	Augment bool
	// Fisher says how the Fisher diagonal is estimated (the zero value:
	// the empirical Fisher).
	Fisher FisherConfig
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
	// Loss is the mean cross-entropy of the true labels over the N
	// samples.
	Loss float64
	// FisherKind is the kind of Fisher diagonal (FisherKinds).
	FisherKind string
	// Fisher is the Fisher diagonal of every parameter that tracks
	// per-sample squared gradients (nn.TrackSquaredGrads: Conv2d and
	// Linear weights and biases, BatchNorm2d γ and β), by state-dict key,
	// with the parameter's shape; OBD's h_ii. For the empirical Fisher
	//
	//	F_i = (1/N)·Σ_n (∂ℓ_n/∂w_i)²
	//
	// with ℓ_n sample n's own cross-entropy of its true label; for the
	// sampled and the exact Fisher, (1/N)·Σ_n Σ_j w_nj·(∂ log p(y_nj|x_n)/∂w_i)²
	// with the labels y_nj and weights w_nj of the kind (see
	// Calibration.Add). It is never the square of a batch gradient.
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
	// Both need the true labels' gradients: they are nil unless FisherKind
	// is FisherEmpirical.
	Taylor, TaylorFilter map[*Group][]float64
	// Channel holds, for every prunable group that is not a residual
	// stream, the Fisher information of each channel's mask m_c (a scale
	// on the channel where its consumers read it: m_c = 0 removes it):
	//
	//	F_c = (1/N)·Σ_n Σ_j w_nj·(∂ℓ_nj/∂m_c)²,   ∂ℓ/∂m_c = Σ_{h,w} a_c·∂ℓ/∂a_c
	//
	// with the labels and weights of the Fisher kind (one true label of
	// weight 1 for the empirical Fisher), per sample like Fisher. Unlike
	// the diagonal, it keeps every correlation between the channel's
	// weights: ½·F_c is OBD's saliency of removing the channel along the
	// mask (the sensitivity criterion's scope "channel").
	Channel map[*Group][]float64

	graph    *Graph
	channels map[*Group]int // the groups' widths at calibration
}

// Calibrate draws c.N images of d (the training split) with c.Seed and
// gathers the statistics of m, whose channel groups are g (a Trace of m),
// over them with c.Fisher: see CalibrateFisher and CalibConfig.Batches.
func Calibrate(m nn.Module, g *Graph, d *data.Dataset, c CalibConfig) (*Stats, error) {
	batches, err := c.Batches(d)
	if err != nil {
		return nil, err
	}
	return CalibrateFisher(m, g, batches, c.Fisher)
}

// Batches returns the calibration images of d that c draws, normalised
// (and augmented when c.Augment), with their labels: the first c.N entries
// of data.Permutation(d.Len(), c.Seed, CalibEpoch), in batches of c.Batch
// in that order (x: [b, 3, H, W] at d's size, labels: [b], valid until the next
// batch). Since the draw of N images begins with the draw of any smaller
// number, a Calibration over them can take the Stats of the smaller sets
// on the way. It is an error when c does not fit d.
func (c CalibConfig) Batches(d *data.Dataset) (iter.Seq2[*tensor.Tensor, []int], error) {
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
	if err := c.Fisher.Validate(); err != nil {
		return nil, err
	}
	batch := c.Batch
	if batch == 0 {
		batch = DefaultCalibBatch
	}
	if batch < 0 {
		return nil, fmt.Errorf("prune: calibration batch size %d", batch)
	}
	idx := data.Permutation(d.Len(), c.Seed, CalibEpoch)[:c.N]
	var aug func(pos int) data.CropFlip
	if c.Augment {
		pad := d.Pad()
		aug = func(pos int) data.CropFlip { return data.DrawCropFlipPad(c.Seed, CalibEpoch, pos, pad) }
	}
	return datasetBatches(d, idx, batch, c.Mean, c.Std, aug), nil
}

// datasetBatches yields the images idx of d, normalised, in batches of
// size batch: x is [b, 3, H, W] (d.Size()) and labels [b], valid until the next
// batch. With aug, the image at position i of idx is augmented by aug(i).
func datasetBatches(d *data.Dataset, idx []int, batch int, mean, std [3]float32, aug func(int) data.CropFlip) iter.Seq2[*tensor.Tensor, []int] {
	return func(yield func(*tensor.Tensor, []int) bool) {
		h, w := d.Size()
		per := d.BytesPerImage()
		buf := make([]float32, batch*per)
		labels := make([]int, batch)
		for i0 := 0; i0 < len(idx); i0 += batch {
			b := min(batch, len(idx)-i0)
			if aug == nil {
				d.Normalize(buf, idx[i0:i0+b], mean, std)
			} else {
				for j := range b {
					d.NormalizeCropFlip(buf[j*per:(j+1)*per], idx[i0+j], aug(i0+j), mean, std)
				}
			}
			for j := range b {
				labels[j] = int(d.Labels[idx[i0+j]])
			}
			x := tensor.FromSlice(buf[:b*per], b, data.Channels, h, w)
			if !yield(x, labels[:b]) {
				return
			}
		}
	}
}

// CalibrateFrom gathers the statistics of m over the batches of batches
// (x: [b, C, H, W] as m takes it, labels: [b] class indices; both may be
// reused by the sequence after each step), where g is a Trace of m, with
// the empirical Fisher. Each batch runs forward and backward through the
// mean cross-entropy with BatchNorm2d and Dropout in evaluation mode and
// the tape's SampleScale set to b, so that each parameter's SqGrad
// accumulates Σ_n (∂ℓ_n/∂w)² of each sample's own loss
// (nn.TrackSquaredGrads), and the batch-mean gradients feed the Taylor
// sums. Afterwards the layers' modes, the parameters' gradients (Var.Grad)
// and their squared-gradient tracking are what they were before the call
// (tracking is switched off), so the model is left as it was found. A
// sequence with no samples is an error. CalibrateFisher takes the other
// Fisher kinds.
func CalibrateFrom(m nn.Module, g *Graph, batches iter.Seq2[*tensor.Tensor, []int]) (*Stats, error) {
	return CalibrateFisher(m, g, batches, FisherConfig{})
}

// CalibrateFisher is CalibrateFrom with the Fisher diagonal estimated as f
// says (see FisherConfig and Calibration.Add).
func CalibrateFisher(m nn.Module, g *Graph, batches iter.Seq2[*tensor.Tensor, []int], f FisherConfig) (*Stats, error) {
	cal, err := NewCalibration(m, g, f)
	if err != nil {
		return nil, err
	}
	defer cal.Close()
	for x, labels := range batches {
		if err := cal.Add(x, labels); err != nil {
			return nil, err
		}
	}
	return cal.Stats()
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

// filterParams keeps the slices of the producers (Side Out: Conv2d and
// Linear weights and biases): a channel's filter.
func filterParams(ps []ParamSlice) []ParamSlice {
	var out []ParamSlice
	for _, p := range ps {
		if p.Dep.Side == Out {
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
