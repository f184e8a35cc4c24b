package tensor

import (
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestBatchNormDeterministicAcrossProcs checks that batch normalisation (forward in
// training mode, backward in both modes, with per-sample squared gradients) gives
// bit-identical results for GOMAXPROCS = 1, 2 and 3 on every path.
func TestBatchNormDeterministicAcrossProcs(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(14, 14))
		const n, c, h, w = 6, 13, 7, 9
		x := randTensor(rng, n, c, h, w)
		for i := range x.Data {
			x.Data[i] = x.Data[i]*2 + 5
		}
		dy := randTensor(rng, n, c, h, w)
		gamma, beta := randTensor(rng, c).Data, randTensor(rng, c).Data
		var ref [][]float32
		for _, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			y := New(n, c, h, w)
			mean, variance := make([]float32, c), make([]float32, c)
			BatchNormTrain(y, x, gamma, beta, mean, variance, 1e-5)
			got := [][]float32{y.Data, mean, variance}
			for _, training := range []bool{true, false} {
				dx := New(n, c, h, w)
				dg, db := make([]float32, c), make([]float32, c)
				sq := &SquaredGrads{W: make([]float32, c), B: make([]float32, c), Scale: 3}
				BatchNormBackward(dx, dy, x, gamma, mean, variance, 1e-5, training, dg, db, sq, 1)
				got = append(got, dx.Data, dg, db, sq.W, sq.B)
			}
			if ref == nil {
				ref = got
				continue
			}
			for i := range got {
				if !slices.Equal(got[i], ref[i]) {
					t.Errorf("result %d differs between GOMAXPROCS=1 and %d", i, procs)
				}
			}
		}
	})
}
