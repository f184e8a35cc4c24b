package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkBatchNormRelu times the fused batch normalisations of a CIFAR
// ResNet training step at batch 128 (forward and backward of relu(bn(x))
// and of relu(bn(x) + s)) at the three stage shapes.
func BenchmarkBatchNormRelu(b *testing.B) {
	for _, sh := range [][4]int{{128, 16, 32, 32}, {128, 32, 16, 16}, {128, 64, 8, 8}} {
		n, c, h, w := sh[0], sh[1], sh[2], sh[3]
		rng := rand.New(rand.NewPCG(1, 1))
		x, s, dy := randTensor(rng, n, c, h, w), randTensor(rng, n, c, h, w), randTensor(rng, n, c, h, w)
		y, dx, ds := New(n, c, h, w), New(n, c, h, w), New(n, c, h, w)
		gamma, beta := randTensor(rng, c).Data, randTensor(rng, c).Data
		mean, variance, scale, shift := make([]float32, c), make([]float32, c), make([]float32, c), make([]float32, c)
		dg, db := make([]float32, c), make([]float32, c)
		b.Run(fmt.Sprintf("relu/c%d", c), func(b *testing.B) {
			for range b.N {
				BatchNormReluTrain(y, x, gamma, beta, mean, variance, scale, shift, 1e-5)
				BatchNormReluBackward(dx, dy, x, scale, shift, gamma, mean, variance, 1e-5, true, dg, db, nil, false)
			}
		})
		b.Run(fmt.Sprintf("addrelu/c%d", c), func(b *testing.B) {
			for range b.N {
				BatchNormAddReluTrain(y, x, s, gamma, beta, mean, variance, 1e-5)
				BatchNormAddReluBackward(dx, ds, dy, y, x, gamma, mean, variance, 1e-5, true, dg, db, nil, false, false)
			}
		})
	}
}
