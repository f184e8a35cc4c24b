package prune

import (
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

func TestGroupStrings(t *testing.T) {
	for _, tc := range []struct {
		tp   topology
		want []string // Summary, then String, of some groups
	}{
		{zooTopology("resnet20", 32, 1), []string{
			"3 channels, not prunable: the network input", "conv1 in",
			"16 channels, residual stream", "conv1 out ⇒ bn1 ⇒ layer1.0.conv1 in ⇒ layer1.0.conv2 out ⇒ layer1.0.bn2 ⇒ layer1.1.conv1 in ⇒ layer1.1.conv2 out ⇒ layer1.1.bn2 ⇒ layer1.2.conv1 in ⇒ layer1.2.conv2 out ⇒ layer1.2.bn2 ⇒ layer2.0.conv1 in ⇒ layer2.0.shortcut in (c ↦ c+8)",
			"16 channels", "layer1.0.conv1 out ⇒ layer1.0.bn1 ⇒ layer1.0.conv2 in",
			"32 channels, residual stream", "layer2.0.conv2 out ⇒ layer2.0.bn2 ⇒ layer2.0.shortcut out ⇒ layer2.1.conv1 in ⇒ layer2.1.conv2 out ⇒ layer2.1.bn2 ⇒ layer2.2.conv1 in ⇒ layer2.2.conv2 out ⇒ layer2.2.bn2 ⇒ layer3.0.conv1 in ⇒ layer3.0.shortcut in (c ↦ c+16)",
			"64 channels, residual stream", "layer3.0.conv2 out ⇒ layer3.0.bn2 ⇒ layer3.0.shortcut out ⇒ layer3.1.conv1 in ⇒ layer3.1.conv2 out ⇒ layer3.1.bn2 ⇒ layer3.2.conv1 in ⇒ layer3.2.conv2 out ⇒ layer3.2.bn2 ⇒ linear in",
			"10 channels, not prunable: the model output", "linear out",
		}},
		{tiny, []string{
			"8 channels", "conv1 out ⇒ bn1 ⇒ conv2 in",
			"6 channels", "conv2 out ⇒ bn2 ⇒ fc1 in ×9",
			"12 channels", "fc1 out ⇒ fc2 in",
			"5 channels, not prunable: the model output", "fc2 out",
		}},
		{zooTopology("resnet50", 64, 1), []string{
			"64 channels", "conv1 out ⇒ bn1 ⇒ layer1.0.conv1 in ⇒ layer1.0.downsample.0 in",
			"256 channels, residual stream", "layer1.0.conv3 out ⇒ layer1.0.bn3 ⇒ layer1.0.downsample.0 out ⇒ layer1.0.downsample.1 ⇒ layer1.1.conv1 in ⇒ layer1.1.conv3 out ⇒ layer1.1.bn3 ⇒ layer1.2.conv1 in ⇒ layer1.2.conv3 out ⇒ layer1.2.bn3 ⇒ layer2.0.conv1 in ⇒ layer2.0.downsample.0 in",
			"2048 channels, residual stream", "layer4.0.conv3 out ⇒ layer4.0.bn3 ⇒ layer4.0.downsample.0 out ⇒ layer4.0.downsample.1 ⇒ layer4.1.conv1 in ⇒ layer4.1.conv3 out ⇒ layer4.1.bn3 ⇒ layer4.2.conv1 in ⇒ layer4.2.conv3 out ⇒ layer4.2.bn3 ⇒ fc in",
		}},
	} {
		t.Run(tc.tp.name, func(t *testing.T) {
			g := tc.tp.trace(t, tc.tp.build())
			have := map[string]bool{}
			for _, gr := range g.Groups {
				have[gr.Summary()+"\n"+gr.String()] = true
			}
			for i := 0; i < len(tc.want); i += 2 {
				if !have[tc.want[i]+"\n"+tc.want[i+1]] {
					t.Errorf("no group\n  %s\n  %s\nin\n%s", tc.want[i], tc.want[i+1], g)
				}
			}
		})
	}
}

func TestGroupCounts(t *testing.T) {
	for _, tc := range []struct {
		tp                       topology
		groups, prunable, stream int
	}{
		{zooTopology("resnet20", 32, 1), 14, 12, 3},  // 9 blocks' internals + 3 stages' streams
		{zooTopology("resnet56", 32, 1), 32, 30, 3},  // 27 + 3
		{zooTopology("resnet20b", 32, 1), 14, 12, 3}, // option B: the same groups
		{zooTopology("vgg16_bn", 32, 1), 15, 13, 0},  // 13 convolutions
		{zooTopology("resnet18", 64, 1), 14, 12, 4},  // 8 blocks + 4 stages
		{zooTopology("resnet50", 64, 1), 39, 37, 4},  // 16 blocks × 2 + the stem + 4 stages
		{tiny, 5, 3, 0},
	} {
		t.Run(tc.tp.name, func(t *testing.T) {
			g := tc.tp.trace(t, tc.tp.build())
			stream := 0
			for _, gr := range g.Prunable() {
				if gr.Residual {
					stream++
				}
			}
			if len(g.Groups) != tc.groups || len(g.Prunable()) != tc.prunable || stream != tc.stream {
				t.Errorf("%d groups, %d prunable, %d residual streams; want %d, %d, %d\n%s",
					len(g.Groups), len(g.Prunable()), stream, tc.groups, tc.prunable, tc.stream, g)
			}
		})
	}
}

func TestExplain(t *testing.T) {
	s, err := Explain(newTinyNet(), 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	want := `5 groups of coupled channels for input [3 6 6]: 3 prunable, 0 of them residual streams
group 0: 3 channels, not prunable: the network input
  conv1 in
group 1: 8 channels
  conv1 out ⇒ bn1 ⇒ conv2 in
group 2: 6 channels
  conv2 out ⇒ bn2 ⇒ fc1 in ×9
group 3: 12 channels
  fc1 out ⇒ fc2 in
group 4: 5 channels, not prunable: the model output
  fc2 out
`
	if s != want {
		t.Errorf("Explain:\n%s\nwant\n%s", s, want)
	}
	if _, err := Explain(newTinyNet(), 4, 6, 6); err == nil || !strings.Contains(err.Error(), "4 channels, layer takes 3") {
		t.Errorf("tracing with the wrong input: error %v", err)
	}
}

// Tracing leaves the model as it was: training-mode layers stay in
// training mode and their statistics do not move.
func TestTraceChangesNothing(t *testing.T) {
	m := tiny.model()
	nn.SetTraining(m, true)
	before := nn.SaveState(m, nil)
	tiny.trace(t, m)
	net := m.(*tinyNet)
	if !net.BN1.Training || !net.Drop.Training || net.BN1.NumBatchesTracked != 0 {
		t.Error("tracing changed the layers' modes or counted a batch")
	}
	after := nn.SaveState(m, nil)
	for k, v := range before.Tensors {
		a, _ := v.Float32s()
		b, _ := after.Tensors[k].Float32s()
		for i := range a {
			if a[i] != b[i] {
				t.Fatalf("%s changed", k)
			}
		}
	}
}

// odd is a model with operations the tracer must not see through: a
// reshape that mixes channels and spatial positions, a layer outside the
// module tree, and a loss.
type odd struct {
	Conv1, Conv2, Conv3 *nn.Conv2d
	hidden              *nn.Conv2d
}

func (m *odd) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = m.Conv1.Forward(c, x)                       // [1, 4, 4, 4]
	y := nn.Reshape(c, x, 1, 8, 2, 4)               // channels mixed
	y = m.Conv2.Forward(c, y)                       // [1, 3, 2, 4]
	z := m.hidden.Forward(c, m.Conv3.Forward(c, y)) // conv3 out feeds a conv that has no name
	nn.CrossEntropy(c, nn.Reshape(c, z, 1, -1), []int{0}, 0, nil)
	return z
}

func (m *odd) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "conv2", Module: m.Conv2}, {Name: "conv3", Module: m.Conv3}}
}

func (m *odd) String() string { return "Odd" }

func TestUnprunableReasons(t *testing.T) {
	m := &odd{
		Conv1: nn.NewConv2d(2, 4, 1, nn.ConvOpts{}), Conv2: nn.NewConv2d(8, 3, 1, nn.ConvOpts{}),
		Conv3: nn.NewConv2d(3, 5, 1, nn.ConvOpts{}), hidden: nn.NewConv2d(5, 2, 1, nn.ConvOpts{}),
	}
	g, err := Trace(m, 2, 4, 4)
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	for _, gr := range g.Groups {
		got[gr.String()] = gr.Summary()
	}
	want := map[string]string{
		"conv1 in":             "2 channels, not prunable: the network input",
		"conv1 out":            "4 channels, not prunable: meets an unsupported reshape [1 4 4 4] → [1 8 2 4]",
		"conv2 in":             "8 channels, not prunable: meets an unsupported reshape [1 4 4 4] → [1 8 2 4]",
		"conv2 out ⇒ conv3 in": "3 channels",
		"conv3 out":            "5 channels, not prunable: layer Conv2d(5, 2, kernel_size=(1, 1), stride=(1, 1), padding=(0, 0), bias=False) is outside the model's module tree",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("group %q: %q, want %q", k, got[k], v)
		}
	}
	if t.Failed() {
		t.Log(g)
	}
}
