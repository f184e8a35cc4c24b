package onnx

import (
	"context"
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// head returns the first n images of d.
func head(d *data.Dataset, n int) *data.Dataset {
	return &data.Dataset{Images: d.Images[:n*data.ImageBytes], Labels: d.Labels[:n]}
}

// TestFineTuneImportedResNet56 takes the pretrained CIFAR ResNet-56 of BONSAI_MODELS
// through PyTorch 1.13's ONNX export (opset 13, BatchNorm kept), imports it, and prunes
// half of its MACs and fine-tunes it for one epoch on CIFAR-10 as bonsai prune does a zoo
// model (the default configuration: exact Fisher, channel scope, augmented calibration,
// global-flops), on the first 5000 training images and 1000 test images to stay short.
// The imported graph must train: one epoch lifts the accuracy right after pruning by at
// least 10 points, to at least 75 %.
func TestFineTuneImportedResNet56(t *testing.T) {
	testenv.Short(t, "prunes and fine-tunes an imported ResNet-56 on CIFAR-10")
	models := testenv.Models(t)
	cifar := testenv.CIFAR10(t)
	train, err := data.Load(cifar, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	test, err := data.Load(cifar, data.Test)
	if err != nil {
		t.Fatal(err)
	}
	p := torchExport(t, filepath.Join(models, "resnet56-cifar10.safetensors")+":13:kept")[0]
	g, meta, err := Import(p)
	if err != nil {
		t.Fatal(err)
	}
	d := &prune.Driver{
		Config: prune.RunConfig{
			Arch: meta.Arch, Criterion: prune.Sensitivity, Scope: prune.ScopeChannel, Fisher: prune.FisherExact,
			CalibAugment: true, Ranking: prune.GlobalFLOPs, FLOPs: 0.5, Steps: 1, Calib: 256, CalibBatch: 128,
			FinetuneEpochs: 1, Batch: 128, LR: 0.01, Momentum: 0.9, WD: 5e-4, Schedule: "cosine", Seed: 1,
			Mean: [3]float32{0.485, 0.456, 0.406}, Std: [3]float32{0.229, 0.224, 0.225},
		},
		Dir: filepath.Join(t.TempDir(), "run"), Model: g, InShape: []int{3, 32, 32},
		Train: head(train, 5000), Test: head(test, 1000),
	}
	err = d.Run(context.Background())
	if err = d.Close(err); err != nil {
		t.Fatal(err)
	}
	s := d.Summary()
	t.Logf("imported ResNet-56: %d → %d MACs; accuracy %.2f %% → %.2f %% right after pruning → %.2f %% after one epoch",
		s.MACsBefore, s.MACsAfter, 100*s.AccBefore, 100*s.AccPruned, 100*s.AccFinetuned)
	if !(float64(s.MACsAfter) <= 0.51*float64(s.MACsBefore)) {
		t.Errorf("MACs %d → %d: want half removed", s.MACsBefore, s.MACsAfter)
	}
	if !(s.AccFinetuned >= s.AccPruned+0.10 && s.AccFinetuned >= 0.75) {
		t.Errorf("one epoch of fine-tuning: %.2f %% → %.2f %%, want +10 points and at least 75 %%", 100*s.AccPruned, 100*s.AccFinetuned)
	}
	if _, _, err := zoo.Load(filepath.Join(d.Dir, "pruned.safetensors"), ""); err != nil {
		t.Errorf("pruned.safetensors: %v", err)
	}
}
