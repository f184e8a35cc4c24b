package optim

import (
	"errors"
	"fmt"
	"math"
	"strings"

	"github.com/bonsai-dl/bonsai/tensor"
)

// AdamWConfig holds the hyper-parameters of [AdamW], with
// torch.optim.AdamW's meaning. Zero is a valid value of every field, so
// there are no implicit defaults: start from [DefaultAdamWConfig] to get
// PyTorch's.
type AdamWConfig struct {
	// LR is the initial learning rate (see Optimizer.SetLR).
	LR float64
	// Beta1 and Beta2 are the decay rates of the first and second moment
	// estimates, in [0, 1).
	Beta1, Beta2 float64
	// Eps is added to the denominator.
	Eps float64
	// WeightDecay is the decoupled weight decay: p *= 1 − LR·WeightDecay.
	WeightDecay float64
}

// DefaultAdamWConfig returns torch.optim.AdamW's defaults: LR 1e-3, betas
// (0.9, 0.999), eps 1e-8, weight decay 1e-2.
func DefaultAdamWConfig() AdamWConfig {
	return AdamWConfig{LR: 1e-3, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: 1e-2}
}

// Validate reports an invalid configuration: a negative or non-finite value,
// or a beta outside [0, 1) (torch.optim.AdamW's checks). The error lists
// every problem.
func (c AdamWConfig) Validate() error {
	var problems []string
	checkNonNegative(&problems, "learning rate", c.LR)
	for _, b := range []struct {
		name string
		v    float64
	}{{"beta1", c.Beta1}, {"beta2", c.Beta2}} {
		if checkFinite(&problems, b.name, b.v) && !(b.v >= 0 && b.v < 1) {
			problems = append(problems, fmt.Sprintf("%s %v is outside [0, 1)", b.name, b.v))
		}
	}
	checkNonNegative(&problems, "eps", c.Eps)
	checkNonNegative(&problems, "weight decay", c.WeightDecay)
	if len(problems) > 0 {
		return errors.New("optim: invalid AdamW configuration: " + strings.Join(problems, "; "))
	}
	return nil
}

// AdamW is Adam with decoupled weight decay, as torch.optim.AdamW (PyTorch
// 1.13, amsgrad=False, foreach=False). For each parameter p with gradient g,
// Step computes
//
//	step += 1
//	p = p · (1 − lr·wd)
//	m = β1·m + (1 − β1)·g
//	v = β2·v + (1 − β2)·g²
//	p = p − lr/(1 − β1^step) · m / (sqrt(v)/sqrt(1 − β2^step) + eps)
//
// in float32, rounding as PyTorch's AVX2 CPU kernels do (see the package
// doc). Its state per parameter is "exp_avg" (m), "exp_avg_sq" (v) and
// "step", created at the parameter's first update; the step count is the
// parameter's own, so a parameter skipped for lack of a gradient does not
// advance it.
type AdamW struct {
	paramSet
	cfg AdamWConfig
}

var _ Optimizer = (*AdamW)(nil)

// NewAdamW returns an AdamW optimizer over params (names must be unique and
// non-empty), with learning rate c.LR. It panics if c.Validate() reports an
// error — validate user input with [AdamWConfig.Validate] first — or if a
// parameter is invalid.
func NewAdamW(params []Param, c AdamWConfig) *AdamW {
	if err := c.Validate(); err != nil {
		panic(err.Error())
	}
	kinds := map[string]stateKind{"exp_avg": buffer, "exp_avg_sq": buffer, "step": scalar}
	return &AdamW{paramSet: newParamSet("AdamW", params, kinds, c.LR), cfg: c}
}

// Config returns the configuration the optimizer was made with (its LR
// field is the initial learning rate, not the current one).
func (o *AdamW) Config() AdamWConfig { return o.cfg }

// Step performs one update of every parameter that has a gradient, with the
// current learning rate. It panics if a gradient's or a state tensor's shape
// differs from its parameter's.
func (o *AdamW) Step() {
	c := o.cfg
	lr := o.lr
	decay := float32(1 - float64(lr*c.WeightDecay))           // no FMA: Python rounds the product
	b1, omb1 := float32(c.Beta1), float64(float32(1-c.Beta1)) // omb1 for fmaK
	b2, omb2 := float32(c.Beta2), float32(1-c.Beta2)
	eps := float32(c.Eps)
	for i, gt := range o.grads() {
		p := o.params[i]
		if gt == nil {
			continue
		}
		st := o.state[i]
		if len(st) != len(o.kinds) { // first update (LoadState never leaves a partial state)
			st["step"] = tensor.New()
			st["exp_avg"] = tensor.New(p.Var.Value.Shape...)
			st["exp_avg_sq"] = tensor.New(p.Var.Value.Shape...)
		}
		stepT := st["step"]
		stepT.Data[0]++ // step_t += 1, a float32 tensor
		step := int(stepT.Data[0])
		bc1 := 1 - powInt(c.Beta1, step)
		bc2 := 1 - powInt(c.Beta2, step)
		negStepSize := float32(-(lr / bc1)) // addcdiv_ value=-step_size
		bc2Sqrt := float32(math.Sqrt(bc2))

		g := gt.Data // lengths checked by grads; the reslicing drops bounds checks
		w, m, v := p.Var.Value.Data[:len(g)], st["exp_avg"].Data[:len(g)], st["exp_avg_sq"].Data[:len(g)]
		for j, gj := range g {
			wj := float32(w[j] * decay) // param.mul_(1 - lr*weight_decay)
			mj := float32(m[j] * b1)
			mj = fmaK(gj, omb1, mj) // exp_avg.mul_(beta1).add_(grad, alpha=1-beta1)
			vj := float32(v[j] * b2)
			vj = fma32(float32(omb2*gj), gj, vj) // exp_avg_sq.mul_(beta2).addcmul_(grad, grad, value=1-beta2)
			m[j], v[j] = mj, vj
			den := float32(math.Sqrt(float64(vj))) / bc2Sqrt // exp_avg_sq.sqrt() / bias_correction2_sqrt
			den += eps                                       // .add_(eps)
			w[j] = wj + float32(negStepSize*mj)/den          // param.addcdiv_(exp_avg, denom, value=-step_size)
		}
	}
}
