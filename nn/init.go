package nn

import (
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/tensor"
)

// ResetParameters re-initialises every layer of m with PyTorch's default
// initialisation (Conv2d and Linear: weights and biases uniform in
// ±1/√fan_in; BatchNorm2d: γ = 1, β = 0, running statistics 0 and 1),
// drawing from a PCG stream seeded with seed, layer by layer in state-dict
// order, so the same seed gives the same weights.
func ResetParameters(m Module, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 0x626f6e736169))
	Walk(m, func(_ string, l Module) {
		switch l := l.(type) {
		case *Conv2d:
			bound := 1 / math.Sqrt(float64(l.In*l.Kernel[0]*l.Kernel[1]))
			uniform(rng, l.Weight.Value, bound)
			if l.Bias != nil {
				uniform(rng, l.Bias.Value, bound)
			}
		case *Linear:
			bound := 1 / math.Sqrt(float64(l.In))
			uniform(rng, l.Weight.Value, bound)
			if l.Bias != nil {
				uniform(rng, l.Bias.Value, bound)
			}
		case *BatchNorm2d:
			l.ResetParameters()
		}
	})
}

func uniform(rng *rand.Rand, t *tensor.Tensor, bound float64) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}
