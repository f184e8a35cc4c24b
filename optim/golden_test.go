package optim

import (
	"encoding/json"
	"fmt"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/golden"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// The golden file is written by scripts/golden/gen_optim.py (PyTorch 1.13).
const goldenPath = "testdata/optim.safetensors"

var goldenParams = []string{"layer.weight", "layer.bias"}

type optimCase struct {
	Optimizer   string           `json:"optimizer"`
	LR          []float64        `json:"lr"`
	NoneGrad    map[string][]int `json:"none_grad"`
	Momentum    float64          `json:"momentum"`
	Dampening   float64          `json:"dampening"`
	WeightDecay float64          `json:"weight_decay"`
	Nesterov    bool             `json:"nesterov"`
	Beta1       float64          `json:"beta1"`
	Beta2       float64          `json:"beta2"`
	Eps         float64          `json:"eps"`
}

func (c optimCase) build(params []Param) Optimizer {
	switch c.Optimizer {
	case "sgd":
		return NewSGD(params, SGDConfig{LR: c.LR[0], Momentum: c.Momentum, Dampening: c.Dampening,
			WeightDecay: c.WeightDecay, Nesterov: c.Nesterov})
	case "adamw":
		return NewAdamW(params, AdamWConfig{LR: c.LR[0], Beta1: c.Beta1, Beta2: c.Beta2, Eps: c.Eps,
			WeightDecay: c.WeightDecay})
	}
	panic("unknown optimizer " + c.Optimizer)
}

// optimCases returns the optimizer cases of the golden file, by name.
func optimCases(t *testing.T, f *safetensors.File) map[string]optimCase {
	t.Helper()
	cases := map[string]optimCase{}
	for name, js := range f.Metadata {
		if !strings.Contains(js, `"optimizer"`) {
			continue
		}
		var c optimCase
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatalf("metadata %s: %v", name, err)
		}
		cases[name] = c
	}
	if len(cases) < 6 {
		t.Fatalf("golden file has %d optimizer cases, want 6", len(cases))
	}
	return cases
}

// closeTo reports max|got − want| ≤ tol·max|want| (the per-tensor
// tolerance) and also returns the number of elements that differ at all.
func closeTo(got, want *tensor.Tensor, tol float64) (ok bool, maxDiff float64, nDiff int) {
	if !tensor.SameShape(got, want) {
		return false, math.Inf(1), len(want.Data)
	}
	var maxRef float64
	for i, w := range want.Data {
		maxRef = max(maxRef, math.Abs(float64(w)))
		if d := math.Abs(float64(got.Data[i]) - float64(w)); d > 0 || math.IsNaN(d) {
			nDiff++
			maxDiff = max(maxDiff, d)
			if math.IsNaN(d) {
				maxDiff = math.Inf(1)
			}
		}
	}
	return maxDiff <= tol*maxRef, maxDiff, nDiff
}

// newGoldenParams returns fresh parameters holding CASE.init.*.
func newGoldenParams(t *testing.T, f *safetensors.File, c string) []Param {
	var ps []Param
	for _, name := range goldenParams {
		ps = append(ps, Param{Name: name, Var: autograd.NewParam(golden.Tensor(t, f, c+".init."+name))})
	}
	return ps
}

// setGoldenGrads sets the gradients of step k (nil where PyTorch had None).
func setGoldenGrads(t *testing.T, f *safetensors.File, c string, k int, ps []Param) {
	for _, p := range ps {
		key := fmt.Sprintf("%s.grad%d.%s", c, k, p.Name)
		if _, ok := f.Tensors[key]; ok {
			p.Var.Grad = golden.Tensor(t, f, key)
		} else {
			p.Var.Grad = nil
		}
	}
}

// TestGoldenOptimizers replays PyTorch's SGD and AdamW trajectories: the
// parameters after every step and the final state, to 1e-6 relative (the
// arithmetic is PyTorch's, so they agree bit for bit; the count of differing
// elements is logged).
func TestGoldenOptimizers(t *testing.T) {
	f := golden.ReadGolden(t, goldenPath)
	cases := optimCases(t, f)
	for _, name := range sortedKeys(cases) {
		c := cases[name]
		t.Run(name, func(t *testing.T) {
			ps := newGoldenParams(t, f, name)
			opt := c.build(ps)
			diffs, total := 0, 0
			for k, lr := range c.LR {
				opt.SetLR(lr)
				setGoldenGrads(t, f, name, k, ps)
				for _, p := range ps {
					if slices.Contains(c.NoneGrad[p.Name], k) != (p.Var.Grad == nil) {
						t.Fatalf("step %d: %s: golden file's None gradients disagree with its metadata", k, p.Name)
					}
				}
				opt.Step()
				for _, p := range ps {
					want := golden.Tensor(t, f, fmt.Sprintf("%s.param%d.%s", name, k, p.Name))
					ok, d, n := closeTo(p.Var.Value, want, 1e-6)
					diffs += n
					total += len(want.Data)
					if !ok {
						t.Errorf("step %d: %s: max |got − torch| = %.3g (%d elements differ)", k, p.Name, d, n)
					}
				}
			}
			state := opt.State()
			prefix := name + ".state."
			nState := 0
			for key := range f.Tensors {
				rest, ok := strings.CutPrefix(key, prefix)
				if !ok {
					continue
				}
				nState++
				got, ok := state[StatePrefix+rest]
				if !ok {
					t.Errorf("State() has no %q", StatePrefix+rest)
					continue
				}
				want := golden.Tensor(t, f, key)
				ok, d, n := closeTo(got, want, 1e-6)
				diffs += n
				total += len(want.Data)
				if !ok {
					t.Errorf("state %s: shape %v vs %v, max |got − torch| = %.3g", rest, got.Shape, want.Shape, d)
				}
			}
			if nState != len(state) {
				t.Errorf("State() has %d keys, PyTorch's state %d: %v", len(state), nState, sortedKeys(state))
			}
			t.Logf("%d of %d values differ from PyTorch's bits", diffs, total)
		})
	}
}

type schedCase struct {
	Kind           string     `json:"kind"`
	Base           float64    `json:"base"`
	LR             []float64  `json:"lr"`
	Milestones     []int      `json:"milestones"`
	Gamma          float64    `json:"gamma"`
	TotalSteps     int        `json:"total_steps"`
	MinLR          float64    `json:"min_lr"`
	PctStart       float64    `json:"pct_start"`
	DivFactor      float64    `json:"div_factor"`
	FinalDivFactor float64    `json:"final_div_factor"`
	WarmupSteps    int        `json:"warmup_steps"`
	StartFactor    float64    `json:"start_factor"`
	Inner          *schedCase `json:"inner"`
	Spec           string     `json:"spec"`
	StepsPerEpoch  int        `json:"steps_per_epoch"`
	Epochs         int        `json:"epochs"`
}

func (c schedCase) build(base float64) Schedule {
	switch c.Kind {
	case "constant":
		return Constant(base)
	case "multistep":
		return MultiStep(base, c.Milestones, c.Gamma)
	case "cosine":
		return Cosine(base, c.TotalSteps, c.MinLR)
	case "onecycle":
		return OneCycle(base, c.TotalSteps, c.PctStart, c.DivFactor, c.FinalDivFactor)
	case "warmup":
		return Warmup(c.Inner.build(base), c.WarmupSteps, c.StartFactor)
	}
	panic("unknown schedule kind " + c.Kind)
}

// TestGoldenSchedules compares every schedule, built directly and (where the
// golden case gives a spec) by ParseSchedule, with the learning rates of
// PyTorch's schedulers stepped once per optimizer step, to 1e-9 relative.
func TestGoldenSchedules(t *testing.T) {
	f := golden.ReadGolden(t, goldenPath)
	n := 0
	for _, name := range sortedKeys(f.Metadata) {
		js := f.Metadata[name]
		if !strings.Contains(js, `"kind"`) {
			continue
		}
		n++
		var c schedCase
		if err := json.Unmarshal([]byte(js), &c); err != nil {
			t.Fatalf("metadata %s: %v", name, err)
		}
		t.Run(name, func(t *testing.T) {
			check := func(what string, s Schedule) {
				for k, want := range c.LR {
					got := s.LR(k)
					if math.Abs(got-want) > 1e-9*math.Abs(want) {
						t.Errorf("%s: LR(%d) = %.17g, torch %.17g (rel %.2g)", what, k, got, want,
							math.Abs(got-want)/math.Abs(want))
					}
				}
			}
			check(fmt.Sprint(c.build(c.Base)), c.build(c.Base))
			if c.Spec != "" {
				s, err := ParseSchedule(c.Spec, c.Base, c.StepsPerEpoch, c.Epochs)
				if err != nil {
					t.Fatal(err)
				}
				check(fmt.Sprintf("ParseSchedule(%q) = %v", c.Spec, s), s)
			}
		})
	}
	if n < 10 {
		t.Fatalf("golden file has %d schedule cases, want 10", n)
	}
}

func sortedKeys[V any](m map[string]V) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}
