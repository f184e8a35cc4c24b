package asm

import (
	"math"
	"math/rand/v2"
	"testing"
)

// fusedSpecial are ReLU outputs that exercise the mask: ±0, ±Inf, NaNs of both signs,
// subnormals of both signs.
var fusedSpecial = []float32{0, float32(math.Copysign(0, -1)), float32(math.Inf(1)), float32(math.Inf(-1)),
	math.Float32frombits(0x7fc00000), math.Float32frombits(0xffc00000), math.Float32frombits(1), math.Float32frombits(0x80000001)}

func fusedVec(rng *rand.Rand, n int, special bool) []float32 {
	v := make([]float32, n)
	for i := range v {
		v[i] = float32(rng.NormFloat64()*2 + 0.5)
		if special && rng.IntN(4) == 0 {
			v[i] = fusedSpecial[rng.IntN(len(fusedSpecial))]
		}
	}
	return v
}

func sameBitsAll(t *testing.T, what string, got, want []float32) {
	t.Helper()
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestFusedKernels checks on every path, bit for bit, that the fused kernels give what the
// unfused ones give: ReluBackwardSet(2) what ReluBackward adds into a zeroed buffer, and
// AddDotCenteredRelu and BatchNormGradTo64 what AddDotCentered and BatchNormGrad64 give for
// the gradient ReluBackward passes on (into a zeroed buffer when not adding).
func TestFusedKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(21, 21))
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1000} {
			y, dy, x := fusedVec(rng, n, true), fusedVec(rng, n, false), fusedVec(rng, n, false)
			if n > 0 {
				dy[0] = float32(math.Copysign(0, -1)) // a −0 gradient becomes +0
			}
			g := make([]float32, n) // the gradient the ReLU passes on
			ReluBackward(g, dy, y)

			dx, db := fusedVec(rng, n, false), fusedVec(rng, n, false)
			ReluBackwardSet(dx, dy, y)
			sameBitsAll(t, "ReluBackwardSet", dx, g)
			ReluBackwardSet2(dx, db, dy, y)
			sameBitsAll(t, "ReluBackwardSet2 a", dx, g)
			sameBitsAll(t, "ReluBackwardSet2 b", db, g)

			mu := rng.NormFloat64()
			var want, got, gotDs Sums64
			want.AddDotCentered(g, x, mu)
			got.AddDotCenteredRelu(dy, y, x, mu)
			if want != got {
				t.Fatalf("AddDotCenteredRelu, n=%d: %v, want %v", n, got, want)
			}
			ds := fusedVec(rng, n, false)
			gotDs.AddDotCenteredReluDs(dy, y, x, ds, mu)
			if want != gotDs {
				t.Fatalf("AddDotCenteredReluDs, n=%d: %v, want %v", n, gotDs, want)
			}
			sameBitsAll(t, "AddDotCenteredReluDs ds", ds, g)

			k, mdy, invstd, mdyx := rng.NormFloat64(), rng.NormFloat64(), math.Abs(rng.NormFloat64()), rng.NormFloat64()
			base := fusedVec(rng, n, false)
			for _, relu := range []bool{false, true} {
				src, yy := g, []float32(nil)
				if relu {
					src, yy = dy, y
				}
				// add: into base; set: what BatchNormGrad64 leaves in a zeroed buffer.
				wantAdd := append([]float32(nil), base...)
				BatchNormGrad64(wantAdd, g, x, k, mdy, mu, invstd, mdyx)
				wantSet := make([]float32, n)
				BatchNormGrad64(wantSet, g, x, k, mdy, mu, invstd, mdyx)
				gotAdd := append([]float32(nil), base...)
				BatchNormGradTo64(gotAdd, src, yy, x, k, mdy, mu, invstd, mdyx, true)
				sameBitsAll(t, "BatchNormGradTo64 add", gotAdd, wantAdd)
				gotSet := append([]float32(nil), base...)
				BatchNormGradTo64(gotSet, src, yy, x, k, mdy, mu, invstd, mdyx, false)
				sameBitsAll(t, "BatchNormGradTo64 set", gotSet, wantSet)
			}
		}
	})
}

// TestFusedMaskXKernels checks on every path, bit for bit, the kernels that recompute the
// ReLU mask from x (against the y-mask kernels with y = ScaleShiftRelu(x)), the one that also
// writes the masked gradient (against ReluBackwardSet and BatchNormGradTo64), and
// ScaleShiftAddRelu (against ScaleShift, Add and Relu).
func TestFusedMaskXKernels(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(22, 22))
		for _, n := range []int{0, 1, 7, 8, 9, 15, 16, 17, 31, 32, 33, 63, 64, 100, 1000} {
			x, g, s := fusedVec(rng, n, true), fusedVec(rng, n, false), fusedVec(rng, n, true)
			scale, shift := float32(rng.NormFloat64()), float32(rng.NormFloat64())
			if n%3 == 0 {
				shift = 0 // many outputs at exactly ±0
			}
			y := make([]float32, n)
			ScaleShiftRelu(y, x, scale, shift)
			mu := rng.NormFloat64()
			var want, got Sums64
			want.AddDotCenteredRelu(g, y, x, mu)
			got.AddDotCenteredReluX(g, x, mu, scale, shift)
			if !sameSums(want, got) {
				t.Fatalf("AddDotCenteredReluX, n=%d: %v, want %v", n, got, want)
			}
			k, mdy, invstd, mdyx := rng.NormFloat64(), rng.NormFloat64(), math.Abs(rng.NormFloat64()), rng.NormFloat64()
			base := fusedVec(rng, n, false)
			for _, add := range []bool{false, true} {
				w := append([]float32(nil), base...)
				BatchNormGradTo64(w, g, y, x, k, mdy, mu, invstd, mdyx, add)
				d := append([]float32(nil), base...)
				BatchNormGradReluX64(d, g, x, k, mdy, mu, invstd, mdyx, scale, shift, add)
				sameBitsAll(t, "BatchNormGradReluX64", d, w)
			}
			wdx, wds := make([]float32, n), make([]float32, n)
			BatchNormGradTo64(wdx, g, y, x, k, mdy, mu, invstd, mdyx, false)
			ReluBackwardSet(wds, g, y)
			dx, ds := append([]float32(nil), base...), append([]float32(nil), base...)
			BatchNormGradReluDs64(dx, ds, g, y, x, k, mdy, mu, invstd, mdyx)
			sameBitsAll(t, "BatchNormGradReluDs64 dx", dx, wdx)
			sameBitsAll(t, "BatchNormGradReluDs64 ds", ds, wds)

			wy := make([]float32, n)
			ScaleShift(wy, x, scale, shift)
			Add(wy, wy, s)
			Relu(wy, wy)
			gy := append([]float32(nil), base...)
			ScaleShiftAddRelu(gy, x, s, scale, shift)
			sameBitsAll(t, "ScaleShiftAddRelu", gy, wy)
		}
	})
}

// sameSums reports whether two Sums64 hold the same bits (NaNs included).
func sameSums(a, b Sums64) bool {
	for i := range a.S {
		if math.Float64bits(a.S[i]) != math.Float64bits(b.S[i]) || math.Float64bits(a.Q[i]) != math.Float64bits(b.Q[i]) {
			return false
		}
	}
	return true
}
