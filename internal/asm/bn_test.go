package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestBatchNormKernels checks SumSq64, SumDotCentered64 and BatchNormGrad64 on every path
// against the reference loops of their documentation, bit for bit, on lengths around the
// vector widths and at offsets into a larger buffer.
func TestBatchNormKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 11))
		for _, n := range []int{0, 1, 7, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1000} {
			off := rng.IntN(5)
			buf := func() []float32 {
				b := make([]float32, n+off+3)
				for i := range b {
					b[i] = float32(rng.NormFloat64()*3 + 1)
				}
				return b[off : off+n]
			}
			x, g, dx := buf(), buf(), buf()
			var ps, pq, gs, gq [16]float64
			mu, c := rng.NormFloat64(), rng.NormFloat64()
			for i := range x {
				v, gv := float64(x[i]), float64(g[i])
				ps[i%16] += v - c
				pq[i%16] += (v - c) * (v - c)
				gs[i%16] += gv
				gq[i%16] += gv * (v - mu)
			}
			s, q := SumSq64(x, c)
			if s != tree16(&ps) || q != tree16(&pq) {
				t.Errorf("SumSq64, n=%d: %v, %v, want %v, %v", n, s, q, ps[0], pq[0])
			}
			sg, sgx := SumDotCentered64(g, x, mu)
			if sg != tree16(&gs) || sgx != tree16(&gq) {
				t.Errorf("SumDotCentered64, n=%d: %v, %v, want %v, %v", n, sg, sgx, gs[0], gq[0])
			}
			k, mdy, invstd, mdyx := rng.NormFloat64(), rng.NormFloat64(), math.Abs(rng.NormFloat64()), rng.NormFloat64()
			want := append([]float32(nil), dx...)
			for i := range want {
				xh := (float64(x[i]) - mu) * invstd
				want[i] += float32(k * ((float64(g[i]) - mdy) - xh*mdyx))
			}
			BatchNormGrad64(dx, g, x, k, mdy, mu, invstd, mdyx)
			for i := range dx {
				if dx[i] != want[i] {
					t.Fatalf("BatchNormGrad64, n=%d: dx[%d] = %v, want %v", n, i, dx[i], want[i])
				}
			}
		}
	})
}

// TestReluBackward checks ReluBackward on every path against its reference loop, bit for
// bit, with ±0, ±Inf, NaNs of both signs and subnormals among the outputs.
func TestReluBackward(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(13, 13))
		special := []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
			math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000), math.Float32frombits(1), math.Float32frombits(0x80000001)}
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100} {
			y, dy, dx := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range y {
				y[i] = float32(rng.NormFloat64())
				if rng.IntN(4) == 0 {
					y[i] = special[rng.IntN(len(special))]
				}
				dy[i] = float32(rng.NormFloat64())
				dx[i] = float32(rng.NormFloat64())
			}
			want := append([]float32(nil), dx...)
			for i := range want {
				b := int32(math.Float32bits(y[i]))
				keep := uint32((-b)>>31) &^ uint32(b>>31)
				want[i] += math.Float32frombits(math.Float32bits(dy[i]) & keep)
			}
			ReluBackward(dx, dy, y)
			for i := range dx {
				if math.Float32bits(dx[i]) != math.Float32bits(want[i]) {
					t.Fatalf("n=%d: dx[%d] = %v, want %v (y %v)", n, i, dx[i], want[i], y[i])
				}
			}
		}
	})
}

// TestSums64Slices checks that Sums64 accumulates several slices into the same partial
// sums (element i of each slice into partial i%16) on every path, bit for bit.
func TestSums64Slices(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(16, 16))
		var m Sums64
		var ps, pq, gs, gq [16]float64
		var d Sums64
		c, mu := rng.NormFloat64(), rng.NormFloat64()
		for _, n := range []int{5, 16, 37, 64, 3} {
			x, g := make([]float32, n), make([]float32, n)
			for i := range x {
				x[i], g[i] = float32(rng.NormFloat64()), float32(rng.NormFloat64())
				v := float64(x[i]) - c
				ps[i%16] += v
				pq[i%16] += v * v
				gs[i%16] += float64(g[i])
				gq[i%16] += float64(g[i]) * (float64(x[i]) - mu)
			}
			m.AddSq(x, c)
			d.AddDotCentered(g, x, mu)
		}
		s, q := m.Result()
		sg, sgx := d.Result()
		if s != tree16(&ps) || q != tree16(&pq) || sg != tree16(&gs) || sgx != tree16(&gq) {
			t.Errorf("Sums64 over slices: %v %v %v %v, want %v %v %v %v", s, q, sg, sgx, ps[0], pq[0], gs[0], gq[0])
		}
	})
}
