package zoo

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// ResNet is torchvision's ImageNet ResNet: conv1 (7×7, stride 2) → bn1 →
// relu → maxpool (3×3, stride 2) → layer1…layer4 → avgpool → fc.
//
// Shape: x: [N, 3, H, W] → logits [N, classes] (H, W ≥ 32).
type ResNet struct {
	Conv1   *nn.Conv2d
	BN1     *nn.BatchNorm2d
	ReLU    *nn.ReLU
	MaxPool *nn.MaxPool2d
	Layers  [4]*nn.Sequential
	AvgPool *nn.AdaptiveAvgPool2d
	FC      *nn.Linear
	Depth   int
}

var resnetBlocks = map[int]struct {
	blocks     [4]int
	bottleneck bool
}{
	18:  {[4]int{2, 2, 2, 2}, false},
	34:  {[4]int{3, 4, 6, 3}, false},
	50:  {[4]int{3, 4, 6, 3}, true},
	101: {[4]int{3, 4, 23, 3}, true},
	152: {[4]int{3, 8, 36, 3}, true},
}

// NewResNet returns torchvision's ResNet-18, -34, -50, -101 or -152.
func NewResNet(depth, classes int) (*ResNet, error) {
	spec, ok := resnetBlocks[depth]
	if !ok {
		return nil, fmt.Errorf("zoo: no ImageNet ResNet of depth %d (have 18, 34, 50, 101, 152)", depth)
	}
	expansion := 1
	if spec.bottleneck {
		expansion = 4
	}
	m := &ResNet{
		Conv1:   nn.NewConv2d(3, 64, 7, nn.ConvOpts{Stride: 2, Padding: 3}),
		BN1:     nn.NewBatchNorm2d(64),
		ReLU:    nn.NewReLU(),
		MaxPool: nn.NewMaxPool2d(3, 2, 1),
		AvgPool: nn.NewAdaptiveAvgPool2d(),
		Depth:   depth,
	}
	in := 64
	for s, n := range spec.blocks {
		planes, stride := 64<<s, 2
		if s == 0 {
			stride = 1
		}
		seq := &nn.Sequential{}
		for i := range n {
			st := 1
			if i == 0 {
				st = stride
			}
			var down *nn.Sequential
			if i == 0 && (st != 1 || in != planes*expansion) {
				down = nn.NewSequential(nn.NewConv2d(in, planes*expansion, 1, nn.ConvOpts{Stride: st}), nn.NewBatchNorm2d(planes*expansion))
			}
			if spec.bottleneck {
				seq.Layers = append(seq.Layers, NewBottleneck(in, planes, st, down))
			} else {
				seq.Layers = append(seq.Layers, NewBasicBlock(in, planes, st, down))
			}
			in = planes * expansion
		}
		m.Layers[s] = seq
	}
	m.FC = nn.NewLinear(in, classes, true)
	nn.ResetParameters(m, 0)
	return m, nil
}

// Forward computes logits for x: [N, 3, H, W].
func (m *ResNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = m.MaxPool.Forward(c, m.ReLU.Forward(c, m.BN1.Forward(c, m.Conv1.Forward(c, x))))
	for _, l := range m.Layers {
		x = l.Forward(c, x)
	}
	x = m.AvgPool.Forward(c, x)
	return m.FC.Forward(c, nn.Reshape(c, x, x.Value.Shape[0], -1))
}

// Children lists conv1, bn1, relu, maxpool, layer1…4, avgpool and fc.
func (m *ResNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "bn1", Module: m.BN1}, {Name: "relu", Module: m.ReLU}, {Name: "maxpool", Module: m.MaxPool},
		{Name: "layer1", Module: m.Layers[0]}, {Name: "layer2", Module: m.Layers[1]}, {Name: "layer3", Module: m.Layers[2]}, {Name: "layer4", Module: m.Layers[3]},
		{Name: "avgpool", Module: m.AvgPool}, {Name: "fc", Module: m.FC}}
}

func (m *ResNet) String() string { return "ResNet" }

// BasicBlock is torchvision's two-convolution block with an optional
// "downsample" projection. Shape: [N, in, H, W] → [N, planes, H/s, W/s].
type BasicBlock struct {
	Conv1, Conv2 *nn.Conv2d
	BN1, BN2     *nn.BatchNorm2d
	ReLU         *nn.ReLU
	Downsample   *nn.Sequential // nil for identity
}

// NewBasicBlock returns a BasicBlock from in to planes channels.
func NewBasicBlock(in, planes, stride int, down *nn.Sequential) *BasicBlock {
	return &BasicBlock{
		Conv1: nn.NewConv2d(in, planes, 3, nn.ConvOpts{Stride: stride, Padding: 1}),
		BN1:   nn.NewBatchNorm2d(planes),
		ReLU:  nn.NewReLU(),
		Conv2: nn.NewConv2d(planes, planes, 3, nn.ConvOpts{Padding: 1}),
		BN2:   nn.NewBatchNorm2d(planes), Downsample: down,
	}
}

// Forward computes relu(bn2(conv2(relu(bn1(conv1(x))))) + downsample(x)).
func (b *BasicBlock) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	out := b.ReLU.Forward(c, b.BN1.Forward(c, b.Conv1.Forward(c, x)))
	out = b.BN2.Forward(c, b.Conv2.Forward(c, out))
	return residual(c, out, x, b.Downsample)
}

func residual(c *nn.Ctx, out, x *autograd.Var, down *nn.Sequential) *autograd.Var {
	if down != nil {
		x = down.Forward(c, x)
	}
	return nn.AddRelu(c, out, x)
}

// Children lists conv1, bn1, relu, conv2, bn2 and downsample when present.
func (b *BasicBlock) Children() []nn.Child {
	ch := []nn.Child{{Name: "conv1", Module: b.Conv1}, {Name: "bn1", Module: b.BN1}, {Name: "relu", Module: b.ReLU}, {Name: "conv2", Module: b.Conv2}, {Name: "bn2", Module: b.BN2}}
	if b.Downsample != nil {
		ch = append(ch, nn.Child{Name: "downsample", Module: b.Downsample})
	}
	return ch
}

func (b *BasicBlock) String() string { return "BasicBlock" }

// Bottleneck is torchvision's (v1.5) bottleneck block: 1×1 → 3×3 (stride)
// → 1×1 with 4× expansion and an optional "downsample" projection.
// Shape: [N, in, H, W] → [N, 4·planes, H/s, W/s].
type Bottleneck struct {
	Conv1, Conv2, Conv3 *nn.Conv2d
	BN1, BN2, BN3       *nn.BatchNorm2d
	ReLU                *nn.ReLU
	Downsample          *nn.Sequential
}

// NewBottleneck returns a Bottleneck from in to 4·planes channels.
func NewBottleneck(in, planes, stride int, down *nn.Sequential) *Bottleneck {
	return &Bottleneck{
		Conv1: nn.NewConv2d(in, planes, 1, nn.ConvOpts{}),
		BN1:   nn.NewBatchNorm2d(planes),
		Conv2: nn.NewConv2d(planes, planes, 3, nn.ConvOpts{Stride: stride, Padding: 1}),
		BN2:   nn.NewBatchNorm2d(planes),
		Conv3: nn.NewConv2d(planes, planes*4, 1, nn.ConvOpts{}),
		BN3:   nn.NewBatchNorm2d(planes * 4),
		ReLU:  nn.NewReLU(), Downsample: down,
	}
}

// Forward computes the bottleneck with its residual join.
func (b *Bottleneck) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	out := b.ReLU.Forward(c, b.BN1.Forward(c, b.Conv1.Forward(c, x)))
	out = b.ReLU.Forward(c, b.BN2.Forward(c, b.Conv2.Forward(c, out)))
	out = b.BN3.Forward(c, b.Conv3.Forward(c, out))
	return residual(c, out, x, b.Downsample)
}

// Children lists conv1…3, bn1…3, relu and downsample when present.
func (b *Bottleneck) Children() []nn.Child {
	ch := []nn.Child{{Name: "conv1", Module: b.Conv1}, {Name: "bn1", Module: b.BN1}, {Name: "conv2", Module: b.Conv2}, {Name: "bn2", Module: b.BN2}, {Name: "conv3", Module: b.Conv3}, {Name: "bn3", Module: b.BN3}, {Name: "relu", Module: b.ReLU}}
	if b.Downsample != nil {
		ch = append(ch, nn.Child{Name: "downsample", Module: b.Downsample})
	}
	return ch
}

func (b *Bottleneck) String() string { return "Bottleneck" }
