package prune

import (
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// A pruned model saved with its widths loads through zoo.Load with no
// other information and computes the same outputs.
func TestSaveLoad(t *testing.T) {
	for _, tp := range []topology{zooTopology("resnet20", 32, 2), zooTopology("vgg11_bn", 32, 2), zooTopology("resnet50", 64, 1)} {
		t.Run(tp.name, func(t *testing.T) {
			if testing.Short() && tp.name == "resnet50" {
				t.Skip("large model under -short")
			}
			m := tp.model()
			removeRandom(t, tp.trace(t, m), 9, nil)
			path := filepath.Join(t.TempDir(), "pruned.safetensors")
			meta := zoo.Meta{Arch: tp.name, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}, Extra: map[string]string{"note": "test"}}
			if err := Save(path, m, meta); err != nil {
				t.Fatal(err)
			}
			loaded, lmeta, err := zoo.Load(path, "")
			if err != nil {
				t.Fatal(err)
			}
			if lmeta.Arch != tp.name || lmeta.Extra["note"] != "test" || !slices.Equal(lmeta.Mean, meta.Mean) {
				t.Errorf("metadata %+v", lmeta)
			}
			if a, b := nn.Format(loaded), nn.Format(m); a != b {
				t.Errorf("loaded model\n%s\nsaved model\n%s", a, b)
			}
			sa, sb := nn.Summarize(loaded, tp.inShape...), nn.Summarize(m, tp.inShape...)
			if sa.MACs != sb.MACs || sa.Params != sb.Params {
				t.Errorf("loaded: %d MACs, %d params; saved: %d, %d", sa.MACs, sa.Params, sb.MACs, sb.Params)
			}
			x := tp.input()
			if !slices.Equal(run(loaded, x).Data, run(m, x).Data) {
				t.Error("the loaded model computes other outputs")
			}
		})
	}
}

// The shortcuts' irregular maps travel in the widths.
func TestSaveWritesShortcutMaps(t *testing.T) {
	tp := zooTopology("resnet20", 32, 1)
	m := tp.model()
	g := tp.trace(t, m)
	if err := findGroup(t, g, "layer2.0.conv2 out").Remove([]int{1, 9, 30}, nil); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "pruned.safetensors")
	if err := Save(path, m, zoo.Meta{Arch: "resnet20"}); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	w := f.Metadata[zoo.MetaWidths]
	for _, want := range []string{
		`"layer2.0.shortcut":{"in":16,"out":29,"map":[7,-1,8,9,10,11,12,13,14,15,16,17,18,19,20,21]}`,
		`"layer3.0.shortcut":{"in":29,"out":64,"map":[16,18,19,20,21,22,23,24,26,27,28,29,30,31,32,33,34,35,36,37,38,39,40,41,42,43,44,45,47]}`,
		`"layer2.0.bn2":[29]`, `"layer2.1.conv1":[32,29]`, `"linear":[10,64]`,
	} {
		if !strings.Contains(w, want) {
			t.Errorf("no %s in widths %s", want, w)
		}
	}
	loaded, _, err := zoo.Load(path, "resnet20")
	if err != nil {
		t.Fatal(err)
	}
	if !slices.Equal(run(loaded, tp.input()).Data, run(m, tp.input()).Data) {
		t.Error("the loaded model computes other outputs")
	}
}
