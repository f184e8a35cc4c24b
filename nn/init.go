package nn

import (
	"fmt"
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// ResetParameters re-initialises every layer of m with PyTorch's default
// initialisation, its adapter's Reset (Conv2d and Linear: weights and
// biases uniform in ±1/√fan_in; BatchNorm2d: γ = 1, β = 0, running
// statistics 0 and 1), drawing from a PCG stream seeded with seed, layer
// by layer in state-dict order, so the same seed gives the same weights.
// Layers with no adapter keep their values.
func ResetParameters(m Module, seed uint64) {
	rng := NewRand(seed)
	Walk(m, func(_ string, l Module) {
		if a, ok := AdapterOf(l); ok {
			a.Reset(l, rng)
		}
	})
}

// Reinit draws again, from rng, the weights that s redraws (see
// InitScheme), layer by layer in state-dict order: the second half of a
// from-scratch initialisation after ResetParameters.
func Reinit(m Module, rng *rand.Rand, s InitScheme) {
	Walk(m, func(_ string, l Module) {
		if a, ok := AdapterOf(l); ok {
			a.Redraw(l, rng, s)
		}
	})
}

func uniform(rng *rand.Rand, t *tensor.Tensor, bound float64) {
	for i := range t.Data {
		t.Data[i] = float32((2*rng.Float64() - 1) * bound)
	}
}

// redraw draws the weight w as d says and, when the scheme zeroes biases
// and d draws, sets the bias b (nil: none) to zero.
func redraw(rng *rand.Rand, w, b *autograd.Var, d Draw, zeroBias bool) {
	switch d {
	case KeepDefault:
		return
	case KaimingFanIn:
		KaimingNormal(rng, w.Value, false)
	case KaimingFanOut:
		KaimingNormal(rng, w.Value, true)
	case SmallNormal:
		for i := range w.Value.Data {
			w.Value.Data[i] = float32(0.01 * rng.NormFloat64())
		}
	default:
		panic(fmt.Sprintf("nn: unknown Draw %d", d))
	}
	if zeroBias && b != nil {
		clear(b.Value.Data)
	}
}

// KaimingNormal fills w: [out, in, …] with normal values of standard
// deviation √2/√fan, as torch.nn.init.kaiming_normal_(w, nonlinearity='relu')
// with mode 'fan_in' (fan = in·kh·kw) or, when fanOut, 'fan_out'
// (fan = out·kh·kw).
func KaimingNormal(rng *rand.Rand, w *tensor.Tensor, fanOut bool) {
	fan := w.Numel() / w.Shape[0]
	if fanOut {
		fan = w.Numel() / w.Shape[1]
	}
	std := math.Sqrt(2 / float64(fan))
	for i := range w.Data {
		w.Data[i] = float32(rng.NormFloat64() * std)
	}
}

// NewRand returns the random stream Bonsai's initialisers draw from for seed.
func NewRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 0x626f6e736169)) }
