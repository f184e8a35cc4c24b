package train

import (
	"context"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// The checkpoint names the classes, so that a deployed model labels its outputs.
func TestCheckpointNamesClasses(t *testing.T) {
	cfg := testConfig()
	cfg.Epochs = 1
	r, err := New(cfg, t.TempDir(), synthetic(32, 1), synthetic(16, 2))
	if err != nil {
		t.Fatal(err)
	}
	r.MaxSteps = 1
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	_, meta, err := zoo.Load(filepath.Join(r.Dir, CheckpointFile), "")
	if err != nil {
		t.Fatal(err)
	}
	if want := zoo.DefaultClasses("resnet8"); !slices.Equal(meta.Classes, want) {
		t.Errorf("checkpoint classes %q, want %q", meta.Classes, want)
	}
}
