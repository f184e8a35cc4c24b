package classify

import (
	"errors"
	"fmt"
	"image"
	"runtime"
	"slices"
	"sync"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// DefaultMaxBatch is the largest batch one forward pass computes unless Options say
// otherwise.
const DefaultMaxBatch = 32

// Options are the settings of Load and New; the zero value serves most programs.
type Options struct {
	// Arch names the architecture when the model file does not (see zoo.Load); when both
	// do, they must agree.
	Arch string
	// MaxBatch is the most images one forward pass computes (0: DefaultMaxBatch); larger
	// batches are split. The compiled plan is tuned for it (infer.Options.Batch): two
	// Classifiers with the same MaxBatch give bit-identical results.
	MaxBatch int
	// Runners is the most forward passes that run at once (0: runtime.GOMAXPROCS(0)).
	// Each holds the activations of MaxBatch images; more callers wait for a free one.
	Runners int
}

// A Classifier classifies images with a compiled model. It is safe for concurrent use by
// any number of goroutines: the compiled weights are shared and read-only, and each call
// borrows one of up to Options.Runners infer.Runners (created when first needed, then
// kept), waiting while all are busy. Results never depend on the concurrency, nor on
// which images share a batch.
type Classifier struct {
	model    *infer.Model
	arch     string
	meta     zoo.Meta
	names    []string
	inShape  []int // [3, H, W]
	classes  int
	macs     int64
	maxBatch int
	tr       transform
	norm     *normTable

	sem     chan struct{}      // one token per runner in use
	idle    chan *infer.Runner // runners not in use
	scratch sync.Pool          // *scratch
}

// Load reads a model file (safetensors with Bonsai's metadata: zoo.Load) and returns its
// Classifier. The file must give the input normalisation (metadata "mean" and "std") and,
// unless o.Arch does, the architecture; class names come from its "classes", else from the
// architecture's convention (zoo.Arch.ClassNames).
func Load(path string, o Options) (*Classifier, error) {
	m, meta, err := zoo.Load(path, o.Arch)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	c, err := New(m, meta, o)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// New returns a Classifier for m, a model of the architecture meta.Arch (zoo.Lookup) in
// evaluation mode, whose inputs are normalised with meta.Mean and meta.Std (three values
// each) and whose outputs are named by meta.Classes (or the architecture's convention).
// m is compiled (infer.Compile): later changes to it do not reach the Classifier.
func New(m nn.Module, meta zoo.Meta, o Options) (*Classifier, error) {
	if meta.Arch == "" {
		meta.Arch = o.Arch
	}
	if meta.Arch == "" {
		return nil, fmt.Errorf("classify: %w (metadata %q): name one in Options.Arch", zoo.ErrNoArch, zoo.MetaArch)
	}
	a, err := zoo.Lookup(meta.Arch)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	for _, v := range []struct {
		key  string
		vals []float32
	}{{zoo.MetaMean, meta.Mean}, {zoo.MetaStd, meta.Std}} {
		switch {
		case v.vals == nil:
			return nil, fmt.Errorf("classify: no input normalisation: the metadata has no %q", v.key)
		case len(v.vals) != 3:
			return nil, fmt.Errorf("classify: metadata %q has %d values, want 3 (R, G, B)", v.key, len(v.vals))
		}
	}
	for _, s := range meta.Std {
		if !(s > 0) {
			return nil, fmt.Errorf("classify: metadata %q = %v: every value must be positive", zoo.MetaStd, meta.Std)
		}
	}
	if o.MaxBatch < 0 || o.Runners < 0 {
		return nil, fmt.Errorf("classify: Options.MaxBatch %d and Runners %d must be ≥ 0", o.MaxBatch, o.Runners)
	}
	maxBatch := o.MaxBatch
	if maxBatch == 0 {
		maxBatch = DefaultMaxBatch
	}
	runners := o.Runners
	if runners == 0 {
		runners = runtime.GOMAXPROCS(0)
	}
	in := a.InputShape
	if len(in) != 3 || in[0] != 3 {
		return nil, fmt.Errorf("classify: architecture %s takes inputs %v, not RGB images [3 H W]", a.Name, in)
	}
	cm, err := infer.Compile(m, in, infer.Options{Batch: maxBatch})
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	out := cm.OutShape()
	if len(out) != 1 {
		return nil, fmt.Errorf("classify: the model's output per image has shape %v, want [classes]", out)
	}
	names := meta.Classes
	switch {
	case names != nil && len(names) != out[0]:
		return nil, fmt.Errorf("classify: metadata %q names %d classes, the model has %d outputs", zoo.MetaClasses, len(names), out[0])
	case names == nil:
		if def := a.ClassNames(); len(def) == out[0] {
			names = def
		}
	}
	c := &Classifier{
		model: cm, arch: a.Name, meta: meta, names: slices.Clone(names),
		inShape: slices.Clone(in), classes: out[0], macs: nn.Summarize(m, in...).MACs,
		maxBatch: maxBatch, tr: transformFor(in[1], in[2]), norm: newNormTable(meta.Mean, meta.Std),
		sem: make(chan struct{}, runners), idle: make(chan *infer.Runner, runners),
	}
	c.scratch.New = func() any { return new(scratch) }
	return c, nil
}

// Arch returns the architecture's name ("resnet20").
func (c *Classifier) Arch() string { return c.arch }

// Meta returns the model file's metadata.
func (c *Classifier) Meta() zoo.Meta { return c.meta }

// InputShape returns the shape of one preprocessed image, [3, H, W].
func (c *Classifier) InputShape() []int { return slices.Clone(c.inShape) }

// Classes returns the number of output classes.
func (c *Classifier) Classes() int { return c.classes }

// Names returns the class names indexed by class, or nil when neither the file nor the
// architecture gives them.
func (c *Classifier) Names() []string { return slices.Clone(c.names) }

// MACs returns the multiply-accumulates of one image's forward pass.
func (c *Classifier) MACs() int64 { return c.macs }

// MaxBatch returns the most images one forward pass computes.
func (c *Classifier) MaxBatch() int { return c.maxBatch }

// Preprocess writes img as the model takes it into dst (3·H·W floats, CHW; see
// InputShape): converted to RGB, resized and cropped by the architecture's convention
// (see the package documentation), normalised with the file's mean and std. It is safe
// for concurrent use.
func (c *Classifier) Preprocess(dst []float32, img image.Image) error {
	if n := tensor.Numel(c.inShape); len(dst) != n {
		return fmt.Errorf("classify: Preprocess into %d floats, the model takes %d (%v)", len(dst), n, c.inShape)
	}
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	return preprocess(dst, img, c.tr, c.norm, s)
}

// Classify returns img's k most probable classes, most probable first (k is capped at
// Classes()).
func (c *Classifier) Classify(img image.Image, k int) ([]Prediction, error) {
	p, err := c.ClassifyBatch([]image.Image{img}, k)
	if err != nil {
		return nil, err
	}
	return p[0], nil
}

// ClassifyBatch returns each image's k most probable classes, computing up to MaxBatch
// images per forward pass.
func (c *Classifier) ClassifyBatch(imgs []image.Image, k int) ([][]Prediction, error) {
	if err := c.checkK(k); err != nil {
		return nil, err
	}
	per := tensor.Numel(c.inShape)
	n := min(len(imgs), c.maxBatch)
	x := tensor.New(append([]int{n}, c.inShape...)...)
	s := c.scratch.Get().(*scratch)
	defer c.scratch.Put(s)
	out := make([][]Prediction, 0, len(imgs))
	for lo := 0; lo < len(imgs); lo += c.maxBatch {
		hi := min(lo+c.maxBatch, len(imgs))
		for i, img := range imgs[lo:hi] {
			if img == nil {
				return nil, fmt.Errorf("classify: image %d is nil", lo+i)
			}
			if err := preprocess(x.Data[i*per:(i+1)*per], img, c.tr, c.norm, s); err != nil {
				return nil, fmt.Errorf("image %d: %w", lo+i, err)
			}
		}
		p, err := c.run(x.Data[:(hi-lo)*per], hi-lo, k)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

// ClassifyTensor returns the k most probable classes of each image of x: [N, 3, H, W]
// (see InputShape), already preprocessed and normalised (see Preprocess). x is only read.
func (c *Classifier) ClassifyTensor(x *tensor.Tensor, k int) ([][]Prediction, error) {
	if err := c.checkK(k); err != nil {
		return nil, err
	}
	if len(x.Shape) != 4 || !slices.Equal(x.Shape[1:], c.inShape) || x.Shape[0] < 1 || len(x.Data) != tensor.Numel(x.Shape) {
		return nil, fmt.Errorf("classify: input of shape %v, want [N %v] with N ≥ 1", x.Shape, c.inShape)
	}
	per := tensor.Numel(c.inShape)
	out := make([][]Prediction, 0, x.Shape[0])
	for lo := 0; lo < x.Shape[0]; lo += c.maxBatch {
		hi := min(lo+c.maxBatch, x.Shape[0])
		p, err := c.run(x.Data[lo*per:hi*per], hi-lo, k)
		if err != nil {
			return nil, err
		}
		out = append(out, p...)
	}
	return out, nil
}

func (c *Classifier) checkK(k int) error {
	if k < 1 {
		return fmt.Errorf("classify: top %d: want k ≥ 1", k)
	}
	return nil
}

// run computes n ≤ MaxBatch images and returns their top k.
func (c *Classifier) run(data []float32, n, k int) ([][]Prediction, error) {
	r := c.acquire()
	defer c.release(r)
	x := tensor.FromSlice(data, append([]int{n}, c.inShape...)...)
	y, err := r.Run(x)
	if err != nil {
		return nil, fmt.Errorf("classify: %w", err)
	}
	out := make([][]Prediction, n)
	probs := make([]float64, c.classes)
	for i := range out {
		logits := y.Data[i*c.classes : (i+1)*c.classes]
		if !Softmax(probs, logits) {
			return nil, errors.New("classify: the model's output is not finite")
		}
		out[i] = TopK(probs, k, c.names)
	}
	return out, nil
}

// acquire returns an idle runner, or a new one while fewer than cap(sem) exist, waiting
// for one otherwise.
func (c *Classifier) acquire() *infer.Runner {
	c.sem <- struct{}{}
	select {
	case r := <-c.idle:
		return r
	default:
		return c.model.NewRunner(c.maxBatch)
	}
}

func (c *Classifier) release(r *infer.Runner) {
	c.idle <- r
	<-c.sem
}
