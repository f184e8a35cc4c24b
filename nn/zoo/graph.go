package zoo

import (
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"sync"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// MetaGraph is the metadata key of a graph model's architecture (a Graph,
// e.g. one imported from ONNX): the JSON of its GraphSpec. A file with
// this key names its architecture "graph_" and a hash of the spec; ParseMeta
// registers that architecture, so Lookup, Load and every command find it.
const MetaGraph = "graph"

// Graph operations: GraphNode.Op.
const (
	GraphConv          = "conv"           // nn.Conv2d(In, Out, Kernel, Stride, Padding, Groups, Bias)
	GraphBatchNorm     = "batchnorm"      // nn.BatchNorm2d(Out channels, Eps)
	GraphLinear        = "linear"         // nn.Linear(In, Out, Bias)
	GraphReLU          = "relu"           // nn.Relu (functional)
	GraphReLU6         = "relu6"          // nn.ReLU6
	GraphDropout       = "dropout"        // nn.Dropout(P)
	GraphMaxPool       = "maxpool"        // nn.MaxPool2d(Kernel, Stride, Padding)
	GraphAvgPool       = "avgpool"        // nn.AvgPool2d(Kernel, Stride, Padding)
	GraphGlobalAvgPool = "global_avgpool" // nn.GlobalAvgPool (functional): [N, C, H, W] → [N, C]
	GraphFlatten       = "flatten"        // nn.Reshape (functional): [N, …] → [N, ∏…]
	GraphAdd           = "add"            // nn.Add (functional) of two inputs of one shape
	GraphShortcutA     = "shortcut_a"     // ShortcutA(Stride, In, PadBefore, Out)
	GraphConcat        = "concat"         // nn.Concat (functional) of two or more inputs along the channels
	GraphSigmoid       = "sigmoid"        // nn.Sigmoid (functional)
	GraphMulChannels   = "mul_channels"   // nn.MulChannels (functional): input 0 [N, C, H, W] times a gate, input 1 [N, C] or [N, C, 1, 1]
	GraphChannelScale  = "channel_scale"  // nn.ChannelScale(Out channels)
	GraphView          = "view"           // nn.Reshape (functional) to [N, Shape...] of the same size (one −1: the rest; [-1, 1, 1] for [N, C] → [N, C, 1, 1], whatever C pruning leaves)
)

// GraphSpec is the architecture of a Graph: its input and its operations in
// an order in which every operation's inputs come before it.
type GraphSpec struct {
	Input   []int       `json:"input"`   // [C, H, W] of one input
	Classes int         `json:"classes"` // outputs of the last operation
	Nodes   []GraphNode `json:"nodes"`
	Output  string      `json:"output"` // the value that is the model's output
}

// GraphNode is one operation of a GraphSpec. Values are named; "input" is
// the model's input. A layer's Name is its state-dict prefix (unique).
type GraphNode struct {
	Op     string   `json:"op"`
	Name   string   `json:"name"`
	Inputs []string `json:"in"`
	Output string   `json:"out"`

	In        int     `json:"in_channels,omitempty"`
	Out       int     `json:"out_channels,omitempty"`
	Kernel    int     `json:"kernel,omitempty"`
	Stride    int     `json:"stride,omitempty"`
	Padding   int     `json:"padding,omitempty"`
	Groups    int     `json:"groups,omitempty"`
	Bias      bool    `json:"bias,omitempty"`
	Eps       float32 `json:"eps,omitempty"`
	P         float32 `json:"p,omitempty"`
	PadBefore int     `json:"pad_before,omitempty"`
	Map       []int   `json:"map,omitempty"`   // a ShortcutA's channel map (see ShortcutA.Map)
	Shape     []int   `json:"shape,omitempty"` // a view's shape of one sample
}

// GraphInput is the name of a Graph's input value.
const GraphInput = "input"

// Graph is a model given as a list of operations over named values (a
// GraphSpec) whose layers are package nn's and ShortcutA: an imported
// ONNX model. It trains, prunes and compiles like a zoo architecture; its
// layers are its children, named by GraphNode.Name.
//
// Shape: x: [N, Spec.Input...] → [N, Spec.Classes].
type Graph struct {
	Spec   GraphSpec
	layers []nn.Module // per node; nil for the functional operations
	args   [][]int     // per node, the value ids of its inputs (0: the model input)
	out    int         // value id of the output
}

// NewGraph builds the graph that spec describes, with zero weights (load a
// state, or call nn.ResetParameters). It checks that every value is
// defined before it is read, once, and that the layers' settings are valid.
func NewGraph(spec GraphSpec) (*Graph, error) {
	g := &Graph{Spec: spec}
	ids := map[string]int{GraphInput: 0}
	names := map[string]bool{}
	for i, n := range spec.Nodes {
		where := fmt.Sprintf("graph node %d (%s %q)", i, n.Op, n.Name)
		var args []int
		for _, in := range n.Inputs {
			id, ok := ids[in]
			if !ok {
				return nil, fmt.Errorf("%s: input %q is not defined before it", where, in)
			}
			args = append(args, id)
		}
		want := 1
		switch n.Op {
		case GraphAdd, GraphMulChannels:
			want = 2
		case GraphConcat:
			want = max(2, len(args))
		}
		if len(args) != want {
			return nil, fmt.Errorf("%s: %d inputs, want %d", where, len(args), want)
		}
		if _, dup := ids[n.Output]; dup || n.Output == "" {
			return nil, fmt.Errorf("%s: output %q is empty or defined twice", where, n.Output)
		}
		l, err := graphLayer(n)
		if err != nil {
			return nil, fmt.Errorf("%s: %v", where, err)
		}
		if l != nil {
			if n.Name == "" || names[n.Name] || strings.ContainsAny(n.Name, "/ ") {
				return nil, fmt.Errorf("%s: layer name empty or used twice", where)
			}
			names[n.Name] = true
		}
		ids[n.Output] = len(ids)
		g.layers = append(g.layers, l)
		g.args = append(g.args, args)
	}
	out, ok := ids[spec.Output]
	if !ok || out == 0 {
		return nil, fmt.Errorf("graph: output %q is not computed by any node", spec.Output)
	}
	if len(spec.Input) != 3 || slices.Min(spec.Input) <= 0 || spec.Classes <= 0 {
		return nil, fmt.Errorf("graph: input %v, %d classes: want [C H W] and classes > 0", spec.Input, spec.Classes)
	}
	g.out = out
	return g, nil
}

// graphLayer returns the layer of node n (nil for the functional operations: Relu,
// Reshape, GlobalAvgPool, Add, Concat, Sigmoid, MulChannels and views, whose layers nn.ReLU, nn.Flatten and nn.AdaptiveAvgPool2d
// have no address of their own to be named by).
func graphLayer(n GraphNode) (l nn.Module, err error) {
	defer func() { // the constructors panic on invalid settings
		if r := recover(); r != nil {
			err = fmt.Errorf("%v", r)
		}
	}()
	pos := func(vs ...int) error {
		if slices.Min(vs) <= 0 {
			return fmt.Errorf("settings %+v: want positive sizes", n)
		}
		return nil
	}
	switch n.Op {
	case GraphConv:
		if err := pos(n.In, n.Out, n.Kernel, n.Stride, n.Groups); err != nil {
			return nil, err
		}
		return nn.NewConv2d(n.In, n.Out, n.Kernel, nn.ConvOpts{Stride: n.Stride, Padding: n.Padding, Groups: n.Groups, Bias: n.Bias}), nil
	case GraphBatchNorm:
		if err := pos(n.Out); err != nil {
			return nil, err
		}
		bn := nn.NewBatchNorm2d(n.Out)
		if n.Eps > 0 {
			bn.Eps = n.Eps
		}
		return bn, nil
	case GraphLinear:
		if err := pos(n.In, n.Out); err != nil {
			return nil, err
		}
		return nn.NewLinear(n.In, n.Out, n.Bias), nil
	case GraphReLU, GraphGlobalAvgPool, GraphFlatten, GraphAdd, GraphConcat, GraphSigmoid, GraphMulChannels:
		return nil, nil
	case GraphView:
		if len(n.Shape) == 0 || slices.Min(n.Shape) < -1 || slices.Contains(n.Shape, 0) || strings.Count(fmt.Sprint(n.Shape), "-1") > 1 {
			return nil, fmt.Errorf("view to shape %v: want positive sizes and at most one −1", n.Shape)
		}
		return nil, nil
	case GraphChannelScale:
		if err := pos(n.Out); err != nil {
			return nil, err
		}
		return nn.NewChannelScale(n.Out), nil
	case GraphReLU6:
		return nn.NewReLU6(), nil
	case GraphDropout:
		return nn.NewDropout(n.P, 0), nil
	case GraphMaxPool, GraphAvgPool:
		if err := pos(n.Kernel, n.Stride); err != nil {
			return nil, err
		}
		if n.Op == GraphMaxPool {
			return nn.NewMaxPool2d(n.Kernel, n.Stride, n.Padding), nil
		}
		return nn.NewAvgPool2d(n.Kernel, n.Stride, n.Padding), nil
	case GraphShortcutA:
		if err := pos(n.In, n.Out, n.Stride); err != nil {
			return nil, err
		}
		if n.PadBefore < 0 || n.PadBefore+n.In > n.Out {
			return nil, fmt.Errorf("%d channels padded by %d before do not fit %d", n.In, n.PadBefore, n.Out)
		}
		s := &ShortcutA{Stride: n.Stride, In: n.In, PadBefore: n.PadBefore, Out: n.Out}
		if n.Map != nil {
			seen := map[int]bool{}
			for j, o := range n.Map {
				if o >= n.Out || o < -1 || (o >= 0 && seen[o]) {
					return nil, fmt.Errorf("map sends input channel %d to %d: want −1 or a distinct channel below %d", j, o, n.Out)
				}
				seen[o] = true
			}
			if len(n.Map) != n.In {
				return nil, fmt.Errorf("map of %d entries for %d input channels", len(n.Map), n.In)
			}
			s.SetChannelMap(n.Out, n.Map)
		}
		return s, nil
	}
	return nil, fmt.Errorf("unknown operation %q", n.Op)
}

// Forward runs the operations in order. x: [N, Spec.Input...] → [N, Spec.Classes].
func (g *Graph) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	vals := make([]*autograd.Var, len(g.layers)+1)
	vals[0] = x
	for i, l := range g.layers {
		a := g.args[i]
		if l != nil {
			vals[i+1] = l.Forward(c, vals[a[0]])
			continue
		}
		x := vals[a[0]]
		switch g.Spec.Nodes[i].Op {
		case GraphAdd:
			vals[i+1] = nn.Add(c, x, vals[a[1]])
		case GraphReLU:
			vals[i+1] = nn.Relu(c, x)
		case GraphGlobalAvgPool:
			vals[i+1] = nn.GlobalAvgPool(c, x)
		case GraphSigmoid:
			vals[i+1] = nn.Sigmoid(c, x)
		case GraphMulChannels:
			vals[i+1] = nn.MulChannels(c, x, vals[a[1]])
		case GraphConcat:
			xs := make([]*autograd.Var, len(a))
			for j, id := range a {
				xs[j] = vals[id]
			}
			vals[i+1] = nn.Concat(c, xs...)
		case GraphView:
			vals[i+1] = nn.Reshape(c, x, append([]int{x.Value.Shape[0]}, g.Spec.Nodes[i].Shape...)...)
		default: // GraphFlatten
			vals[i+1] = nn.Reshape(c, x, x.Value.Shape[0], -1)
		}
	}
	return vals[g.out]
}

// Children lists the layers by name, in the order of the operations.
func (g *Graph) Children() []nn.Child {
	var ch []nn.Child
	for i, l := range g.layers {
		if l != nil {
			ch = append(ch, nn.Child{Name: g.Spec.Nodes[i].Name, Module: l})
		}
	}
	return ch
}

func (g *Graph) String() string { return fmt.Sprintf("Graph(%d operations)", len(g.layers)) }

// Arch returns the architecture that builds g's spec afresh, registered
// (see RegisterGraph).
func (g *Graph) Arch() (Arch, error) { return RegisterGraph(g.Spec) }

var graphMu sync.Mutex

// RegisterGraph makes Lookup know the architecture of spec under the name
// "graph_" + the first 12 hex digits of the SHA-256 of its JSON, and
// returns it. Registering a spec again returns the same architecture.
// Meta.Map of a Meta whose Arch is that name writes the spec under
// MetaGraph, so that a saved model carries it.
func RegisterGraph(spec GraphSpec) (Arch, error) {
	if _, err := NewGraph(spec); err != nil {
		return Arch{}, err
	}
	b, err := json.Marshal(spec)
	if err != nil {
		return Arch{}, err
	}
	sum := sha256.Sum256(b)
	name := "graph_" + hex.EncodeToString(sum[:6])
	graphMu.Lock()
	defer graphMu.Unlock()
	if a, ok := archs[name]; ok {
		return a, nil
	}
	a := Arch{Name: name, InputShape: slices.Clone(spec.Input), Classes: spec.Classes, graph: string(b),
		build: func() (nn.Module, error) { return NewGraph(spec) }}
	archs[name] = a
	return a, nil
}

// registerGraphJSON registers the spec in raw (the MetaGraph metadata).
func registerGraphJSON(raw string) (Arch, error) {
	var spec GraphSpec
	d := json.NewDecoder(strings.NewReader(raw))
	d.DisallowUnknownFields()
	if err := d.Decode(&spec); err != nil {
		return Arch{}, fmt.Errorf("metadata %q: %v", MetaGraph, err)
	}
	a, err := RegisterGraph(spec)
	if err != nil {
		return Arch{}, fmt.Errorf("metadata %q: %v", MetaGraph, err)
	}
	return a, nil
}
