package zoo

import (
	"github.com/bonsai-dl/bonsai/nn"
)

// Initialiser is a model that initialises itself for training from
// scratch the way its reference implementation does: the scheme its
// layers' weights are drawn again with after PyTorch's defaults.
type Initialiser interface {
	InitScheme() nn.InitScheme
}

// InitScheme is Kaiming-normal (fan_in) weights for every Conv2d and
// Linear, as akamaster's CIFAR ResNet.
func (m *CIFARResNet) InitScheme() nn.InitScheme {
	return nn.InitScheme{Conv: nn.KaimingFanIn, Linear: nn.KaimingFanIn}
}

// InitScheme is Kaiming-normal (fan_out) Conv2d weights, as torchvision's
// ResNet (BN γ = 1 and β = 0 are the defaults).
func (m *ResNet) InitScheme() nn.InitScheme { return nn.InitScheme{Conv: nn.KaimingFanOut} }

// InitScheme is Kaiming-normal (fan_out) Conv2d weights with zero biases
// and Linear weights normal with standard deviation 0.01 and zero biases,
// as torchvision's MobileNetV2 (BN γ = 1 and β = 0 are the defaults).
func (m *MobileNetV2) InitScheme() nn.InitScheme {
	return nn.InitScheme{Conv: nn.KaimingFanOut, Linear: nn.SmallNormal, ZeroBias: true}
}

// InitWeights initialises m for training from scratch the way its reference
// implementation does, from a stream seeded with seed: PyTorch's defaults
// (nn.ResetParameters), then, for an Initialiser, its scheme (nn.Reinit)
// from a stream of its own:
//   - CIFAR ResNet (akamaster): Kaiming-normal (fan_in) weights for every
//     Conv2d and Linear;
//   - ImageNet ResNet (torchvision): Kaiming-normal (fan_out) Conv2d
//     weights, BN γ = 1 and β = 0;
//   - MobileNetV2 (torchvision): Kaiming-normal (fan_out) Conv2d weights,
//     Linear weights normal with standard deviation 0.01 and zero biases,
//     BN γ = 1 and β = 0;
//   - anything else, VGG included: PyTorch defaults.
func InitWeights(m nn.Module, seed uint64) {
	nn.ResetParameters(m, seed)
	if in, ok := m.(Initialiser); ok {
		nn.Reinit(m, nn.NewRand(seed^0x6b61696d696e67), in.InitScheme()) // a stream of its own, after the defaults
	}
}
