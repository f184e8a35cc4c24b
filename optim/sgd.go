package optim

import (
	"errors"
	"fmt"
	"strings"
)

// SGDConfig holds the hyper-parameters of [SGD], with torch.optim.SGD's
// meaning. The zero value other than LR is plain SGD without momentum or
// weight decay.
type SGDConfig struct {
	// LR is the initial learning rate (see Optimizer.SetLR).
	LR float64
	// Momentum is the momentum factor; 0 keeps no state.
	Momentum float64
	// Dampening scales the gradient added to the momentum buffer by
	// 1 − Dampening (not on the buffer's first step).
	Dampening float64
	// WeightDecay is the L2 penalty added to the gradient: g + WeightDecay·p.
	WeightDecay float64
	// Nesterov selects Nesterov momentum; it needs Momentum > 0 and
	// Dampening == 0.
	Nesterov bool
}

// Validate reports an invalid configuration: a negative or non-finite value,
// or Nesterov momentum without a positive momentum or with dampening (the
// checks of torch.optim.SGD, plus non-negative dampening). The error lists
// every problem.
func (c SGDConfig) Validate() error {
	var problems []string
	checkNonNegative(&problems, "learning rate", c.LR)
	checkNonNegative(&problems, "momentum", c.Momentum)
	checkNonNegative(&problems, "dampening", c.Dampening)
	checkNonNegative(&problems, "weight decay", c.WeightDecay)
	if c.Nesterov && (c.Momentum <= 0 || c.Dampening != 0) {
		problems = append(problems, fmt.Sprintf(
			"Nesterov momentum requires a momentum > 0 and zero dampening (have momentum %v, dampening %v)",
			c.Momentum, c.Dampening))
	}
	if len(problems) > 0 {
		return errors.New("optim: invalid SGD configuration: " + strings.Join(problems, "; "))
	}
	return nil
}

// SGD is stochastic gradient descent with optional momentum, dampening,
// Nesterov momentum and weight decay, as torch.optim.SGD (PyTorch 1.13,
// foreach=False). For each parameter p with gradient g, Step computes
//
//	d = g + wd·p                                   (if wd ≠ 0)
//	buf = d                                        (first step, if momentum ≠ 0)
//	buf = momentum·buf + (1 − dampening)·d         (later steps)
//	d = nesterov ? d + momentum·buf : buf          (if momentum ≠ 0)
//	p = p − lr·d
//
// in float32, rounding as PyTorch's AVX2 CPU kernels do (see the package
// doc). Its state is "momentum_buffer" per parameter (none without
// momentum).
type SGD struct {
	paramSet
	cfg SGDConfig
}

var _ Optimizer = (*SGD)(nil)

// NewSGD returns an SGD optimizer over params (names must be unique and
// non-empty), with learning rate c.LR. It panics if c.Validate() reports an
// error — validate user input with [SGDConfig.Validate] first — or if a
// parameter is invalid.
func NewSGD(params []Param, c SGDConfig) *SGD {
	if err := c.Validate(); err != nil {
		panic(err.Error())
	}
	kinds := map[string]stateKind{}
	if c.Momentum != 0 {
		kinds["momentum_buffer"] = buffer
	}
	return &SGD{paramSet: newParamSet("SGD", params, kinds, c.LR), cfg: c}
}

// Config returns the configuration the optimizer was made with (its LR
// field is the initial learning rate, not the current one).
func (o *SGD) Config() SGDConfig { return o.cfg }

// Step performs one update of every parameter that has a gradient, with the
// current learning rate. It panics if a gradient's or a state tensor's shape
// differs from its parameter's.
func (o *SGD) Step() {
	c := o.cfg
	// Python floats become float32 kernel scalars; they are held as float64
	// (exactly) for fmaK.
	negLR := float64(float32(-o.lr))
	wd := float64(float32(c.WeightDecay))
	mom32 := float32(c.Momentum)
	mom := float64(mom32)
	damp := float64(float32(1 - c.Dampening))
	for i, gt := range o.grads() {
		p := o.params[i]
		if gt == nil {
			continue
		}
		g := gt.Data
		w := p.Var.Value.Data[:len(g)] // lengths checked by grads; this drops bounds checks
		if c.Momentum == 0 {
			for j, d := range g {
				if c.WeightDecay != 0 {
					d = fmaK(w[j], wd, d) // d_p.add(param, alpha=weight_decay)
				}
				w[j] = fmaK(d, negLR, w[j]) // param.add_(d_p, alpha=-lr)
			}
			continue
		}
		st := o.state[i]
		bt, ok := st["momentum_buffer"]
		first := !ok
		if first {
			bt = p.Var.Value.Clone() // shape only: overwritten below
			st["momentum_buffer"] = bt
		}
		buf := bt.Data[:len(g)]
		for j, d := range g {
			if c.WeightDecay != 0 {
				d = fmaK(w[j], wd, d)
			}
			var b float32
			if first {
				b = d // torch.clone(d_p)
			} else {
				b = float32(buf[j] * mom32) // buf.mul_(momentum)
				b = fmaK(d, damp, b)        // .add_(d_p, alpha=1-dampening)
			}
			buf[j] = b
			if c.Nesterov {
				d = fmaK(b, mom, d) // d_p.add(buf, alpha=momentum)
			} else {
				d = b
			}
			w[j] = fmaK(d, negLR, w[j])
		}
	}
}
