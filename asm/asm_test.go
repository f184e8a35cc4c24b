package asm_test

import (
	"fmt"
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/asm"
	kern "github.com/bonsai-dl/bonsai/internal/asm"
)

func randSlice(r *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(r.NormFloat64())
	}
	return s
}

func same(t *testing.T, name string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: element %d is %v, the internal kernel gives %v", name, i, got[i], want[i])
		}
	}
}

// TestFacade checks that every function of the public API gives its internal twin's result
// bit for bit on every path, and that SetPath switches the internal kernels.
func TestFacade(t *testing.T) {
	old := asm.CurrentPath()
	defer asm.SetPath(old)
	for _, p := range asm.AvailablePaths() {
		if err := asm.SetPath(p); err != nil {
			t.Fatal(err)
		}
		if kern.CurrentPath() != p {
			t.Fatalf("asm.SetPath(%v): internal path is %v", p, kern.CurrentPath())
		}
		r := rand.New(rand.NewPCG(1, uint64(p)))
		const m, n, k = 37, 53, 29 // odd sizes: edge tiles and tails
		a, b := randSlice(r, m*k), randSlice(r, k*n)
		c0 := randSlice(r, m*n)
		c1, c2 := append([]float32(nil), c0...), append([]float32(nil), c0...)
		asm.Sgemm(false, true, m, n, k, 0.5, a, k, b, k, 1.5, c1, n, nil)
		kern.Sgemm(false, true, m, n, k, 0.5, a, k, b, k, 1.5, c2, n, nil)
		same(t, p.String()+" Sgemm", c1, c2)

		pa := asm.PackA(false, m, k, a, k)
		bias, res := randSlice(r, m), randSlice(r, m*n)
		e := &asm.GemmEpilogue{Bias: bias, R: res, LDR: n, Relu: true, Clip: 6}
		asm.SgemmPacked(pa, n, b, n, c1, n, e, asm.NewWorkspace())
		kern.SgemmPacked(kern.PackA(false, m, k, a, k), n, b, n, c2, n, e, nil)
		same(t, p.String()+" SgemmPacked", c1, c2)

		x, y := randSlice(r, 101), randSlice(r, 101)
		d1, d2 := make([]float32, len(x)), make([]float32, len(x))
		for _, f := range []struct {
			name      string
			pub, twin func(dst, a, b []float32)
		}{
			{"Add", asm.Add, kern.Add}, {"AddRelu", asm.AddRelu, kern.AddRelu}, {"Max", asm.Max, kern.Max},
			{"ReluBackward", asm.ReluBackward, kern.ReluBackward},
		} {
			copy(d1, y)
			copy(d2, y)
			f.pub(d1, x, y)
			f.twin(d2, x, y)
			same(t, p.String()+" "+f.name, d1, d2)
		}
		asm.Relu(d1, x)
		kern.Relu(d2, x)
		same(t, p.String()+" Relu", d1, d2)
		asm.Clamp(d1, x, 0, 1)
		kern.Clamp(d2, x, 0, 1)
		same(t, p.String()+" Clamp", d1, d2)
		asm.ScaleShift(d1, x, 0.3, -0.1)
		kern.ScaleShift(d2, x, 0.3, -0.1)
		same(t, p.String()+" ScaleShift", d1, d2)
		asm.ScaleShiftRelu(d1, x, 0.3, -0.1)
		kern.ScaleShiftRelu(d2, x, 0.3, -0.1)
		same(t, p.String()+" ScaleShiftRelu", d1, d2)
		copy(d1, y)
		copy(d2, y)
		asm.Axpy(0.7, x, d1)
		kern.Axpy(0.7, x, d2)
		asm.Scale(1.3, d1)
		kern.Scale(1.3, d2)
		same(t, p.String()+" Axpy, Scale", d1, d2)
		if s1, s2 := asm.Sum(x), kern.Sum(x); math.Float32bits(s1) != math.Float32bits(s2) {
			t.Fatalf("%v Sum: %v, internal %v", p, s1, s2)
		}
		if s1, s2 := asm.Dot(x, y), kern.Dot(x, y); math.Float32bits(s1) != math.Float32bits(s2) {
			t.Fatalf("%v Dot: %v, internal %v", p, s1, s2)
		}
		t1, t2 := make([]float32, m*k), make([]float32, m*k)
		asm.Transpose(t1, m, a, k, m, k)
		kern.Transpose(t2, m, a, k, m, k)
		same(t, p.String()+" Transpose", t1, t2)
	}
	if _, err := asm.ParsePath("avx1024"); err == nil {
		t.Error("ParsePath accepted an unknown path")
	}
}

// ExampleSgemm multiplies two 2×2 matrices.
func ExampleSgemm() {
	a := []float32{1, 2, 3, 4}
	b := []float32{5, 6, 7, 8}
	c := make([]float32, 4)
	asm.Sgemm(false, false, 2, 2, 2, 1, a, 2, b, 2, 0, c, 2, nil)
	fmt.Println(c)
	// Output: [19 22 43 50]
}
