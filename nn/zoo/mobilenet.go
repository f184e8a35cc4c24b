package zoo

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// mobilenetV2Setting is torchvision's inverted-residual plan of MobileNetV2 (Sandler et al.
// 2018): expansion t, output channels c, blocks n, stride of the first block s.
var mobilenetV2Setting = [][4]int{
	{1, 16, 1, 1},
	{6, 24, 2, 2},
	{6, 32, 3, 2},
	{6, 64, 4, 2},
	{6, 96, 3, 1},
	{6, 160, 3, 2},
	{6, 320, 1, 1},
}

// MobileNetV2 is torchvision's MobileNetV2 at width 1.0: "features", a Sequential of a
// 3×3 stride-2 convolution 3→32 with BatchNorm and ReLU6, seventeen InvertedResiduals and
// a 1×1 convolution 320→1280 with BatchNorm and ReLU6; then global average pooling and
// "classifier", Dropout(0.2) and Linear(1280, classes).
//
// The CIFAR variant (mobilenet_v2_cifar) is the same module with the stem convolution
// (features.0.0) and the depthwise convolution of the first 24-channel block
// (features.2.conv.1.0) at stride 1, so that 32×32 inputs reach a 4×4 map.
//
// Shape: x: [N, 3, H, W] → logits [N, classes] (ImageNet: H, W ≥ 32; CIFAR: ≥ 8).
type MobileNetV2 struct {
	Features   *nn.Sequential
	Classifier *nn.Sequential // Dropout, Linear
	CIFAR      bool
}

// NewMobileNetV2 returns MobileNetV2 for classes classes, its CIFAR variant when cifar,
// with PyTorch-default initial weights from seed 0 (InitWeights gives torchvision's).
func NewMobileNetV2(classes int, cifar bool) (*MobileNetV2, error) {
	if classes <= 0 {
		return nil, fmt.Errorf("zoo: MobileNetV2 with %d classes", classes)
	}
	stem := 2
	if cifar {
		stem = 1
	}
	f := &nn.Sequential{Layers: []nn.Module{convBNReLU6(3, 32, 3, stem, 1)}}
	in := 32
	for _, s := range mobilenetV2Setting {
		t, c, n, stride := s[0], s[1], s[2], s[3]
		for i := range n {
			st := 1
			if i == 0 {
				st = stride
			}
			if cifar && len(f.Layers) == 2 { // features.2: the first 24-channel block
				st = 1
			}
			f.Layers = append(f.Layers, NewInvertedResidual(in, c, st, t))
			in = c
		}
	}
	f.Layers = append(f.Layers, convBNReLU6(in, 1280, 1, 1, 1))
	m := &MobileNetV2{
		Features:   f,
		Classifier: nn.NewSequential(nn.NewDropout(0.2, 0x6d6f62696c65), nn.NewLinear(1280, classes, true)),
		CIFAR:      cifar,
	}
	nn.ResetParameters(m, 0)
	return m, nil
}

// convBNReLU6 is torchvision's Conv2dNormActivation with ReLU6: a k×k convolution without
// bias (padding (k−1)/2, groups), BatchNorm2d and ReLU6, named 0, 1 and 2.
func convBNReLU6(in, out, k, stride, groups int) *nn.Sequential {
	return nn.NewSequential(nn.NewConv2d(in, out, k, nn.ConvOpts{Stride: stride, Padding: (k - 1) / 2, Groups: groups}),
		nn.NewBatchNorm2d(out), nn.NewReLU6())
}

// Forward computes logits for x: [N, 3, H, W].
func (m *MobileNetV2) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = nn.GlobalAvgPool(c, m.Features.Forward(c, x))
	return m.Classifier.Forward(c, x)
}

// Children lists features and classifier.
func (m *MobileNetV2) Children() []nn.Child {
	return []nn.Child{{Name: "features", Module: m.Features}, {Name: "classifier", Module: m.Classifier}}
}

func (m *MobileNetV2) String() string {
	if m.CIFAR {
		return "MobileNetV2(CIFAR)"
	}
	return "MobileNetV2"
}

// InvertedResidual is torchvision's MobileNetV2 block, "conv": a 1×1 expansion to
// hidden = in·t channels with BatchNorm and ReLU6 (absent when t = 1), a 3×3 depthwise
// convolution (stride) with BatchNorm and ReLU6, and a 1×1 projection to out channels with
// BatchNorm; the input is added to the result when stride is 1 and in = out.
//
// Shape: [N, in, H, W] → [N, out, H/stride, W/stride].
type InvertedResidual struct {
	Conv            *nn.Sequential
	In, Out, Hidden int
	Stride          int
	UseResidual     bool
}

// NewInvertedResidual returns a block from in to out channels with expansion t.
func NewInvertedResidual(in, out, stride, t int) *InvertedResidual {
	hidden := in * t
	b := &InvertedResidual{Conv: &nn.Sequential{}, In: in, Out: out, Hidden: hidden, Stride: stride,
		UseResidual: stride == 1 && in == out}
	if t != 1 {
		b.Conv.Layers = append(b.Conv.Layers, convBNReLU6(in, hidden, 1, 1, 1))
	}
	b.Conv.Layers = append(b.Conv.Layers, convBNReLU6(hidden, hidden, 3, stride, hidden),
		nn.NewConv2d(hidden, out, 1, nn.ConvOpts{}), nn.NewBatchNorm2d(out))
	return b
}

// Forward computes conv(x), plus x when the block has a residual connection.
func (b *InvertedResidual) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	y := b.Conv.Forward(c, x)
	if b.UseResidual {
		return nn.Add(c, x, y)
	}
	return y
}

// Children lists conv.
func (b *InvertedResidual) Children() []nn.Child {
	return []nn.Child{{Name: "conv", Module: b.Conv}}
}

func (b *InvertedResidual) String() string { return "InvertedResidual" }
