package nn

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// BatchNorm2d normalises each channel, as torch.nn.BatchNorm2d (affine,
// tracking running statistics). In evaluation mode it uses the running
// statistics; in training mode it normalises with the batch statistics
// and updates the running ones (momentum 0.1, unbiased variance).
//
// Shape: x: [N, C, H, W] → y: same.
// State: weight (γ) [C], bias (β) [C], running_mean [C], running_var [C]
// and num_batches_tracked (a 0-d integer).
// Init: γ = 1, β = 0, running_mean = 0, running_var = 1.
type BatchNorm2d struct {
	C                 int
	Eps, Momentum     float32
	Weight, Bias      *autograd.Var
	RunningMean       *autograd.Var
	RunningVar        *autograd.Var
	NumBatchesTracked int64
	Training          bool
}

// NewBatchNorm2d returns a BatchNorm2d over c channels with eps 1e-5 and
// momentum 0.1, in training mode as PyTorch creates it.
func NewBatchNorm2d(c int) *BatchNorm2d {
	if c <= 0 {
		panic(fmt.Sprintf("nn.NewBatchNorm2d: %d channels", c))
	}
	m := &BatchNorm2d{
		C: c, Eps: 1e-5, Momentum: 0.1, Training: true,
		Weight:      autograd.NewParam(tensor.New(c)),
		Bias:        autograd.NewParam(tensor.New(c)),
		RunningMean: autograd.NewVar(tensor.New(c)),
		RunningVar:  autograd.NewVar(tensor.New(c)),
	}
	m.ResetParameters()
	return m
}

// ResetParameters sets γ = 1, β = 0 and the running statistics to 0 and 1.
func (m *BatchNorm2d) ResetParameters() {
	m.Weight.Value.Fill(1)
	m.Bias.Value.Fill(0)
	m.RunningMean.Value.Fill(0)
	m.RunningVar.Value.Fill(1)
	m.NumBatchesTracked = 0
}

// SetTraining selects batch statistics (true) or running statistics (false).
func (m *BatchNorm2d) SetTraining(t bool) { m.Training = t }

// IsTraining reports the mode.
func (m *BatchNorm2d) IsTraining() bool { return m.Training }

// Forward normalises x: [N, C, H, W].
func (m *BatchNorm2d) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	if ch != m.C {
		panic(fmt.Sprintf("nn.BatchNorm2d: input %v has %d channels, layer takes %d", x.Value.Shape, ch, m.C))
	}
	y := c.Get(n, ch, h, w)
	// The statistics used, kept for backward: the batch's in training
	// mode, a copy of the running ones (which may change before backward)
	// in evaluation mode. Both modes take the same arena buffers, so an
	// evaluation pass fits in the buffers of a training pass.
	mean, variance := c.Arena.Get(ch), c.Arena.Get(ch)
	training := m.Training
	if training {
		tensor.BatchNormTrain(y.Value, x.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data, m.Eps)
		m.updateRunning(mean.Data, variance.Data, n*h*w)
	} else {
		copy(mean.Data, m.RunningMean.Value.Data)
		copy(variance.Data, m.RunningVar.Value.Data)
		tensor.BatchNormEval(y.Value, x.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data, m.Eps)
	}
	c.record(OpBatchNorm, m, y, func() {
		dgamma, dbeta := m.paramGrads(c)
		dx, fresh := c.gradOut(x)
		tensor.BatchNormBackward(dx, y.Grad, x.Value, m.Weight.Value.Data, mean.Data, variance.Data, m.Eps,
			training, dgamma, dbeta, c.sq(m.Weight, m.Bias), beta(fresh))
	}, x, m.Weight, m.Bias)
	return c.observe(m, x, y)
}

// paramGrads returns the gradient buffers of γ and β, nil when not wanted.
func (m *BatchNorm2d) paramGrads(c *Ctx) (dgamma, dbeta []float32) {
	if g := c.grad(m.Weight); g != nil {
		dgamma = g.Data
	}
	if g := c.grad(m.Bias); g != nil {
		dbeta = g.Data
	}
	return dgamma, dbeta
}

// ForwardRelu returns max(m.Forward(c, x), 0), as Relu(c, m.Forward(c, x)).
// With no observer on c (Observe and ObserveOp nil) it runs fused, bit for
// bit the same: one pass writes the normalised and rectified output, the
// normalised one is never stored, and the backward pass takes the gradient
// through the ReLU and the normalisation together, recomputing the ReLU's
// mask from x. The tape holds the same operations as unfused, "batchnorm2d"
// and "relu", but the normalised output's Var shares the ReLU output's
// tensor and never gets a gradient: the "relu" operation's backward function
// computes the gradients of x, γ and β. Both modes make the same arena
// requests.
func (m *BatchNorm2d) ForwardRelu(c *Ctx, x *autograd.Var) *autograd.Var {
	if c.Observe != nil || c.ObserveOp != nil {
		return Relu(c, m.Forward(c, x))
	}
	n, ch, h, w := m.check(x)
	y := c.Get(n, ch, h, w)
	mean, variance := c.Arena.Get(ch), c.Arena.Get(ch)
	scale, shift := c.Arena.Get(ch), c.Arena.Get(ch)
	training := m.Training
	if training {
		tensor.BatchNormReluTrain(y.Value, x.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data,
			scale.Data, shift.Data, m.Eps)
		m.updateRunning(mean.Data, variance.Data, n*h*w)
	} else {
		copy(mean.Data, m.RunningMean.Value.Data)
		copy(variance.Data, m.RunningVar.Value.Data)
		tensor.BatchNormReluEval(y.Value, x.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data,
			scale.Data, shift.Data, m.Eps)
	}
	if c.Tape == nil {
		return y
	}
	z := c.alias(y.Value) // the normalised output, not materialised
	c.record(OpBatchNorm, m, z, nil, x, m.Weight, m.Bias)
	c.record(OpReLU, nil, y, func() {
		dgamma, dbeta := m.paramGrads(c)
		dx, fresh := c.gradOut(x)
		tensor.BatchNormReluBackward(dx, y.Grad, x.Value, scale.Data, shift.Data, m.Weight.Value.Data, mean.Data,
			variance.Data, m.Eps, training, dgamma, dbeta, c.sq(m.Weight, m.Bias), !fresh)
	}, z)
	return y
}

// ForwardAddRelu returns max(m.Forward(c, x) + s, 0) with s =
// shortcut.Forward(c, in), or s = in when shortcut is nil: the tail of a
// residual block, as AddRelu(c, m.Forward(c, x), s) with the shortcut run
// between the normalisation and the join. With no observer on c it runs
// fused, bit for bit the same: one pass writes the output, the normalised x
// is never stored, and one backward pass gives x, s, γ and β their
// gradients. The tape holds the same operations as unfused ("batchnorm2d",
// the shortcut's, "add_relu"), with the normalised output as in ForwardRelu.
func (m *BatchNorm2d) ForwardAddRelu(c *Ctx, x *autograd.Var, shortcut Module, in *autograd.Var) *autograd.Var {
	if c.Observe != nil || c.ObserveOp != nil || in == x {
		z := m.Forward(c, x)
		s := in
		if shortcut != nil {
			s = shortcut.Forward(c, in)
		}
		return AddRelu(c, z, s)
	}
	n, ch, h, w := m.check(x)
	y := c.Get(n, ch, h, w)
	mean, variance := c.Arena.Get(ch), c.Arena.Get(ch)
	var z *autograd.Var
	if c.Tape != nil {
		z = c.alias(y.Value) // the normalised output, not materialised
		c.record(OpBatchNorm, m, z, nil, x, m.Weight, m.Bias)
	}
	s := in
	if shortcut != nil {
		s = shortcut.Forward(c, in)
	}
	if s == x || !tensor.SameShape(s.Value, x.Value) {
		panic(fmt.Sprintf("nn.BatchNorm2d.ForwardAddRelu: shortcut %v for input %v", s.Value.Shape, x.Value.Shape))
	}
	training := m.Training
	if training {
		tensor.BatchNormAddReluTrain(y.Value, x.Value, s.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data, m.Eps)
		m.updateRunning(mean.Data, variance.Data, n*h*w)
	} else {
		copy(mean.Data, m.RunningMean.Value.Data)
		copy(variance.Data, m.RunningVar.Value.Data)
		tensor.BatchNormAddReluEval(y.Value, x.Value, s.Value, m.Weight.Value.Data, m.Bias.Value.Data, mean.Data, variance.Data, m.Eps)
	}
	if c.Tape == nil {
		return y
	}
	c.record(OpAddReLU, nil, y, func() {
		dgamma, dbeta := m.paramGrads(c)
		dx, freshX := c.gradOut(x)
		ds, freshS := c.gradOut(s)
		tensor.BatchNormAddReluBackward(dx, ds, y.Grad, y.Value, x.Value, m.Weight.Value.Data, mean.Data, variance.Data,
			m.Eps, training, dgamma, dbeta, c.sq(m.Weight, m.Bias), !freshX, !freshS)
	}, z, s)
	return y
}

// ForwardConvRelu returns m.ForwardRelu(c, conv.Forward(c, x)): a convolution, this
// normalisation and a ReLU, the head of a residual block. x: [N, conv.In, H, W] →
// [N, m.C, H', W'].
//
// In evaluation mode, when nothing records or observes (c.Tape, c.Observe and c.ObserveOp
// nil) and the convolution has no bias, it runs fused, bit for bit the same: the
// normalisation (with the running statistics) and the ReLU are applied as the convolution
// writes its output (see tensor.Conv2dForwardEpilogue), which on the Winograd path is
// never stored unnormalised. Otherwise it is the two calls.
func (m *BatchNorm2d) ForwardConvRelu(c *Ctx, conv *Conv2d, x *autograd.Var) *autograd.Var {
	if !m.fusesWith(c, conv) {
		return m.ForwardRelu(c, conv.Forward(c, x))
	}
	return m.convEpilogue(c, conv, x, nil)
}

// ForwardConvAddRelu returns m.ForwardAddRelu(c, conv.Forward(c, x), shortcut, in): the
// tail of a residual block, max(bn(conv(x)) + s, 0) with s = shortcut.Forward(c, in), or
// s = in when shortcut is nil. x: [N, conv.In, H, W], s: [N, m.C, H', W'] → [N, m.C, H', W'].
// It runs fused as ForwardConvRelu, bit for bit the same, with the residual added in the
// convolution's output transform; the shortcut is then run before the convolution.
func (m *BatchNorm2d) ForwardConvAddRelu(c *Ctx, conv *Conv2d, x *autograd.Var, shortcut Module, in *autograd.Var) *autograd.Var {
	if !m.fusesWith(c, conv) {
		return m.ForwardAddRelu(c, conv.Forward(c, x), shortcut, in)
	}
	s := in
	if shortcut != nil {
		s = shortcut.Forward(c, in)
	}
	return m.convEpilogue(c, conv, x, s)
}

// fusesWith reports whether ForwardConvRelu and ForwardConvAddRelu run fused with conv.
func (m *BatchNorm2d) fusesWith(c *Ctx, conv *Conv2d) bool {
	return !m.Training && c.Tape == nil && c.Observe == nil && c.ObserveOp == nil && conv.Bias == nil
}

// convEpilogue returns max(bn(conv(x)) [+ s], 0) in evaluation mode, fused (s may be nil).
func (m *BatchNorm2d) convEpilogue(c *Ctx, conv *Conv2d, x, s *autograd.Var) *autograd.Var {
	n, ho, wo := conv.outShape(x)
	if conv.Out != m.C {
		panic(fmt.Sprintf("nn.BatchNorm2d: input %v has %d channels, layer takes %d", []int{n, conv.Out, ho, wo}, conv.Out, m.C))
	}
	y := c.Get(n, m.C, ho, wo)
	scale, shift := c.Arena.Get(m.C), c.Arena.Get(m.C)
	tensor.BatchNormScaleShift(scale.Data, shift.Data, m.Weight.Value.Data, m.Bias.Value.Data,
		m.RunningMean.Value.Data, m.RunningVar.Value.Data, m.Eps)
	e := tensor.ConvEpilogue{Scale: scale.Data, Shift: shift.Data, Relu: true}
	if s != nil {
		if !tensor.SameShape(s.Value, y.Value) {
			panic(fmt.Sprintf("nn.BatchNorm2d.ForwardConvAddRelu: shortcut %v for output %v", s.Value.Shape, y.Value.Shape))
		}
		e.Residual = s.Value
	}
	tensor.Conv2dForwardEpilogue(y.Value, x.Value, conv.Weight.Value, conv.ConvParams, &c.conv, e)
	return y
}

// check panics unless x is [N, m.C, H, W] and returns its dimensions.
func (m *BatchNorm2d) check(x *autograd.Var) (n, ch, h, w int) {
	n, ch, h, w = x.Value.NCHW()
	if ch != m.C {
		panic(fmt.Sprintf("nn.BatchNorm2d: input %v has %d channels, layer takes %d", x.Value.Shape, ch, m.C))
	}
	return n, ch, h, w
}

// updateRunning blends the batch statistics into the running ones with
// momentum, using the unbiased variance, and counts the batch, as PyTorch.
func (m *BatchNorm2d) updateRunning(mean, variance []float32, count int) {
	unbias := float32(1)
	if count > 1 {
		unbias = float32(count) / float32(count-1)
	}
	rm, rv := m.RunningMean.Value.Data, m.RunningVar.Value.Data
	for i := range rm {
		rm[i] = (1-m.Momentum)*rm[i] + m.Momentum*mean[i]
		rv[i] = (1-m.Momentum)*rv[i] + m.Momentum*variance[i]*unbias
	}
	m.NumBatchesTracked++
}

// State returns weight, bias, running_mean, running_var, num_batches_tracked.
func (m *BatchNorm2d) State() []Entry {
	return []Entry{
		{Name: "weight", Kind: Param, Var: m.Weight},
		{Name: "bias", Kind: Param, Var: m.Bias},
		{Name: "running_mean", Kind: Buffer, Var: m.RunningMean},
		{Name: "running_var", Kind: Buffer, Var: m.RunningVar},
		{Name: "num_batches_tracked", Kind: Counter, Count: &m.NumBatchesTracked},
	}
}

func (m *BatchNorm2d) String() string {
	return fmt.Sprintf("BatchNorm2d(%d, eps=%g, momentum=%g, affine=True, track_running_stats=True)", m.C, m.Eps, m.Momentum)
}
