package infer_test

import (
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestSharedModelsTestSet runs the shared CIFAR ResNet-20 and ResNet-56 on the whole CIFAR-10
// test set, compiled (a plan for batch 100, and for ResNet-20 one for batch 1) and through the training-path forward pass:
// the compiled counts must stay within ±2 of the published 9173 and 9339, and the test logs
// the images whose predicted class differs between the two.
func TestSharedModelsTestSet(t *testing.T) {
	if testing.Short() {
		t.Skip("20,000 test-set forward passes per model")
	}
	models := testenv.Models(t)
	test, err := data.Load(testenv.CIFAR10(t), data.Test)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct {
		file      string
		published int
	}{{"resnet20-cifar10.safetensors", 9173}, {"resnet56-cifar10.safetensors", 9339}} {
		t.Run(c.file, func(t *testing.T) {
			m, meta, err := zoo.Load(filepath.Join(models, c.file), "")
			if err != nil {
				t.Fatal(err)
			}
			mean, std := [3]float32(meta.Mean), [3]float32(meta.Std)
			const batch = 100
			eager := predictions(t, test, batch, mean, std, func(x *tensor.Tensor) *tensor.Tensor {
				ctx := nn.NewCtx()
				return m.Forward(ctx, autograd.NewVar(x)).Value
			})
			plans := []int{batch}
			if c.published == 9173 {
				plans = append(plans, 1) // the 8×8 layers run direct in this plan
			}
			for _, plan := range plans {
				cm, err := infer.Compile(m, []int{3, 32, 32}, infer.Options{Batch: plan})
				if err != nil {
					t.Fatal(err)
				}
				r := cm.NewRunner(batch)
				compiled := predictions(t, test, batch, mean, std, func(x *tensor.Tensor) *tensor.Tensor {
					y, err := r.Run(x)
					if err != nil {
						t.Fatal(err)
					}
					return y
				})
				correct, eagerCorrect := 0, 0
				var changed []int
				for i := range compiled {
					if compiled[i] == int(test.Labels[i]) {
						correct++
					}
					if eager[i] == int(test.Labels[i]) {
						eagerCorrect++
					}
					if compiled[i] != eager[i] {
						changed = append(changed, i)
					}
				}
				t.Logf("plan for batch %d: %d correct compiled, %d eager; images whose class changed: %v", plan, correct, eagerCorrect, changed)
				if correct < c.published-2 || correct > c.published+2 {
					t.Errorf("plan for batch %d: %d correct, want %d ± 2", plan, correct, c.published)
				}
			}
		})
	}
}

// predictions returns the predicted class of every image of d.
func predictions(t *testing.T, d *data.Dataset, batch int, mean, std [3]float32, forward func(*tensor.Tensor) *tensor.Tensor) []int {
	t.Helper()
	x := make([]float32, batch*data.ImageBytes)
	idx := make([]int, batch)
	pred := make([]int, d.Len())
	for i0 := 0; i0 < d.Len(); i0 += batch {
		b := min(batch, d.Len()-i0)
		for j := range b {
			idx[j] = i0 + j
		}
		d.Normalize(x, idx[:b], mean, std)
		y := forward(tensor.FromSlice(x[:b*data.ImageBytes], b, 3, 32, 32))
		tensor.Argmax(pred[i0:i0+b], y)
	}
	return pred
}
