package zoo

import (
	"fmt"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// Shortcut selects how a CIFAR ResNet block joins inputs of another shape.
type Shortcut int

const (
	// OptionA subsamples x[:, :, ::2, ::2] and zero-pads the new channels
	// (planes/4 before, the rest after): no parameters.
	OptionA Shortcut = iota
	// OptionB is a 1×1 strided convolution and BatchNorm ("shortcut.0",
	// "shortcut.1").
	OptionB
)

// CIFARResNet is the ResNet of He et al. (2016) for 32×32 inputs:
// conv1 3→16, three stages of n BasicBlocks (16, 32, 64 planes; the first
// block of stages 2 and 3 has stride 2), global average pooling and a
// linear head. Depth = 6n + 2.
//
// Shape: x: [N, 3, H, W] → logits [N, classes].
type CIFARResNet struct {
	Conv1                  *nn.Conv2d
	BN1                    *nn.BatchNorm2d
	Layer1, Layer2, Layer3 *nn.Sequential
	Linear                 *nn.Linear
	Depth                  int
}

// NewCIFARResNet returns a CIFAR ResNet of the given depth (20, 32, 44, 56,
// 110, or any 6n+2) with PyTorch-default initial weights from seed 0.
func NewCIFARResNet(depth, classes int, sc Shortcut) (*CIFARResNet, error) {
	if depth < 8 || (depth-2)%6 != 0 {
		return nil, fmt.Errorf("zoo: CIFAR ResNet depth %d is not 6n+2", depth)
	}
	n := (depth - 2) / 6
	m := &CIFARResNet{
		Conv1:  nn.NewConv2d(3, 16, 3, nn.ConvOpts{Padding: 1}),
		BN1:    nn.NewBatchNorm2d(16),
		Linear: nn.NewLinear(64, classes, true),
		Depth:  depth,
	}
	in := 16
	stage := func(planes, stride int) *nn.Sequential {
		s := &nn.Sequential{}
		for i := range n {
			st := 1
			if i == 0 {
				st = stride
			}
			s.Layers = append(s.Layers, NewBasicBlockA(in, planes, st, sc))
			in = planes
		}
		return s
	}
	m.Layer1, m.Layer2, m.Layer3 = stage(16, 1), stage(32, 2), stage(64, 2)
	nn.ResetParameters(m, 0)
	return m, nil
}

// Forward computes logits for x: [N, 3, H, W].
func (m *CIFARResNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = m.BN1.ForwardConvRelu(c, m.Conv1, x)
	x = m.Layer3.Forward(c, m.Layer2.Forward(c, m.Layer1.Forward(c, x)))
	return m.Linear.Forward(c, nn.GlobalAvgPool(c, x))
}

// Children lists conv1, bn1, layer1…3 and linear.
func (m *CIFARResNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "bn1", Module: m.BN1}, {Name: "layer1", Module: m.Layer1}, {Name: "layer2", Module: m.Layer2}, {Name: "layer3", Module: m.Layer3}, {Name: "linear", Module: m.Linear}}
}

func (m *CIFARResNet) String() string { return fmt.Sprintf("CIFARResNet%d", m.Depth) }

// BasicBlockA is the CIFAR ResNet block: conv1 (3×3, stride) → bn1 → ReLU →
// conv2 (3×3) → bn2, plus the shortcut, then ReLU.
// Shape: [N, in, H, W] → [N, planes, H/stride, W/stride].
type BasicBlockA struct {
	Conv1, Conv2 *nn.Conv2d
	BN1, BN2     *nn.BatchNorm2d
	Shortcut     nn.Module // nil for identity
}

// NewBasicBlockA returns a CIFAR BasicBlock from in to planes channels.
func NewBasicBlockA(in, planes, stride int, sc Shortcut) *BasicBlockA {
	b := &BasicBlockA{
		Conv1: nn.NewConv2d(in, planes, 3, nn.ConvOpts{Stride: stride, Padding: 1}),
		BN1:   nn.NewBatchNorm2d(planes),
		Conv2: nn.NewConv2d(planes, planes, 3, nn.ConvOpts{Padding: 1}),
		BN2:   nn.NewBatchNorm2d(planes),
	}
	if stride != 1 || in != planes {
		if sc == OptionA {
			b.Shortcut = &ShortcutA{Stride: stride, In: in, PadBefore: planes / 4, Out: planes}
		} else {
			b.Shortcut = nn.NewSequential(nn.NewConv2d(in, planes, 1, nn.ConvOpts{Stride: stride}), nn.NewBatchNorm2d(planes))
		}
	}
	return b
}

// Forward computes relu(bn2(conv2(relu(bn1(conv1(x))))) + shortcut(x)).
func (b *BasicBlockA) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	out := b.BN1.ForwardConvRelu(c, b.Conv1, x)
	return b.BN2.ForwardConvAddRelu(c, b.Conv2, out, b.Shortcut, x)
}

// Children lists conv1, bn1, conv2, bn2 and the shortcut when it has one.
func (b *BasicBlockA) Children() []nn.Child {
	ch := []nn.Child{{Name: "conv1", Module: b.Conv1}, {Name: "bn1", Module: b.BN1}, {Name: "conv2", Module: b.Conv2}, {Name: "bn2", Module: b.BN2}}
	if b.Shortcut != nil {
		ch = append(ch, nn.Child{Name: "shortcut", Module: b.Shortcut})
	}
	return ch
}

func (b *BasicBlockA) String() string { return "BasicBlock" }

// ShortcutA is the parameter-free option-A shortcut:
// zero-pad-channels(x[:, :, ::Stride, ::Stride]) with PadBefore zero channels
// before x's In channels and Out − In − PadBefore after. After channel
// pruning the channels may land anywhere: when Map is set (len(Map) = In),
// input channel j goes to output channel Map[j] (dropped when Map[j] < 0)
// and PadBefore is unused.
// Shape: [N, In, H, W] → [N, Out, ⌈H/Stride⌉, ⌈W/Stride⌉].
type ShortcutA struct {
	Stride, In, PadBefore, Out int
	Map                        []int
}

// Forward subsamples and pads x.
func (s *ShortcutA) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	if s.Map != nil {
		return nn.SubsampleMapChannels(c, s, x, s.Stride, s.Out, s.Map)
	}
	return nn.SubsamplePadChannels(c, s, x, s.Stride, s.PadBefore, s.Out)
}

// ChannelMap returns the number of output channels and, for each input
// channel, the output channel it lands in (−1: dropped).
func (s *ShortcutA) ChannelMap() (out int, dst []int) {
	if s.Map != nil {
		return s.Out, slices.Clone(s.Map)
	}
	dst = make([]int, s.In)
	for j := range dst {
		dst[j] = j + s.PadBefore
	}
	return s.Out, dst
}

// SetChannelMap makes input channel j of len(dst) land in output channel
// dst[j] (−1: dropped) of out. A map that shifts every channel by the same
// offset is stored as PadBefore, with Map nil.
func (s *ShortcutA) SetChannelMap(out int, dst []int) {
	s.In, s.Out, s.Map = len(dst), out, slices.Clone(dst)
	if len(dst) == 0 || dst[0] < 0 {
		return
	}
	for j, o := range dst {
		if o != dst[0]+j {
			return
		}
	}
	s.PadBefore, s.Map = dst[0], nil
}

func (s *ShortcutA) String() string {
	if s.Map != nil {
		return fmt.Sprintf("LambdaLayer(x[:, :, ::%d, ::%d], channels to %v of %d)", s.Stride, s.Stride, s.Map, s.Out)
	}
	return fmt.Sprintf("LambdaLayer(x[:, :, ::%d, ::%d], pad channels %d before, to %d)", s.Stride, s.Stride, s.PadBefore, s.Out)
}

// SubsampleStride returns the stride of the shortcut's subsampling (for compilers that
// read the channel map from the layer).
func (s *ShortcutA) SubsampleStride() int { return s.Stride }
