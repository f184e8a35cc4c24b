package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// BenchmarkMaxPool2d times MaxPool2d on the pooling layers of CIFAR VGG-16 at batch 1
// (2×2 at stride 2) and ResNet-18's stem pooling (3×3 at stride 2, padding 1).
func BenchmarkMaxPool2d(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, c := range []struct{ ch, hw, k, s, pad int }{
		{64, 32, 2, 2, 0}, {128, 16, 2, 2, 0}, {512, 4, 2, 2, 0}, {64, 112, 3, 2, 1},
	} {
		x := randTensor(rng, 1, c.ch, c.hw, c.hw)
		p := ConvParams{Stride: [2]int{c.s, c.s}, Padding: [2]int{c.pad, c.pad}}
		ho, wo := p.OutSize(c.hw, c.hw, c.k, c.k)
		y := New(1, c.ch, ho, wo)
		b.Run(fmt.Sprintf("%dx%d@%dk%ds%d", c.ch, c.hw, c.hw, c.k, c.s), func(b *testing.B) {
			b.SetBytes(int64(4 * len(x.Data)))
			for b.Loop() {
				MaxPool2d(y, x, c.k, c.k, p)
			}
		})
	}
}
