package train_test

import (
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/train"
)

// A pruned model fine-tunes from its file, its checkpoints resume, and its
// final file loads with the pruned widths.
func TestPrunedModelTrainsAndResumes(t *testing.T) {
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 1)
	g, err := prune.Trace(m, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	for _, gr := range g.Prunable() {
		if err := gr.Remove([]int{1, 2}, nil); err != nil {
			t.Fatal(err)
		}
	}
	init := filepath.Join(t.TempDir(), "pruned.safetensors")
	if err := prune.Save(init, m, zoo.Meta{Arch: "resnet8"}); err != nil {
		t.Fatal(err)
	}
	trainSet, testSet := train.Synthetic(4*16, 8), train.Synthetic(16, 9)
	cfg := train.DefaultTestConfig()
	cfg.Init = init
	dir := t.TempDir()
	train.TrainResumed(t, cfg, dir, trainSet, testSet, 2)
	final, _, err := zoo.Load(filepath.Join(dir, train.FinalFile), "")
	if err != nil {
		t.Fatal(err)
	}
	if a, b := nn.Format(final), nn.Format(m); a != b {
		t.Errorf("the fine-tuned file holds\n%s\nwant the pruned widths\n%s", a, b)
	}
}
