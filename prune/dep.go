package prune

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/nn"
)

// Side says which channels of a layer a dependency touches (nn.Side); its
// String is "out", "in" or "" (a BatchNorm2d's channels print as the bare
// layer name).
type Side = nn.Side

const (
	// Out is the output channels of a Conv2d, the output features of a
	// Linear or the output channels of a ChannelMapper: the side that
	// produces the group's channels.
	Out = nn.SideOut
	// In is the input channels of a Conv2d or ChannelMapper, or the input
	// features of a Linear (Span features per channel after a flatten).
	In = nn.SideIn
	// Channel is the channels of a BatchNorm2d, which are its input and
	// its output at once.
	Channel = nn.SideChannel
)

// Dep is one dependency of a group: a layer and the side of it whose
// indices follow the group's channels. The index mapping is
// channel c ↦ indices [c·Span, (c+1)·Span) along that side's axis: Span is 1
// except for a Linear fed by a flatten, where it is the H·W features of one
// channel's map. (A ChannelMapper keeps its own map from input to output
// channels; its In and Out deps index its input and output channels.)
type Dep struct {
	// Layer is the layer's state-dict path, as nn.Walk names it
	// ("layer1.0.conv1").
	Layer string
	// Module is the layer, one with an adapter (nn.AdapterOf): its rules
	// say what the side holds and how it shrinks.
	Module nn.Module
	Side   Side
	Span   int

	// at places the group's channels in a concatenation that the side
	// reads (a layer after nn.Concat): channel c of the group is channel
	// offset + c of the side, the offset that of the piece now.
	at piece
}

// adapter returns the rules of the dep's layer (nil for a layer with none,
// which Trace never puts in a group).
func (d Dep) adapter() nn.LayerAdapter {
	a, _ := nn.AdapterOf(d.Module)
	return a
}

// tensors returns the tensors of the dep's layer indexed by the channels
// of its side.
func (d Dep) tensors() []nn.ChannelTensor {
	if a := d.adapter(); a != nil {
		return a.Tensors(d.Module, d.Side)
	}
	return nil
}

// Indices returns the half-open range of indices along the dep's axis that
// belong to channel c of the group.
func (d Dep) Indices(c int) (lo, hi int) {
	off := d.at.offset()
	return off + c*d.Span, off + (c+1)*d.Span
}

// String reads like "layer1.0.conv1 out", "layer1.0.bn1", "fc in ×4" (a
// Linear after a flatten of 2×2 maps), "mixed.conv in @16" (a layer that
// reads a concatenation in which the group's channels start at 16) or "layer2.0.shortcut in (c ↦ c+8)"
// (a ChannelMapper's input side shows its map).
func (d Dep) String() string {
	s := d.Layer
	if d.Side != Channel {
		s += " " + d.Side.String()
	}
	if d.Span != 1 {
		s += fmt.Sprintf(" ×%d", d.Span)
	}
	s += pieceString(d.at)
	if cm, ok := d.Module.(ChannelMapper); ok && d.Side == In {
		s += " " + mapString(cm)
	}
	return s
}

// mapString describes a ChannelMapper's map: "(c ↦ c+8)" while it is an
// offset, "(c ↦ [8 9 -1 10 …])" after pruning made it irregular.
func mapString(cm ChannelMapper) string {
	_, dst := cm.ChannelMap()
	for j, o := range dst {
		if o != dst[0]+j || o < 0 {
			return fmt.Sprintf("(c ↦ %v)", dst)
		}
	}
	if len(dst) == 0 {
		return "(no channels)"
	}
	return fmt.Sprintf("(c ↦ c+%d)", dst[0])
}

// ChannelMapper is a parameter-free layer that copies each input channel j
// (possibly subsampled in space) to output channel dst[j], or drops it when
// dst[j] < 0, and fills the other output channels with zeros: the CIFAR
// ResNet option-A shortcut (zoo.ShortcutA). Its adapter prunes it: input
// channels delete their entries of dst; output channels renumber dst and
// drop the inputs that landed in them, so a mapper couples two groups
// without merging them. A Dep prints a mapper's map.
type ChannelMapper interface {
	nn.Module
	// ChannelMap returns the number of output channels and, for each
	// input channel, the output channel it lands in (−1: dropped).
	ChannelMap() (out int, dst []int)
	// SetChannelMap makes the layer map its len(dst) input channels by
	// dst into out output channels.
	SetChannelMap(out int, dst []int)
}
