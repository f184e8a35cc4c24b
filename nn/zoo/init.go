package zoo

import (
	"github.com/bonsai-dl/bonsai/nn"
)

// InitWeights initialises m for training from scratch the way its reference
// implementation does, from a stream seeded with seed:
//   - CIFAR ResNet (akamaster): PyTorch defaults, then Kaiming-normal
//     (fan_in) weights for every Conv2d and Linear;
//   - ImageNet ResNet (torchvision): PyTorch defaults, then Kaiming-normal
//     (fan_out) Conv2d weights, BN γ = 1 and β = 0;
//   - MobileNetV2 (torchvision): PyTorch defaults, then Kaiming-normal
//     (fan_out) Conv2d weights, Linear weights normal with standard
//     deviation 0.01 and zero biases, BN γ = 1 and β = 0;
//   - anything else, VGG included: PyTorch defaults (nn.ResetParameters).
func InitWeights(m nn.Module, seed uint64) {
	nn.ResetParameters(m, seed)
	rng := nn.NewRand(seed ^ 0x6b61696d696e67) // a stream of its own, after the defaults
	switch m.(type) {
	case *CIFARResNet:
		nn.Walk(m, func(_ string, l nn.Module) {
			switch l := l.(type) {
			case *nn.Conv2d:
				nn.KaimingNormal(rng, l.Weight.Value, false)
			case *nn.Linear:
				nn.KaimingNormal(rng, l.Weight.Value, false)
			}
		})
	case *ResNet:
		nn.Walk(m, func(_ string, l nn.Module) {
			if c, ok := l.(*nn.Conv2d); ok {
				nn.KaimingNormal(rng, c.Weight.Value, true)
			}
		})
	case *MobileNetV2:
		nn.Walk(m, func(_ string, l nn.Module) {
			switch l := l.(type) {
			case *nn.Conv2d:
				nn.KaimingNormal(rng, l.Weight.Value, true)
				if l.Bias != nil {
					clear(l.Bias.Value.Data)
				}
			case *nn.Linear:
				for i := range l.Weight.Value.Data {
					l.Weight.Value.Data[i] = float32(0.01 * rng.NormFloat64())
				}
				if l.Bias != nil {
					clear(l.Bias.Value.Data)
				}
			}
		})
	}
}
