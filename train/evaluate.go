package train

import (
	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Result is the outcome of an evaluation.
type Result struct {
	Correct, Total int
	Loss           float64 // mean cross-entropy
}

// Accuracy returns Correct/Total.
func (r Result) Accuracy() float64 { return float64(r.Correct) / float64(r.Total) }

// Evaluator measures a model on a data set without recording gradients,
// reusing its buffers across calls.
type Evaluator struct {
	Batch     int
	Mean, Std [3]float32
	// Eager runs the training-path forward pass (nn.Module.Forward) instead of the
	// compiled form: its results then agree to the last bit with other computations on
	// that path (the compiled form folds BatchNorm, which changes the rounding).
	Eager bool

	c      *nn.Ctx
	x      []float32
	idx    []int
	labels []int
	pred   []int
	losses []float32
}

// NewEvaluator returns an Evaluator for batches of the given size.
func NewEvaluator(batch int, mean, std [3]float32) *Evaluator {
	return &Evaluator{Batch: batch, Mean: mean, Std: std, c: nn.NewCtx(),
		x: make([]float32, batch*data.ImageBytes), idx: make([]int, batch), labels: make([]int, batch),
		pred: make([]int, batch), losses: make([]float32, batch)}
}

// ensure grows the image buffer to a batch of d's images.
func (e *Evaluator) ensure(d *data.Dataset) {
	if need := e.Batch * d.BytesPerImage(); len(e.x) < need {
		e.x = make([]float32, need)
	}
}

// Run evaluates m (put in evaluation mode; the caller restores training
// mode) on every image of d, at d's image size ([b, 3, H, W] batches), and returns the counts and the mean
// cross-entropy, summed in float64. It runs m's compiled inference form
// (package infer: BatchNorm folded, weights prepared once per call of Run),
// or, for a model that does not compile (a layer infer does not know), m's
// training-path forward pass in evaluation mode.
func (e *Evaluator) Run(m nn.Module, d *data.Dataset) Result {
	nn.SetTraining(m, false)
	e.ensure(d)
	h, w := d.Size()
	per := d.BytesPerImage()
	if tape := e.c.Tape; tape != nil { // evaluate without recording
		e.c.Tape = nil
		defer func() { e.c.Tape = tape; tape.Reset() }()
	}
	forward := func(x *tensor.Tensor) *tensor.Tensor {
		e.c.Reset()
		return m.Forward(e.c, autograd.NewVar(x)).Value
	}
	if e.Eager {
		// the training-path forward above
	} else if cm, err := infer.Compile(m, []int{data.Channels, h, w}, infer.Options{Batch: e.Batch}); err == nil {
		r := cm.NewRunner(e.Batch)
		forward = func(x *tensor.Tensor) *tensor.Tensor {
			y, err := r.Run(x)
			if err != nil {
				panic(err) // the shapes are ours
			}
			return y
		}
	}
	var res Result
	var lossSum float64
	n := d.Len()
	for i0 := 0; i0 < n; i0 += e.Batch {
		b := min(e.Batch, n-i0)
		for j := range b {
			e.idx[j] = i0 + j
			e.labels[j] = int(d.Labels[i0+j])
		}
		d.Normalize(e.x, e.idx[:b], e.Mean, e.Std)
		x := tensor.FromSlice(e.x[:b*per], b, data.Channels, h, w)
		logits := forward(x)
		tensor.CrossEntropy(e.losses[:b], logits, e.labels[:b])
		tensor.Argmax(e.pred[:b], logits)
		for j := range b {
			lossSum += float64(e.losses[j])
			if e.pred[j] == e.labels[j] {
				res.Correct++
			}
		}
		res.Total += b
	}
	res.Loss = lossSum / float64(res.Total)
	return res
}
