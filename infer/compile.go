package infer

import (
	"fmt"
	"math"
	"runtime"
	"slices"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// ChannelMapper is a layer that subsamples its input and moves its channels (the option-A
// shortcut of the CIFAR ResNets): output channel dst[j] of out is input channel j
// subsampled at the stride, dst[j] < 0 drops channel j, other output channels are zero.
type ChannelMapper interface {
	ChannelMap() (out int, dst []int)
	SubsampleStride() int
}

// node is one operation of the traced pass.
type node struct {
	op  string
	src any
	in  []int // activation inputs (value ids)
	out int
}

// Options are the settings of Compile.
type Options struct {
	// Batch is the batch size the plan is tuned for (0 means 1): a layer's algorithm may
	// differ between a plan for single images and one for batches (see
	// tensor.ChooseInferConvAlgo). Any batch size runs on any plan, and on a given plan each
	// image's output is the same whatever its batch.
	Batch int
}

// Compile prepares m for inference on inputs of shape [N, inShape...] (for images,
// [N, C, H, W]): see the package documentation. It traces one forward pass of m with
// BatchNorm2d and Dropout in evaluation mode and gives them their modes back; m's weights
// are copied, so later changes to m do not reach the compiled Model (compile again).
//
// An operation the compiler does not know (a layer type or functional operation other than
// those of package nn and the option-A shortcut) is an error naming it.
func Compile(m nn.Module, inShape []int, o Options) (*Model, error) {
	if len(inShape) == 0 || slices.ContainsFunc(inShape, func(d int) bool { return d <= 0 }) {
		return nil, fmt.Errorf("infer: input shape %v: want positive dimensions, e.g. [3 32 32]", inShape)
	}
	tr, err := nn.TraceForward(m, inShape...)
	if err != nil {
		return nil, fmt.Errorf("infer: %w", err)
	}
	c, x, y, names := tr.Ctx, tr.Input, tr.Output, tr.Names

	cm := &Model{inShape: slices.Clone(inShape), batch: max(o.Batch, 1)}
	ids := map[*autograd.Var]int{x: 0}
	cm.values = append(cm.values, value{shape: slices.Clone(inShape), alias: -1})
	var nodes []node
	for i, n := range c.Tape.Nodes {
		nd := node{op: n.Op, src: n.Source}
		for _, in := range n.Inputs {
			if id, ok := ids[in]; ok {
				nd.in = append(nd.in, id)
			}
		}
		if len(nd.in) == 0 {
			return nil, fmt.Errorf("infer: operation %d (%s%s) reads no value of the pass", i, n.Op, nameOf(names, n.Source))
		}
		id := len(cm.values)
		ids[n.Output] = id
		cm.values = append(cm.values, value{shape: slices.Clone(n.Output.Value.Shape[1:]), alias: -1})
		nd.out = id
		nodes = append(nodes, nd)
	}
	out, ok := ids[y]
	if !ok {
		return nil, fmt.Errorf("infer: the output of %s is not computed by a recorded operation", m)
	}
	cm.out = out
	// The traced pass's activations are garbage now: free them before the weights are
	// prepared, so that the peak memory of Compile is one traced pass or the model's
	// prepared weights, not both.
	tr, c, x, y, ids = nil, nil, nil, nil, nil
	runtime.GC()
	if err := cm.build(nodes, names); err != nil {
		return nil, err
	}
	cm.fuseBlocks()
	cm.plan()
	return cm, nil
}

func nameOf(names map[any]string, src any) string {
	if src == nil {
		return ""
	}
	if n, ok := names[src]; ok && n != "" {
		return " of " + n
	}
	return fmt.Sprintf(" of %T", src)
}

// build turns the traced nodes into steps, fusing a convolution with the BatchNorm2d,
// residual addition and ReLU that follow it.
func (cm *Model) build(nodes []node, names map[any]string) error {
	// uses[v] counts the operations that read value v (the model output counts as one).
	uses := make([]int, len(cm.values))
	for _, n := range nodes {
		for _, in := range n.in {
			uses[in]++
		}
	}
	uses[cm.out]++
	done := make([]bool, len(nodes))
	// conv[v] is the pending convolution (with what was fused into it so far) whose output
	// is value v.
	type pending struct {
		st   step
		node int
	}
	conv := map[int]*pending{}
	// fusable reports whether value v is the output of a pending convolution read only by
	// the operation at hand.
	fusable := func(v int) *pending {
		if p := conv[v]; p != nil && uses[v] == 1 {
			return p
		}
		return nil
	}
	flush := func(v int) { // emit the pending convolution of value v as it stands
		if p := conv[v]; p != nil {
			cm.steps = append(cm.steps, p.st)
			delete(conv, v)
		}
	}
	flushInputs := func(n node) {
		for _, in := range n.in {
			flush(in)
		}
	}
	for i, n := range nodes {
		if done[i] {
			continue
		}
		name := names[n.src]
		switch n.op {
		case nn.OpConv2d:
			l, ok := n.src.(*nn.Conv2d)
			if !ok {
				return fmt.Errorf("infer: conv2d%s: unsupported source %T", nameOf(names, n.src), n.src)
			}
			flushInputs(n)
			st := step{kind: stepConv, name: name, in: n.in[0], out: n.out, residual: -1, convLayer: l}
			st.w = l.Weight.Value.Data // read by prepareConv, which folds a copy
			st.b = make([]float64, l.Out)
			if l.Bias != nil {
				for k, v := range l.Bias.Value.Data {
					st.b[k] = float64(v)
				}
			}
			st.wscale = make([]float64, l.Out)
			for k := range st.wscale {
				st.wscale[k] = 1
			}
			conv[n.out] = &pending{st: st, node: i}
			continue
		case nn.OpBatchNorm:
			bn, ok := n.src.(*nn.BatchNorm2d)
			if !ok {
				return fmt.Errorf("infer: batchnorm2d%s: unsupported source %T", nameOf(names, n.src), n.src)
			}
			if p := fusable(n.in[0]); p != nil && !p.st.relu && p.st.residual < 0 {
				// Fold: y = (conv + b − μ)·s + β with s = γ/√(σ²+ε).
				for k := range bn.C {
					s := float64(bn.Weight.Value.Data[k]) / math.Sqrt(float64(bn.RunningVar.Value.Data[k])+float64(bn.Eps))
					p.st.wscale[k] *= s
					p.st.b[k] = (p.st.b[k]-float64(bn.RunningMean.Value.Data[k]))*s + float64(bn.Bias.Value.Data[k])
				}
				p.st.name += "+" + name
				delete(conv, n.in[0])
				p.st.out = n.out
				conv[n.out] = p
				continue
			}
			flushInputs(n)
			st := step{kind: stepBN, name: name, in: n.in[0], out: n.out, residual: -1}
			st.scale, st.shift = make([]float32, bn.C), make([]float32, bn.C)
			tensor.BatchNormScaleShift(st.scale, st.shift, bn.Weight.Value.Data, bn.Bias.Value.Data,
				bn.RunningMean.Value.Data, bn.RunningVar.Value.Data, bn.Eps)
			cm.steps = append(cm.steps, st)
			continue
		case nn.OpReLU6:
			if p := fusable(n.in[0]); p != nil && !p.st.relu {
				p.st.relu, p.st.clip = true, 6
				p.st.name += "+relu6"
				delete(conv, n.in[0])
				p.st.out = n.out
				conv[n.out] = p
				continue
			}
			flushInputs(n)
			cm.steps = append(cm.steps, step{kind: stepRelu6, name: "relu6", in: n.in[0], out: n.out, residual: -1})
			continue
		case nn.OpReLU:
			if p := fusable(n.in[0]); p != nil && !p.st.relu {
				p.st.relu = true
				p.st.name += "+relu"
				delete(conv, n.in[0])
				p.st.out = n.out
				conv[n.out] = p
				continue
			}
			flushInputs(n)
			cm.steps = append(cm.steps, step{kind: stepRelu, name: "relu", in: n.in[0], out: n.out, residual: -1})
			continue
		case nn.OpAdd, nn.OpAddReLU:
			relu := n.op == nn.OpAddReLU
			a, b := n.in[0], n.in[1]
			takes := func(p *pending) bool { return p != nil && !p.st.relu && p.st.residual < 0 }
			p, other := fusable(a), b
			if !takes(p) {
				p, other = fusable(b), a
			}
			if takes(p) {
				flush(other)
				p.st.residual = other
				p.st.relu = relu
				p.st.name += "+add"
				if relu {
					p.st.name += "+relu"
				}
				delete(conv, p.st.out)
				p.st.out = n.out
				cm.steps = append(cm.steps, p.st) // runs here, after the residual
				continue
			}
			flushInputs(n)
			kind := stepAdd
			if relu {
				kind = stepAddRelu
			}
			cm.steps = append(cm.steps, step{kind: kind, name: n.op, in: a, in2: b, out: n.out, residual: -1})
			continue
		}
		flushInputs(n)
		st := step{name: name, in: n.in[0], out: n.out, residual: -1}
		switch n.op {
		case nn.OpMaxPool, nn.OpAvgPool:
			st.kind = stepMaxPool
			switch l := n.src.(type) {
			case *nn.MaxPool2d:
				st.kernel, st.pool = l.Kernel, l.ConvParams
			case *nn.AvgPool2d:
				st.kind = stepAvgPool
				st.kernel, st.pool = l.Kernel, l.ConvParams
			default:
				return fmt.Errorf("infer: %s%s: unsupported source %T", n.op, nameOf(names, n.src), n.src)
			}
		case nn.OpGlobalAvgPool:
			st.kind = stepGlobalAvg
		case nn.OpSigmoid:
			st.kind, st.name = stepSigmoid, "sigmoid"
		case nn.OpMulChannels:
			st.kind, st.name, st.in2 = stepMulChannels, "mul_channels", n.in[1]
		case nn.OpConcat:
			st.kind, st.name, st.ins = stepConcat, "concat", slices.Clone(n.in)
		case nn.OpChannelScale:
			l, ok := n.src.(*nn.ChannelScale)
			if !ok {
				return fmt.Errorf("infer: channel_scale%s: unsupported source %T", nameOf(names, n.src), n.src)
			}
			st.kind, st.scale = stepChannelScale, slices.Clone(l.Weight.Value.Data)
		case nn.OpReshape:
			st.kind = stepView
			if name == "" {
				st.name = "reshape"
			}
		case nn.OpLinear:
			l, ok := n.src.(*nn.Linear)
			if !ok {
				return fmt.Errorf("infer: linear%s: unsupported source %T", nameOf(names, n.src), n.src)
			}
			st.kind = stepLinear
			st.lin = asm.PackA(false, l.Out, l.In, l.Weight.Value.Data, l.In)
			st.linIn = l.In
			st.linBias = make([]float32, l.Out)
			if l.Bias != nil {
				copy(st.linBias, l.Bias.Value.Data)
			}
		case nn.OpSubsamplePad, nn.OpSubsampleMap:
			cmap, ok := n.src.(ChannelMapper)
			if !ok {
				return fmt.Errorf("infer: %s%s: the source (%T) does not say its channel map (see ChannelMapper)", n.op, nameOf(names, n.src), n.src)
			}
			st.kind = stepChannelMap
			_, st.dst = cmap.ChannelMap()
			st.stride = cmap.SubsampleStride()
		default:
			return fmt.Errorf("infer: operation %q%s is not supported", n.op, nameOf(names, n.src))
		}
		cm.steps = append(cm.steps, st)
	}
	// Emit what is still pending (convolutions whose output is the model's), in the
	// order of the nodes.
	var rest []*pending
	for _, p := range conv {
		rest = append(rest, p)
	}
	slices.SortFunc(rest, func(a, b *pending) int { return a.node - b.node })
	for _, p := range rest {
		cm.steps = append(cm.steps, p.st)
	}
	return cm.order()
}
