package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

func sameBitsT(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestBatchNormReluMatchesUnfused checks that BatchNormReluTrain and
// BatchNormReluBackward (adding and setting, both modes, with and without
// per-sample squared gradients) give bit for bit what BatchNormTrain, Relu,
// ReluBackward and BatchNormBackward give, on every path and for GOMAXPROCS 1
// and 2.
func TestBatchNormReluMatchesUnfused(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(31, 31))
		const n, c, h, w = 5, 7, 9, 11
		x := randTensor(rng, n, c, h, w)
		dy := randTensor(rng, n, c, h, w)
		gamma, beta := randTensor(rng, c).Data, randTensor(rng, c).Data
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			z, y := New(n, c, h, w), New(n, c, h, w)
			mean, variance := make([]float32, c), make([]float32, c)
			BatchNormTrain(z, x, gamma, beta, mean, variance, 1e-5)
			Relu(z, z)
			m2, v2 := make([]float32, c), make([]float32, c)
			BatchNormReluTrain(y, x, gamma, beta, m2, v2, 1e-5)
			sameBitsT(t, "forward", y.Data, z.Data)
			sameBitsT(t, "mean", m2, mean)
			sameBitsT(t, "variance", v2, variance)

			g := New(n, c, h, w)
			ReluBackward(g, dy, y)
			for _, training := range []bool{true, false} {
				for _, withSq := range []bool{false, true} {
					sqs := func() *SquaredGrads {
						if !withSq {
							return nil
						}
						return &SquaredGrads{W: make([]float32, c), B: make([]float32, c), Scale: 3}
					}
					base := randTensor(rng, n, c, h, w)
					wantAdd, wantSet := base.Clone(), New(n, c, h, w)
					dgW, dbW, sqW := make([]float32, c), make([]float32, c), sqs()
					BatchNormBackward(wantAdd, g, x, gamma, mean, variance, 1e-5, training, dgW, dbW, sqW)
					BatchNormBackward(wantSet, g, x, gamma, mean, variance, 1e-5, training, nil, nil, nil)
					gotAdd, gotSet := base.Clone(), base.Clone()
					dg, db, sq := make([]float32, c), make([]float32, c), sqs()
					BatchNormReluBackward(gotAdd, dy, y, x, gamma, mean, variance, 1e-5, training, dg, db, sq, true)
					BatchNormReluBackward(gotSet, dy, y, x, gamma, mean, variance, 1e-5, training, nil, nil, nil, false)
					sameBitsT(t, "dx added", gotAdd.Data, wantAdd.Data)
					sameBitsT(t, "dx set", gotSet.Data, wantSet.Data)
					sameBitsT(t, "dgamma", dg, dgW)
					sameBitsT(t, "dbeta", db, dbW)
					if withSq {
						sameBitsT(t, "sq.W", sq.W, sqW.W)
						sameBitsT(t, "sq.B", sq.B, sqW.B)
					}
				}
			}
		}
	})
}

// TestReluBackwardSetMatchesAdd checks ReluBackwardSet, ReluBackwardSet2,
// Clear and the parallel AddRelu on a tensor large enough to be cut into
// parallel chunks.
func TestReluBackwardSetMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	shape := []int{3, 5, 97, 101}
	y, dy := randTensor(rng, shape...), randTensor(rng, shape...)
	Relu(y, y)
	want := New(shape...)
	ReluBackward(want, dy, y)
	a, b := randTensor(rng, shape...), randTensor(rng, shape...)
	ReluBackwardSet(a, dy, y)
	sameBitsT(t, "ReluBackwardSet", a.Data, want.Data)
	a, b = randTensor(rng, shape...), randTensor(rng, shape...)
	ReluBackwardSet2(a, b, dy, y)
	sameBitsT(t, "ReluBackwardSet2 a", a.Data, want.Data)
	sameBitsT(t, "ReluBackwardSet2 b", b.Data, want.Data)
	Clear(a)
	sameBitsT(t, "Clear", a.Data, New(shape...).Data)
	p, q := randTensor(rng, shape...), randTensor(rng, shape...)
	s := New(shape...)
	AddRelu(s, p, q)
	for i := range s.Data {
		v := p.Data[i] + q.Data[i]
		if !(v > 0) {
			v = 0
		}
		if s.Data[i] != v {
			t.Fatalf("AddRelu: [%d] = %v, want %v", i, s.Data[i], v)
		}
	}
}
