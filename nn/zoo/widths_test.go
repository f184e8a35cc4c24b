package zoo_test

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// Widths written from one model and set on a fresh one give the same
// layers; a model that was never pruned reads back unchanged.
func TestWidthsRoundTrip(t *testing.T) {
	m, _ := zoo.New("resnet20")
	blocks := m.(*zoo.CIFARResNet)
	b := blocks.Layer2.Layers[0].(*zoo.BasicBlockA)
	b.Conv1.Out, b.BN1.C, b.Conv2.In = 20, 20, 20
	b.Shortcut.(*zoo.ShortcutA).SetChannelMap(32, []int{3, -1, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17, 18})
	w := zoo.Widths(m)
	fresh, _ := zoo.New("resnet20")
	if err := zoo.SetWidths(fresh, w); err != nil {
		t.Fatal(err)
	}
	if zoo.Widths(fresh) != w || nn.Format(fresh) != nn.Format(m) {
		t.Errorf("after SetWidths\n%s\nwant\n%s", nn.Format(fresh), nn.Format(m))
	}
	fb := fresh.(*zoo.CIFARResNet).Layer2.Layers[0].(*zoo.BasicBlockA)
	if s := fb.Conv1.Weight.Value.Shape; s[0] != 20 || fb.BN1.RunningVar.Value.Numel() != 20 || fb.Conv2.Weight.Value.Shape[1] != 20 {
		t.Errorf("tensors not resized: conv1.weight %v", s)
	}
	unpruned, _ := zoo.New("resnet20")
	if err := zoo.SetWidths(unpruned, zoo.Widths(unpruned)); err != nil {
		t.Fatal(err)
	}
	plain, _ := zoo.New("resnet20")
	if nn.Format(unpruned) != nn.Format(plain) {
		t.Error("the widths of an unpruned model change it")
	}
}

func TestSetWidthsErrors(t *testing.T) {
	for _, tc := range []struct{ widths, want string }{
		{`{"conv9":[1,2]}`, `no layer "conv9" in the model`},
		{`{"conv1":[16]}`, `layer "conv1": widths [16], want 2 positive integers`},
		{`{"bn1":[0]}`, `layer "bn1": widths [0], want 1 positive integers`},
		{`{"layer1":[16]}`, `layer "layer1": a *nn.Sequential has no widths`},
		{`{"layer2.0.shortcut":{"in":16,"out":32}}`, `want exactly one of "pad_before" and "map"`},
		{`{"layer2.0.shortcut":{"in":16,"out":32,"pad_before":20}}`, `16 channels padded by 20 before do not fit 32`},
		{`{"layer2.0.shortcut":{"in":2,"out":4,"map":[1,1]}}`, `map sends input channel 1 to 1`},
		{`{"layer2.0.shortcut":{"in":2,"out":4,"map":[1]}}`, `map of 1 entries for 2 input channels`},
		{`{"layer2.0.shortcut":{"in":2,"out":4,"map":[1,2],"x":1}}`, `unknown field "x"`},
		{`[1]`, `metadata "widths": json: cannot unmarshal array`},
	} {
		m, _ := zoo.New("resnet20")
		if err := zoo.SetWidths(m, tc.widths); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetWidths(%s): error %v, want %q", tc.widths, err, tc.want)
		}
	}
}

// Load applies the widths before loading, and a file whose tensors do
// not match its widths fails naming the key.
func TestLoadAppliesWidths(t *testing.T) {
	m, _ := zoo.New("resnet20")
	c := m.(*zoo.CIFARResNet)
	path := filepath.Join(t.TempDir(), "m.safetensors")
	meta := zoo.Meta{Arch: "resnet20", Extra: map[string]string{zoo.MetaWidths: `{"layer1.0.conv1":[8,16],"layer1.0.bn1":[8],"layer1.0.conv2":[16,8]}`}}
	if err := nn.SaveState(m, meta.Map()).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if _, _, err := zoo.Load(path, ""); err == nil || !strings.Contains(err.Error(), `key "layer1.0.conv1.weight": shape [16 16 3 3] in file, model wants [8 16 3 3]`) {
		t.Errorf("loading tensors that disagree with the widths: %v", err)
	}
	b := c.Layer1.Layers[0].(*zoo.BasicBlockA)
	if err := zoo.SetWidths(m, meta.Extra[zoo.MetaWidths]); err != nil {
		t.Fatal(err)
	}
	if err := nn.SaveState(m, meta.Map()).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	loaded, _, err := zoo.Load(path, "")
	if err != nil {
		t.Fatal(err)
	}
	if got := loaded.(*zoo.CIFARResNet).Layer1.Layers[0].(*zoo.BasicBlockA).Conv1.String(); got != b.Conv1.String() {
		t.Errorf("loaded %s, want %s", got, b.Conv1)
	}
}

// The widths of a model with grouped convolutions name their groups and read back.
func TestWidthsGrouped(t *testing.T) {
	m, _ := zoo.New("mobilenet_v2_cifar")
	w := zoo.Widths(m)
	if !strings.Contains(w, `"features.1.conv.0.0":[32,32,32]`) {
		t.Errorf("widths of the first depthwise layer missing from %.200s…", w)
	}
	fresh, _ := zoo.New("mobilenet_v2_cifar")
	if err := zoo.SetWidths(fresh, w); err != nil {
		t.Fatal(err)
	}
	if zoo.Widths(fresh) != w || nn.Format(fresh) != nn.Format(m) {
		t.Error("widths of MobileNetV2 do not round-trip")
	}
	for _, tc := range []struct{ widths, want string }{
		{`{"features.1.conv.0.0":[32,32]}`, `want 3 positive integers`},
		{`{"features.1.conv.0.0":[30,30,4]}`, `4 groups do not divide 30 and 30 channels`},
	} {
		if err := zoo.SetWidths(fresh, tc.widths); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("SetWidths(%s): error %v, want %q", tc.widths, err, tc.want)
		}
	}
}
