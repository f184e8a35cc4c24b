package zoo

import (
	"strings"
	"testing"
)

func smallSpec() GraphSpec {
	return GraphSpec{Input: []int{2, 4, 4}, Classes: 3, Output: "y", Nodes: []GraphNode{
		{Op: GraphConv, Name: "conv", Inputs: []string{"input"}, Output: "a", In: 2, Out: 4, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: GraphReLU, Inputs: []string{"a"}, Output: "b"},
		{Op: GraphShortcutA, Name: "sc", Inputs: []string{"input"}, Output: "c", In: 2, Out: 4, PadBefore: 1, Stride: 1},
		{Op: GraphAdd, Inputs: []string{"b", "c"}, Output: "d"},
		{Op: GraphGlobalAvgPool, Inputs: []string{"d"}, Output: "e"},
		{Op: GraphLinear, Name: "fc", Inputs: []string{"e"}, Output: "y", In: 4, Out: 3, Bias: true},
	}}
}

// TestGraphSpecErrors checks that NewGraph rejects malformed specs, saying where.
func TestGraphSpecErrors(t *testing.T) {
	if _, err := NewGraph(smallSpec()); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		name string
		edit func(s *GraphSpec)
		want string
	}{
		{"undefined input", func(s *GraphSpec) { s.Nodes[1].Inputs = []string{"nowhere"} }, `input "nowhere" is not defined`},
		{"duplicate name", func(s *GraphSpec) { s.Nodes[5].Name = "conv" }, "used twice"},
		{"bad conv", func(s *GraphSpec) { s.Nodes[0].Groups = 3 }, "graph node 0"},
		{"unknown op", func(s *GraphSpec) { s.Nodes[1].Op = "gelu" }, `unknown operation "gelu"`},
		{"output", func(s *GraphSpec) { s.Output = "zz" }, `output "zz"`},
		{"adds", func(s *GraphSpec) { s.Nodes[3].Inputs = s.Nodes[3].Inputs[:1] }, "1 inputs, want 2"},
		{"bad map", func(s *GraphSpec) { s.Nodes[2].Map = []int{5, 0} }, "map sends"},
	} {
		s := smallSpec()
		c.edit(&s)
		_, err := NewGraph(s)
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: error %v, want one saying %q", c.name, err, c.want)
		}
	}
}

// TestGraphMeta checks that a graph architecture travels in metadata: Map writes the spec,
// ParseMeta registers it under the same name, and Lookup then builds it.
func TestGraphMeta(t *testing.T) {
	a, err := RegisterGraph(smallSpec())
	if err != nil {
		t.Fatal(err)
	}
	md := Meta{Arch: a.Name}.Map()
	if md[MetaGraph] == "" {
		t.Fatalf("Map of a graph architecture: no %q key: %v", MetaGraph, md)
	}
	m, err := ParseMeta(map[string]string{MetaGraph: md[MetaGraph]})
	if err != nil || m.Arch != a.Name {
		t.Fatalf("ParseMeta: arch %q, %v: want %q", m.Arch, err, a.Name)
	}
	b, err := Lookup(a.Name)
	if err != nil || b.Classes != 3 {
		t.Fatalf("Lookup: %+v, %v", b, err)
	}
	if _, err := b.Build(); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseMeta(map[string]string{MetaGraph: `{"input":[3,32,32],"nodes":[{"op":"nope"}]}`}); err == nil {
		t.Error("ParseMeta of a bad graph: no error")
	}
}
