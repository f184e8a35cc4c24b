package onnx

import (
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"google.golang.org/protobuf/proto"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// tinyModel returns the ONNX model of a zoo ResNet-8 (exported here), parsed.
func tinyModel(t testing.TB) *onnxpb.ModelProto {
	t.Helper()
	b := tinyBytes(t)
	mp := &onnxpb.ModelProto{}
	if err := proto.Unmarshal(b, mp); err != nil {
		t.Fatal(err)
	}
	return mp
}

var (
	tinyOnce sync.Once
	tiny     []byte
	tinyErr  error
)

// tinyBytes returns the bytes of an exported ResNet-8 with BatchNorm kept.
func tinyBytes(t testing.TB) []byte {
	t.Helper()
	tinyOnce.Do(func() { tiny, tinyErr = exportTiny() })
	if tinyErr != nil {
		t.Fatal(tinyErr)
	}
	return tiny
}

func exportTiny() ([]byte, error) {
	m, err := zoo.New("resnet8")
	if err != nil {
		return nil, err
	}
	zoo.InitWeights(m, 1)
	mp, err := exportModel(m, []int{3, 32, 32}, zoo.Meta{Arch: "resnet8"}, ExportOptions{KeepBatchNorm: true})
	if err != nil {
		return nil, err
	}
	return proto.Marshal(mp)
}

// importBytes writes b to a file and imports it.
func importBytes(t *testing.T, b []byte) error {
	t.Helper()
	path := filepath.Join(t.TempDir(), "m.onnx")
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	_, _, err := Import(path)
	return err
}

func marshal(t *testing.T, mp *onnxpb.ModelProto) []byte {
	t.Helper()
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestBadInput checks that each kind of broken file is an error that says what is wrong.
func TestBadInput(t *testing.T) {
	good := tinyBytes(t)
	if err := importBytes(t, good); err != nil {
		t.Fatalf("the unbroken model: %v", err)
	}
	cases := []struct {
		name  string
		bytes func() []byte
		want  []string // substrings of the error
	}{
		{"empty", func() []byte { return nil }, []string{"empty file"}},
		{"truncated", func() []byte { return good[:len(good)*2/3] }, []string{"truncated", "graph"}},
		{"not onnx", func() []byte { return []byte("\x89PNG\r\n\x1a\n not a model at all") }, []string{"not a valid ONNX model"}},
		{"cycle", func() []byte {
			mp := tinyModel(t)
			n := mp.Graph.Node
			// The first convolution reads the output of the last ReLU before the head.
			var relu string
			for _, nd := range n {
				if nd.GetOpType() == "Relu" {
					relu = nd.Output[0]
				}
			}
			n[0].Input[0] = relu
			return marshal(t, mp)
		}, []string{"cycle"}},
		{"data size", func() []byte {
			mp := tinyModel(t)
			w := mp.Graph.Initializer[0]
			w.RawData = w.RawData[:len(w.RawData)-8]
			return marshal(t, mp)
		}, []string{"tensor", mp0Name(t), "needs", "holds"}},
		{"initializer past the end", func() []byte {
			// An initializer's length prefix that claims more bytes than the file has: cut the
			// file inside the last initializer's data.
			mp := tinyModel(t)
			b := marshal(t, mp)
			last := mp.Graph.Initializer[len(mp.Graph.Initializer)-1]
			raw := last.RawData
			at := strings.LastIndex(string(b), string(raw))
			return b[:at+len(raw)/2]
		}, []string{"graph: initializer at byte", "bytes long but only", "truncated"}},
		{"unsupported operator", func() []byte {
			mp := tinyModel(t)
			for _, nd := range mp.Graph.Node {
				if nd.GetOpType() == "Relu" {
					nd.OpType = proto.String("HardSwish")
					break
				}
			}
			return marshal(t, mp)
		}, []string{"HardSwish", "not supported", "node"}},
		{"undefined input", func() []byte {
			mp := tinyModel(t)
			mp.Graph.Node[1].Input[0] = "nowhere"
			return marshal(t, mp)
		}, []string{"nowhere"}},
		{"opset", func() []byte {
			mp := tinyModel(t)
			mp.OpsetImport[0].Version = proto.Int64(7)
			return marshal(t, mp)
		}, []string{"opset 7"}},
		{"external data", func() []byte {
			mp := tinyModel(t)
			mp.Graph.Initializer[0].DataLocation = onnxpb.TensorProto_EXTERNAL.Enum()
			return marshal(t, mp)
		}, []string{"external data"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			err := importBytes(t, c.bytes())
			if err == nil {
				t.Fatal("imported without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}
}

// smallBytes returns the bytes of a small exported graph (a few hundred bytes: fast to
// fuzz) with a convolution, BatchNorm, ReLU, an option-A shortcut, an addition, pooling
// and a linear head.
func smallBytes(t testing.TB) []byte {
	t.Helper()
	spec := zoo.GraphSpec{Input: []int{2, 4, 4}, Classes: 3, Output: "y", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "conv", Inputs: []string{"input"}, Output: "a", In: 2, Out: 4, Kernel: 3, Stride: 2, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "bn", Inputs: []string{"a"}, Output: "b", Out: 4},
		{Op: zoo.GraphReLU, Inputs: []string{"b"}, Output: "c"},
		{Op: zoo.GraphShortcutA, Name: "sc", Inputs: []string{"input"}, Output: "d", In: 2, Out: 4, PadBefore: 1, Stride: 2},
		{Op: zoo.GraphAdd, Inputs: []string{"c", "d"}, Output: "e"},
		{Op: zoo.GraphMaxPool, Name: "pool", Inputs: []string{"e"}, Output: "f", Kernel: 2, Stride: 2},
		{Op: zoo.GraphFlatten, Inputs: []string{"f"}, Output: "g"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"g"}, Output: "y", In: 4, Out: 3, Bias: true},
	}}
	g, err := zoo.NewGraph(spec)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := exportModel(g, spec.Input, zoo.Meta{}, ExportOptions{KeepBatchNorm: true})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// TestSmallRoundTrip imports the fuzz seeds: they must import.
func TestSmallRoundTrip(t *testing.T) {
	if err := importBytes(t, smallBytes(t)); err != nil {
		t.Fatal(err)
	}
	if err := importBytes(t, opsBytes(t)); err != nil {
		t.Fatal(err)
	}
}

// mp0Name is the name of the exported ResNet-8's first initializer.
func mp0Name(t *testing.T) string { return tinyModel(t).Graph.Initializer[0].GetName() }

// FuzzImport feeds the parser and importer arbitrary bytes, seeded with an exported
// ResNet-8 and pieces of it: any input gives a model or an error, never a panic.
// Run it with: go test -run '^$' -fuzz FuzzImport -fuzztime 60s ./onnx
func FuzzImport(f *testing.F) {
	small := smallBytes(f)
	f.Add(small)
	f.Add(small[:len(small)/2])
	f.Add(tinyBytes(f)[:4000])
	f.Add(opsBytes(f))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, b []byte) {
		mp, err := parseModel(b)
		if err != nil {
			return
		}
		g, _, err := importModel(mp)
		if err != nil {
			return
		}
		if g == nil {
			t.Fatal("no model and no error")
		}
	})
}

// TestBadOps checks the errors of uses of Concat and Mul that no layer computes.
func TestBadOps(t *testing.T) {
	read := func(file string) *onnxpb.ModelProto {
		b, err := os.ReadFile(filepath.Join("testdata", "ops", file))
		if err != nil {
			t.Fatal(err)
		}
		mp := &onnxpb.ModelProto{}
		if err := proto.Unmarshal(b, mp); err != nil {
			t.Fatal(err)
		}
		return mp
	}
	cases := []struct {
		name  string
		model func() *onnxpb.ModelProto
		want  []string
	}{
		{"concat on the height", func() *onnxpb.ModelProto {
			mp := read("inception-o13-kept.onnx")
			for _, nd := range mp.Graph.Node {
				if nd.GetOpType() == "Concat" && strings.Contains(nd.GetName(), "Concat") && len(nd.Input) == 3 {
					for _, a := range nd.Attribute {
						if a.GetName() == "axis" {
							a.I = proto.Int64(2)
						}
					}
				}
			}
			return mp
		}, []string{"Concat", "axis 2", "not supported"}},
		{"mul by a row", func() *onnxpb.ModelProto {
			mp := read("scale-o13-kept.onnx")
			for _, w := range mp.Graph.Initializer {
				if w.GetName() == "scale" {
					w.Dims = []int64{1, 1, 1, 8}
				}
			}
			return mp
		}, []string{"Mul", "[1 1 1 8]", "one value per channel"}},
		{"mul of two maps", func() *onnxpb.ModelProto {
			mp := read("se-o13-kept.onnx")
			var sig string
			for _, nd := range mp.Graph.Node {
				if nd.GetOpType() == "Relu" && sig == "" {
					sig = nd.Output[0] // conv1's [N, 8, 16, 16]
				}
			}
			for _, nd := range mp.Graph.Node {
				if nd.GetOpType() == "Mul" {
					nd.Input[1] = sig
					break
				}
			}
			return mp
		}, []string{"Mul of shapes", "gate"}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := importModel(c.model())
			if err == nil {
				t.Fatal("imported without error")
			}
			for _, w := range c.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("error %q does not say %q", err, w)
				}
			}
			t.Log(err)
		})
	}
}

// opsBytes returns the bytes of a small exported graph with a concatenation, a
// squeeze-and-excitation gate and a per-channel scale (a fuzz seed).
func opsBytes(t testing.TB) []byte {
	t.Helper()
	spec := zoo.GraphSpec{Input: []int{2, 4, 4}, Classes: 3, Output: "y", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "conv", Inputs: []string{"input"}, Output: "a", In: 2, Out: 3, Kernel: 1, Stride: 1, Groups: 1},
		{Op: zoo.GraphConcat, Inputs: []string{"a", "input"}, Output: "b"},
		{Op: zoo.GraphChannelScale, Name: "scale", Inputs: []string{"b"}, Output: "c", Out: 5},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"c"}, Output: "p"},
		{Op: zoo.GraphSigmoid, Inputs: []string{"p"}, Output: "s"},
		{Op: zoo.GraphView, Inputs: []string{"s"}, Output: "v", Shape: []int{-1, 1, 1}},
		{Op: zoo.GraphMulChannels, Inputs: []string{"c", "v"}, Output: "e"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"e"}, Output: "f"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"f"}, Output: "y", In: 5, Out: 3, Bias: true},
	}}
	g, err := zoo.NewGraph(spec)
	if err != nil {
		t.Fatal(err)
	}
	mp, err := exportModel(g, spec.Input, zoo.Meta{}, ExportOptions{})
	if err != nil {
		t.Fatal(err)
	}
	b, err := proto.Marshal(mp)
	if err != nil {
		t.Fatal(err)
	}
	return b
}
