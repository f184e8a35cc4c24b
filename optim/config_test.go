package optim

import (
	"math"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

func TestSGDValidate(t *testing.T) {
	good := []SGDConfig{
		{LR: 0.1},
		{LR: 0, Momentum: 0.9, WeightDecay: 1e-4},
		{LR: 0.1, Momentum: 0.9, Nesterov: true},
		{LR: 0.1, Momentum: 0.9, Dampening: 0.1},
	}
	for _, c := range good {
		if err := c.Validate(); err != nil {
			t.Errorf("%+v: %v", c, err)
		}
	}
	bad := []struct {
		c    SGDConfig
		want string
	}{
		{SGDConfig{LR: -0.1}, "learning rate -0.1 is negative"},
		{SGDConfig{LR: math.NaN()}, "learning rate NaN is not finite"},
		{SGDConfig{LR: 0.1, Momentum: -0.9}, "momentum -0.9 is negative"},
		{SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: -1}, "dampening -1 is negative"},
		{SGDConfig{LR: 0.1, WeightDecay: -1e-4}, "weight decay -0.0001 is negative"},
		{SGDConfig{LR: 0.1, Nesterov: true}, "Nesterov momentum requires a momentum > 0"},
		{SGDConfig{LR: 0.1, Momentum: 0.9, Dampening: 0.1, Nesterov: true}, "zero dampening (have momentum 0.9, dampening 0.1)"},
	}
	for _, b := range bad {
		err := b.c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want %q", b.c, err, b.want)
		}
	}
	// Every problem is listed.
	err := SGDConfig{LR: -1, WeightDecay: -1}.Validate()
	if err == nil || !strings.Contains(err.Error(), "learning rate") || !strings.Contains(err.Error(), "weight decay") {
		t.Errorf("two problems: %v", err)
	}
}

func TestAdamWValidate(t *testing.T) {
	if err := DefaultAdamWConfig().Validate(); err != nil {
		t.Fatal(err)
	}
	if err := (AdamWConfig{}).Validate(); err != nil {
		t.Errorf("zero config: %v", err)
	}
	bad := []struct {
		c    AdamWConfig
		want string
	}{
		{AdamWConfig{LR: -1}, "learning rate -1 is negative"},
		{AdamWConfig{Beta1: 1}, "beta1 1 is outside [0, 1)"},
		{AdamWConfig{Beta2: -0.1}, "beta2 -0.1 is outside [0, 1)"},
		{AdamWConfig{Beta2: math.Inf(1)}, "beta2 +Inf is not finite"},
		{AdamWConfig{Eps: -1e-8}, "eps -1e-08 is negative"},
		{AdamWConfig{WeightDecay: -0.01}, "weight decay -0.01 is negative"},
	}
	for _, b := range bad {
		err := b.c.Validate()
		if err == nil || !strings.Contains(err.Error(), b.want) {
			t.Errorf("%+v: error %v, want %q", b.c, err, b.want)
		}
	}
}

func mustPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		msg, _ := r.(string)
		if r == nil || !strings.Contains(msg, want) {
			t.Errorf("panic %v, want one containing %q", r, want)
		}
	}()
	f()
}

func TestConstructorPanics(t *testing.T) {
	p := func(name string) Param { return Param{Name: name, Var: autograd.NewParam(tensor.New(2))} }
	mustPanic(t, "Nesterov", func() { NewSGD(nil, SGDConfig{LR: 0.1, Nesterov: true}) })
	mustPanic(t, "beta1", func() { NewAdamW(nil, AdamWConfig{Beta1: 2}) })
	mustPanic(t, `"w" appears twice`, func() { NewSGD([]Param{p("w"), p("w")}, SGDConfig{}) })
	mustPanic(t, "empty name", func() { NewAdamW([]Param{p("")}, AdamWConfig{}) })
	mustPanic(t, `"v" has no value`, func() { NewSGD([]Param{{Name: "v"}}, SGDConfig{}) })
	opt := NewSGD([]Param{p("w")}, SGDConfig{LR: 0.1})
	mustPanic(t, "learning rate -1", func() { opt.SetLR(-1) })
	mustPanic(t, "learning rate NaN", func() { opt.SetLR(math.NaN()) })
	opt.SetLR(0.5)
	if opt.LR() != 0.5 || opt.Config().LR != 0.1 {
		t.Errorf("LR() = %v, Config().LR = %v", opt.LR(), opt.Config().LR)
	}
	if ps := opt.Params(); len(ps) != 1 || ps[0].Name != "w" {
		t.Errorf("Params() = %v", ps)
	}
}

// TestSGDFormula checks the update rule by hand on single values (exact in
// float32), independently of the golden file.
func TestSGDFormula(t *testing.T) {
	v := autograd.NewParam(tensor.FromSlice([]float32{1}, 1))
	opt := NewSGD([]Param{{Name: "x", Var: v}}, SGDConfig{LR: 0.5, Momentum: 0.5, Dampening: 0.5})
	v.Grad = tensor.FromSlice([]float32{2}, 1)
	opt.Step() // buf = 2, x = 1 − 0.5·2 = 0
	if v.Value.Data[0] != 0 {
		t.Fatalf("after step 1: %v", v.Value.Data[0])
	}
	opt.Step() // buf = 0.5·2 + 0.5·2 = 2, x = 0 − 0.5·2 = −1
	if v.Value.Data[0] != -1 || opt.ParamState("x")["momentum_buffer"].Data[0] != 2 {
		t.Fatalf("after step 2: %v, buf %v", v.Value.Data[0], opt.ParamState("x")["momentum_buffer"].Data[0])
	}
}

func TestPowInt(t *testing.T) {
	for _, c := range []struct {
		b    float64
		n    int
		want float64
	}{
		{0.9, 0, 1}, {0.9, 1, 0.9}, {0.5, 10, 1.0 / 1024},
		// Exact powers rounded to nearest (Python: float(Fraction(b) ** n)), where both
		// Go's math.Pow and glibc's pow are an ulp off.
		{0.999, 2904, 0.054723996727378245},
		{0.99, 503, 0.006375333125571847},
		{0.8, 356, 3.1625352079267906e-35},
	} {
		if got := powInt(c.b, c.n); got != c.want {
			t.Errorf("powInt(%v, %d) = %.17g, want %.17g", c.b, c.n, got, c.want)
		}
	}
}
