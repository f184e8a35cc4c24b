package optim

import (
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// StatePrefix starts every key of [Optimizer.State]: keys are
// "optim.<param name>.<state name>".
const StatePrefix = "optim."

// Param is a named parameter: Var.Value is updated in place from Var.Grad (a
// nil Grad is skipped, as PyTorch skips params whose .grad is None). Name is
// the parameter's state-dict name (e.g. "layer1.0.conv1.weight"); it keys
// the optimizer state.
type Param struct {
	Name string
	Var  *autograd.Var
}

// Optimizer updates a fixed list of parameters from their gradients.
type Optimizer interface {
	// Step performs one update with the current learning rate.
	Step()
	// SetLR sets the learning rate of the following steps. It panics if
	// lr is negative, NaN or infinite.
	SetLR(lr float64)
	// LR returns the current learning rate.
	LR() float64
	// State returns copies of the optimizer's per-parameter state tensors
	// under "optim.<param name>.<state name>" (e.g.
	// "optim.layer1.0.conv1.weight.momentum_buffer",
	// "optim.fc.weight.exp_avg"), scalar state such as AdamW's step count
	// included as a 0-d tensor ("optim.fc.weight.step"). Parameters that
	// have not been updated yet have no keys.
	State() map[string]*tensor.Tensor
	// LoadState replaces the optimizer's state by the "optim." keys of m
	// (other keys are ignored); the tensors are copied. It is strict: an
	// unknown parameter or state name, a mis-shaped tensor, a bad step count
	// or a parameter with some but not all of its state keys is an error
	// naming the keys, and then nothing is changed. A parameter with no keys
	// gets no state, as before its first update.
	LoadState(m map[string]*tensor.Tensor) error
	// ParamState returns the live state tensors of the named parameter,
	// keyed by state name (empty before its first update), or nil if the
	// optimizer has no parameter of that name. Replacing an entry replaces
	// the state: this is how pruning slices it (see the package doc).
	ParamState(name string) map[string]*tensor.Tensor
}

// stateKind describes one state entry of an optimizer.
type stateKind int

const (
	buffer stateKind = iota // a tensor of the parameter's shape
	scalar                  // a step count: a 0-d tensor holding a non-negative integer
)

// paramSet is what SGD and AdamW share: the parameters, their state and its
// (de)serialisation.
type paramSet struct {
	who    string // "SGD" or "AdamW", for messages
	params []Param
	index  map[string]int
	state  []map[string]*tensor.Tensor
	kinds  map[string]stateKind // the state names this optimizer keeps
	lr     float64
	gbuf   []*tensor.Tensor // grads' result
}

func newParamSet(who string, params []Param, kinds map[string]stateKind, lr float64) paramSet {
	s := paramSet{
		who:    who,
		params: slices.Clone(params),
		index:  make(map[string]int, len(params)),
		state:  make([]map[string]*tensor.Tensor, len(params)),
		kinds:  kinds,
	}
	for i, p := range params {
		switch {
		case p.Name == "":
			panic(fmt.Sprintf("optim.New%s: parameter %d has an empty name", who, i))
		case p.Var == nil || p.Var.Value == nil:
			panic(fmt.Sprintf("optim.New%s: parameter %q has no value", who, p.Name))
		}
		if _, dup := s.index[p.Name]; dup {
			panic(fmt.Sprintf("optim.New%s: parameter name %q appears twice", who, p.Name))
		}
		s.index[p.Name] = i
		s.state[i] = map[string]*tensor.Tensor{}
	}
	s.SetLR(lr)
	return s
}

// SetLR sets the learning rate of the following steps. It panics if lr is
// negative, NaN or infinite.
func (s *paramSet) SetLR(lr float64) {
	if !(lr >= 0) || math.IsInf(lr, 1) {
		panic(fmt.Sprintf("optim: %s learning rate %v: want a finite value >= 0", s.who, lr))
	}
	s.lr = lr
}

// LR returns the current learning rate.
func (s *paramSet) LR() float64 { return s.lr }

// Params returns the optimizer's parameters (the slice is a copy).
func (s *paramSet) Params() []Param { return slices.Clone(s.params) }

// ParamState returns the live state tensors of the named parameter, keyed by
// state name (empty before its first update), or nil if there is no
// parameter of that name. Replacing an entry replaces the state.
func (s *paramSet) ParamState(name string) map[string]*tensor.Tensor {
	i, ok := s.index[name]
	if !ok {
		return nil
	}
	return s.state[i]
}

// State returns copies of the per-parameter state under
// "optim.<param name>.<state name>".
func (s *paramSet) State() map[string]*tensor.Tensor {
	out := map[string]*tensor.Tensor{}
	for i, p := range s.params {
		for name, t := range s.state[i] {
			out[StatePrefix+p.Name+"."+name] = t.Clone()
		}
	}
	return out
}

// LoadState replaces the state by the "optim." keys of m; see
// [Optimizer.LoadState].
func (s *paramSet) LoadState(m map[string]*tensor.Tensor) error {
	loaded := make([]map[string]*tensor.Tensor, len(s.params))
	for i := range loaded {
		loaded[i] = map[string]*tensor.Tensor{}
	}
	var problems []string
	for key, t := range m {
		rest, ok := strings.CutPrefix(key, StatePrefix)
		if !ok {
			continue
		}
		dot := strings.LastIndexByte(rest, '.')
		if dot < 0 {
			problems = append(problems, fmt.Sprintf("unexpected key %q (want optim.<param>.<state>)", key))
			continue
		}
		pname, sname := rest[:dot], rest[dot+1:]
		i, ok := s.index[pname]
		if !ok {
			problems = append(problems, fmt.Sprintf("unexpected key %q (no parameter %q)", key, pname))
			continue
		}
		kind, ok := s.kinds[sname]
		if !ok {
			problems = append(problems, fmt.Sprintf("unexpected key %q (%s keeps no state %q%s)",
				key, s.who, sname, s.kindList()))
			continue
		}
		if t == nil || len(t.Data) != tensor.Numel(t.Shape) {
			problems = append(problems, fmt.Sprintf("key %q is not a valid tensor", key))
			continue
		}
		switch kind {
		case buffer:
			if pv := s.params[i].Var.Value; !tensor.SameShape(t, pv) {
				problems = append(problems, fmt.Sprintf("key %q has shape %v, parameter %q has shape %v",
					key, t.Shape, pname, pv.Shape))
				continue
			}
			loaded[i][sname] = t.Clone()
		case scalar:
			if len(t.Data) != 1 {
				problems = append(problems, fmt.Sprintf("key %q has shape %v, want a single value", key, t.Shape))
				continue
			}
			v := t.Data[0]
			if !(v >= 0) || v != float32(math.Trunc(float64(v))) || math.IsInf(float64(v), 1) {
				problems = append(problems, fmt.Sprintf("key %q holds %v, want a step count (an integer >= 0)", key, v))
				continue
			}
			loaded[i][sname] = tensor.FromSlice([]float32{v})
		}
	}
	for i, st := range loaded {
		if len(st) == 0 || len(st) == len(s.kinds) {
			continue
		}
		for _, name := range s.kindNames() {
			if _, ok := st[name]; !ok {
				problems = append(problems, fmt.Sprintf("missing key %q (the parameter's other state is present)",
					StatePrefix+s.params[i].Name+"."+name))
			}
		}
	}
	if len(problems) > 0 {
		slices.Sort(problems)
		const maxShown = 10
		if n := len(problems); n > maxShown {
			problems = append(problems[:maxShown], fmt.Sprintf("and %d more", n-maxShown))
		}
		return fmt.Errorf("optim: loading %s state: %s", s.who, strings.Join(problems, "; "))
	}
	s.state = loaded
	return nil
}

func (s *paramSet) kindNames() []string {
	names := make([]string, 0, len(s.kinds))
	for name := range s.kinds {
		names = append(names, name)
	}
	slices.Sort(names)
	return names
}

func (s *paramSet) kindList() string {
	if len(s.kinds) == 0 {
		return " with this configuration"
	}
	return "; it keeps " + strings.Join(s.kindNames(), ", ")
}

// grads returns the gradient of every parameter (nil: skip it), after
// checking the shapes of all gradients and of the state of every parameter
// that will be updated, so that a bad shape panics before anything changes.
// The slice is reused by the next call.
func (s *paramSet) grads() []*tensor.Tensor {
	s.gbuf = s.gbuf[:0]
	for i, p := range s.params {
		g := p.Var.Grad
		s.gbuf = append(s.gbuf, g)
		if g == nil {
			continue
		}
		v := p.Var.Value
		if !tensor.SameShape(g, v) || len(g.Data) != len(v.Data) {
			panic(fmt.Sprintf("optim: %s.Step: gradient of %q has shape %v, the parameter has shape %v",
				s.who, p.Name, g.Shape, v.Shape))
		}
		for name, t := range s.state[i] {
			switch s.kinds[name] {
			case buffer:
				if !tensor.SameShape(t, v) || len(t.Data) != len(v.Data) {
					panic(fmt.Sprintf("optim: %s.Step: state %q of parameter %q has shape %v, the parameter has shape %v "+
						"(when a parameter is pruned, slice its state through ParamState)", s.who, name, p.Name, t.Shape, v.Shape))
				}
			case scalar:
				if len(t.Data) != 1 {
					panic(fmt.Sprintf("optim: %s.Step: state %q of parameter %q has shape %v, want a single value",
						s.who, name, p.Name, t.Shape))
				}
			}
		}
	}
	return s.gbuf
}

// fma32 returns a·b + c rounded once to float32, as the fused multiply-add of
// PyTorch's AVX2 kernels does. The float64 product of two float32 values is
// exact, so only the sum is rounded (to float64, then float32: the double
// rounding can differ from a true fused operation only when the float64 sum
// lands exactly on a float32 rounding boundary, which does not happen in
// practice).
func fma32(a, b, c float32) float32 {
	return float32(float64(a)*float64(b) + float64(c))
}

// fmaK is fma32(a, float32(k), c) for a k that is a float32 value held as a
// float64 (hoisting that conversion out of the loops).
func fmaK(a float32, k float64, c float32) float32 {
	return float32(float64(a)*k + float64(c))
}

// powInt returns b^n (n >= 0) correctly rounded in all but pathological
// cases: binary exponentiation in double-double arithmetic. Python's
// beta ** step calls the C library's pow, which is correctly rounded almost
// always; Go's math.Pow is off by an ulp or more for many steps.
func powInt(b float64, n int) float64 {
	if n < 0 {
		panic("optim: powInt with a negative exponent")
	}
	rh, rl := 1.0, 0.0
	xh, xl := b, 0.0
	for n > 0 {
		if n&1 == 1 {
			rh, rl = ddMul(rh, rl, xh, xl)
		}
		n >>= 1
		if n > 0 {
			xh, xl = ddMul(xh, xl, xh, xl)
		}
	}
	return rh + rl
}

// ddMul multiplies two double-double numbers.
func ddMul(ah, al, bh, bl float64) (float64, float64) {
	p := ah * bh
	e := math.FMA(ah, bh, -p)
	e += float64(ah*bl) + float64(al*bh) // no FMA: the same bits on every platform
	h := p + e
	return h, e - (h - p)
}

func checkFinite(problems *[]string, name string, v float64) bool {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		*problems = append(*problems, fmt.Sprintf("%s %v is not finite", name, v))
		return false
	}
	return true
}

func checkNonNegative(problems *[]string, name string, v float64) {
	if checkFinite(problems, name, v) && v < 0 {
		*problems = append(*problems, fmt.Sprintf("%s %v is negative", name, v))
	}
}
