package train

import (
	"bytes"
	"context"
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// TestDistill trains with a teacher (the model's own initial weights): with alpha 0 the
// run is bit-identical to one without a teacher; with alpha 0.9 it differs, and a run
// stopped mid-epoch and resumed (the teacher reloaded from its file) ends bit-identical
// to an uninterrupted one.
func TestDistill(t *testing.T) {
	trainSet, testSet := synthetic(5*16+7, 4), synthetic(40, 5)
	teacher := filepath.Join(t.TempDir(), "teacher.safetensors")
	{
		r, err := New(testConfig(), t.TempDir(), trainSet, testSet)
		if err != nil {
			t.Fatal(err)
		}
		r.MaxSteps = 4
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := r.save(teacher, false); err != nil {
			t.Fatal(err)
		}
	}
	// weights returns the tensors of a model file (its metadata holds the configuration,
	// which differs between the runs compared).
	weights := func(path string) map[string][]byte {
		f, err := safetensors.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		w := map[string][]byte{}
		for k, v := range f.Tensors {
			w[k] = v.Data
		}
		return w
	}
	same := func(a, b map[string][]byte) bool {
		if len(a) != len(b) {
			return false
		}
		for k, v := range a {
			if !bytes.Equal(v, b[k]) {
				return false
			}
		}
		return true
	}
	run := func(cfg Config, stopAt int) map[string][]byte {
		dir := t.TempDir()
		trainResumed(t, cfg, dir, trainSet, testSet, stopAt)
		return weights(filepath.Join(dir, FinalFile))
	}
	plain := run(testConfig(), 0)
	cfg := testConfig()
	cfg.Teacher, cfg.DistillT, cfg.DistillAlpha = teacher, 4, 0
	if !same(run(cfg, 0), plain) {
		t.Error("alpha 0: the weights differ from a run without a teacher")
	}
	cfg.DistillAlpha = 0.9
	kd := run(cfg, 0)
	if same(kd, plain) {
		t.Error("alpha 0.9: the weights equal those of a run without a teacher")
	}
	if !same(run(cfg, 8), kd) {
		t.Error("alpha 0.9: stopped at step 8 and resumed, the weights differ from an uninterrupted run")
	}
	cfg.LabelSmoothing = 0.1
	if _, err := New(cfg, t.TempDir(), trainSet, testSet); err == nil {
		t.Error("a teacher with label smoothing was accepted")
	}
}
