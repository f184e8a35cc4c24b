package nn

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"reflect"
	"slices"
	"sync"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/tensor"
)

// An Adapter holds every rule of one layer type T that channel pruning,
// pruned model files and initialisation need, in one place, as
// Torch-Pruning has one pruner per layer type: which channel axes the
// layer has and how they couple (Axes), which of its tensors shrink with
// a channel (Tensors) and what else changes (Resize), its widths record in
// a pruned model's file (Widths, SetWidths), its initialisation (Reset,
// Redraw) and the parameters whose per-sample squared gradients its
// backward pass accumulates (SquaredGrads); its MACs and parameter counts
// scale with the widths of the sides that Axes.MACs and Tensors name, and
// its time is that of its stand-in at other widths (Probe), which prune's
// latency model compiles and times. Package prune, the widths
// of nn/zoo, ResetParameters, Reinit and TrackSquaredGrads read layers
// only through their adapters, so adding a layer type to Bonsai's pruning
// is writing one Adapter and calling RegisterAdapter.
//
// The layers of this package have theirs (adapter_*.go); a package that
// defines a layer type registers its adapter in an init function, and a
// parameter-free one can embed Stateless for the methods it does not
// need. A layer with no adapter is never pruned: the channels it touches
// are reported as unsupported (prune.Group.Reason).
//
// A layer with an adapter records one operation per call (Ctx.RecordOp)
// with itself as the source, so that a tracer of the tape finds it.
type Adapter[T Module] interface {
	// Axes says how channels pass through layer l now (see Coupling).
	Axes(l T) Axes
	// Tensors lists the state of l indexed by the channels of side s:
	// each tensor, the axis along which its indices are those channels,
	// and its role. Parameters listed under two sides (a convolution's
	// weight, Out along axis 0 and In along axis 1) scale with both
	// widths. The entries' Names are those of the layer's state
	// (Stateful.State).
	Tensors(l T, s Side) []ChannelTensor
	// Resize brings l's other records (channel counts, maps) up to date
	// after the tensors of side s lost the channels that cut c removes.
	Resize(l T, s Side, c Cut)
	// Widths returns l's widths as a JSON-encodable value for a pruned
	// model's file ([out, in] for a Conv2d), or nil when l has none.
	Widths(l T) any
	// SetWidths gives l the widths raw (the JSON of Widths), with
	// zero-filled tensors of the new shapes, ready for LoadState; an error
	// says what is wrong with raw.
	SetWidths(l T, raw json.RawMessage) error
	// Reset draws l's parameters and buffers with PyTorch's default
	// initialisation (reset_parameters) from rng.
	Reset(l T, rng *rand.Rand)
	// Redraw draws again, from rng, the weights that scheme s redraws
	// after the defaults (see InitScheme); a layer it does not concern
	// draws nothing.
	Redraw(l T, rng *rand.Rand, s InitScheme)
	// SquaredGrads lists the parameters of l whose per-sample squared
	// gradients l's backward pass adds into Var.SqGrad when they have
	// one (see TrackSquaredGrads).
	SquaredGrads(l T) []*autograd.Var
	// Probe returns a new layer, standing alone, that costs what l would
	// cost with in input and out output channels (features for a Linear):
	// the same kind of layer with l's other settings (kernel, stride,
	// padding; a depthwise convolution stays depthwise, with out
	// channels) and zero weights. Compiled and timed on an input of l's
	// spatial size ([in, H, W]), it tells what a width costs on this CPU
	// (prune's latency table). nil: l has no time of its own worth
	// measuring (a per-channel layer the compiled form folds into the
	// convolution before it, or a layer with no arithmetic).
	Probe(l T, in, out int) Module
}

// LayerAdapter is an Adapter with its layer type erased, as AdapterOf
// returns it: its methods take the layer as a Module of the registered
// type.
type LayerAdapter = Adapter[Module]

// Side names a layer's channel axes.
type Side int

const (
	// SideOut is the output channels of a layer that makes new ones (a
	// Conv2d's output channels, a Linear's output features): the side
	// that produces a group's channels.
	SideOut Side = iota
	// SideIn is the input channels (or features) of such a layer.
	SideIn
	// SideChannel is the channels of a layer whose input and output
	// channels are the same ones (BatchNorm2d).
	SideChannel
)

// String returns "out", "in" or "" (a per-channel layer's channels print
// as the bare layer name).
func (s Side) String() string {
	switch s {
	case SideOut:
		return "out"
	case SideIn:
		return "in"
	}
	return ""
}

// Coupling says how a layer's output channels relate to its input
// channels.
type Coupling int

const (
	// Unsupported: the layer's channels cannot be followed; every group
	// that touches it is not prunable (Axes.Reason says why). The zero
	// value, so an adapter that says nothing prunes nothing.
	Unsupported Coupling = iota
	// Pass: output channel c is input channel c and the layer holds
	// nothing per channel (ReLU, pooling, Dropout): no dependency.
	Pass
	// PerChannel: as Pass, with state per channel (BatchNorm2d's γ, β and
	// running statistics): one dependency, SideChannel.
	PerChannel
	// Join: the layer combines inputs of the same channels elementwise (a
	// residual add): their channels are one set.
	Join
	// Transform: the output channels are new (Conv2d, Linear, a channel
	// map): the input channels are SideIn of the input's group, the
	// output channels SideOut of a new group.
	Transform
	// Shared: output channel c is computed from input channel c alone by
	// weights of its own (a depthwise convolution): SideIn and SideOut
	// are in the input's group.
	Shared
	// Spread: a reshape [N, C, H, W] → [N, C·H·W] (channel c becomes
	// H·W consecutive features), or one that keeps dimension 1 and the
	// size per channel; any other reshape is unsupported.
	Spread
	// Concatenated: the output's channels are the inputs' channels one after
	// the other (torch.cat along dimension 1): input i's channel c is
	// output channel c plus the channels of the inputs before it, so a
	// channel removed from an input is removed from the output, and the
	// layers that read the output lose it at that offset.
	Concatenated
	// Gate: the output is the first input multiplied channel by channel
	// by the others (a squeeze-and-excitation gate): their channels are
	// one set, as Join's, but not a residual stream.
	Gate
)

// Axes describes a layer's channel axes as they are now.
type Axes struct {
	Coupling Coupling
	// In and Out count the layer's input and output channels (features
	// for a Linear) for Transform and Shared, and its channels (both) for
	// PerChannel; a tracer checks them against the tensors.
	In, Out int
	// Spans reports that the In (or Channel) side accepts channels of
	// several consecutive indices each, the features of one channel after
	// a flatten (a Linear after a flatten); other layers take one index
	// per channel.
	Spans bool
	// MACs lists the sides whose widths the layer's multiply-accumulates
	// (MACCounter) are proportional to: SideIn and SideOut for a Conv2d
	// or Linear, SideOut alone for a depthwise convolution, none for a
	// layer that does none.
	MACs []Side
	// Reason says why an Unsupported layer is ("grouped convolution").
	Reason string
}

// Role says what a channel-indexed tensor is to its channel.
type Role int

const (
	// RoleWeight is a weight: the filter of a producer's output channel,
	// or a consumer's slice of its input channel.
	RoleWeight Role = iota
	// RoleBias is a bias, added per output channel.
	RoleBias
	// RoleScale is a learned per-channel multiplier (BatchNorm2d's γ).
	RoleScale
	// RoleShift is a learned per-channel offset (BatchNorm2d's β).
	RoleShift
	// RoleBuffer is state that is not learned (running statistics).
	RoleBuffer
)

// Learned reports whether the role is a learned parameter's.
func (r Role) Learned() bool { return r != RoleBuffer }

// ChannelTensor is a tensor of a layer whose indices along Axis are
// channels of one side: channel c of a group is indices
// [c·Span, (c+1)·Span) (the Span of the dependency, 1 unless the layer
// reads a flatten).
type ChannelTensor struct {
	Name string // the entry's name in the layer's state: "weight"
	Var  *autograd.Var
	Axis int
	Role Role
}

// Cut is a removal of channels from one side of a layer: the tensors of
// that side keep the blocks Keep (Span indices each, in order), the
// others go.
type Cut struct {
	Keep    []int  // the channels that stay, ascending
	Removed []bool // for each channel before the cut, whether it goes
	Span    int    // indices per channel along the side's axes
}

// InitScheme is a from-scratch initialisation of a network: after
// PyTorch's defaults (ResetParameters), how the weights of convolutions
// and of linear layers are drawn again (Reinit).
type InitScheme struct {
	Conv, Linear Draw
	// ZeroBias sets to zero the biases of the layers whose weights the
	// scheme draws again (torchvision's MobileNetV2); otherwise they keep
	// their default draw.
	ZeroBias bool
}

// Draw says how a kind of weight is drawn again.
type Draw int

const (
	// KeepDefault keeps the default draw.
	KeepDefault Draw = iota
	// KaimingFanIn and KaimingFanOut draw normal values of standard
	// deviation √(2/fan) (KaimingNormal).
	KaimingFanIn
	KaimingFanOut
	// SmallNormal draws normal values of standard deviation 0.01, as
	// torch.nn.init.normal_(w, 0, 0.01).
	SmallNormal
)

var (
	adaptersMu sync.RWMutex
	adapters   = map[reflect.Type]LayerAdapter{}
)

// RegisterAdapter makes a the adapter of layer type T (a pointer type such
// as *Conv2d, the type the layers are used as). It panics when T has one
// already: a type has one set of rules.
func RegisterAdapter[T Module](a Adapter[T]) {
	t := reflect.TypeFor[T]()
	adaptersMu.Lock()
	defer adaptersMu.Unlock()
	if _, dup := adapters[t]; dup {
		panic(fmt.Sprintf("nn.RegisterAdapter: %v has an adapter already", t))
	}
	adapters[t] = erased[T]{a}
}

// AdapterOf returns the adapter of m's type, or false when it has none.
func AdapterOf(m Module) (LayerAdapter, bool) {
	if m == nil {
		return nil, false
	}
	adaptersMu.RLock()
	defer adaptersMu.RUnlock()
	a, ok := adapters[reflect.TypeOf(m)]
	return a, ok
}

// erased is an Adapter[T] as a LayerAdapter.
type erased[T Module] struct{ a Adapter[T] }

func (e erased[T]) Axes(m Module) Axes                            { return e.a.Axes(m.(T)) }
func (e erased[T]) Tensors(m Module, s Side) []ChannelTensor      { return e.a.Tensors(m.(T), s) }
func (e erased[T]) Resize(m Module, s Side, c Cut)                { e.a.Resize(m.(T), s, c) }
func (e erased[T]) Widths(m Module) any                           { return e.a.Widths(m.(T)) }
func (e erased[T]) SetWidths(m Module, raw json.RawMessage) error { return e.a.SetWidths(m.(T), raw) }
func (e erased[T]) Reset(m Module, rng *rand.Rand)                { e.a.Reset(m.(T), rng) }
func (e erased[T]) Redraw(m Module, rng *rand.Rand, s InitScheme) {
	e.a.Redraw(m.(T), rng, s)
}
func (e erased[T]) SquaredGrads(m Module) []*autograd.Var { return e.a.SquaredGrads(m.(T)) }
func (e erased[T]) Probe(m Module, in, out int) Module    { return e.a.Probe(m.(T), in, out) }

// Stateless is the adapter of a layer type T that holds nothing per
// channel and passes channels through (ReLU, pooling, Dropout); embed it
// and override Axes for other parameter-free layers.
type Stateless[T Module] struct{}

// Axes returns Pass.
func (Stateless[T]) Axes(T) Axes { return Axes{Coupling: Pass} }

// Tensors returns none.
func (Stateless[T]) Tensors(T, Side) []ChannelTensor { return nil }

// Resize does nothing.
func (Stateless[T]) Resize(T, Side, Cut) {}

// Widths returns nil: no record.
func (Stateless[T]) Widths(T) any { return nil }

// SetWidths fails: the layer has no widths.
func (Stateless[T]) SetWidths(l T, _ json.RawMessage) error {
	return fmt.Errorf("a %T has no widths", l)
}

// Reset does nothing.
func (Stateless[T]) Reset(T, *rand.Rand) {}

// Redraw does nothing.
func (Stateless[T]) Redraw(T, *rand.Rand, InitScheme) {}

// SquaredGrads returns none.
func (Stateless[T]) SquaredGrads(T) []*autograd.Var { return nil }

// Probe returns nil: the layer's time is not modelled per width.
func (Stateless[T]) Probe(T, int, int) Module { return nil }

// opCouplings are the rules of the operations recorded with no layer as
// their source (Relu, Add, AddRelu, Reshape, GlobalAvgPool, Sigmoid, Concat,
// MulChannels, and the fused
// BatchNorm2d paths' "relu" and "add_relu"); an operation recorded by a
// layer follows the layer's adapter.
var opCouplings = map[string]Coupling{
	OpReLU:          Pass,
	OpGlobalAvgPool: Pass,
	OpAdd:           Join,
	OpAddReLU:       Join,
	OpReshape:       Spread,
	OpSigmoid:       Pass,
	OpConcat:        Concatenated,
	OpMulChannels:   Gate,
}

// OpCoupling returns how channels pass through an operation recorded
// without a source layer (autograd.Node.Source nil), or false for an
// operation whose channels cannot be followed (a loss, or one this
// package does not record without a layer).
func OpCoupling(op string) (Coupling, bool) {
	c, ok := opCouplings[op]
	return c, ok
}

// widthInts parses raw as n positive integers.
func widthInts(raw json.RawMessage, n int) ([]int, error) {
	var v []int
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != n || slices.Min(v) <= 0 {
		return nil, fmt.Errorf("widths %s, want %d positive integers", raw, n)
	}
	return v, nil
}

// resize replaces a parameter's value by zeros of length n (nil: nothing).
func resize(v *autograd.Var, n int) {
	if v != nil {
		v.Value = tensor.New(n)
	}
}
