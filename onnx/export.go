package onnx

import (
	"fmt"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"google.golang.org/protobuf/proto"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// ExportOpset is the opset Export writes.
const ExportOpset = 13

// Names of the exported graph's input and output.
const (
	InputName  = "input"
	OutputName = "logits"
)

// ExportOptions are the settings of Export.
type ExportOptions struct {
	// KeepBatchNorm writes BatchNormalization nodes; by default each BatchNorm2d that
	// follows a convolution is folded into its weights and bias (in float64).
	KeepBatchNorm bool
}

// channelMapper is the option-A shortcut (zoo.ShortcutA), as infer.ChannelMapper.
type channelMapper interface {
	ChannelMap() (out int, dst []int)
	SubsampleStride() int
}

// Export writes m as an ONNX model (opset 13, IR version 8) for inputs [N, inShape...] with
// a dynamic batch N: input "input", output "logits". It traces one evaluation-mode
// forward pass of m (BatchNorm2d and Dropout get their modes back), so any model of nn
// layers, the zoo's option-A shortcut included, exports; an operation with no ONNX form
// here is an error naming it. meta's arch (a zoo name, or the "source_arch" of an
// imported model), mean, std and classes go to metadata_props. The file is replaced
// atomically.
func Export(path string, m nn.Module, inShape []int, meta zoo.Meta, o ExportOptions) error {
	mp, err := exportModel(m, inShape, meta, o)
	if err != nil {
		return fmt.Errorf("onnx: export to %s: %v", path, err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		return fmt.Errorf("onnx: export to %s: %v", path, err)
	}
	if err := writeAtomic(path, b); err != nil {
		return fmt.Errorf("onnx: export to %s: %v", path, err)
	}
	return nil
}

// writeAtomic writes b to a temporary file beside path, syncs it and renames it over path.
func writeAtomic(path string, b []byte) (err error) {
	tmp, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(b); err != nil {
		return err
	}
	if err = tmp.Chmod(0o644); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	if err = tmp.Close(); err != nil {
		return err
	}
	return os.Rename(tmp.Name(), path)
}

// exporter builds the graph of one traced pass.
type exporter struct {
	g     *onnxpb.GraphProto
	names map[any]string
	vals  map[*autograd.Var]string
	used  map[string]bool // names of nodes and initializers
	o     ExportOptions
}

func exportModel(m nn.Module, inShape []int, meta zoo.Meta, o ExportOptions) (*onnxpb.ModelProto, error) {
	if len(inShape) != 3 || slices.Min(inShape) <= 0 {
		return nil, fmt.Errorf("input shape %v: want [C H W]", inShape)
	}
	tr, err := nn.TraceForward(m, inShape...)
	if err != nil {
		return nil, err
	}
	c, names, x, y := tr.Ctx, tr.Names, tr.Input, tr.Output
	e := &exporter{g: &onnxpb.GraphProto{Name: ptr("bonsai")}, names: names, vals: map[*autograd.Var]string{x: InputName},
		used: map[string]bool{InputName: true}, o: o}
	nodes := c.Tape.Nodes
	uses := map[*autograd.Var]int{}
	for _, n := range nodes {
		for _, in := range n.Inputs {
			uses[in]++
		}
	}
	uses[y]++
	folded := map[int]bool{} // BatchNorm nodes folded into the convolution before them
	for i, n := range nodes {
		if err := e.node(i, n, nodes, uses, folded); err != nil {
			return nil, err
		}
	}
	out, ok := e.vals[y]
	if !ok {
		return nil, fmt.Errorf("the output of %s is not computed by a recorded operation", m)
	}
	if y.Value.Dims() != 2 {
		return nil, fmt.Errorf("the output has shape %v, want [N, classes]", y.Value.Shape)
	}
	// Name the output "logits".
	e.g.Node = append(e.g.Node, &onnxpb.NodeProto{OpType: ptr("Identity"), Name: ptr("output"), Input: []string{out}, Output: []string{OutputName}})
	e.g.Input = []*onnxpb.ValueInfoProto{valueInfo(InputName, inShape)}
	e.g.Output = []*onnxpb.ValueInfoProto{valueInfo(OutputName, y.Value.Shape[1:])}

	mp := &onnxpb.ModelProto{
		IrVersion:       ptr(int64(8)),
		ProducerName:    ptr("bonsai"),
		ProducerVersion: ptr("1"),
		OpsetImport:     []*onnxpb.OperatorSetIdProto{{Domain: ptr(""), Version: ptr(int64(ExportOpset))}},
		Graph:           e.g,
	}
	md := meta.Map()
	delete(md, zoo.MetaGraph)
	delete(md, zoo.MetaWidths)
	delete(md, zoo.MetaArch)
	delete(md, "source_arch")
	if a, err := zoo.Lookup(meta.Arch); err == nil && !strings.HasPrefix(a.Name, "graph_") {
		md[zoo.MetaArch] = a.Name
	} else if s := meta.Extra["source_arch"]; s != "" {
		md[zoo.MetaArch] = s
	}
	for _, k := range slices.Sorted(mapKeys(md)) {
		mp.MetadataProps = append(mp.MetadataProps, &onnxpb.StringStringEntryProto{Key: ptr(k), Value: ptr(md[k])})
	}
	return mp, nil
}

func mapKeys(m map[string]string) func(func(string) bool) {
	return func(yield func(string) bool) {
		for k := range m {
			if !yield(k) {
				return
			}
		}
	}
}

// valueInfo describes a float tensor [batch, shape...].
func valueInfo(name string, shape []int) *onnxpb.ValueInfoProto {
	dims := []*onnxpb.TensorShapeProto_Dimension{{Value: &onnxpb.TensorShapeProto_Dimension_DimParam{DimParam: "batch"}}}
	for _, d := range shape {
		dims = append(dims, &onnxpb.TensorShapeProto_Dimension{Value: &onnxpb.TensorShapeProto_Dimension_DimValue{DimValue: int64(d)}})
	}
	return &onnxpb.ValueInfoProto{Name: ptr(name), Type: &onnxpb.TypeProto{Value: &onnxpb.TypeProto_TensorType{
		TensorType: &onnxpb.TypeProto_Tensor{ElemType: ptr(int32(onnxpb.TensorProto_FLOAT)), Shape: &onnxpb.TensorShapeProto{Dim: dims}}}}}
}

// unique returns name, or name with a suffix, unused so far.
func (e *exporter) unique(name string) string {
	n := name
	for j := 2; e.used[n]; j++ {
		n = fmt.Sprintf("%s_%d", name, j)
	}
	e.used[n] = true
	return n
}

func (e *exporter) init(name string, t *onnxpb.TensorProto) string {
	name = e.unique(name)
	t.Name = ptr(name)
	e.g.Initializer = append(e.g.Initializer, t)
	return name
}

func (e *exporter) initFloat(name string, shape []int, v []float32) string {
	return e.init(name, floatTensor(name, shape, v))
}

func (e *exporter) initInt(name string, v []int64) string {
	return e.init(name, intTensor(name, []int{len(v)}, v))
}

// emit appends a node and returns its output's name.
func (e *exporter) emit(op, name string, in []string, attrs ...*onnxpb.AttributeProto) string {
	name = e.unique(name)
	out := name + "_output"
	e.used[out] = true
	e.g.Node = append(e.g.Node, &onnxpb.NodeProto{OpType: ptr(op), Name: ptr(name), Input: in, Output: []string{out}, Attribute: attrs})
	return out
}

func attrInts(name string, v ...int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_INTS), Ints: ints64(v)}
}

func attrInt(name string, v int) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_INT), I: ptr(int64(v))}
}

func attrFloat(name string, v float32) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_FLOAT), F: ptr(v)}
}

// layerName is the state-dict path of a layer, or a name for the operation.
func (e *exporter) layerName(src any, op string) string {
	if n := e.names[src]; n != "" {
		return n
	}
	return op
}

func (e *exporter) node(i int, n *autograd.Node, nodes []*autograd.Node, uses map[*autograd.Var]int, folded map[int]bool) error {
	var in []string
	for _, v := range n.Inputs {
		if name, ok := e.vals[v]; ok {
			in = append(in, name)
		}
	}
	if len(in) == 0 {
		return fmt.Errorf("operation %d (%s) reads no value of the pass", i, n.Op)
	}
	name := e.layerName(n.Source, n.Op)
	where := func() string {
		if s := e.names[n.Source]; s != "" {
			return fmt.Sprintf("operation %q of layer %q", n.Op, s)
		}
		return fmt.Sprintf("operation %q", n.Op)
	}
	var out string
	switch n.Op {
	case nn.OpConv2d:
		l, ok := n.Source.(*nn.Conv2d)
		if !ok {
			return fmt.Errorf("%s: source %T is not an nn.Conv2d", where(), n.Source)
		}
		var bn *nn.BatchNorm2d
		if !e.o.KeepBatchNorm && uses[n.Output] == 1 && i+1 < len(nodes) {
			for j := i + 1; j < len(nodes); j++ {
				if nodes[j].Op == nn.OpBatchNorm && slices.Contains(nodes[j].Inputs, n.Output) {
					if b, ok := nodes[j].Source.(*nn.BatchNorm2d); ok {
						bn = b
						folded[j] = true
					}
					break
				}
			}
		}
		out = e.conv(name, in[0], l, bn)
		if bn != nil {
			// The BatchNorm's output is the folded convolution's.
			for j := i + 1; j < len(nodes); j++ {
				if folded[j] && slices.Contains(nodes[j].Inputs, n.Output) {
					e.vals[nodes[j].Output] = out
				}
			}
		}
	case nn.OpBatchNorm:
		if folded[i] {
			return nil
		}
		l, ok := n.Source.(*nn.BatchNorm2d)
		if !ok {
			return fmt.Errorf("%s: source %T is not an nn.BatchNorm2d", where(), n.Source)
		}
		out = e.emit("BatchNormalization", name, []string{in[0],
			e.initFloat(name+".weight", []int{l.C}, l.Weight.Value.Data), e.initFloat(name+".bias", []int{l.C}, l.Bias.Value.Data),
			e.initFloat(name+".running_mean", []int{l.C}, l.RunningMean.Value.Data), e.initFloat(name+".running_var", []int{l.C}, l.RunningVar.Value.Data)},
			attrFloat("epsilon", l.Eps), attrFloat("momentum", 1-l.Momentum))
	case nn.OpReLU:
		out = e.emit("Relu", name+"_relu", in[:1])
	case nn.OpReLU6:
		out = e.emit("Clip", name, []string{in[0], e.initFloat(name+".min", nil, []float32{0}), e.initFloat(name+".max", nil, []float32{6})})
	case nn.OpAdd, nn.OpAddReLU:
		a, b := in[0], in[0]
		if len(in) > 1 {
			b = in[1]
		}
		out = e.emit("Add", name, []string{a, b})
		if n.Op == nn.OpAddReLU {
			out = e.emit("Relu", name+"_relu", []string{out})
		}
	case nn.OpDropout:
		out = in[0]
	case nn.OpMaxPool, nn.OpAvgPool:
		switch l := n.Source.(type) {
		case *nn.MaxPool2d:
			out = e.emit("MaxPool", name, in[:1], attrInts("kernel_shape", l.Kernel, l.Kernel), attrInts("strides", l.Stride[:]...),
				attrInts("pads", l.Padding[0], l.Padding[1], l.Padding[0], l.Padding[1]))
		case *nn.AvgPool2d:
			out = e.emit("AveragePool", name, in[:1], attrInts("kernel_shape", l.Kernel, l.Kernel), attrInts("strides", l.Stride[:]...),
				attrInts("pads", l.Padding[0], l.Padding[1], l.Padding[0], l.Padding[1]), attrInt("count_include_pad", 1))
		default:
			return fmt.Errorf("%s: unsupported source %T", where(), n.Source)
		}
	case nn.OpGlobalAvgPool:
		out = e.emit("GlobalAveragePool", name, in[:1])
		if n.Output.Value.Dims() == 2 {
			out = e.emit("Flatten", name+"_flatten", []string{out}, attrInt("axis", 1))
		}
	case nn.OpReshape:
		s := n.Output.Value.Shape
		if len(s) == 2 {
			out = e.emit("Flatten", name, in[:1], attrInt("axis", 1))
		} else {
			out = e.emit("Reshape", name, []string{in[0], e.initInt(name+".shape", append([]int64{-1}, ints64(s[1:])...))})
		}
	case nn.OpLinear:
		l, ok := n.Source.(*nn.Linear)
		if !ok {
			return fmt.Errorf("%s: source %T is not an nn.Linear", where(), n.Source)
		}
		ins := []string{in[0], e.initFloat(name+".weight", []int{l.Out, l.In}, l.Weight.Value.Data)}
		if l.Bias != nil {
			ins = append(ins, e.initFloat(name+".bias", []int{l.Out}, l.Bias.Value.Data))
		}
		out = e.emit("Gemm", name, ins, attrInt("transB", 1))
	case nn.OpConcat:
		out = e.emit("Concat", name, in, attrInt("axis", 1))
	case nn.OpSigmoid:
		out = e.emit("Sigmoid", name, in[:1])
	case nn.OpMulChannels:
		x, g := n.Inputs[0].Value, n.Inputs[1].Value
		gate := in[1]
		if g.Dims() < x.Dims() { // [N, C] → [N, C, 1, 1] for broadcasting
			shape := []int64{0, -1}
			for len(shape) < x.Dims() {
				shape = append(shape, 1)
			}
			gate = e.emit("Reshape", name+"_gate", []string{gate, e.initInt(name+".gate_shape", shape)})
		}
		out = e.emit("Mul", name, []string{in[0], gate})
	case nn.OpChannelScale:
		l, ok := n.Source.(*nn.ChannelScale)
		if !ok {
			return fmt.Errorf("%s: source %T is not an nn.ChannelScale", where(), n.Source)
		}
		shape := []int{1, l.C}
		for len(shape) < n.Inputs[0].Value.Dims() {
			shape = append(shape, 1)
		}
		out = e.emit("Mul", name, []string{in[0], e.initFloat(name+".weight", shape, l.Weight.Value.Data)})
	case nn.OpSubsamplePad, nn.OpSubsampleMap:
		cm, ok := n.Source.(channelMapper)
		if !ok {
			return fmt.Errorf("%s: the source (%T) does not say its channel map", where(), n.Source)
		}
		out = e.channelMap(name, in[0], cm, n.Inputs[0].Value.Shape[1])
	default:
		return fmt.Errorf("%s has no ONNX form here", where())
	}
	e.vals[n.Output] = out
	return nil
}

// conv emits a Conv, with bn folded into its weights and bias when not nil.
func (e *exporter) conv(name, in string, l *nn.Conv2d, bn *nn.BatchNorm2d) string {
	w := slices.Clone(l.Weight.Value.Data)
	var b []float32
	if l.Bias != nil {
		b = slices.Clone(l.Bias.Value.Data)
	}
	if bn != nil {
		if b == nil {
			b = make([]float32, l.Out)
		}
		per := len(w) / l.Out
		for k := range l.Out {
			s := float64(bn.Weight.Value.Data[k]) / math.Sqrt(float64(bn.RunningVar.Value.Data[k])+float64(bn.Eps))
			for j := k * per; j < (k+1)*per; j++ {
				w[j] = float32(float64(w[j]) * s)
			}
			b[k] = float32((float64(b[k])-float64(bn.RunningMean.Value.Data[k]))*s + float64(bn.Bias.Value.Data[k]))
		}
	}
	ins := []string{in, e.initFloat(name+".weight", l.Weight.Value.Shape, w)}
	if b != nil {
		ins = append(ins, e.initFloat(name+".bias", []int{l.Out}, b))
	}
	return e.emit("Conv", name, ins, attrInts("kernel_shape", l.Kernel[:]...), attrInts("strides", l.Stride[:]...),
		attrInts("pads", l.Padding[0], l.Padding[1], l.Padding[0], l.Padding[1]), attrInts("dilations", 1, 1),
		attrInt("group", l.GroupCount()))
}

// channelMap emits the option-A shortcut: a strided Slice, then a channel Pad (the
// channels in one run) or a Pad of one zero channel and a Gather (any map).
func (e *exporter) channelMap(name, in string, cm channelMapper, inC int) string {
	out, dst := cm.ChannelMap()
	if s := cm.SubsampleStride(); s > 1 {
		in = e.emit("Slice", name+"_subsample", []string{in, e.initInt(name+".starts", []int64{0, 0}),
			e.initInt(name+".ends", []int64{math.MaxInt64, math.MaxInt64}), e.initInt(name+".axes", []int64{2, 3}),
			e.initInt(name+".steps", []int64{int64(s), int64(s)})})
	}
	run := len(dst) == inC && len(dst) > 0 && dst[0] >= 0
	for j := range dst {
		run = run && dst[j] == dst[0]+j
	}
	if run {
		before, after := dst[0], out-dst[0]-len(dst)
		return e.emit("Pad", name, []string{in, e.initInt(name+".pads", []int64{0, int64(before), 0, 0, 0, int64(after), 0, 0})}, attrStr("mode", "constant"))
	}
	padded := e.emit("Pad", name+"_zero", []string{in, e.initInt(name+".pads", []int64{0, 0, 0, 0, 0, 1, 0, 0})}, attrStr("mode", "constant"))
	idx := make([]int64, out)
	for o := range idx {
		idx[o] = int64(inC) // the zero channel
	}
	for j, o := range dst {
		if o >= 0 {
			idx[o] = int64(j)
		}
	}
	return e.emit("Gather", name, []string{padded, e.initInt(name+".channels", idx)}, attrInt("axis", 1))
}

func attrStr(name, v string) *onnxpb.AttributeProto {
	return &onnxpb.AttributeProto{Name: ptr(name), Type: ptr(onnxpb.AttributeProto_STRING), S: []byte(v)}
}
