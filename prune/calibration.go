package prune

import (
	"errors"
	"fmt"
	"math"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Calibration gathers the statistics of a model batch by batch: Add runs
// one batch, Stats returns the statistics of every sample added so far
// (and may be called again after more batches: nested calibration sets
// from one pass), Close puts the model back as it was found. Between
// NewCalibration and Close the model's BatchNorm2d and Dropout layers are
// in evaluation mode and its parameters track squared gradients, so it
// must not be used for anything else, and a model has one Calibration at a
// time.
type Calibration struct {
	m      nn.Module
	g      *Graph
	f      FisherConfig
	params []nn.NamedEntry
	undo   func()
	closed bool

	c                 *nn.Ctx
	taylor            map[*Group]*taylorSums
	channel           *channelSums
	taylorSum, filter map[*Group][]float64
	n, batches        int
	lossSum           float64
	perSample         []float32
	p                 []float64 // softmax of one sample
	labels            [][]int   // per sample: the label of each pass (sampled, exact)
	weights           [][]float64
	grad              *tensor.Tensor // ∂/∂logits of one pass
}

// NewCalibration starts a calibration of m, whose channel groups are g (a
// Trace of m), with the Fisher diagonal estimated as f says.
func NewCalibration(m nn.Module, g *Graph, f FisherConfig) (*Calibration, error) {
	if g == nil || g.Model != m {
		return nil, errors.New("prune: calibration needs the Graph traced from the same model")
	}
	if err := f.Validate(); err != nil {
		return nil, err
	}
	cal := &Calibration{m: m, g: g, f: f, params: nn.Parameters(m), c: nn.NewCtx(), channel: newChannelSums(g)}
	restoreModes := nn.EvalMode(m)
	oldGrad := make([]*tensor.Tensor, len(cal.params))
	oldSq := make([]*tensor.Tensor, len(cal.params))
	for i, p := range cal.params {
		oldGrad[i], oldSq[i] = p.Var.Grad, p.Var.SqGrad
		p.Var.Grad = nil
	}
	nn.TrackSquaredGrads(m, true)
	cal.undo = func() {
		nn.TrackSquaredGrads(m, false)
		for i, p := range cal.params {
			p.Var.Grad, p.Var.SqGrad = oldGrad[i], oldSq[i]
		}
		restoreModes()
	}
	if f.kind() == FisherEmpirical {
		cal.taylor = newTaylorSums(g)
		cal.taylorSum, cal.filter = map[*Group][]float64{}, map[*Group][]float64{}
		for gr, t := range cal.taylor {
			cal.taylorSum[gr] = make([]float64, len(t.all))
			cal.filter[gr] = make([]float64, len(t.all))
		}
	}
	cal.c.Record(true)
	return cal, nil
}

// N returns the number of samples added so far.
func (cal *Calibration) N() int { return cal.n }

// Close puts the model back as NewCalibration found it (modes, gradients,
// squared-gradient tracking). It may be called more than once; Add fails
// after it.
func (cal *Calibration) Close() {
	if !cal.closed {
		cal.closed = true
		cal.undo()
	}
}

// Add runs one batch, x: [b, C, H, W] as the model takes it and labels:
// [b] class indices (neither is kept). The true labels give the mean
// loss; the Fisher diagonal comes from the kind's labels:
//
//   - empirical: one forward and backward pass through the mean
//     cross-entropy of the true labels with SampleScale b, which also feeds
//     the Taylor sums;
//   - sampled, exact: f.Passes(classes) forward and backward passes; in
//     pass j the gradient of the logits of sample n is √w_{n,j}·(p_n −
//     e_{y_{n,j}}), −√w times the gradient of log p(y_{n,j}|x_n), with the
//     labels and weights of fisherLabels, and SampleScale 1, so the
//     squared-gradient hooks add Σ_j w_{n,j}·(∂ log p(y_{n,j}|x_n)/∂w)².
//     Stats has no Taylor sums then.
func (cal *Calibration) Add(x *tensor.Tensor, labels []int) error {
	if cal.closed {
		return errors.New("prune: calibration: Add after Close")
	}
	b := x.Shape[0]
	if b == 0 {
		return nil
	}
	if len(labels) != b {
		return fmt.Errorf("prune: calibration batch of %d images with %d labels", b, len(labels))
	}
	empirical := cal.f.kind() == FisherEmpirical
	passes := 1
	for j := 0; j < passes; j++ {
		cal.c.Reset()
		for _, p := range cal.params {
			p.Var.ZeroGrad()
		}
		y, err := forward(cal.c, cal.m, autograd.NewVar(x))
		if err != nil {
			return err
		}
		if j == 0 {
			if err := cal.checkOutput(y.Value, labels); err != nil {
				return err
			}
			if !empirical {
				passes = cal.f.Passes(y.Value.Shape[1])
				cal.drawLabels(y.Value)
			}
		}
		cal.perSample = slices.Grow(cal.perSample[:0], b)[:b]
		if empirical {
			cal.c.Tape.SampleScale = float32(b)
			cal.c.Backward(nn.CrossEntropy(cal.c, y, labels, 0, cal.perSample))
			for gr, t := range cal.taylor {
				t.add(cal.taylorSum[gr], cal.filter[gr])
			}
			if err := cal.channel.add(cal.c.Tape.Nodes, cal.g.ops, b, float64(b)); err != nil {
				return err
			}
			continue
		}
		if j == 0 {
			tensor.CrossEntropy(cal.perSample, y.Value, labels)
		}
		cal.c.Tape.SampleScale = 1
		cal.c.Tape.BackwardFrom(y, cal.passGrad(y.Value, j))
		if err := cal.channel.add(cal.c.Tape.Nodes, cal.g.ops, b, 1); err != nil {
			return err
		}
	}
	for _, l := range cal.perSample {
		cal.lossSum += float64(l)
	}
	cal.n += b
	cal.batches++
	return nil
}

// checkOutput checks that the logits are [b, classes] and the labels in
// range.
func (cal *Calibration) checkOutput(y *tensor.Tensor, labels []int) error {
	b := len(labels)
	if y.Dims() != 2 || y.Shape[0] != b {
		return fmt.Errorf("prune: calibration: the model's output has shape %v, want [%d, classes]", y.Shape, b)
	}
	for _, l := range labels {
		if l < 0 || l >= y.Shape[1] {
			return fmt.Errorf("prune: calibration: label %d outside the model's %d classes", l, y.Shape[1])
		}
	}
	return nil
}

// drawLabels fills cal.labels and cal.weights for the batch whose logits
// are y: [b, classes], the samples at positions cal.n … cal.n+b−1.
func (cal *Calibration) drawLabels(y *tensor.Tensor) {
	b, k := y.Shape[0], y.Shape[1]
	cal.p = slices.Grow(cal.p[:0], k)[:k]
	for len(cal.labels) < b {
		cal.labels = append(cal.labels, nil)
		cal.weights = append(cal.weights, nil)
	}
	for n := range b {
		softmax64(cal.p, y.Data[n*k:(n+1)*k])
		cal.labels[n], cal.weights[n] = fisherLabels(cal.f, cal.p, cal.n+n, cal.labels[n], cal.weights[n])
	}
}

// passGrad returns the gradient of the logits y: [b, classes] for pass j:
// row n is √w·(softmax(y_n) − e_y) with sample n's label y and weight w of
// that pass.
func (cal *Calibration) passGrad(y *tensor.Tensor, j int) *tensor.Tensor {
	b, k := y.Shape[0], y.Shape[1]
	if cal.grad == nil || cal.grad.Numel() != b*k {
		cal.grad = tensor.New(b, k)
	}
	for n := range b {
		softmax64(cal.p, y.Data[n*k:(n+1)*k])
		s := math.Sqrt(cal.weights[n][j])
		row := cal.grad.Data[n*k : (n+1)*k]
		for c := range k {
			row[c] = float32(s * cal.p[c])
		}
		row[cal.labels[n][j]] -= float32(s)
	}
	return cal.grad
}

// Stats returns the statistics of the samples added so far; it is an
// error when there are none. The Fisher kind is in Stats.FisherKind.
func (cal *Calibration) Stats() (*Stats, error) {
	if cal.n == 0 {
		return nil, errors.New("prune: calibration saw no samples")
	}
	st := &Stats{N: cal.n, Batches: cal.batches, Loss: cal.lossSum / float64(cal.n), FisherKind: cal.f.kind(),
		Fisher: map[string]*tensor.Tensor{}, graph: cal.g, channels: map[*Group]int{}}
	for _, gr := range cal.g.Prunable() {
		st.channels[gr] = gr.Channels
	}
	inv := 1 / float32(cal.n)
	for _, p := range cal.params {
		if p.Var.SqGrad == nil {
			continue
		}
		f := p.Var.SqGrad.Clone()
		for i := range f.Data {
			f.Data[i] *= inv
		}
		st.Fisher[p.Key] = f
	}
	st.Channel = map[*Group][]float64{}
	for i, gr := range cal.channel.groups {
		st.Channel[gr] = make([]float64, gr.Channels)
		for c, v := range cal.channel.sum[i] {
			st.Channel[gr][c] = v / float64(cal.n)
		}
	}
	if cal.taylor != nil {
		st.Taylor, st.TaylorFilter = map[*Group][]float64{}, map[*Group][]float64{}
		for gr := range cal.taylor {
			st.Taylor[gr] = make([]float64, len(cal.taylorSum[gr]))
			st.TaylorFilter[gr] = make([]float64, len(cal.filter[gr]))
			for i := range st.Taylor[gr] {
				st.Taylor[gr][i] = cal.taylorSum[gr][i] / float64(cal.batches)
				st.TaylorFilter[gr][i] = cal.filter[gr][i] / float64(cal.batches)
			}
		}
	}
	return st, nil
}

// CalibState is the running sums of a Calibration after some batches, for
// continuing a long calibration in another process: NewCalibration with
// the same model, Graph and FisherConfig, Restore, then Add the batches
// that follow. The continued calibration's Stats equal an uninterrupted
// one's bit for bit. It encodes to JSON exactly (float32 and float64
// values round-trip).
type CalibState struct {
	FisherKind string  `json:"fisher"`
	N          int     `json:"n"`
	Batches    int     `json:"batches"`
	LossSum    float64 `json:"loss_sum"`
	// SqGrad is Σ_n of the per-sample squared gradients by parameter key.
	SqGrad map[string][]float32 `json:"sq_grad"`
	// Taylor and TaylorFilter are the Taylor sums of the Graph's prunable
	// groups, in the order of Graph.Prunable (empirical Fisher only).
	Taylor       [][]float64 `json:"taylor,omitempty"`
	TaylorFilter [][]float64 `json:"taylor_filter,omitempty"`
	// Channel is Σ_n (∂ℓ_n/∂m_c)² of the non-residual prunable groups' channel
	// masks, in the order of Graph.Prunable (see Stats.Channel).
	Channel [][]float64 `json:"channel"`
}

// State returns a copy of the running sums.
func (cal *Calibration) State() *CalibState {
	s := &CalibState{FisherKind: cal.f.kind(), N: cal.n, Batches: cal.batches, LossSum: cal.lossSum, SqGrad: map[string][]float32{}}
	for _, p := range cal.params {
		if p.Var.SqGrad != nil {
			s.SqGrad[p.Key] = slices.Clone(p.Var.SqGrad.Data)
		}
	}
	for _, v := range cal.channel.sum {
		s.Channel = append(s.Channel, slices.Clone(v))
	}
	if cal.taylor != nil {
		for _, gr := range cal.g.Prunable() {
			s.Taylor = append(s.Taylor, slices.Clone(cal.taylorSum[gr]))
			s.TaylorFilter = append(s.TaylorFilter, slices.Clone(cal.filter[gr]))
		}
	}
	return s
}

// Restore sets the running sums to s, which must come from a Calibration
// of the same kind of the same model and Graph (shapes and groups are
// checked); cal must have seen no batch yet.
func (cal *Calibration) Restore(s *CalibState) error {
	if cal.n != 0 {
		return errors.New("prune: calibration: Restore after Add")
	}
	if s.FisherKind != cal.f.kind() {
		return fmt.Errorf("prune: calibration: restoring a state of the %s Fisher into a calibration of the %s Fisher", s.FisherKind, cal.f.kind())
	}
	for _, p := range cal.params {
		if p.Var.SqGrad == nil {
			continue
		}
		v, ok := s.SqGrad[p.Key]
		if !ok || len(v) != len(p.Var.SqGrad.Data) {
			return fmt.Errorf("prune: calibration state: parameter %s missing or of another size", p.Key)
		}
	}
	prunable := cal.g.Prunable()
	if cal.taylor != nil {
		if len(s.Taylor) != len(prunable) || len(s.TaylorFilter) != len(prunable) {
			return fmt.Errorf("prune: calibration state: Taylor sums of %d groups, the Graph has %d", len(s.Taylor), len(prunable))
		}
		for i, gr := range prunable {
			if len(s.Taylor[i]) != gr.Channels || len(s.TaylorFilter[i]) != gr.Channels {
				return fmt.Errorf("prune: calibration state: Taylor sums of group %s have another width", gr)
			}
		}
	}
	if len(s.Channel) != len(cal.channel.groups) {
		return fmt.Errorf("prune: calibration state: channel-mask sums of %d groups, the Graph has %d", len(s.Channel), len(cal.channel.groups))
	}
	for i, gr := range cal.channel.groups {
		if len(s.Channel[i]) != gr.Channels {
			return fmt.Errorf("prune: calibration state: channel-mask sums of group %s have another width", gr)
		}
	}
	for _, p := range cal.params {
		if p.Var.SqGrad != nil {
			copy(p.Var.SqGrad.Data, s.SqGrad[p.Key])
		}
	}
	for i := range cal.channel.groups {
		copy(cal.channel.sum[i], s.Channel[i])
	}
	if cal.taylor != nil {
		for i, gr := range prunable {
			copy(cal.taylorSum[gr], s.Taylor[i])
			copy(cal.filter[gr], s.TaylorFilter[i])
		}
	}
	cal.n, cal.batches, cal.lossSum = s.N, s.Batches, s.LossSum
	return nil
}

// forward runs m, turning a panic (an input of the wrong shape) into an error.
func forward(c *nn.Ctx, m nn.Module, x *autograd.Var) (y *autograd.Var, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("prune: forward pass of %s on an input of shape %v: %v", m, x.Value.Shape, r)
		}
	}()
	return m.Forward(c, x), nil
}
