package autograd

import (
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/tensor"
)

// The tests drive the tape with three small operations of their own, so
// that they check the tape's contract and nothing of nn's layers.

// mul records y = a ⊙ b (element-wise); its backward adds into the inputs'
// gradients with Grad, as most of nn's operations do.
func mul(t *Tape, a, b *Var) *Var {
	y := NewVar(t.Arena.Get(a.Value.Shape...))
	for i := range y.Value.Data {
		y.Value.Data[i] = a.Value.Data[i] * b.Value.Data[i]
	}
	return t.Record("mul", nil, y, func() {
		for _, p := range [][2]*Var{{a, b}, {b, a}} {
			if !Wants(p[0]) {
				continue
			}
			g := t.Grad(p[0])
			for i, gy := range y.Grad.Data {
				g.Data[i] += gy * p[1].Value.Data[i]
			}
		}
	}, a, b)
}

// scale records y = k·x; its backward uses GradOut: it sets a fresh
// buffer and adds into one that holds gradient already.
func scale(t *Tape, x *Var, k float32) *Var {
	y := NewVar(t.Arena.Get(x.Value.Shape...))
	for i, v := range x.Value.Data {
		y.Value.Data[i] = k * v
	}
	return t.Record("scale", nil, y, func() {
		if !Wants(x) {
			return
		}
		g, fresh := t.GradOut(x)
		for i, gy := range y.Grad.Data {
			if fresh {
				g.Data[i] = k * gy
			} else {
				g.Data[i] += k * gy
			}
		}
	}, x)
}

// add records y = a + b.
func add(t *Tape, a, b *Var) *Var {
	y := NewVar(t.Arena.Get(a.Value.Shape...))
	for i := range y.Value.Data {
		y.Value.Data[i] = a.Value.Data[i] + b.Value.Data[i]
	}
	return t.Record("add", nil, y, func() {
		for _, v := range []*Var{a, b} {
			if Wants(v) {
				tensor.Accumulate(t.Grad(v), y.Grad)
			}
		}
	}, a, b)
}

// sum records the scalar Σ x.
func sum(t *Tape, x *Var) *Var {
	y := NewVar(t.Arena.Get(1))
	y.Value.Data[0] = 0
	for _, v := range x.Value.Data {
		y.Value.Data[0] += v
	}
	return t.Record("sum", nil, y, func() {
		g := t.Grad(x)
		for i := range g.Data {
			g.Data[i] += y.Grad.Data[0]
		}
	}, x)
}

func param(v ...float32) *Var { return NewParam(tensor.FromSlice(slices.Clone(v), len(v))) }

func checkGrad(t *testing.T, name string, v *Var, want ...float32) {
	t.Helper()
	if v.Grad == nil {
		t.Fatalf("%s: no gradient, want %v", name, want)
	}
	if !slices.Equal(v.Grad.Data, want) {
		t.Errorf("%s: gradient %v, want %v", name, v.Grad.Data, want)
	}
}

// dirty fills the first n buffers the arena will hand out with garbage, so
// that a test notices a buffer read before it is written.
func dirty(a *tensor.Arena, shape []int, n int) {
	for range n {
		a.Get(shape...).Fill(-999)
	}
	a.Reset()
}

// TestFanOut checks that a Var read by several operations, or twice by one,
// receives the sum of the gradients of every use.
func TestFanOut(t *testing.T) {
	tp := &Tape{Arena: new(tensor.Arena)}
	x, w := param(1, 2, 3), param(4, 5, 6)
	// loss = Σ x⊙x + Σ h⊙h + Σ h with h = x⊙w: x is read three times, h twice.
	h := mul(tp, x, w)
	loss := add(tp, add(tp, sum(tp, mul(tp, x, x)), sum(tp, mul(tp, h, h))), sum(tp, h))
	tp.Backward(loss, 1)
	// ∂/∂x = 2x + (2h + 1)·w, ∂/∂w = (2h + 1)·x, h = (4, 10, 18).
	checkGrad(t, "x", x, 2*1+9*4, 2*2+21*5, 2*3+37*6)
	checkGrad(t, "w", w, 9*1, 21*2, 37*3)
	checkGrad(t, "h", h, 9, 21, 37)
}

// TestFanOutGradOut checks GradOut's contract where a Var has two
// consumers: the first backward to reach it gets a fresh buffer, whose
// stale contents it overwrites, and the second adds into it.
func TestFanOutGradOut(t *testing.T) {
	arena := new(tensor.Arena)
	dirty(arena, []int{3}, 16)
	tp := &Tape{Arena: arena}
	x := param(1, 2, 3)
	h := mul(tp, x, param(1, 1, 1)) // an intermediate: its gradient comes from the arena
	a := scale(tp, h, 2)
	b := scale(tp, h, 3)
	loss := sum(tp, mul(tp, a, b)) // Σ 6h²: ∂/∂h = 12h
	tp.Backward(loss, 1)
	checkGrad(t, "h", h, 12, 24, 36)
	checkGrad(t, "x", x, 12, 24, 36)
}

func TestGradOutFresh(t *testing.T) {
	arena := new(tensor.Arena)
	dirty(arena, []int{2, 2}, 4)
	tp := &Tape{Arena: arena}
	v := NewVar(tp.Arena.Get(2, 2))
	g, fresh := tp.GradOut(v)
	if !fresh || v.Grad != g || !slices.Equal(g.Shape, []int{2, 2}) {
		t.Fatalf("first GradOut: fresh %v, buffer set %v, shape %v", fresh, v.Grad == g, g.Shape)
	}
	g2, fresh2 := tp.GradOut(v)
	if fresh2 || g2 != g {
		t.Errorf("second GradOut: fresh %v, same buffer %v; want the first buffer, not fresh", fresh2, g2 == g)
	}
	if tp.Grad(v) != g {
		t.Error("Grad after GradOut returns another buffer")
	}

	// A parameter's fresh buffer is its own (not the arena's): it survives
	// the arena's reset.
	p := param(1, 2)
	pg, fresh := tp.GradOut(p)
	if !fresh {
		t.Fatal("GradOut of a parameter without gradient: not fresh")
	}
	pg.Data[0], pg.Data[1] = 7, 8
	arena.Reset()
	arena.Get(2).Fill(-1)
	if !slices.Equal(p.Grad.Data, []float32{7, 8}) {
		t.Errorf("a parameter's gradient changed with the arena: %v", p.Grad.Data)
	}

	// Grad of a fresh intermediate is zeroed even on a dirty arena.
	arena.Reset()
	dirty(arena, []int{3}, 4)
	if z := tp.Grad(NewVar(tensor.New(3))); !slices.Equal(z.Data, []float32{0, 0, 0}) {
		t.Errorf("Grad: new buffer %v, want zeros", z.Data)
	}
}

// TestBackwardFrom starts the backward pass from a non-scalar output with
// a given gradient, as torch.autograd.backward(out, grad).
func TestBackwardFrom(t *testing.T) {
	tp := &Tape{Arena: new(tensor.Arena)}
	x, w := param(1, 2, 3), param(4, 5, 6)
	y := scale(tp, mul(tp, x, w), 2)
	tp.BackwardFrom(y, tensor.FromSlice([]float32{1, 10, 100}, 3))
	checkGrad(t, "x", x, 2*1*4, 2*10*5, 2*100*6)
	checkGrad(t, "w", w, 2*1*1, 2*10*2, 2*100*3)
	checkGrad(t, "y", y, 1, 10, 100)
}

// TestBackwardSeedAndSkip checks Backward's seed, that parameters'
// gradients accumulate over passes, that inputs which need no gradient get
// none, and that a non-scalar loss is refused.
func TestBackwardSeedAndSkip(t *testing.T) {
	x := param(1, 2)
	c := NewVar(tensor.FromSlice([]float32{3, 4}, 2)) // a constant
	for pass := 1; pass <= 2; pass++ {
		tp := &Tape{Arena: new(tensor.Arena)}
		tp.Backward(sum(tp, mul(tp, x, c)), 0.5)
		checkGrad(t, "x", x, float32(pass)*1.5, float32(pass)*2)
	}
	if c.Grad != nil {
		t.Errorf("a constant got a gradient %v", c.Grad.Data)
	}
	defer func() {
		if recover() == nil {
			t.Error("Backward from a 2-element tensor did not panic")
		}
	}()
	tp := &Tape{Arena: new(tensor.Arena)}
	tp.Backward(mul(tp, x, c), 1)
}

// TestReuseAfterReset runs two different passes on one tape: after Reset
// the second pass reuses the first one's Node structs and must see none of
// its operations or inputs.
func TestReuseAfterReset(t *testing.T) {
	arena := new(tensor.Arena)
	tp := &Tape{Arena: arena}
	x, w := param(1, 2), param(3, 4)
	tp.Backward(sum(tp, mul(tp, mul(tp, x, w), w)), 1) // Σ x·w²
	checkGrad(t, "x", x, 9, 16)
	first := slices.Clone(tp.Nodes)

	arena.Reset()
	tp.Reset()
	if len(tp.Nodes) != 0 {
		t.Fatalf("%d nodes after Reset", len(tp.Nodes))
	}
	x.Grad, w.Grad = nil, nil
	v := param(5, 6)
	loss := sum(tp, scale(tp, v, 3)) // Σ 3v: two nodes, fewer than before
	if len(tp.Nodes) != 2 || tp.Nodes[0] != first[0] || tp.Nodes[1] != first[1] {
		t.Errorf("second pass: %d nodes, reused %v %v; want 2 reused nodes", len(tp.Nodes), tp.Nodes[0] == first[0], tp.Nodes[1] == first[1])
	}
	if n := tp.Nodes[0]; n.Op != "scale" || len(n.Inputs) != 1 || n.Inputs[0] != v {
		t.Errorf("reused node: op %q, inputs %v", n.Op, n.Inputs)
	}
	tp.Backward(loss, 1)
	checkGrad(t, "v", v, 3, 3)
	if x.Grad != nil || w.Grad != nil {
		t.Error("the second pass reached the first pass's parameters")
	}
}
