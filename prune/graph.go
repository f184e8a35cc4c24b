package prune

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Graph is the channel-dependency graph of a model: its groups of coupled
// channels, traced from one forward pass.
type Graph struct {
	Model   nn.Module
	InShape []int // [C, H, W] of the traced input, without the batch
	Groups  []*Group

	ops []string // the operations of the traced pass, in order
}

// Trace runs one forward pass of m on a zero input of shape [1, inShape...]
// with a tape and builds the groups of coupled channels from the recorded
// operations (see the package doc for the rules): each operation a layer
// records follows the Axes of the layer's adapter (nn.AdapterOf), each
// operation recorded with no layer nn.OpCoupling; a layer with no adapter
// and an operation with no rule make the groups they touch unprunable.
// BatchNorm2d and Dropout layers run in evaluation mode for the pass and
// get their modes back afterwards, so tracing changes nothing in m.
func Trace(m nn.Module, inShape ...int) (*Graph, error) {
	tr, err := nn.TraceForward(m, inShape...)
	if err != nil {
		return nil, fmt.Errorf("prune: %w", err)
	}
	c, x, y := tr.Ctx, tr.Input, tr.Output

	t := &tracer{vars: map[*autograd.Var]varInfo{}, deps: map[traceKey]int{}, names: tr.Names}
	in := t.newSpace(x, "the network input")
	t.vars[x] = varInfo{space: in, span: 1}
	for i, n := range c.Tape.Nodes {
		t.node(i, n)
	}
	if info, ok := t.vars[y]; ok {
		for _, s := range t.spacesOf(info) {
			t.addReason(s, "the model output")
		}
	}
	g := &Graph{Model: m, InShape: slices.Clone(inShape), Groups: t.groups()}
	for _, n := range c.Tape.Nodes {
		g.ops = append(g.ops, n.Op)
	}
	return g, nil
}

// Prunable returns the groups whose channels can be removed.
func (g *Graph) Prunable() []*Group {
	var out []*Group
	for _, gr := range g.Groups {
		if gr.Prunable {
			out = append(out, gr)
		}
	}
	return out
}

// String lists every group, one header line ("group 3: 16 channels,
// residual stream") and its dependencies on the next:
//
//	group 1: 16 channels
//	  layer1.0.conv1 out ⇒ layer1.0.bn1 ⇒ layer1.0.conv2 in
func (g *Graph) String() string {
	var b strings.Builder
	prunable, residual := 0, 0
	for _, gr := range g.Groups {
		if gr.Prunable {
			prunable++
			if gr.Residual {
				residual++
			}
		}
	}
	fmt.Fprintf(&b, "%d groups of coupled channels for input %v: %d prunable, %d of them residual streams\n", len(g.Groups), g.InShape, prunable, residual)
	for i, gr := range g.Groups {
		fmt.Fprintf(&b, "group %d: %s\n  %s\n", i, gr.Summary(), gr)
	}
	return b.String()
}

// Explain traces m for inputs of shape inShape ([C, H, W]) and lists its
// groups (Graph.String), for `bonsai prune -explain`.
func Explain(m nn.Module, inShape ...int) (string, error) {
	g, err := Trace(m, inShape...)
	if err != nil {
		return "", err
	}
	return g.String(), nil
}

// varInfo places a tensor of the traced pass: its channels are those of a
// space, each channel spanning span consecutive features (1 for [N, C, …]
// tensors, H·W after a flatten), or, after a concatenation, the pieces of
// lay one after the other (space −1).
type varInfo struct {
	space, span int
	v           *view
}

type depKey struct {
	m    nn.Module
	side Side
}

// traceKey is a layer side as the tracer attaches it: through a piece of a
// concatenation, or whole.
type traceKey struct {
	m    nn.Module
	side Side
	at   piece
}

// orderedDep is a dep with the index of the node it was found at.
type orderedDep struct {
	Dep
	node int
}

// space is a set of tensor channels found to be coupled so far.
type space struct {
	channels int
	deps     []orderedDep
	tensors  []tensorRef
	residual bool
	producer bool
	reasons  []string
	pieces   []piece // the pieces of concatenations that are these channels
}

// tensorRef is the output of node Node of the traced pass, whose channel c
// is its features [c·Span, (c+1)·Span) along dimension 1.
type tensorRef struct {
	Node, Span int
	at         piece // where the channels sit in a concatenated tensor
}

type tracer struct {
	parent []int // union-find over spaces
	spaces []*space
	vars   map[*autograd.Var]varInfo
	deps   map[traceKey]int
	names  map[any]string
}

func (t *tracer) find(s int) int {
	for t.parent[s] != s {
		t.parent[s] = t.parent[t.parent[s]]
		s = t.parent[s]
	}
	return s
}

func (t *tracer) union(a, b int) int {
	a, b = t.find(a), t.find(b)
	if a == b {
		return a
	}
	if a > b {
		a, b = b, a
	}
	sa, sb := t.spaces[a], t.spaces[b]
	if sa.channels != sb.channels {
		sa.reasons = append(sa.reasons, fmt.Sprintf("joins tensors of %d and %d channels", sa.channels, sb.channels))
	}
	sa.deps = append(sa.deps, sb.deps...)
	sa.tensors = append(sa.tensors, sb.tensors...)
	sa.residual = sa.residual || sb.residual
	sa.producer = sa.producer || sb.producer
	sa.reasons = append(sa.reasons, sb.reasons...)
	sa.pieces = append(sa.pieces, sb.pieces...)
	t.parent[b] = a
	t.spaces[b] = nil
	return a
}

// newSpace starts a space for the channels of v (dimension 1), with a
// reason not to prune it when reason is not empty.
func (t *tracer) newSpace(v *autograd.Var, reason string) int {
	s := &space{}
	if v.Value.Dims() >= 2 {
		s.channels = v.Value.Shape[1]
	} else {
		reason = fmt.Sprintf("a tensor of shape %v has no channel dimension", v.Value.Shape)
	}
	if reason != "" {
		s.reasons = append(s.reasons, reason)
	}
	t.parent = append(t.parent, len(t.spaces))
	t.spaces = append(t.spaces, s)
	return len(t.spaces) - 1
}

func (t *tracer) addReason(s int, reason string) {
	sp := t.spaces[t.find(s)]
	if !slices.Contains(sp.reasons, reason) {
		sp.reasons = append(sp.reasons, reason)
	}
}

// info returns where v's channels live; a tensor that no recorded node
// made (other than the input) starts a space of its own that is not
// prunable.
func (t *tracer) info(v *autograd.Var, op string) varInfo {
	if v == nil {
		return varInfo{space: -1}
	}
	if in, ok := t.vars[v]; ok {
		if in.v != nil {
			return in
		}
		return varInfo{space: t.find(in.space), span: in.span}
	}
	in := varInfo{space: t.newSpace(v, fmt.Sprintf("%s reads a tensor the traced pass did not make", op)), span: 1}
	t.vars[v] = in
	return in
}

// output places a node's output.
func (t *tracer) output(i int, v *autograd.Var, in varInfo) {
	t.vars[v] = in
	if in.v != nil {
		for j, s := range in.v.l.spaces {
			sp := t.spaces[t.find(s)]
			sp.tensors = append(sp.tensors, tensorRef{Node: i, Span: in.v.spans[j], at: piece{in.v, j}})
		}
		return
	}
	sp := t.spaces[t.find(in.space)]
	sp.tensors = append(sp.tensors, tensorRef{Node: i, Span: in.span})
}

// dep attaches a dependency on layer m to space s; a layer side already
// attached elsewhere joins the two spaces (a layer used twice).
func (t *tracer) dep(i, s int, m nn.Module, side Side, span int, at piece) int {
	name, ok := t.names[m]
	if !ok {
		t.addReason(s, fmt.Sprintf("layer %s is outside the model's module tree", m))
		return t.find(s)
	}
	k := traceKey{m, side, at}
	if prev, seen := t.deps[k]; seen {
		return t.union(prev, s)
	}
	s = t.find(s)
	t.deps[k] = s
	sp := t.spaces[s]
	sp.deps = append(sp.deps, orderedDep{Dep: Dep{Layer: name, Module: m, Side: side, Span: span, at: at}, node: i})
	if side == Out {
		sp.producer = true
	}
	return s
}

// node applies one recorded operation: the rules of the layer that
// recorded it, or those of the operation when no layer did.
func (t *tracer) node(i int, n *autograd.Node) {
	var x varInfo
	if len(n.Inputs) > 0 {
		x = t.info(n.Inputs[0], n.Op)
	}
	y := n.Output
	m, ax, why := rules(n, x)
	if why != "" {
		t.unsupported(i, n, why)
		return
	}
	// each runs f on every piece of x: its one set, or the pieces of a concatenation.
	each := func(f func(s, span int, at piece) int) {
		if x.v == nil {
			x.space = f(x.space, x.span, piece{})
			return
		}
		for j, s := range x.v.l.spaces {
			x.v.l.spaces[j] = f(s, x.v.spans[j], piece{x.v, j})
		}
	}
	switch ax.Coupling {
	case nn.Pass:
		t.output(i, y, x)
	case nn.PerChannel:
		each(func(s, span int, at piece) int { return t.dep(i, s, m, Channel, span, at) })
		t.output(i, y, x)
	case nn.Join, nn.Gate:
		for _, in := range n.Inputs[1:] {
			b := t.info(in, n.Op)
			if x.v != nil || b.v != nil {
				t.unsupported(i, n, fmt.Sprintf("%s of a concatenated tensor", n.Op))
				return
			}
			if b.span != x.span {
				t.unsupported(i, n, fmt.Sprintf("%s of tensors with %d and %d features per channel", n.Op, x.span, b.span))
				return
			}
			x.space = t.union(x.space, b.space)
		}
		if ax.Coupling == nn.Join {
			t.spaces[x.space].residual = true
		}
		t.output(i, y, x)
	case nn.Concatenated:
		ins := []varInfo{x}
		for _, in := range n.Inputs[1:] {
			ins = append(ins, t.info(in, n.Op))
		}
		t.output(i, y, t.concat(ins))
	case nn.Spread:
		t.reshape(i, n, x)
	case nn.Transform:
		each(func(s, span int, at piece) int { return t.dep(i, s, m, In, span, at) })
		out := t.newSpace(y, "")
		t.output(i, y, varInfo{space: t.dep(i, out, m, Out, 1, piece{}), span: 1})
	case nn.Shared:
		each(func(s, span int, at piece) int {
			return t.dep(i, t.dep(i, s, m, In, span, at), m, Out, span, at)
		})
		t.output(i, y, x)
	default:
		what := fmt.Sprintf("%s from %s", n.Op, m)
		if ax.Reason != "" {
			what += " (" + ax.Reason + ")"
		}
		t.unsupported(i, n, what)
	}
}

// rules returns the layer that recorded n (nil for none) and the axes
// its adapter gives it, or the axes of the operation when no layer
// recorded it; why says what is unsupported instead.
func rules(n *autograd.Node, x varInfo) (m nn.Module, ax nn.Axes, why string) {
	if n.Source == nil {
		c, ok := nn.OpCoupling(n.Op)
		if !ok {
			return nil, ax, "operation " + n.Op
		}
		return nil, nn.Axes{Coupling: c}, ""
	}
	m, ok := n.Source.(nn.Module)
	if !ok {
		return nil, ax, fmt.Sprintf("%s from a %T", n.Op, n.Source)
	}
	a, ok := nn.AdapterOf(m)
	if !ok {
		return nil, ax, fmt.Sprintf("%s from a %T, a layer with no pruning adapter", n.Op, m)
	}
	ax = a.Axes(m)
	if why := fits(ax, n, x); why != "" {
		return nil, ax, fmt.Sprintf("%s from %s %s", n.Op, m, why)
	}
	return m, ax, ""
}

// fits returns why a layer's axes ax do not fit the operation n it
// recorded, whose input x is placed already, or "" when they do: a layer
// that reads channels of several features each must say it can
// (Axes.Spans), and its channel counts must be its tensors'.
func fits(ax nn.Axes, n *autograd.Node, x varInfo) string {
	if len(n.Inputs) == 0 || n.Output.Value.Dims() < 2 || n.Inputs[0].Value.Dims() < 2 {
		return ""
	}
	in, out := n.Inputs[0].Value.Shape, n.Output.Value.Shape
	switch ax.Coupling {
	case nn.PerChannel, nn.Transform, nn.Shared:
		if x.span != 1 && !ax.Spans {
			return fmt.Sprintf("reading %d features per channel (after a flatten)", x.span)
		}
	}
	switch ax.Coupling {
	case nn.PerChannel:
		if ax.In != in[1] {
			return fmt.Sprintf("of %d channels on a tensor %v", ax.In, in)
		}
	case nn.Transform, nn.Shared:
		if ax.In != in[1] || ax.Out != out[1] {
			return fmt.Sprintf("whose channels (%d → %d) disagree with its tensors %v → %v", ax.In, ax.Out, in, out)
		}
	}
	return ""
}

// reshape follows a flatten [N, C, H, W] → [N, C·H·W] (channel c becomes
// the features c·H·W … (c+1)·H·W − 1) and reshapes that keep dimension 1
// and the size per channel ([N, C, 1, 1] ↔ [N, C]); other reshapes mix
// channels and make their groups unprunable.
func (t *tracer) reshape(i int, n *autograd.Node, x varInfo) {
	in, out := n.Inputs[0].Value.Shape, n.Output.Value.Shape
	if len(in) >= 2 && len(out) >= 2 && in[0] == out[0] {
		perIn, perOut := tensor.Numel(in[2:]), tensor.Numel(out[2:])
		switch {
		case len(out) == 2 && out[1] == in[1]*perIn:
			y := varInfo{space: x.space, span: x.span * perIn}
			if x.v != nil {
				y.v = &view{l: x.v.l}
				for _, s := range x.v.spans {
					y.v.spans = append(y.v.spans, s*perIn)
				}
			}
			t.output(i, n.Output, y)
			return
		case out[1] == in[1] && perOut == perIn:
			t.output(i, n.Output, x)
			return
		}
	}
	t.unsupported(i, n, fmt.Sprintf("reshape %v → %v", in, out))
}

// unsupported makes the spaces of an operation's inputs and output
// unprunable.
func (t *tracer) unsupported(i int, n *autograd.Node, what string) {
	reason := "meets an unsupported " + what
	for _, v := range n.Inputs {
		if in, ok := t.vars[v]; ok { // parameters were never made by a node
			for _, s := range t.spacesOf(in) {
				t.addReason(s, reason)
			}
		}
	}
	s := t.newSpace(n.Output, reason)
	t.output(i, n.Output, varInfo{space: s, span: 1})
}

// groups turns the spaces into groups in the order of their first
// dependency, leaving out spaces that touch no layer.
func (t *tracer) groups() []*Group {
	type ordered struct {
		first int
		g     *Group
	}
	var list []ordered
	for i, sp := range t.spaces {
		if sp == nil || t.find(i) != i || len(sp.deps) == 0 {
			continue
		}
		slices.SortStableFunc(sp.deps, func(a, b orderedDep) int { return a.node - b.node })
		g := &Group{Channels: sp.channels, Residual: sp.residual, tensors: sp.tensors, pieces: sp.pieces}
		for _, d := range sp.deps {
			g.Deps = append(g.Deps, d.Dep)
		}
		reasons := sp.reasons
		if !sp.producer && len(reasons) == 0 {
			reasons = append(reasons, "no layer produces these channels")
		}
		g.Prunable = len(reasons) == 0
		g.Reason = strings.Join(reasons, "; ")
		list = append(list, ordered{sp.deps[0].node, g})
	}
	slices.SortStableFunc(list, func(a, b ordered) int { return a.first - b.first })
	out := make([]*Group, len(list))
	for i, o := range list {
		out[i] = o.g
	}
	return out
}
