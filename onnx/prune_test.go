package onnx

import (
	"context"
	"math/rand/v2"
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// randomImages returns n random CIFAR-sized images with random labels.
func randomImages(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = uint8(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.IntN(10))
	}
	return d
}

// pruneRun prunes m (architecture arch) by 40 % of its MACs in one step with one epoch of
// fine-tuning on random images and returns the driver.
func pruneRun(t *testing.T, m nn.Module, arch string, epochs int, residual bool) *prune.Driver {
	t.Helper()
	d := &prune.Driver{
		Config: prune.RunConfig{
			Arch: arch, Criterion: prune.Sensitivity, Ranking: prune.Uniform, FLOPs: 0.4, Steps: 1,
			Calib: 32, CalibBatch: 32, FinetuneEpochs: epochs, Batch: 32, LR: 0.001, Momentum: 0.9, WD: 5e-4,
			Schedule: "cosine", Seed: 1, Mean: zoo.DefaultMean, Std: zoo.DefaultStd, PruneResidual: residual,
		},
		Dir: filepath.Join(t.TempDir(), "run"), Model: m, InShape: []int{3, 32, 32},
		Train: randomImages(64, 1), Test: randomImages(32, 2),
	}
	err := d.Run(context.Background())
	if err = d.Close(err); err != nil {
		t.Fatal(err)
	}
	return d
}

// TestPruneImported imports a CIFAR ResNet-20 (option A, exported to ONNX here), checks
// that pruning traces it into as many groups as the zoo model, prunes it by 40 % of its
// MACs and fine-tunes it for an epoch, reloads pruned.safetensors (the graph travels in
// its metadata), exports the pruned model and compares it in ONNX Runtime and imported.
func TestPruneImported(t *testing.T) {
	testenv.Short(t, "prunes and fine-tunes a ResNet-20")
	zm, err := zoo.New("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(zm, 1)
	drawBN(zm, 2)
	src := filepath.Join(t.TempDir(), "resnet20.onnx")
	if err := Export(src, zm, []int{3, 32, 32}, zoo.Meta{Arch: "resnet20"}, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	g, meta, err := Import(src)
	if err != nil {
		t.Fatal(err)
	}
	gz, err := prune.Trace(zm, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	gg, err := prune.Trace(g, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	if a, b := len(gz.Prunable()), len(gg.Prunable()); a != b || b == 0 {
		t.Errorf("imported graph: %d prunable groups, the zoo model %d", b, a)
	}
	d := pruneRun(t, g, meta.Arch, 1, false)
	s := d.Summary()
	if !(float64(s.MACsAfter) < 0.65*float64(s.MACsBefore)) {
		t.Errorf("MACs %d → %d: want 40 %% fewer", s.MACsBefore, s.MACsAfter)
	}
	pm, pmeta, err := zoo.Load(filepath.Join(d.Dir, "pruned.safetensors"), "")
	if err != nil {
		t.Fatal(err)
	}
	if got := nn.Summarize(pm, 3, 32, 32).MACs; got != s.MACsAfter {
		t.Errorf("pruned.safetensors: %d MACs, the run says %d", got, s.MACsAfter)
	}
	x := randomInput(2, []int{3, 32, 32}, 5)
	want := logits(d.Model, x)
	within(t, "pruned.safetensors reloaded", logits(pm, x), want, 1e-6)
	out := filepath.Join(t.TempDir(), "pruned.onnx")
	if err := Export(out, pm, []int{3, 32, 32}, pmeta, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	back, _, err := Import(out)
	if err != nil {
		t.Fatal(err)
	}
	if got := nn.Summarize(back, 3, 32, 32).MACs; got != s.MACsAfter {
		t.Errorf("pruned.onnx imported: %d MACs, the run says %d", got, s.MACsAfter)
	}
	within(t, "pruned.onnx imported", logits(back, x), want, 1e-4)
	within(t, "pruned.onnx in onnxruntime", runORT(t, out, x), want, 1e-4)
}

// TestExportPrunedResNet56 prunes the pretrained ResNet-56 of BONSAI_MODELS (residual
// streams too, so that its option-A shortcuts get irregular channel maps) by 40 % of its
// MACs without fine-tuning, exports it and compares ONNX Runtime's logits with Bonsai's.
func TestExportPrunedResNet56(t *testing.T) {
	testenv.Short(t, "prunes a ResNet-56")
	m, _, err := zoo.Load(filepath.Join(testenv.Models(t), "resnet56-cifar10.safetensors"), "resnet56")
	if err != nil {
		t.Fatal(err)
	}
	d := pruneRun(t, m, "resnet56", 0, true)
	x := randomInput(2, []int{3, 32, 32}, 5)
	want := logits(d.Model, x)
	out := filepath.Join(t.TempDir(), "pruned56.onnx")
	if err := Export(out, d.Model, []int{3, 32, 32}, zoo.Meta{Arch: "resnet56"}, ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	within(t, "pruned ResNet-56 in onnxruntime", runORT(t, out, x), want, 1e-4)
	back, _, err := Import(out)
	if err != nil {
		t.Fatal(err)
	}
	within(t, "pruned ResNet-56 imported", logits(back, x), want, 1e-4)
	if a, b := nn.Summarize(back, 3, 32, 32).MACs, nn.Summarize(d.Model, 3, 32, 32).MACs; a != b {
		t.Errorf("pruned ResNet-56 imported: %d MACs, want %d", a, b)
	}
}

// TestPruneTorchvision imports torchvision's ResNet-18 and MobileNetV2 exported by PyTorch
// 1.13, prunes each by 50 % of its MACs on synthetic 224×224 inputs (as `bonsai prune
// -data synthetic:224 -flops 0.5 -finetune-epochs 0`, with fewer calibration images),
// exports the pruned model and checks that ONNX Runtime agrees with Bonsai on it and that
// the file's MACs are the run's.
func TestPruneTorchvision(t *testing.T) {
	testenv.Short(t, "prunes two ImageNet models")
	paths := torchExport(t, "resnet18:13:kept", "mobilenet_v2:13:folded")
	for _, p := range paths {
		t.Run(filepath.Base(p), func(t *testing.T) {
			g, meta, err := Import(p)
			if err != nil {
				t.Fatal(err)
			}
			d := &prune.Driver{
				Config: prune.RunConfig{
					Arch: meta.Arch, Criterion: prune.Sensitivity, Ranking: prune.Global, FLOPs: 0.5, Steps: 1,
					Calib: 8, CalibBatch: 8, Batch: 8, LR: 0.01, Momentum: 0.9, WD: 5e-4,
					Schedule: "cosine", Seed: 1, Mean: zoo.DefaultMean, Std: zoo.DefaultStd,
				},
				Dir: filepath.Join(t.TempDir(), "run"), Model: g, InShape: []int{3, 224, 224},
			}
			err = d.Run(context.Background())
			if err = d.Close(err); err != nil {
				t.Fatal(err)
			}
			s := d.Summary()
			if !(float64(s.MACsAfter) <= 0.52*float64(s.MACsBefore)) {
				t.Errorf("MACs %d → %d: want 50 %% fewer", s.MACsBefore, s.MACsAfter)
			}
			out := filepath.Join(t.TempDir(), "pruned.onnx")
			if err := Export(out, d.Model, []int{3, 224, 224}, meta, ExportOptions{}); err != nil {
				t.Fatal(err)
			}
			back, _, err := Import(out)
			if err != nil {
				t.Fatal(err)
			}
			if got := nn.Summarize(back, 3, 224, 224).MACs; got != s.MACsAfter {
				t.Errorf("pruned.onnx: %d MACs, the run says %d", got, s.MACsAfter)
			}
			x := randomInput(1, []int{3, 224, 224}, 5)
			within(t, "pruned model in onnxruntime", runORT(t, out, x), logits(d.Model, x), 1e-4)
		})
	}
}
