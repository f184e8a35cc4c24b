package zoo

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// vggConfigs are the layer plans of VGG (Simonyan & Zisserman 2015):
// a number is a 3×3 convolution with that many channels, 0 a 2×2 max pool.
var vggConfigs = map[int][]int{
	11: {64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0},
	13: {64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0},
	16: {64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0},
	19: {64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0},
}

// VGG is the CIFAR VGG with BatchNorm: "features", a Sequential of
// Conv2d(3×3, pad 1, bias) → BatchNorm2d → ReLU triples and 2×2 max pools,
// then a flatten and "classifier", one Linear(512, classes).
//
// Shape: x: [N, 3, 32, 32] → logits [N, classes].
type VGG struct {
	Features   *nn.Sequential
	Flatten    *nn.Flatten
	Classifier *nn.Linear
	Depth      int
}

// NewVGG returns VGG-11, -13, -16 or -19 with BatchNorm for 32×32 inputs.
func NewVGG(depth, classes int) (*VGG, error) {
	cfg, ok := vggConfigs[depth]
	if !ok {
		return nil, fmt.Errorf("zoo: no VGG of depth %d (have 11, 13, 16, 19)", depth)
	}
	f := &nn.Sequential{}
	in := 3
	for _, v := range cfg {
		if v == 0 {
			f.Layers = append(f.Layers, nn.NewMaxPool2d(2, 2, 0))
			continue
		}
		f.Layers = append(f.Layers, nn.NewConv2d(in, v, 3, nn.ConvOpts{Padding: 1, Bias: true}), nn.NewBatchNorm2d(v), nn.NewReLU())
		in = v
	}
	m := &VGG{Features: f, Flatten: nn.NewFlatten(), Classifier: nn.NewLinear(in, classes, true), Depth: depth}
	nn.ResetParameters(m, 0)
	return m, nil
}

// Forward computes logits for x: [N, 3, 32, 32].
func (m *VGG) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	return m.Classifier.Forward(c, m.Flatten.Forward(c, m.Features.Forward(c, x)))
}

// Children lists features and classifier (the flatten has no state and no name in PyTorch's model).
func (m *VGG) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: m.Features}, {Name: "classifier", Module: m.Classifier}}
}

func (m *VGG) String() string { return fmt.Sprintf("VGG%d_BN", m.Depth) }
