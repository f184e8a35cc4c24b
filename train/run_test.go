package train

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// synthetic returns n random images whose label is a function of their
// mean brightness, so that a model can learn something.
func synthetic(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range n {
		lab := rng.IntN(data.NumClasses)
		d.Labels[i] = uint8(lab)
		for j := range data.ImageBytes {
			d.Images[i*data.ImageBytes+j] = uint8(min(255, lab*20+rng.IntN(64)))
		}
	}
	return d
}

func testConfig() Config {
	return Config{Arch: "resnet8", Epochs: 2, Batch: 16, Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4,
		Schedule: "cosine", Seed: 3, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std, Augment: true}
}

func TestDeterministicAcrossGOMAXPROCS(t *testing.T) {
	trainSet, testSet := synthetic(20*16, 1), synthetic(32, 2)
	final := func(procs int) []byte {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
		r, err := New(testConfig(), t.TempDir(), trainSet, testSet)
		if err != nil {
			t.Fatal(err)
		}
		r.MaxSteps = 20
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(r.Dir, CheckpointFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	one, two := final(1), final(2)
	if !bytes.Equal(one, two) {
		t.Error("checkpoints after 20 steps differ between GOMAXPROCS=1 and 2")
	}
}

func TestResumeIsBitIdentical(t *testing.T) {
	trainSet, testSet := synthetic(5*16+7, 4), synthetic(40, 5)
	cfg := testConfig()
	cfg.CheckpointEvery = 3
	whole := t.TempDir()
	r, err := New(cfg, whole, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	// Stop mid-epoch 2, resume in a new Run (as a new process would).
	parts := t.TempDir()
	r, err = New(cfg, parts, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	r.MaxSteps = 8 // epoch 1 has 6 steps
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	r, err = Resume(parts, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if r.Epoch != 1 || r.Step != 8 {
		t.Fatalf("resumed at epoch %d step %d, want 1 and 8", r.Epoch, r.Step)
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{FinalFile, CheckpointFile} {
		a, _ := os.ReadFile(filepath.Join(whole, name))
		b, _ := os.ReadFile(filepath.Join(parts, name))
		if len(a) == 0 || !bytes.Equal(a, b) {
			t.Errorf("%s differs between the uninterrupted and the resumed run", name)
		}
	}
	f, err := safetensors.ReadFile(filepath.Join(whole, CheckpointFile))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["arch"] != "resnet8" || f.Metadata["epoch"] != "2" || f.Tensors["optim.conv1.weight.momentum_buffer"] == nil {
		t.Errorf("checkpoint metadata %v, optimizer state present: %v", f.Metadata, f.Tensors["optim.conv1.weight.momentum_buffer"] != nil)
	}
}

func TestNonFiniteLossStops(t *testing.T) {
	trainSet, testSet := synthetic(64, 6), synthetic(16, 7)
	cfg := testConfig()
	cfg.LR = 1e30
	cfg.CheckpointEvery = 1
	r, err := New(cfg, t.TempDir(), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Train(context.Background())
	if err == nil || !bytes.Contains([]byte(err.Error()), []byte("not finite")) {
		t.Fatalf("Train = %v, want a non-finite loss error", err)
	}
	if _, err := Resume(r.Dir, trainSet, testSet); err != nil {
		t.Errorf("the last good checkpoint does not load: %v", err)
	}
}

// trainResumed trains cfg in dir to the end; with stopAt > 0 the first
// process stops after stopAt steps and a resumed one finishes the run.
func trainResumed(t *testing.T, cfg Config, dir string, trainSet, testSet *data.Dataset, stopAt int) {
	t.Helper()
	r, err := New(cfg, dir, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if stopAt > 0 {
		r.MaxSteps = stopAt
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		if r, err = Resume(dir, trainSet, testSet); err != nil {
			t.Fatal(err)
		}
	}
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
}
