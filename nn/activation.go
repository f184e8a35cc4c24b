package nn

import (
	"fmt"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// ReLU is max(x, 0) element-wise, as torch.nn.ReLU. Shape: any → same.
type ReLU struct{}

// NewReLU returns a ReLU.
func NewReLU() *ReLU { return &ReLU{} }

// Forward returns max(x, 0).
func (m *ReLU) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	return c.observe(m, x, relu(c, m, x))
}

func relu(c *Ctx, src any, x *autograd.Var) *autograd.Var {
	y := c.Get(x.Value.Shape...)
	tensor.Relu(y.Value, x.Value)
	c.record(OpReLU, src, y, func() {
		dx, fresh := c.gradOut(x)
		reluGrad(dx, fresh, y)
	}, x)
	return y
}

func (m *ReLU) String() string { return "ReLU()" }

// Flatten reshapes [N, d1, d2, …] to [N, d1·d2·…], as torch.nn.Flatten.
// The output shares x's data.
type Flatten struct{}

// NewFlatten returns a Flatten.
func NewFlatten() *Flatten { return &Flatten{} }

// Forward returns x viewed as [N, rest].
func (m *Flatten) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	return c.observe(m, x, reshape(c, m, x, x.Value.Shape[0], -1))
}

func (m *Flatten) String() string { return "Flatten(start_dim=1, end_dim=-1)" }

// Dropout zeroes each element with probability P in training mode and
// scales the others by 1/(1−P), as torch.nn.Dropout; in evaluation mode it
// is the identity. Its random stream is its own, seeded by Seed, so runs
// are reproducible. Shape: any → same.
type Dropout struct {
	P        float32
	Training bool
	rng      *rand.Rand
}

// NewDropout returns a Dropout with probability p, in training mode, whose
// mask stream starts from seed.
func NewDropout(p float32, seed uint64) *Dropout {
	if p < 0 || p > 1 {
		panic(fmt.Sprintf("nn.NewDropout: probability %g outside [0, 1]", p))
	}
	return &Dropout{P: p, Training: true, rng: rand.New(rand.NewPCG(seed, 0x64726f70))}
}

// SetTraining switches the random mask on (true) or off.
func (m *Dropout) SetTraining(t bool) { m.Training = t }

// IsTraining reports the mode.
func (m *Dropout) IsTraining() bool { return m.Training }

// Forward applies the mask in training mode and returns x unchanged otherwise.
func (m *Dropout) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	if !m.Training || m.P == 0 {
		return c.observe(m, x, x)
	}
	y := c.Get(x.Value.Shape...)
	mask := c.Arena.Get(x.Value.Shape...) // 0 or 1/(1−P)
	scale := 1 / (1 - m.P)
	for i, v := range x.Value.Data {
		k := scale
		if m.rng.Float32() < m.P {
			k = 0
		}
		mask.Data[i] = k
		y.Value.Data[i] = v * k
	}
	c.record(OpDropout, m, y, func() {
		if dx := c.grad(x); dx != nil {
			for i, g := range y.Grad.Data {
				dx.Data[i] += g * mask.Data[i]
			}
		}
	}, x)
	return c.observe(m, x, y)
}

func (m *Dropout) String() string { return fmt.Sprintf("Dropout(p=%g, inplace=False)", m.P) }

// ReLU6 is min(max(x, 0), 6) element-wise, as torch.nn.ReLU6 (NaN and −0 give
// +0; the gradient passes where 0 < x < 6). Shape: any → same.
type ReLU6 struct {
	_ byte // not zero-sized: each ReLU6 has an address of its own, and a name
}

// NewReLU6 returns a ReLU6.
func NewReLU6() *ReLU6 { return &ReLU6{} }

// Forward returns min(max(x, 0), 6).
func (m *ReLU6) Forward(c *Ctx, x *autograd.Var) *autograd.Var {
	y := c.Get(x.Value.Shape...)
	tensor.Relu6(y.Value, x.Value)
	c.record(OpReLU6, m, y, func() {
		if dx, fresh := c.gradOut(x); dx != nil {
			tensor.Relu6Backward(dx, y.Grad, y.Value, fresh)
		}
	}, x)
	return c.observe(m, x, y)
}

func (m *ReLU6) String() string { return "ReLU6()" }
