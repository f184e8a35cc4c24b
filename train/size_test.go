package train

import (
	"bytes"
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// sizedSynthetic is synthetic at size×size pixels.
func sizedSynthetic(n, size int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 1))
	d := &data.Dataset{Height: size, Width: size, Images: make([]byte, n*3*size*size), Labels: make([]uint8, n)}
	per := d.BytesPerImage()
	for i := range n {
		lab := rng.IntN(data.NumClasses)
		d.Labels[i] = uint8(lab)
		for j := range per {
			d.Images[i*per+j] = uint8(min(255, lab*20+rng.IntN(64)))
		}
	}
	return d
}

// TestTrainAtOtherSize trains a CIFAR ResNet on 40×40 images: the run is
// deterministic, and the Evaluator's figures are the model's forward pass
// on the normalised 40×40 images.
func TestTrainAtOtherSize(t *testing.T) {
	trainSet, testSet := sizedSynthetic(6*8, 40, 1), sizedSynthetic(20, 40, 2)
	cfg := testConfig()
	cfg.Batch, cfg.Epochs = 8, 1
	run := func() ([]byte, nn.Module) {
		r, err := New(cfg, t.TempDir(), trainSet, testSet)
		if err != nil {
			t.Fatal(err)
		}
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		b, err := os.ReadFile(filepath.Join(r.Dir, FinalFile))
		if err != nil {
			t.Fatal(err)
		}
		return b, r.Model
	}
	a, m := run()
	if b, _ := run(); !bytes.Equal(a, b) {
		t.Error("two runs with the same seed differ")
	}

	e := NewEvaluator(7, cfg.Mean, cfg.Std)
	e.Eager = true
	res := e.Run(m, testSet)
	n := testSet.Len()
	x := make([]float32, n*testSet.BytesPerImage())
	idx := make([]int, n)
	labels := make([]int, n)
	for i := range idx {
		idx[i], labels[i] = i, int(testSet.Labels[i])
	}
	testSet.Normalize(x, idx, cfg.Mean, cfg.Std)
	logits := m.Forward(nn.NewCtx(), autograd.NewVar(tensor.FromSlice(x, n, 3, 40, 40))).Value
	pred := make([]int, n)
	tensor.Argmax(pred, logits)
	correct := 0
	for i := range pred {
		if pred[i] == labels[i] {
			correct++
		}
	}
	if res.Total != n || res.Correct != correct {
		t.Errorf("Evaluator: %d/%d, the forward pass by hand: %d/%d", res.Correct, res.Total, correct, n)
	}
	if c := NewEvaluator(7, cfg.Mean, cfg.Std).Run(m, testSet); c.Total != n {
		t.Errorf("compiled Evaluator: %d images", c.Total)
	}
}

func TestTrainSizesDisagree(t *testing.T) {
	_, err := New(testConfig(), t.TempDir(), sizedSynthetic(16, 40, 1), synthetic(8, 2))
	if err == nil || !strings.Contains(err.Error(), "40×40, the test images 32×32") {
		t.Errorf("New with 40×40 training and 32×32 test images: %v", err)
	}
}
