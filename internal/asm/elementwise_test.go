package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// testVector returns n values in [-2, 2) with a few special values mixed in when special
// is set: NaN of both signs, ±Inf, ±0, subnormals of both signs and a large value.
func testVector(rng *rand.Rand, n int, special bool) []float32 {
	x := make([]float32, n)
	for i := range x {
		x[i] = 4*rng.Float32() - 2
	}
	if special {
		sp := []float32{float32(math.NaN()), float32(math.Inf(1)), float32(math.Inf(-1)), 0,
			float32(math.Copysign(0, -1)), 3e38, math.Float32frombits(0xffc00001), math.Float32frombits(1),
			math.Float32frombits(0x80000001), math.Float32frombits(0x7f800001)}
		for i := 0; i < n; i += 3 {
			x[i] = sp[(i/5)%len(sp)]
		}
	}
	return x
}

func sameBits(x, y []float32) int {
	if len(x) != len(y) {
		return 0
	}
	for i := range x {
		if math.Float32bits(x[i]) != math.Float32bits(y[i]) {
			// All NaNs produced here are the same kind of quiet NaN, but be lenient.
			if x[i] != x[i] && y[i] != y[i] {
				continue
			}
			return i
		}
	}
	return -1
}

func reluLoop(v float32) float32 {
	if v > 0 {
		return v
	}
	return 0
}

// TestElementwise compares every element-wise kernel with its reference loop, bit for bit,
// on lengths 0…67, with and without special values, in place and out of place.
func TestElementwise(t *testing.T) { forEachPath(t, testElementwise) }

func testElementwise(t *testing.T) {
	rng := rand.New(rand.NewPCG(21, 22))
	const alpha, scale, shift = float32(-0.7), float32(1.37), float32(-0.21)
	for _, n := range lengths() {
		for _, special := range []bool{false, true} {
			x := testVector(rng, n, special)
			y := testVector(rng, n, special)

			check := func(name string, got, want []float32) {
				t.Helper()
				if i := sameBits(got, want); i >= 0 {
					t.Fatalf("%s n=%d special=%v: element %d = %g, want %g", name, n, special, i, got[i], want[i])
				}
			}
			ref := func(f func(i int) float32) []float32 {
				r := make([]float32, n)
				for i := range r {
					r[i] = f(i)
				}
				return r
			}

			got := append([]float32(nil), y...)
			Axpy(alpha, x, got)
			check("Axpy", got, ref(func(i int) float32 { return float32(alpha*x[i]) + y[i] }))

			got = append([]float32(nil), x...)
			Scale(alpha, got)
			check("Scale", got, ref(func(i int) float32 { return alpha * x[i] }))

			addRef := ref(func(i int) float32 { return x[i] + y[i] })
			got = make([]float32, n)
			Add(got, x, y)
			check("Add", got, addRef)
			got = append([]float32(nil), x...)
			Add(got, got, y)
			check("Add dst=a", got, addRef)
			got = append([]float32(nil), y...)
			Add(got, x, got)
			check("Add dst=b", got, addRef)

			maxRef := ref(func(i int) float32 {
				m := x[i]
				if v := y[i]; v > m || v != v {
					m = v
				}
				return m
			})
			got = make([]float32, n)
			Max(got, x, y)
			check("Max", got, maxRef)
			got = append([]float32(nil), x...)
			Max(got, got, y)
			check("Max dst=a", got, maxRef)
			got = append([]float32(nil), y...)
			Max(got, x, got)
			check("Max dst=b", got, maxRef)

			reluRef := ref(func(i int) float32 { return reluLoop(x[i]) })
			got = make([]float32, n)
			Relu(got, x)
			check("Relu", got, reluRef)
			got = append([]float32(nil), x...)
			Relu(got, got)
			check("Relu in place", got, reluRef)

			ssRef := ref(func(i int) float32 { return float32(x[i]*scale) + shift })
			got = make([]float32, n)
			ScaleShift(got, x, scale, shift)
			check("ScaleShift", got, ssRef)
			got = append([]float32(nil), x...)
			ScaleShift(got, got, scale, shift)
			check("ScaleShift in place", got, ssRef)

			ssrRef := ref(func(i int) float32 { return reluLoop(float32(x[i]*scale) + shift) })
			got = make([]float32, n)
			ScaleShiftRelu(got, x, scale, shift)
			check("ScaleShiftRelu", got, ssrRef)
			got = append([]float32(nil), x...)
			ScaleShiftRelu(got, got, scale, shift)
			check("ScaleShiftRelu in place", got, ssrRef)

			arRef := ref(func(i int) float32 { return reluLoop(x[i] + y[i]) })
			got = make([]float32, n)
			AddRelu(got, x, y)
			check("AddRelu", got, arRef)
			got = append([]float32(nil), y...)
			AddRelu(got, x, got)
			check("AddRelu dst=b", got, arRef)

			var s [8]float32
			for i, v := range x {
				s[i%8] += v
			}
			want := ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
			if got := Sum(x); sameBits([]float32{got}, []float32{want}) >= 0 {
				t.Fatalf("Sum n=%d special=%v = %g, want %g", n, special, got, want)
			}
			s = [8]float32{}
			for i := range x {
				s[i%8] += float32(x[i] * y[i])
			}
			want = ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
			if got := Dot(x, y); sameBits([]float32{got}, []float32{want}) >= 0 {
				t.Fatalf("Dot n=%d special=%v = %g, want %g", n, special, got, want)
			}
		}
	}
}

// TestSumOrder pins the documented summation order with inputs where order matters.
func TestSumOrder(t *testing.T) { forEachPath(t, testSumOrder) }

func testSumOrder(t *testing.T) {
	// 1e8 and -1e8 both land in accumulator 0 and cancel there; the ones live in
	// accumulators 1…7. A strictly sequential sum loses every one against 1e8 (the float32
	// spacing there is 8) and returns 0.
	x := []float32{1e8, 1, 1, 1, 1, 1, 1, 1, -1e8}
	if got := Sum(x); got != 7 {
		t.Errorf("Sum = %g, want 7", got)
	}
	var seq float32
	for _, v := range x {
		seq += v
	}
	if seq == 7 {
		t.Fatalf("test input does not distinguish orders")
	}
	ones := []float32{1, 1, 1, 1, 1, 1, 1, 1, 1}
	if got := Dot(x, ones); got != 7 {
		t.Errorf("Dot(x, ones) = %g, want 7", got)
	}
	if got := Sum(nil); math.Float32bits(got) != 0 {
		t.Errorf("Sum(nil) = %g, want +0", got)
	}
}

func TestElementwisePanics(t *testing.T) {
	a, b := make([]float32, 4), make([]float32, 5)
	expectPanic(t, "Axpy: len(x)", func() { Axpy(1, b, a) })
	expectPanic(t, "Add: len(a)", func() { Add(a, b, a) })
	expectPanic(t, "Add: len(b)", func() { Add(a, a, b) })
	expectPanic(t, "Relu: len(src)", func() { Relu(a, b) })
	expectPanic(t, "ScaleShift: len(src)", func() { ScaleShift(a, b, 1, 0) })
	expectPanic(t, "ScaleShiftRelu: len(src)", func() { ScaleShiftRelu(b, a, 1, 0) })
	expectPanic(t, "AddRelu: len(a)", func() { AddRelu(a, b, a) })
	expectPanic(t, "AddRelu: len(b)", func() { AddRelu(a, a, b) })
	expectPanic(t, "Dot: len(y)", func() { Dot(a, b) })
}

func TestElementwiseNoAlloc(t *testing.T) { forEachPath(t, testElementwiseNoAlloc) }

func testElementwiseNoAlloc(t *testing.T) {
	if raceEnabled {
		t.Skip("the race detector allocates")
	}
	x, y, z := make([]float32, 100), make([]float32, 100), make([]float32, 100)
	allocs := testing.AllocsPerRun(10, func() {
		Axpy(2, x, y)
		Scale(2, x)
		Add(z, x, y)
		Relu(z, z)
		ScaleShift(z, x, 2, 1)
		ScaleShiftRelu(z, x, 2, 1)
		AddRelu(z, x, y)
		_ = Sum(x) + Dot(x, y)
	})
	if allocs != 0 {
		t.Errorf("element-wise kernels allocate %v times per run", allocs)
	}
}

// BenchmarkElementwise reports throughput in elements per second on 64 Ki-element vectors
// (256 KiB each: L2-resident).
func BenchmarkElementwise(b *testing.B) {
	const n = 1 << 16
	rng := rand.New(rand.NewPCG(1, 2))
	x, y, z := testVector(rng, n, false), testVector(rng, n, false), make([]float32, n)
	var sink float32
	for _, bc := range []struct {
		name string
		f    func()
	}{
		{"Axpy", func() { Axpy(0.5, x, y) }},
		{"Scale", func() { Scale(1, x) }},
		{"Add", func() { Add(z, x, y) }},
		{"Relu", func() { Relu(z, x) }},
		{"ScaleShift", func() { ScaleShift(z, x, 1.5, 0.25) }},
		{"ScaleShiftRelu", func() { ScaleShiftRelu(z, x, 1.5, 0.25) }},
		{"AddRelu", func() { AddRelu(z, x, y) }},
		{"Sum", func() { sink += Sum(x) }},
		{"Dot", func() { sink += Dot(x, y) }},
	} {
		b.Run(bc.name, func(b *testing.B) {
			for i := 0; i < b.N; i++ {
				bc.f()
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
		})
	}
	_ = sink
}

// lengths are the vector lengths TestElementwise tries: 0…67 (every tail of the 8-lane and
// 32-element loops) and a few longer ones.
func lengths() []int {
	var ns []int
	for n := 0; n <= 67; n++ {
		ns = append(ns, n)
	}
	return append(ns, 100, 257, 1031)
}
