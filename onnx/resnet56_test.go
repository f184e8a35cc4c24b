package onnx

import (
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/train"
)

// TestImportResNet56 exports the pretrained CIFAR ResNet-56 of BONSAI_MODELS from PyTorch
// 1.13 in four forms (opsets 13 and 17, BatchNorm kept and folded), imports each, compares
// the logits with PyTorch's, and counts the correct answers on the CIFAR-10 test set in
// the compiled form: 9339, as the published model (±2 with BatchNorm folded, whose
// rounding differs).
func TestImportResNet56(t *testing.T) {
	testenv.Short(t, "exports ResNet-56 four times and evaluates it on 10000 images")
	models := testenv.Models(t)
	cifar := testenv.CIFAR10(t)
	test, err := data.Load(cifar, data.Test)
	if err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(models, "resnet56-cifar10.safetensors")
	specs := forms(src)
	mean := [3]float32{0.485, 0.456, 0.406}
	std := [3]float32{0.229, 0.224, 0.225}
	for j, p := range torchExport(t, specs...) {
		g := checkAgainstRef(t, p, 1e-4)
		if j == 2 || j == 3 { // opset 17 gives the same graph as 13: evaluate each BN form once
			continue
		}
		if _, err := infer.Compile(g, []int{3, 32, 32}, infer.Options{Batch: 100}); err != nil {
			t.Fatal(err) // Run would fall back to the training path
		}
		res := train.NewEvaluator(100, mean, std).Run(g, test)
		t.Logf("%s: %d/%d correct", filepath.Base(p), res.Correct, res.Total)
		want, slack := 9339, 0
		if j == 1 {
			slack = 2
		}
		if res.Correct < want-slack || res.Correct > want+slack {
			t.Errorf("%s: %d correct, want %d±%d", filepath.Base(p), res.Correct, want, slack)
		}
	}
}
