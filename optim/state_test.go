package optim

import (
	"bytes"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// rng is a tiny deterministic generator for test data.
type rng uint64

func (r *rng) float() float32 {
	*r = *r*6364136223846793005 + 1442695040888963407
	return float32(int32(uint32(*r>>32)))/(1<<31) + 0.001
}

func (r *rng) tensor(shape ...int) *tensor.Tensor {
	t := tensor.New(shape...)
	for i := range t.Data {
		t.Data[i] = r.float()
	}
	return t
}

// testParams returns three parameters of different shapes with random values.
func testParams(seed rng) []Param {
	r := seed
	return []Param{
		{Name: "conv.weight", Var: autograd.NewParam(r.tensor(4, 3, 3, 3))},
		{Name: "bn.weight", Var: autograd.NewParam(r.tensor(4))},
		{Name: "fc.bias", Var: autograd.NewParam(r.tensor(10))},
	}
}

func cloneParams(ps []Param) []Param {
	out := make([]Param, len(ps))
	for i, p := range ps {
		out[i] = Param{Name: p.Name, Var: autograd.NewParam(p.Var.Value.Clone())}
	}
	return out
}

// setGrads gives every parameter a random gradient (step-dependent), except
// those named in skip, whose gradient is nil.
func setGrads(ps []Param, step int, skip ...string) {
	r := rng(1000 + step)
	for _, p := range ps {
		g := r.tensor(p.Var.Value.Shape...)
		if slices.Contains(skip, p.Name) {
			g = nil
		}
		p.Var.Grad = g
	}
}

type optimizerMaker struct {
	name string
	make func([]Param) Optimizer
}

var makers = []optimizerMaker{
	{"sgd", func(ps []Param) Optimizer {
		return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4})
	}},
	{"sgd_nesterov", func(ps []Param) Optimizer {
		return NewSGD(ps, SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 5e-4, Nesterov: true})
	}},
	{"adamw", func(ps []Param) Optimizer { return NewAdamW(ps, DefaultAdamWConfig()) }},
}

func equalBits(a, b *tensor.Tensor) bool {
	if !tensor.SameShape(a, b) || len(a.Data) != len(b.Data) {
		return false
	}
	for i := range a.Data {
		if math.Float32bits(a.Data[i]) != math.Float32bits(b.Data[i]) {
			return false
		}
	}
	return true
}

// roundTrip passes a state map through a safetensors encoding, as a
// checkpoint does.
func roundTrip(t *testing.T, state map[string]*tensor.Tensor) map[string]*tensor.Tensor {
	t.Helper()
	f := safetensors.New()
	for k, v := range state {
		f.Tensors[k] = safetensors.FromFloat32(v.Shape, v.Data)
	}
	var buf bytes.Buffer
	if err := f.Encode(&buf); err != nil {
		t.Fatal(err)
	}
	g, err := safetensors.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]*tensor.Tensor{}
	for k, v := range g.Tensors {
		d, err := v.Float32s()
		if err != nil {
			t.Fatal(err)
		}
		out[k] = tensor.FromSlice(d, v.Shape...)
	}
	return out
}

// TestStateRoundTrip: an optimizer restored from State (through a
// safetensors file) continues exactly like the uninterrupted one.
func TestStateRoundTrip(t *testing.T) {
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			a := testParams(1)
			optA := m.make(a)
			for step := range 3 {
				optA.SetLR(0.1 / float64(step+1))
				setGrads(a, step, skipAt(step)...)
				optA.Step()
			}
			saved := roundTrip(t, optA.State())
			b := cloneParams(a)
			optB := m.make(b)
			if err := optB.LoadState(saved); err != nil {
				t.Fatal(err)
			}
			if !sameState(optA.State(), optB.State()) {
				t.Fatal("LoadState(State()) does not reproduce the state")
			}
			for step := 3; step < 6; step++ {
				for _, o := range []Optimizer{optA, optB} {
					o.SetLR(0.02)
				}
				setGrads(a, step, skipAt(step)...)
				setGrads(b, step, skipAt(step)...)
				optA.Step()
				optB.Step()
				for i := range a {
					if !equalBits(a[i].Var.Value, b[i].Var.Value) {
						t.Fatalf("step %d: %s differs between the uninterrupted and the restored optimizer", step, a[i].Name)
					}
				}
			}
			if !sameState(optA.State(), optB.State()) {
				t.Fatal("states differ after the restored steps")
			}
		})
	}
}

// skipAt: fc.bias has no gradient at step 1, and bn.weight none before step 4
// (so the state saved at step 3 has no keys for it).
func skipAt(step int) []string {
	var s []string
	if step == 1 {
		s = append(s, "fc.bias")
	}
	if step < 4 {
		s = append(s, "bn.weight")
	}
	return s
}

func sameState(a, b map[string]*tensor.Tensor) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || !equalBits(v, w) {
			return false
		}
	}
	return true
}

// TestNilGradSkipped: a parameter without a gradient keeps its value and
// gets no state; AdamW's step count of a skipped parameter does not advance.
func TestNilGradSkipped(t *testing.T) {
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			ps := testParams(2)
			before := ps[1].Var.Value.Clone()
			opt := m.make(ps)
			setGrads(ps, 0, "bn.weight")
			opt.Step()
			if !equalBits(ps[1].Var.Value, before) {
				t.Error("a parameter with a nil gradient changed")
			}
			if st := opt.ParamState("bn.weight"); st == nil || len(st) != 0 {
				t.Errorf("state of a skipped parameter: %v", st)
			}
			for k := range opt.State() {
				if strings.Contains(k, "bn.weight") {
					t.Errorf("State() has %q", k)
				}
			}
			if len(opt.ParamState("conv.weight")) == 0 {
				t.Error("a stepped parameter has no state")
			}
			if _, isAdam := opt.(*AdamW); isAdam {
				setGrads(ps, 1, "fc.bias")
				opt.Step()
				if got := opt.ParamState("conv.weight")["step"].Data[0]; got != 2 {
					t.Errorf("conv.weight step = %v, want 2", got)
				}
				if got := opt.ParamState("fc.bias")["step"].Data[0]; got != 1 {
					t.Errorf("fc.bias step = %v, want 1 (skipped once)", got)
				}
				if got := opt.ParamState("bn.weight")["step"].Data[0]; got != 1 {
					t.Errorf("bn.weight step = %v, want 1", got)
				}
			}
			if opt.ParamState("no.such.param") != nil {
				t.Error("ParamState of an unknown name is not nil")
			}
		})
	}
}

// TestAdamWStepIsScalar: the step count is a 0-d tensor, as PyTorch keeps it.
func TestAdamWStepIsScalar(t *testing.T) {
	ps := testParams(3)
	opt := NewAdamW(ps, DefaultAdamWConfig())
	setGrads(ps, 0)
	opt.Step()
	st := opt.State()
	if len(st) != 9 {
		t.Fatalf("State() has %d keys, want 9: %v", len(st), sortedKeys(st))
	}
	step := st["optim.fc.bias.step"]
	if step == nil || len(step.Shape) != 0 || step.Data[0] != 1 {
		t.Fatalf("optim.fc.bias.step = %v, want a 0-d tensor holding 1", step)
	}
	for _, k := range []string{"optim.conv.weight.exp_avg", "optim.conv.weight.exp_avg_sq"} {
		if !slices.Equal(st[k].Shape, []int{4, 3, 3, 3}) {
			t.Errorf("%s has shape %v", k, st[k].Shape)
		}
	}
	// State returns copies.
	st["optim.fc.bias.exp_avg"].Data[0] = 42
	if opt.ParamState("fc.bias")["exp_avg"].Data[0] == 42 {
		t.Error("State() aliases the live state")
	}
}

// TestLoadStateErrors: strict loading names the bad keys and changes nothing.
func TestLoadStateErrors(t *testing.T) {
	ps := testParams(4)
	opt := NewAdamW(ps, DefaultAdamWConfig())
	setGrads(ps, 0)
	opt.Step()
	good := opt.State()
	edit := func(f func(m map[string]*tensor.Tensor)) map[string]*tensor.Tensor {
		m := map[string]*tensor.Tensor{}
		for k, v := range good {
			m[k] = v.Clone()
		}
		f(m)
		return m
	}
	cases := []struct {
		name  string
		state map[string]*tensor.Tensor
		want  []string
	}{
		{"missing", edit(func(m map[string]*tensor.Tensor) { delete(m, "optim.conv.weight.exp_avg_sq") }),
			[]string{`missing key "optim.conv.weight.exp_avg_sq"`}},
		{"misshaped", edit(func(m map[string]*tensor.Tensor) { m["optim.bn.weight.exp_avg"] = tensor.New(5) }),
			[]string{`"optim.bn.weight.exp_avg" has shape [5]`, `has shape [4]`}},
		{"unknown param", edit(func(m map[string]*tensor.Tensor) { m["optim.fc.weight.exp_avg"] = tensor.New(10) }),
			[]string{`unexpected key "optim.fc.weight.exp_avg"`, `no parameter "fc.weight"`}},
		{"unknown state", edit(func(m map[string]*tensor.Tensor) { m["optim.fc.bias.momentum_buffer"] = tensor.New(10) }),
			[]string{`unexpected key "optim.fc.bias.momentum_buffer"`, "exp_avg, exp_avg_sq, step"}},
		{"no dot", edit(func(m map[string]*tensor.Tensor) { m["optim.step"] = tensor.New() }),
			[]string{`unexpected key "optim.step"`}},
		{"bad step", edit(func(m map[string]*tensor.Tensor) { m["optim.fc.bias.step"].Data[0] = 1.5 }),
			[]string{`"optim.fc.bias.step" holds 1.5`}},
		{"step shape", edit(func(m map[string]*tensor.Tensor) { m["optim.fc.bias.step"] = tensor.New(2) }),
			[]string{`"optim.fc.bias.step" has shape [2]`}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := opt.State()
			err := opt.LoadState(c.state)
			if err == nil {
				t.Fatal("no error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not contain %q", err, w)
				}
			}
			if !sameState(before, opt.State()) {
				t.Error("a failed LoadState changed the state")
			}
		})
	}

	// Keys outside optim. are ignored; an empty state clears.
	withModel := edit(func(m map[string]*tensor.Tensor) { m["conv.weight"] = tensor.New(7) })
	if err := opt.LoadState(withModel); err != nil {
		t.Fatalf("model keys beside the optimizer state: %v", err)
	}
	if err := opt.LoadState(map[string]*tensor.Tensor{"conv.weight": tensor.New(1)}); err != nil {
		t.Fatal(err)
	}
	if len(opt.State()) != 0 || len(opt.ParamState("conv.weight")) != 0 {
		t.Error("loading no optimizer keys left state behind")
	}

	// SGD without momentum keeps no state: any optim. key is unexpected.
	plain := NewSGD(testParams(4), SGDConfig{LR: 0.1})
	err := plain.LoadState(map[string]*tensor.Tensor{"optim.fc.bias.momentum_buffer": tensor.New(10)})
	if err == nil || !strings.Contains(err.Error(), "with this configuration") {
		t.Errorf("SGD without momentum loading a momentum buffer: %v", err)
	}
}

// TestPruneState: after a parameter loses channels, slicing its state through
// ParamState lets the optimizer continue; without slicing, Step panics with
// a message that says what to do.
func TestPruneState(t *testing.T) {
	for _, m := range makers {
		t.Run(m.name, func(t *testing.T) {
			ps := testParams(5)
			opt := m.make(ps)
			setGrads(ps, 0)
			opt.Step()
			keep := []int{0, 2, 3} // output channels of conv.weight that stay
			prune := func(x *tensor.Tensor) *tensor.Tensor {
				per := len(x.Data) / x.Shape[0]
				out := tensor.New(append([]int{len(keep)}, x.Shape[1:]...)...)
				for i, c := range keep {
					copy(out.Data[i*per:(i+1)*per], x.Data[c*per:(c+1)*per])
				}
				return out
			}
			conv := ps[0].Var
			oldShape := slices.Clone(conv.Value.Shape)
			conv.Value = prune(conv.Value)

			setGrads(ps, 1)
			func() {
				defer func() {
					r := recover()
					if r == nil || !strings.Contains(r.(string), "ParamState") || !strings.Contains(r.(string), "conv.weight") {
						t.Errorf("Step with unsliced state: panic %v", r)
					}
				}()
				opt.Step()
			}()

			// Reference: an optimizer over the pruned tensors with pruned state.
			ref := cloneParams(ps)
			refOpt := m.make(ref)
			saved := opt.State()
			for name, tt := range opt.ParamState("conv.weight") {
				if slices.Equal(tt.Shape, oldShape) {
					opt.ParamState("conv.weight")[name] = prune(tt)
					saved["optim.conv.weight."+name] = prune(tt)
				}
			}
			if err := refOpt.LoadState(saved); err != nil {
				t.Fatal(err)
			}
			setGrads(ps, 2)
			setGrads(ref, 2)
			opt.Step()
			refOpt.Step()
			for i := range ps {
				if !equalBits(ps[i].Var.Value, ref[i].Var.Value) {
					t.Errorf("%s differs after pruning", ps[i].Name)
				}
			}
		})
	}
}

// TestGradShapePanics: a gradient of the wrong shape is a programming error.
func TestGradShapePanics(t *testing.T) {
	ps := testParams(6)
	opt := NewSGD(ps, SGDConfig{LR: 0.1})
	setGrads(ps, 0)
	ps[2].Var.Grad = tensor.New(11)
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), `gradient of "fc.bias"`) {
			t.Errorf("panic %v", r)
		}
	}()
	opt.Step()
}

// BenchmarkStep times one update of a ResNet-56-sized parameter set (853,018
// values in one tensor).
func BenchmarkStep(b *testing.B) {
	for _, m := range makers {
		b.Run(m.name, func(b *testing.B) {
			r := rng(7)
			p := Param{Name: "w", Var: autograd.NewParam(r.tensor(853018))}
			p.Var.Grad = r.tensor(853018)
			opt := m.make([]Param{p})
			opt.SetLR(1e-6)
			opt.Step()
			b.SetBytes(4 * 853018)
			b.ReportAllocs()
			for b.Loop() {
				opt.Step()
			}
		})
	}
}
