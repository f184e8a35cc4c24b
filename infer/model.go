package infer

import (
	"fmt"
	"slices"

	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Model is a compiled model: its steps and prepared weights. It is read-only and safe
// for concurrent use by any number of Runners.
type Model struct {
	scratch []float32 // folded weights of one convolution, while compiling
	inShape []int
	batch   int // the batch size the plan is tuned for
	values  []value
	steps   []step
	out     int
	slots   []int // floats per image of each activation buffer
}

// value is an activation of the pass: the model input (value 0) or a step's output.
type value struct {
	shape []int // one image's
	alias int   // the value whose buffer this one views (reshape), or −1
	slot  int   // its buffer (−1: the caller's input)
}

type stepKind uint8

const (
	stepConv         stepKind = iota // prepared convolution, with bias, residual and ReLU
	stepBN                           // evaluation-mode BatchNorm2d not after a convolution
	stepRelu                         // max(x, 0)
	stepAdd                          // a + b
	stepAddRelu                      // max(a + b, 0)
	stepMaxPool                      // max pooling
	stepAvgPool                      // average pooling
	stepGlobalAvg                    // mean of each plane
	stepView                         // the input viewed with another shape
	stepLinear                       // x·wᵀ + b
	stepChannelMap                   // subsampled and moved channels (option-A shortcut)
	stepRelu6                        // min(max(x, 0), 6)
	stepConcat                       // the inputs one after the other along the channels
	stepSigmoid                      // 1/(1 + e^(−x))
	stepMulChannels                  // x times a gate (in2) per image and channel
	stepChannelScale                 // x times a scale per channel
	stepDWBlock                      // an inverted residual's convolutions, band by band (dwblock.go)
)

var stepNames = [...]string{"conv", "batchnorm", "relu", "add", "add_relu", "maxpool", "avgpool", "global_avgpool", "view", "linear", "channel_map", "relu6",
	"concat", "sigmoid", "mul_channels", "channel_scale", "conv"}

// step is one operation of a compiled model.
type step struct {
	kind     stepKind
	name     string // the layers it computes ("layer1.0.conv1+layer1.0.bn1+relu")
	in, in2  int    // input values (in2: the second operand of an addition, the gate of mul_channels)
	ins      []int  // concat: all input values, in order
	out      int
	residual int     // value added before the ReLU (conv), or −1
	relu     bool    // conv
	clip     float32 // conv with relu: then min(·, clip) (ReLU6: 6), or 0

	// Convolution, while building: the layer, its weights, the per-output-channel scale of
	// the folded BatchNorm and the bias (float64); then prepared.
	convLayer *nn.Conv2d
	w         []float32
	wscale, b []float64
	conv      *tensor.PreparedConv
	block     *tensor.DWBlock // dwblock: the fused convolutions

	scale, shift []float32 // batchnorm; channel_scale (scale)
	kernel       int       // pooling
	pool         tensor.ConvParams
	lin          *asm.PackedA // linear: the weights [out, in], packed
	linIn        int
	linBias      []float32 // [out] (zeros without a bias)
	dst          []int     // channel map
	stride       int
}

// reads returns the values the step reads.
func (st *step) reads() []int {
	r := []int{st.in}
	switch st.kind {
	case stepAdd, stepAddRelu, stepMulChannels:
		r = append(r, st.in2)
	case stepConcat:
		r = append(r, st.ins[1:]...)
	}
	if st.residual >= 0 {
		r = append(r, st.residual)
	}
	return r
}

// order checks that every step reads values computed before it, then prepares the
// convolutions.
func (cm *Model) order() error {
	cm.scratch = nil
	defer func() { cm.scratch = nil }()
	defined := make([]bool, len(cm.values))
	defined[0] = true
	for i := range cm.steps {
		st := &cm.steps[i]
		for _, v := range st.reads() {
			if !defined[v] {
				return fmt.Errorf("infer: internal error: step %d (%s) reads value %d before it is computed", i, st.name, v)
			}
		}
		defined[st.out] = true
		if st.kind == stepConv {
			cm.prepareConv(st)
		}
	}
	if !defined[cm.out] {
		return fmt.Errorf("infer: internal error: the output is never computed")
	}
	return nil
}

// prepareConv folds the scale into the weights and prepares the convolution.
func (cm *Model) prepareConv(st *step) {
	l := st.convLayer
	in := cm.values[st.in].shape
	per := len(st.w) / l.Out
	if cap(cm.scratch) < len(st.w) {
		cm.scratch = make([]float32, len(st.w))
	}
	w := cm.scratch[:len(st.w)] // folded weights: PrepareConvAlgo copies what it keeps
	for k := range l.Out {
		s := st.wscale[k]
		for i := k * per; i < (k+1)*per; i++ {
			if s == 1 {
				w[i] = st.w[i]
			} else {
				w[i] = float32(float64(st.w[i]) * s)
			}
		}
	}
	bias := make([]float32, l.Out)
	for k, v := range st.b {
		bias[k] = float32(v)
	}
	kh, kw := l.Kernel[0], l.Kernel[1]
	algo := tensor.ChooseInferConvAlgo(l.In, l.Out, in[1], in[2], kh, kw, l.ConvParams, cm.batch)
	st.conv = tensor.PrepareConvAlgo(tensor.FromSlice(w, l.Weight.Value.Shape...), bias, l.ConvParams, in[1], in[2], algo)
	st.conv.Clip = st.clip
	st.convLayer, st.w, st.wscale, st.b = nil, nil, nil, nil
}

// plan gives every value a buffer slot: a view shares its source's; other values take
// the smallest free slot that holds them (or grow one, or add one), where a slot is free
// once every reader of its value has run.
func (cm *Model) plan() {
	root := func(v int) int {
		for cm.values[v].alias >= 0 {
			v = cm.values[v].alias
		}
		return v
	}
	for _, st := range cm.steps {
		if st.kind == stepView {
			cm.values[st.out].alias = st.in
		}
	}
	last := make([]int, len(cm.values)) // the last step reading each root value
	for i, st := range cm.steps {
		for _, v := range st.reads() {
			last[root(v)] = max(last[root(v)], i)
		}
	}
	last[root(cm.out)] = len(cm.steps)
	for i := range cm.values {
		cm.values[i].slot = -1
	}
	owner := []int{} // the root value in each slot, −1 when free
	for i, st := range cm.steps {
		for s, v := range owner {
			if v >= 0 && last[v] < i {
				owner[s] = -1
			}
		}
		if st.kind == stepView {
			continue
		}
		need := numel(cm.values[st.out].shape)
		best := -1
		for s, v := range owner {
			if v >= 0 {
				continue
			}
			switch {
			case best < 0:
				best = s
			case cm.slots[s] >= need && (cm.slots[best] < need || cm.slots[s] < cm.slots[best]):
				best = s // the smallest that holds it
			case cm.slots[best] < need && cm.slots[s] > cm.slots[best]:
				best = s // or the largest, to grow
			}
		}
		if best < 0 {
			best = len(owner)
			owner = append(owner, -1)
			cm.slots = append(cm.slots, 0)
		}
		owner[best] = st.out
		cm.slots[best] = max(cm.slots[best], need)
		cm.values[st.out].slot = best
	}
}

func numel(shape []int) int {
	n := 1
	for _, d := range shape {
		n *= d
	}
	return n
}

// InShape returns the shape of one input (without the batch dimension).
func (cm *Model) InShape() []int { return slices.Clone(cm.inShape) }

// OutShape returns the shape of one output (without the batch dimension).
func (cm *Model) OutShape() []int { return slices.Clone(cm.values[cm.out].shape) }

// Layer describes one step of a compiled model.
type Layer struct {
	Name string `json:"name"`           // the layers it computes, joined by "+"
	Op   string `json:"op"`             // "conv", "linear", "maxpool", …
	Algo string `json:"algo,omitempty"` // a convolution's algorithm (tensor.ConvAlgo), else ""
	In   []int  `json:"input_shape"`    // input shape of one image
	Out  []int  `json:"output_shape"`   // output shape of one image
	MACs int64  `json:"macs"`           // multiply-accumulates per image (convolutions and linear layers)
}

// Layers lists the steps of the compiled model in the order they run.
func (cm *Model) Layers() []Layer {
	var out []Layer
	for _, st := range cm.steps {
		l := Layer{Name: st.name, Op: stepNames[st.kind], In: slices.Clone(cm.values[st.in].shape),
			Out: slices.Clone(cm.values[st.out].shape)}
		switch st.kind {
		case stepConv:
			l.Algo = st.conv.Algo.String()
			l.MACs = st.conv.MACs()
		case stepDWBlock:
			l.Algo = "dwblock"
			l.MACs = st.block.MACs()
		case stepLinear:
			l.MACs = int64(st.lin.Rows()) * int64(st.linIn)
		}
		out = append(out, l)
	}
	return out
}

// ActivationFloats returns the floats of activation buffers one image needs (a Runner of
// batch b holds b times as many).
func (cm *Model) ActivationFloats() int {
	n := 0
	for _, s := range cm.slots {
		n += s
	}
	return n
}
