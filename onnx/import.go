package onnx

import (
	"fmt"
	"math"
	"regexp"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// Opset range that Import supports (the default "ai.onnx" domain).
const (
	MinOpset = 11
	MaxOpset = 17
)

// dval is a value of the graph that depends on the input: a value of the GraphSpec.
type dval struct {
	name  string // the spec value
	shape []int  // without the batch dimension
	node  int    // index of the spec node that computes it (−1: the input)
	// sub is the stride of a pending subsampling x[:, :, ::s, ::s] of value name (a
	// Slice not yet followed by the channel Pad of an option-A shortcut), 0 when none.
	sub     [2]int
	subFrom *dval
	// pooled marks the output of a GlobalAveragePool, [N, C, 1, 1] in ONNX and [N, C]
	// here (nn.GlobalAvgPool): only a flatten may read it.
	pooled bool
}

// layerWeights are the tensors of one spec layer, by state-dict suffix.
type layerWeights map[string]*konst

// importer translates one ONNX graph.
type importer struct {
	opset   int
	consts  map[string]*konst
	dyn     map[string]*dval
	spec    zoo.GraphSpec
	weights []layerWeights // per spec node
	names   map[string]bool
	values  int
	uses    map[string]int   // readers of each ONNX value
	views   map[string]*dval // the [N, C, 1, 1] view of each pooled value read other than by a flatten
}

// Import reads an ONNX model file into a zoo.Graph with its weights, in evaluation
// mode, and its metadata (metadata_props "arch", "mean", "std", "classes"; Meta.Arch is
// the registered graph architecture, the file's own "arch" stays in Meta.Extra under
// "source_arch"). The graph must take one image batch [N, C, H, W] with C, H and W fixed
// and give one output [N, classes]. An operator outside the supported set, or a use of
// one that no nn layer computes, is an error naming the operator and its node.
func Import(path string) (*zoo.Graph, zoo.Meta, error) {
	mp, err := readModel(path)
	if err != nil {
		return nil, zoo.Meta{}, err
	}
	g, meta, err := importModel(mp)
	if err != nil {
		return nil, meta, fmt.Errorf("onnx: %s: %v", path, err)
	}
	return g, meta, nil
}

func importModel(mp *onnxpb.ModelProto) (*zoo.Graph, zoo.Meta, error) {
	md := map[string]string{}
	for _, p := range mp.GetMetadataProps() {
		switch p.GetKey() {
		case zoo.MetaGraph, zoo.MetaWidths: // a Bonsai model's graph comes from the ONNX graph
		case zoo.MetaArch:
			md["source_arch"] = p.GetValue()
		default:
			md[p.GetKey()] = p.GetValue()
		}
	}
	meta, err := zoo.ParseMeta(md)
	if err != nil {
		return nil, meta, fmt.Errorf("metadata_props: %v", err)
	}
	opset := -1
	for _, o := range mp.GetOpsetImport() {
		if d := o.GetDomain(); d == "" || d == "ai.onnx" {
			opset = int(o.GetVersion())
		}
	}
	if opset < MinOpset || opset > MaxOpset {
		return nil, meta, fmt.Errorf("opset %d of the ai.onnx domain: supported are %d to %d", opset, MinOpset, MaxOpset)
	}
	im := &importer{opset: opset, consts: map[string]*konst{}, dyn: map[string]*dval{}, names: map[string]bool{}, uses: map[string]int{},
		views: map[string]*dval{}}
	g := mp.GetGraph()
	for _, n := range g.GetNode() {
		for _, in := range n.GetInput() {
			im.uses[in]++
		}
	}
	for _, t := range g.GetInitializer() {
		k, err := decodeTensor(t)
		if err != nil {
			return nil, meta, fmt.Errorf("initializer: %v", err)
		}
		im.consts[t.GetName()] = k
	}
	if len(g.GetSparseInitializer()) > 0 {
		return nil, meta, fmt.Errorf("sparse initializers are not supported")
	}
	if err := im.input(g); err != nil {
		return nil, meta, err
	}
	order, err := topoSort(g, im.consts)
	if err != nil {
		return nil, meta, err
	}
	for _, n := range order {
		if err := im.node(n); err != nil {
			return nil, meta, fmt.Errorf("node %q (%s): %v", n.GetName(), n.GetOpType(), err)
		}
	}
	if len(g.GetOutput()) != 1 {
		return nil, meta, fmt.Errorf("the graph has %d outputs, want 1 (the logits)", len(g.GetOutput()))
	}
	out := im.dyn[g.GetOutput()[0].GetName()]
	if out == nil || out.node < 0 {
		return nil, meta, fmt.Errorf("output %q is not computed from the input", g.GetOutput()[0].GetName())
	}
	if len(out.shape) != 1 || out.sub != [2]int{} {
		return nil, meta, fmt.Errorf("output %q has shape [N %v], want [N classes]", g.GetOutput()[0].GetName(), out.shape)
	}
	im.spec.Output, im.spec.Classes = out.name, out.shape[0]
	graph, err := zoo.NewGraph(im.spec)
	if err != nil {
		return nil, meta, err
	}
	if err := im.load(graph); err != nil {
		return nil, meta, err
	}
	a, err := graph.Arch()
	if err != nil {
		return nil, meta, err
	}
	meta.Arch = a.Name
	nn.SetTraining(graph, false)
	return graph, meta, nil
}

// input finds the graph's one image input.
func (im *importer) input(g *onnxpb.GraphProto) error {
	var found *onnxpb.ValueInfoProto
	for _, v := range g.GetInput() {
		if _, init := im.consts[v.GetName()]; init {
			continue
		}
		if found != nil {
			return fmt.Errorf("the graph has inputs %q and %q, want one", found.GetName(), v.GetName())
		}
		found = v
	}
	if found == nil {
		return fmt.Errorf("the graph has no input")
	}
	tt := found.GetType().GetTensorType()
	if tt == nil || onnxpb.TensorProto_DataType(tt.GetElemType()) != onnxpb.TensorProto_FLOAT {
		return fmt.Errorf("input %q: want a float tensor", found.GetName())
	}
	var shape []int
	for j, d := range tt.GetShape().GetDim() {
		if j == 0 {
			continue // the batch: any size
		}
		v := d.GetDimValue()
		if v <= 0 || v > 1<<16 {
			return fmt.Errorf("input %q: dimension %d is %q, want a fixed size", found.GetName(), j, d.String())
		}
		shape = append(shape, int(v))
	}
	if len(shape) != 3 {
		return fmt.Errorf("input %q has %d dimensions, want 4 ([N, C, H, W])", found.GetName(), len(tt.GetShape().GetDim()))
	}
	im.spec.Input = shape
	im.dyn[found.GetName()] = &dval{name: zoo.GraphInput, shape: shape, node: -1}
	return nil
}

// topoSort orders the nodes so that each comes after the producers of its inputs. A
// cycle, or an input that nothing produces, is an error naming a node.
func topoSort(g *onnxpb.GraphProto, known map[string]*konst) ([]*onnxpb.NodeProto, error) {
	have := map[string]bool{"": true}
	for k := range known {
		have[k] = true
	}
	for _, v := range g.GetInput() {
		have[v.GetName()] = true
	}
	producer := map[string]int{}
	for i, n := range g.GetNode() {
		for _, o := range n.GetOutput() {
			if _, dup := producer[o]; dup || (have[o] && o != "") {
				return nil, fmt.Errorf("node %q (%s): output %q is defined twice", n.GetName(), n.GetOpType(), o)
			}
			producer[o] = i
		}
	}
	nodes := g.GetNode()
	done := make([]bool, len(nodes))
	var order []*onnxpb.NodeProto
	for progress := true; progress; {
		progress = false
		for i, n := range nodes {
			if done[i] {
				continue
			}
			ready := true
			for _, in := range n.GetInput() {
				if !have[in] {
					ready = false
					if _, ok := producer[in]; !ok {
						return nil, fmt.Errorf("node %q (%s): input %q is neither an initializer, a graph input nor a node's output", n.GetName(), n.GetOpType(), in)
					}
				}
			}
			if ready {
				done[i], progress = true, true
				order = append(order, n)
				for _, o := range n.GetOutput() {
					have[o] = true
				}
			}
		}
	}
	for i, n := range nodes {
		if !done[i] {
			return nil, fmt.Errorf("the graph has a cycle through node %q (%s)", n.GetName(), n.GetOpType())
		}
	}
	return order, nil
}

// node translates one node: folds it when all its inputs are known, else adds the layer
// it computes.
func (im *importer) node(n *onnxpb.NodeProto) error {
	if d := n.GetDomain(); d != "" && d != "ai.onnx" {
		return fmt.Errorf("operator %s of domain %q is not supported", n.GetOpType(), d)
	}
	in := make([]*konst, len(n.GetInput()))
	dyn := make([]*dval, len(n.GetInput())) // the inputs computed from the data
	ndyn := 0
	for j, name := range n.GetInput() {
		if name == "" {
			continue
		}
		if d, ok := im.dyn[name]; ok {
			dyn[j] = d
			ndyn++
			continue
		}
		in[j] = im.consts[name]
	}
	op := n.GetOpType()
	if op == "Shape" && ndyn > 0 {
		shape := append([]int{batchDim}, dyn[0].shape...)
		im.consts[n.GetOutput()[0]] = shapeOf(shape, attrs(n), im.opset)
		return nil
	}
	if ndyn == 0 {
		if !foldable[op] {
			return fmt.Errorf("operator %s is not supported", op)
		}
		k, err := fold(n, im.opset, in)
		if err != nil {
			return err
		}
		if len(n.GetOutput()) > 0 {
			im.consts[n.GetOutput()[0]] = k
		}
		return nil
	}
	if len(n.GetOutput()) == 0 {
		return fmt.Errorf("no output")
	}
	out := n.GetOutput()[0]
	for _, extra := range n.GetOutput()[1:] {
		if extra != "" && op != "Dropout" && op != "BatchNormalization" && op != "MaxPool" {
			return fmt.Errorf("operator %s with %d outputs is not supported", op, len(n.GetOutput()))
		}
	}
	if op == "Mul" && dyn[0] == nil && len(dyn) == 2 { // a constant times the data
		dyn[0], dyn[1], in[0], in[1] = dyn[1], nil, in[1], in[0]
	}
	x := dyn[0]
	if x == nil {
		return fmt.Errorf("operator %s: its first input must be the data", op)
	}
	for j, d := range dyn {
		if d == nil {
			continue
		}
		if d.sub != [2]int{} && op != "Slice" && op != "Pad" {
			dyn[j] = im.subsampled(d)
		}
		if d.pooled && op != "Flatten" && op != "Reshape" && op != "Identity" && op != "Dropout" {
			dyn[j] = im.unpooled(d)
		}
	}
	x = dyn[0]
	at := attrs(n)
	switch op {
	case "Identity", "Dropout":
		im.dyn[out] = x
		return nil
	case "Conv":
		return im.conv(n, at, x, in, out)
	case "BatchNormalization":
		return im.batchNorm(n, at, x, in, out)
	case "Relu":
		return im.simple(zoo.GraphNode{Op: zoo.GraphReLU}, x, out, x.shape)
	case "Sigmoid":
		return im.simple(zoo.GraphNode{Op: zoo.GraphSigmoid}, x, out, x.shape)
	case "Concat":
		return im.concat(at, dyn, out)
	case "Mul":
		if ndyn == 2 {
			return im.mulGate(dyn[0], dyn[1], out)
		}
		return im.mulConst(n, x, out)
	case "Clip":
		lo, hi := float32(math.Inf(-1)), float32(math.Inf(1))
		if im.opset < 11 {
			lo, hi = at.f("min", lo), at.f("max", hi)
		}
		if len(in) > 1 && in[1] != nil {
			lo = in[1].floats()[0]
		}
		if len(in) > 2 && in[2] != nil {
			hi = in[2].floats()[0]
		}
		if ndyn > 1 {
			return fmt.Errorf("Clip with bounds computed from the input is not supported")
		}
		switch {
		case lo == 0 && hi == 6:
			return im.simple(zoo.GraphNode{Op: zoo.GraphReLU6}, x, out, x.shape)
		case lo == 0 && math.IsInf(float64(hi), 1):
			return im.simple(zoo.GraphNode{Op: zoo.GraphReLU}, x, out, x.shape)
		}
		return fmt.Errorf("Clip to [%g, %g] is not supported (ReLU6 is [0, 6])", lo, hi)
	case "MaxPool", "AveragePool":
		return im.pool(n, at, x, out)
	case "GlobalAveragePool":
		if len(x.shape) != 3 {
			return fmt.Errorf("input shape [N %v], want [N C H W]", x.shape)
		}
		im.add1(zoo.GraphNode{Op: zoo.GraphGlobalAvgPool}, x, out, []int{x.shape[0], 1, 1}).pooled = true
		return nil
	case "Flatten":
		if ax := at.i("axis", 1); ax != 1 && !(ax == -int64(len(x.shape)) && len(x.shape) == 0) {
			return fmt.Errorf("Flatten axis %d is not supported (only 1: keep the batch)", ax)
		}
		return im.flatten(x, out)
	case "Reshape":
		if len(in) < 2 || in[1] == nil {
			return fmt.Errorf("Reshape to a shape computed from the data is not supported")
		}
		return im.reshape(x, in[1].ints(), out)
	case "Gemm", "MatMul":
		return im.linear(n, at, x, in, out)
	case "Add":
		if ndyn == 2 && len(dyn) == 2 && dyn[1] != nil {
			y := dyn[1]
			if !slices.Equal(x.shape, y.shape) {
				return fmt.Errorf("Add of shapes [N %v] and [N %v] is not supported (no broadcasting)", x.shape, y.shape)
			}
			return im.add(x, y, out)
		}
		return im.addConst(n, x, in, out)
	case "Slice":
		return im.slice(in, x, out)
	case "Pad":
		return im.pad(n, at, in, x, out)
	case "Gather":
		return im.gatherChannels(n, at, in, x, out)
	}
	return fmt.Errorf("operator %s is not supported on the data (supported: Conv, BatchNormalization, Relu, Clip, Sigmoid, "+
		"MaxPool, AveragePool, GlobalAveragePool, Flatten, Reshape, Gemm, MatMul, Add, Mul, Concat, Slice, Pad, Identity, Dropout)", op)
}

func ints64(s []int) []int64 {
	v := make([]int64, len(s))
	for j, d := range s {
		v[j] = int64(d)
	}
	return v
}

// subsampled turns a pending subsampling that is used other than by a channel Pad into
// a ShortcutA that pads no channel.
func (im *importer) subsampled(x *dval) *dval {
	src := x.subFrom
	if x.sub[0] != x.sub[1] {
		return x // reported by the caller through the shapes; not a shortcut
	}
	c := src.shape[0]
	y := im.add1(zoo.GraphNode{Op: zoo.GraphShortcutA, In: c, Out: c, Stride: x.sub[0]}, src, "", x.shape)
	return y
}

// newName returns a unique layer name derived from an ONNX node (PyTorch's
// "/layer1/layer1.0/conv1/Conv" gives "layer1.0.conv1") or from the weight's name.
var nameRE = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_.]*$`)

func (im *importer) newName(n *onnxpb.NodeProto, weight, fallback string) string {
	base := ""
	if w, ok := strings.CutSuffix(weight, ".weight"); ok && nameRE.MatchString(w) {
		base = w
	}
	if base == "" && n != nil {
		segs := strings.Split(strings.Trim(n.GetName(), "/"), "/")
		if len(segs) > 1 {
			var parts []string
			for j, s := range segs[:len(segs)-1] {
				if j+1 < len(segs)-1 && strings.HasPrefix(segs[j+1], s+".") {
					continue
				}
				parts = append(parts, s)
			}
			if b := strings.Join(parts, "."); nameRE.MatchString(b) {
				base = b
			}
		}
	}
	if base == "" {
		base = fallback
	}
	name := base
	for j := 2; im.names[name]; j++ {
		name = fmt.Sprintf("%s_%d", base, j)
	}
	im.names[name] = true
	return name
}

// add1 appends a one-input spec node reading x and returns its output value.
func (im *importer) add1(g zoo.GraphNode, x *dval, onnxOut string, shape []int) *dval {
	switch g.Op {
	case zoo.GraphReLU, zoo.GraphFlatten, zoo.GraphGlobalAvgPool, zoo.GraphSigmoid, zoo.GraphView: // functional: no name
	default:
		if g.Name != "" {
			break
		}
		g.Name = im.newName(nil, "", fmt.Sprintf("%s_%d", g.Op, len(im.spec.Nodes)))
	}
	g.Inputs = []string{x.name}
	return im.push(g, onnxOut, shape, nil)
}

func (im *importer) push(g zoo.GraphNode, onnxOut string, shape []int, w layerWeights) *dval {
	im.values++
	g.Output = fmt.Sprintf("v%d", im.values)
	im.spec.Nodes = append(im.spec.Nodes, g)
	im.weights = append(im.weights, w)
	d := &dval{name: g.Output, shape: shape, node: len(im.spec.Nodes) - 1}
	if onnxOut != "" {
		im.dyn[onnxOut] = d
	}
	return d
}

func (im *importer) simple(g zoo.GraphNode, x *dval, out string, shape []int) error {
	im.add1(g, x, out, slices.Clone(shape))
	return nil
}

func (im *importer) add(x, y *dval, out string) error {
	g := zoo.GraphNode{Op: zoo.GraphAdd, Inputs: []string{x.name, y.name}}
	im.push(g, out, slices.Clone(x.shape), nil)
	return nil
}

// spatial reads kernel_shape, strides, pads and dilations of a Conv or pool node: square
// kernels and strides, symmetric padding, dilation 1.
func spatial(at attrMap, kernel []int) (k, stride, pad int, err error) {
	if ap := at.s("auto_pad", "NOTSET"); ap != "NOTSET" && ap != "VALID" {
		return 0, 0, 0, fmt.Errorf("auto_pad %s is not supported", ap)
	}
	ks := at.ints("kernel_shape")
	if ks == nil && kernel != nil {
		ks = ints64(kernel)
	}
	st := at.ints("strides")
	if st == nil {
		st = []int64{1, 1}
	}
	pads := at.ints("pads")
	if pads == nil {
		pads = []int64{0, 0, 0, 0}
	}
	dil := at.ints("dilations")
	if dil == nil {
		dil = []int64{1, 1}
	}
	switch {
	case len(ks) != 2 || ks[0] != ks[1] || ks[0] <= 0:
		return 0, 0, 0, fmt.Errorf("kernel %v: only square 2-d kernels are supported", ks)
	case len(st) != 2 || st[0] != st[1] || st[0] <= 0:
		return 0, 0, 0, fmt.Errorf("strides %v: only equal strides are supported", st)
	case len(pads) != 4 || pads[0] != pads[1] || pads[0] != pads[2] || pads[0] != pads[3] || pads[0] < 0:
		return 0, 0, 0, fmt.Errorf("pads %v: only equal padding on all sides is supported", pads)
	case len(dil) != 2 || dil[0] != 1 || dil[1] != 1:
		return 0, 0, 0, fmt.Errorf("dilations %v: only 1 is supported", dil)
	}
	return int(ks[0]), int(st[0]), int(pads[0]), nil
}

func outSize(h, k, s, p int) int { return (h+2*p-k)/s + 1 }

func (im *importer) conv(n *onnxpb.NodeProto, at attrMap, x *dval, in []*konst, out string) error {
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("the weight must be an initializer or constant")
	}
	if len(x.shape) != 3 {
		return fmt.Errorf("input shape [N %v], want [N C H W]", x.shape)
	}
	w := in[1]
	if len(w.shape) != 4 || !w.isFloat {
		return fmt.Errorf("weight shape %v, want a float [K, C/groups, kh, kw]", w.shape)
	}
	k, s, p, err := spatial(at, w.shape[2:])
	if err != nil {
		return err
	}
	groups := int(at.i("group", 1))
	c := x.shape[0]
	if groups <= 0 || c%groups != 0 || w.shape[0]%groups != 0 || w.shape[1]*groups != c || w.shape[2] != k || w.shape[3] != k {
		return fmt.Errorf("weight %v, %d groups, do not fit an input of %d channels", w.shape, groups, c)
	}
	lw := layerWeights{"weight": w}
	if len(in) > 2 && in[2] != nil {
		if in[2].size() != w.shape[0] {
			return fmt.Errorf("bias of %d values for %d output channels", in[2].size(), w.shape[0])
		}
		lw["bias"] = in[2]
	} else if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		return fmt.Errorf("the bias must be an initializer or constant")
	}
	h, wd := outSize(x.shape[1], k, s, p), outSize(x.shape[2], k, s, p)
	if h <= 0 || wd <= 0 {
		return fmt.Errorf("kernel %d does not fit the input %v", k, x.shape)
	}
	g := zoo.GraphNode{Op: zoo.GraphConv, Name: im.newName(n, n.GetInput()[1], fmt.Sprintf("conv_%d", len(im.spec.Nodes))), Inputs: []string{x.name},
		In: c, Out: w.shape[0], Kernel: k, Stride: s, Padding: p, Groups: groups, Bias: lw["bias"] != nil}
	im.push(g, out, []int{w.shape[0], h, wd}, lw)
	return nil
}

func (im *importer) batchNorm(n *onnxpb.NodeProto, at attrMap, x *dval, in []*konst, out string) error {
	if at.i("training_mode", 0) != 0 {
		return fmt.Errorf("training_mode 1 is not supported: export the model in evaluation mode")
	}
	for j, o := range n.GetOutput()[1:] {
		if o != "" {
			return fmt.Errorf("output %d (%q, the training statistics) is not supported", j+2, o)
		}
	}
	if len(in) < 5 || slices.Contains(in[1:5], nil) {
		return fmt.Errorf("scale, bias, mean and variance must be initializers or constants")
	}
	if len(x.shape) != 3 {
		return fmt.Errorf("input shape [N %v], want [N C H W]", x.shape)
	}
	c := x.shape[0]
	for j, k := range in[1:5] {
		if k.size() != c {
			return fmt.Errorf("input %d has %d values for %d channels", j+2, k.size(), c)
		}
	}
	lw := layerWeights{"weight": in[1], "bias": in[2], "running_mean": in[3], "running_var": in[4]}
	g := zoo.GraphNode{Op: zoo.GraphBatchNorm, Name: im.newName(n, n.GetInput()[1], fmt.Sprintf("bn_%d", len(im.spec.Nodes))), Inputs: []string{x.name},
		Out: c, Eps: at.f("epsilon", 1e-5)}
	im.push(g, out, slices.Clone(x.shape), lw)
	return nil
}

func (im *importer) pool(n *onnxpb.NodeProto, at attrMap, x *dval, out string) error {
	if len(n.GetOutput()) > 1 && n.GetOutput()[1] != "" {
		return fmt.Errorf("the indices output is not supported")
	}
	if len(x.shape) != 3 {
		return fmt.Errorf("input shape [N %v], want [N C H W]", x.shape)
	}
	if at.i("ceil_mode", 0) != 0 {
		return fmt.Errorf("ceil_mode 1 is not supported")
	}
	if at.ints("kernel_shape") == nil {
		return fmt.Errorf("no kernel_shape")
	}
	k, s, p, err := spatial(at, nil)
	if err != nil {
		return err
	}
	op := zoo.GraphMaxPool
	if n.GetOpType() == "AveragePool" {
		op = zoo.GraphAvgPool
		if p > 0 && at.i("count_include_pad", 0) == 0 {
			return fmt.Errorf("padding with count_include_pad 0 is not supported")
		}
	}
	h, w := outSize(x.shape[1], k, s, p), outSize(x.shape[2], k, s, p)
	if h <= 0 || w <= 0 {
		return fmt.Errorf("kernel %d does not fit the input %v", k, x.shape)
	}
	g := zoo.GraphNode{Op: op, Name: im.newName(n, "", fmt.Sprintf("%s_%d", op, len(im.spec.Nodes))), Kernel: k, Stride: s, Padding: p}
	return im.simple(g, x, out, []int{x.shape[0], h, w})
}

func (im *importer) flatten(x *dval, out string) error {
	if len(x.shape) == 1 {
		im.dyn[out] = x
		return nil
	}
	if x.pooled {
		im.dyn[out] = &dval{name: x.name, node: x.node, shape: []int{x.shape[0]}}
		return nil
	}
	return im.simple(zoo.GraphNode{Op: zoo.GraphFlatten}, x, out, []int{prod(x.shape)})
}

// reshape supports the reshapes of a classifier's head: to [N, C·H·W] (a flatten), or to
// the same shape.
func (im *importer) reshape(x *dval, shape []int64, out string) error {
	if len(shape) == 0 {
		return fmt.Errorf("Reshape to a scalar is not supported")
	}
	first := shape[0]
	if first != batchDim && first != 0 && first != -1 {
		return fmt.Errorf("Reshape to %v: the batch dimension must be kept", shape)
	}
	rest := make([]int, 0, len(shape)-1)
	infer := -1
	for j, d := range shape[1:] {
		switch {
		case d == 0 && j < len(x.shape):
			rest = append(rest, x.shape[j])
		case d == -1 && first != -1 && infer < 0:
			infer = j
			rest = append(rest, 1)
		case d > 0:
			rest = append(rest, int(d))
		default:
			return fmt.Errorf("Reshape to %v is not supported", shape)
		}
	}
	if infer >= 0 {
		if prod(rest) == 0 || prod(x.shape)%prod(rest) != 0 {
			return fmt.Errorf("Reshape of [N %v] to %v", x.shape, shape)
		}
		rest[infer] = prod(x.shape) / prod(rest)
	}
	if first == -1 && prod(rest) != prod(x.shape) {
		return fmt.Errorf("Reshape of [N %v] to %v changes the batch", x.shape, shape)
	}
	switch {
	case prod(rest) != prod(x.shape):
		return fmt.Errorf("Reshape of [N %v] to %v changes the size", x.shape, shape)
	case slices.Equal(rest, x.shape):
		im.dyn[out] = x
		return nil
	case len(rest) == 1:
		return im.flatten(x, out)
	case rest[0] == x.shape[0] && prod(rest[1:]) == 1 && len(x.shape) == 1:
		// [N, C] → [N, C, 1, 1]: a squeeze-and-excitation gate back to a map.
		im.dyn[out] = im.view(x, len(rest))
		return nil
	case x.pooled && len(rest) == 1+len(x.shape) && rest[0] == x.shape[0] && prod(rest[1:]) == 1:
		im.dyn[out] = im.view(im.unpooledFlat(x), len(rest))
		return nil
	}
	return fmt.Errorf("Reshape of [N %v] to [N %v] is not supported (only flattening to [N, features], or [N, C] to [N, C, 1, 1])", x.shape, rest)
}

func (im *importer) linear(n *onnxpb.NodeProto, at attrMap, x *dval, in []*konst, out string) error {
	if len(x.shape) != 1 {
		return fmt.Errorf("input shape [N %v], want [N features] (flatten first)", x.shape)
	}
	if len(in) < 2 || in[1] == nil || !in[1].isFloat || len(in[1].shape) != 2 {
		return fmt.Errorf("the weight must be a 2-d float initializer or constant")
	}
	b := in[1]
	var w *konst
	if n.GetOpType() == "Gemm" {
		if at.i("transA", 0) != 0 || at.f("alpha", 1) != 1 || at.f("beta", 1) != 1 {
			return fmt.Errorf("Gemm with transA, alpha or beta other than 0, 1, 1 is not supported")
		}
		if at.i("transB", 0) != 0 {
			w = b
		}
	}
	if w == nil {
		var err error
		if w, err = transpose(b, []int64{1, 0}); err != nil {
			return err
		}
	}
	if w.shape[1] != x.shape[0] {
		return fmt.Errorf("weight %v does not fit %d input features", b.shape, x.shape[0])
	}
	lw := layerWeights{"weight": w}
	if n.GetOpType() == "Gemm" && len(in) > 2 && in[2] != nil {
		if in[2].size() != w.shape[0] && in[2].size() != 1 {
			return fmt.Errorf("bias of shape %v for %d outputs", in[2].shape, w.shape[0])
		}
		bias := in[2].floats()
		if len(bias) == 1 {
			bias = repeat(bias[0], w.shape[0])
		}
		lw["bias"] = floatKonst([]int{w.shape[0]}, bias)
	} else if len(n.GetInput()) > 2 && n.GetInput()[2] != "" {
		return fmt.Errorf("the bias must be an initializer or constant")
	}
	g := zoo.GraphNode{Op: zoo.GraphLinear, Name: im.newName(n, n.GetInput()[1], fmt.Sprintf("linear_%d", len(im.spec.Nodes))), Inputs: []string{x.name},
		In: w.shape[1], Out: w.shape[0], Bias: lw["bias"] != nil}
	im.push(g, out, []int{w.shape[0]}, lw)
	return nil
}

// addConst adds a constant bias to the output of a Linear without one (MatMul + Add).
func (im *importer) addConst(n *onnxpb.NodeProto, x *dval, in []*konst, out string) error {
	var c *konst
	for _, k := range in {
		if k != nil {
			c = k
		}
	}
	if c == nil || x.node < 0 || len(x.shape) != 1 {
		return fmt.Errorf("Add of a constant is only supported as a Linear's bias")
	}
	g := &im.spec.Nodes[x.node]
	if g.Op != zoo.GraphLinear || g.Bias || (c.size() != g.Out && c.size() != 1) {
		return fmt.Errorf("Add of a constant of shape %v is only supported as a Linear's bias", c.shape)
	}
	bias := c.floats()
	if len(bias) == 1 {
		bias = repeat(bias[0], g.Out)
	}
	g.Bias = true
	im.weights[x.node]["bias"] = floatKonst([]int{g.Out}, bias)
	im.dyn[out] = x
	return nil
}

// slice supports the subsampling x[:, :, ::s, ::s] of an option-A shortcut (pending until
// the channel Pad that follows) and slices that keep everything.
func (im *importer) slice(in []*konst, x *dval, out string) error {
	if len(in) < 3 || slices.Contains(in[1:3], nil) || (len(in) > 3 && in[3] == nil && len(in) > 4 && in[4] != nil) {
		return fmt.Errorf("Slice with starts, ends, axes or steps computed from the data is not supported")
	}
	base, sub := x, [2]int{1, 1}
	if x.sub != [2]int{} {
		base, sub = x.subFrom, x.sub
	}
	shape := append([]int{math.MaxInt32}, base.shape...)
	sl, err := sliceArgs(in, shape)
	if err != nil {
		return err
	}
	if len(shape) != 4 {
		return fmt.Errorf("Slice of a tensor of shape [N %v] is not supported", base.shape)
	}
	for a := 0; a < 2; a++ {
		if sl.start[a] != 0 || sl.step[a] != 1 || sl.count[a] != shape[a] {
			return fmt.Errorf("Slice of the batch or channel dimension is not supported (only x[:, :, ::s, ::s])")
		}
	}
	for a := 2; a < 4; a++ {
		st := sl.step[a]
		if sl.start[a] != 0 || st <= 0 || sl.count[a] != (shape[a]+st-1)/st {
			return fmt.Errorf("Slice of dimension %d from %d by %d is not supported (only x[:, :, ::s, ::s])", a, sl.start[a], st)
		}
		sub[a-2] *= st
	}
	if sub == [2]int{1, 1} {
		im.dyn[out] = base
		return nil
	}
	im.dyn[out] = &dval{name: base.name, node: base.node, sub: sub, subFrom: base,
		shape: []int{base.shape[0], (base.shape[1] + sub[0] - 1) / sub[0], (base.shape[2] + sub[1] - 1) / sub[1]}}
	return nil
}

// pad supports zero-padding the channel dimension after a subsampling (or none): the
// option-A shortcut, a ShortcutA; and padding by zero on every side (nothing).
func (im *importer) pad(n *onnxpb.NodeProto, at attrMap, in []*konst, x *dval, out string) error {
	if mode := at.s("mode", "constant"); mode != "constant" {
		return fmt.Errorf("Pad mode %q is not supported", mode)
	}
	if len(in) < 2 || in[1] == nil {
		return fmt.Errorf("Pad with pads computed from the data is not supported")
	}
	if len(in) > 2 && in[2] != nil && (in[2].size() != 1 || in[2].floats()[0] != 0) {
		return fmt.Errorf("Pad with a value other than 0 is not supported")
	}
	if len(in) > 3 && in[3] != nil {
		return fmt.Errorf("Pad with axes is not supported")
	}
	p := in[1].ints()
	if len(p) != 8 {
		return fmt.Errorf("pads %v: want 8 values for [N, C, H, W]", p)
	}
	for j, v := range p {
		if v < 0 || (j%4 != 1 && v != 0) {
			return fmt.Errorf("pads %v: only zero channels added before and after are supported", p)
		}
	}
	base, stride := x, 1
	if x.sub != [2]int{} {
		if x.sub[0] != x.sub[1] {
			return fmt.Errorf("a subsampling by %v: only equal strides are supported", x.sub)
		}
		base, stride = x.subFrom, x.sub[0]
	}
	if p[1] == 0 && p[5] == 0 {
		if stride == 1 {
			im.dyn[out] = base
			return nil
		}
		im.dyn[out] = im.subsampled(x)
		return nil
	}
	c := base.shape[0]
	g := zoo.GraphNode{Op: zoo.GraphShortcutA, Name: im.newName(n, "", fmt.Sprintf("shortcut_%d", len(im.spec.Nodes))), In: c, Out: c + int(p[1]+p[5]), PadBefore: int(p[1]), Stride: stride}
	im.add1(g, base, out, []int{g.Out, x.shape[1], x.shape[2]})
	return nil
}

// gatherChannels supports the channel Gather that follows the Pad of an option-A
// shortcut whose channel map pruning made irregular (as Export writes it): the two become
// one ShortcutA with a Map.
func (im *importer) gatherChannels(n *onnxpb.NodeProto, at attrMap, in []*konst, x *dval, out string) error {
	if ax := at.i("axis", 0); ax != 1 {
		return fmt.Errorf("Gather on axis %d of the data is not supported (only channels, axis 1)", ax)
	}
	if len(in) < 2 || in[1] == nil || len(in[1].shape) != 1 {
		return fmt.Errorf("Gather with indices that are not a constant list is not supported")
	}
	if x.node < 0 || im.spec.Nodes[x.node].Op != zoo.GraphShortcutA || im.uses[n.GetInput()[0]] != 1 || x.name != im.spec.Nodes[x.node].Output {
		return fmt.Errorf("Gather of channels is only supported after the channel Pad of an option-A shortcut")
	}
	sc := &im.spec.Nodes[x.node]
	if sc.Map != nil {
		return fmt.Errorf("Gather of channels after a mapped shortcut is not supported")
	}
	dst := repeat(-1, sc.In)
	for o, v := range in[1].ints() {
		if v < 0 {
			v += int64(sc.Out)
		}
		if v < 0 || v >= int64(sc.Out) {
			return fmt.Errorf("Gather index %d out of range [0, %d)", v, sc.Out)
		}
		j := int(v) - sc.PadBefore
		if j < 0 || j >= sc.In {
			continue // a zero channel
		}
		if dst[j] >= 0 {
			return fmt.Errorf("Gather copies channel %d twice", j)
		}
		dst[j] = o
	}
	sc.Out, sc.PadBefore, sc.Map = in[1].size(), 0, dst
	im.dyn[out] = &dval{name: x.name, node: x.node, shape: append([]int{sc.Out}, x.shape[1:]...)}
	return nil
}

// load copies the collected weights into the layers of g.
func (im *importer) load(g *zoo.Graph) error {
	layers := map[string]nn.Module{}
	for _, ch := range g.Children() {
		layers[ch.Name] = ch.Module
	}
	for i, w := range im.weights {
		if w == nil {
			continue
		}
		name := im.spec.Nodes[i].Name
		st, ok := layers[name].(nn.Stateful)
		if !ok {
			return fmt.Errorf("layer %q has no state", name)
		}
		for _, e := range st.State() {
			k := w[e.Name]
			switch {
			case e.Kind == nn.Counter:
				continue
			case k == nil:
				return fmt.Errorf("layer %q: no tensor for %q", name, e.Name)
			case k.size() != len(e.Var.Value.Data):
				return fmt.Errorf("layer %q: %s has %d values, want %d", name, e.Name, k.size(), len(e.Var.Value.Data))
			}
			copy(e.Var.Value.Data, k.floats())
		}
	}
	return nil
}

// view appends a view of x [N, C] as [N, C, 1, …] (rank dimensions after the batch).
func (im *importer) view(x *dval, rank int) *dval {
	shape := []int{-1}
	for len(shape) < rank {
		shape = append(shape, 1)
	}
	out := append([]int{x.shape[0]}, shape[1:]...)
	return im.add1(zoo.GraphNode{Op: zoo.GraphView, Shape: shape}, x, "", out)
}

// unpooledFlat returns the [N, C] value of a pooled one.
func (im *importer) unpooledFlat(x *dval) *dval {
	return &dval{name: x.name, node: x.node, shape: []int{x.shape[0]}}
}

// unpooled returns the [N, C, 1, 1] view of a GlobalAveragePool's output, made once, for
// the operations other than a flatten that read it (the 1×1 convolutions of a
// squeeze-and-excitation block).
func (im *importer) unpooled(x *dval) *dval {
	if v := im.views[x.name]; v != nil {
		return v
	}
	v := im.view(im.unpooledFlat(x), 3)
	im.views[x.name] = v
	return v
}

// concat joins values along the channels (axis 1): tensors [N, C_i, H, W] of one H and W,
// or features [N, F_i].
func (im *importer) concat(at attrMap, dyn []*dval, out string) error {
	if slices.Contains(dyn, nil) {
		return fmt.Errorf("Concat of the data with a constant is not supported")
	}
	x := dyn[0]
	ax := at.i("axis", 1)
	if ax < 0 {
		ax += int64(len(x.shape) + 1)
	}
	if ax != 1 {
		return fmt.Errorf("Concat on axis %d of the data is not supported (only channels, axis 1)", at.i("axis", 1))
	}
	shape := slices.Clone(x.shape)
	names := []string{}
	for _, d := range dyn {
		if len(d.shape) != len(x.shape) || !slices.Equal(d.shape[1:], x.shape[1:]) {
			return fmt.Errorf("Concat of shapes [N %v] and [N %v] on the channels", x.shape, d.shape)
		}
		names = append(names, d.name)
	}
	if len(dyn) == 1 {
		im.dyn[out] = x
		return nil
	}
	shape[0] = 0
	for _, d := range dyn {
		shape[0] += d.shape[0]
	}
	im.push(zoo.GraphNode{Op: zoo.GraphConcat, Inputs: names}, out, shape, nil)
	return nil
}

// mulGate multiplies a value by a gate of one value per channel ([N, C, 1, 1] or [N, C]),
// in either order: the scaling of a squeeze-and-excitation block.
func (im *importer) mulGate(a, b *dval, out string) error {
	gate := func(g, x *dval) bool {
		return len(g.shape) >= 1 && len(x.shape) >= 1 && g.shape[0] == x.shape[0] && prod(g.shape) == g.shape[0] &&
			(len(g.shape) == len(x.shape) || len(g.shape) == 1 && len(x.shape) == 1)
	}
	x, g := a, b
	if !gate(g, x) {
		x, g = b, a
	}
	if !gate(g, x) {
		return fmt.Errorf("Mul of shapes [N %v] and [N %v] is not supported (only by a gate [N, C, 1, 1] of the same channels)", a.shape, b.shape)
	}
	im.push(zoo.GraphNode{Op: zoo.GraphMulChannels, Inputs: []string{x.name, g.name}}, out, slices.Clone(x.shape), nil)
	return nil
}

// mulConst multiplies a value by a constant of one value per channel (shape [1, C, 1, 1],
// [C, 1, 1], or a scalar), as broadcasting reads it: a ChannelScale.
func (im *importer) mulConst(n *onnxpb.NodeProto, x *dval, out string) error {
	var k *konst
	weight := "" // the constant's name, when it names a parameter ("layer1.scale")
	for _, name := range n.GetInput() {
		if c := im.consts[name]; c != nil && im.dyn[name] == nil {
			k = c
			if nameRE.MatchString(name) && im.uses[name] == 1 {
				weight = name + ".weight"
			}
		}
	}
	if k == nil || !k.isFloat {
		return fmt.Errorf("Mul by a value that is neither the data nor a float constant is not supported")
	}
	// Broadcasting aligns the constant's dimensions with the last ones of [N, x.shape...].
	rank := 1 + len(x.shape)
	if len(k.shape) > rank {
		return fmt.Errorf("Mul of [N %v] by a constant of shape %v", x.shape, k.shape)
	}
	dims := append(repeat(1, rank-len(k.shape)), k.shape...)
	c := x.shape[0]
	for j, d := range dims {
		if d != 1 && (j != 1 || d != c) {
			return fmt.Errorf("Mul of [N %v] by a constant of shape %v is not supported (only one value per channel, [1, C, 1, 1])", x.shape, k.shape)
		}
	}
	w := k.floats()
	if len(w) == 1 {
		w = repeat(w[0], c)
	}
	g := zoo.GraphNode{Op: zoo.GraphChannelScale, Name: im.newName(n, weight, fmt.Sprintf("scale_%d", len(im.spec.Nodes))), Inputs: []string{x.name}, Out: c}
	im.push(g, out, slices.Clone(x.shape), layerWeights{"weight": floatKonst([]int{c}, w)})
	return nil
}
