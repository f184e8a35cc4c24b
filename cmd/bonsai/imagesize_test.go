package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/data/imagefolder"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/train"
)

// imageSizeModel writes a CIFAR ResNet-8 with seeded random weights as an ONNX file
// whose input is [3, size, size]: an imported model whose input size is known only
// from the file. It returns the path.
func imageSizeModel(t *testing.T, size int) string {
	t.Helper()
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 5)
	path := filepath.Join(t.TempDir(), fmt.Sprintf("resnet8-%d.onnx", size))
	meta := zoo.Meta{Mean: data.CIFAR10Mean[:], Std: data.CIFAR10Std[:]}
	if err := onnx.Export(path, m, []int{3, size, size}, meta, onnx.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	return path
}

// writeAssortedImageFolder writes, under root/SPLIT/CLASS for each split, n images
// per class of assorted sizes (wider, taller, smaller and larger than 64 pixels) as
// PNG and JPEG files, with smooth content that differs by class and image.
func writeAssortedImageFolder(t *testing.T, classes []string, n int, splits ...string) string {
	t.Helper()
	root := t.TempDir()
	sizes := [][2]int{{90, 64}, {50, 70}, {64, 64}, {30, 20}, {120, 100}}
	k := 0
	for _, split := range splits {
		for c, class := range classes {
			dir := filepath.Join(root, split, class)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				k++
				w, h := sizes[k%len(sizes)][0], sizes[k%len(sizes)][1]
				img := image.NewNRGBA(image.Rect(0, 0, w, h))
				for y := range h {
					for x := range w {
						img.Set(x, y, color.NRGBA{uint8(x*(3+c) + 17*k), uint8(y*(5-c) + 40*c), uint8((x + y) * (i + 1)), 255})
					}
				}
				var buf bytes.Buffer
				name := fmt.Sprintf("%02d.png", i)
				if k%3 == 0 {
					name = fmt.Sprintf("%02d.jpg", i)
					err := jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
					if err != nil {
						t.Fatal(err)
					}
				} else if err := png.Encode(&buf, img); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, name), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

// An image folder of assorted sizes evaluated by a model whose input is 64×64 gives
// the predictions and count of the same files brought to 64×64 by classify.Pixels,
// normalised and run through the model's forward pass by hand.
func TestEvalImageFolderAtModelSize(t *testing.T) {
	const size = 64
	weights := imageSizeModel(t, size)
	root := writeAssortedImageFolder(t, []string{"ant", "bee", "cat"}, 4, "val")

	// By hand: the files in torchvision's order, preprocessed at 64×64.
	_, samples, err := imagefolder.Scan(filepath.Join(root, "val"))
	if err != nil {
		t.Fatal(err)
	}
	m, meta, err := zoo.Load(weights, "")
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err := meta.Normalization(false)
	if err != nil {
		t.Fatal(err)
	}
	d := &data.Dataset{Height: size, Width: size, Classes: 3}
	for _, s := range samples {
		img, err := classify.ReadImage(s.Path)
		if err != nil {
			t.Fatal(err)
		}
		if d.Images, err = classify.Pixels(d.Images, img, size, size); err != nil {
			t.Fatal(err)
		}
		d.Labels = append(d.Labels, uint8(s.Label))
	}
	n := d.Len()
	idx := make([]int, n)
	for i := range idx {
		idx[i] = i
	}
	x := make([]float32, n*d.BytesPerImage())
	d.Normalize(x, idx, mean, std)
	nn.SetTraining(m, false)
	logits := m.Forward(nn.NewCtx(), autograd.NewVar(tensor.FromSlice(x, n, 3, size, size))).Value
	want := make([]int, n)
	tensor.Argmax(want, logits)
	correct := 0
	classes := logits.Shape[1]
	for i, p := range want {
		if p == int(d.Labels[i]) {
			correct++
		}
		// A near tie could flip between the eager and the compiled form.
		row := append([]float32(nil), logits.Data[i*classes:(i+1)*classes]...)
		best := row[p]
		row[p] = float32(math.Inf(-1))
		second := row[0]
		for _, v := range row {
			second = max(second, v)
		}
		if best-second < 1e-4*max(1, float32(math.Abs(float64(best)))) {
			t.Fatalf("image %d: top two logits %v and %v are too close to compare", i, best, second)
		}
	}
	distinct := map[int]bool{}
	for _, p := range want {
		distinct[p] = true
	}
	t.Logf("%d images, %d correct by hand, predicted classes %v", n, correct, distinct)

	pred := filepath.Join(t.TempDir(), "pred.jsonl")
	code, out, errOut := bonsai("eval", "-weights", weights, "-data", "imagefolder:"+root, "-json", "-predictions", pred)
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errOut)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total != n || rep.Correct != correct {
		t.Errorf("eval -predictions: %d/%d correct, by hand %d/%d", rep.Correct, rep.Total, correct, n)
	}
	got := readPredictions(t, pred)
	if len(got) != n {
		t.Fatalf("%d predictions, want %d", len(got), n)
	}
	for i, p := range got {
		if p.Index != i || p.Label != int(d.Labels[i]) || p.Predicted != want[i] {
			t.Errorf("image %d (%s): %+v, want label %d predicted %d", i, samples[i].Path, p, d.Labels[i], want[i])
		}
	}
	// The evaluator's path (no -predictions) counts the same.
	code, out, errOut = bonsai("eval", "-weights", weights, "-data", "imagefolder:"+root, "-json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(out), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Total != n || rep.Correct != correct {
		t.Errorf("eval: %d/%d correct, by hand %d/%d", rep.Correct, rep.Total, correct, n)
	}
}

// bonsai train on an image folder at a model's 64×64 input runs an epoch with a
// finite loss, and the same seed gives the same weights, resumed or not.
func TestTrainImageFolderAtModelSize(t *testing.T) {
	testenv.Short(t, "trains a 64×64 ResNet-8 twice")
	weights := imageSizeModel(t, 64)
	root := writeAssortedImageFolder(t, []string{"ant", "bee", "cat"}, 4, "train", "val")
	// final trains for an epoch, stopping after stopAt steps and resuming when
	// stopAt > 0, and returns the final weights.
	final := func(stopAt int) []byte {
		t.Helper()
		out := t.TempDir()
		args := []string{"train", "-weights", weights, "-data", "imagefolder:" + root, "-epochs", "1", "-batch", "4",
			"-lr", "0.01", "-schedule", "constant", "-seed", "7", "-out", out}
		if stopAt > 0 {
			if code, stdout, errOut := bonsai(append(args, "-max-steps", fmt.Sprint(stopAt))...); code != 0 {
				t.Fatalf("train -max-steps %d: exit %d: %s\n%s", stopAt, code, stdout, errOut)
			}
			args = []string{"train", "-resume", "-out", out}
		}
		code, stdout, errOut := bonsai(args...)
		if code != 0 || !strings.Contains(stdout, "done:") {
			t.Fatalf("%q: exit %d: %s\n%s", args, code, stdout, errOut)
		}
		metrics, err := os.ReadFile(filepath.Join(out, train.MetricsFile))
		if err != nil {
			t.Fatal(err)
		}
		var met train.EpochMetrics
		if err := json.Unmarshal(bytes.TrimSpace(metrics), &met); err != nil {
			t.Fatalf("%s %q: %v", train.MetricsFile, metrics, err)
		}
		finite := func(v float64) bool { return v > 0 && !math.IsInf(v, 0) }
		if !finite(met.TrainLoss) || !finite(met.TestLoss) || met.Step != 3 {
			t.Errorf("epoch 1: %d steps, train loss %v, test loss %v: want 3 steps and finite positive losses", met.Step, met.TrainLoss, met.TestLoss)
		}
		t.Logf("epoch 1: train loss %.4f, test loss %.4f", met.TrainLoss, met.TestLoss)
		b, err := os.ReadFile(filepath.Join(out, train.FinalFile))
		if err != nil {
			t.Fatal(err)
		}
		return b
	}
	a, b, c := final(0), final(0), final(2)
	if !bytes.Equal(a, b) {
		t.Errorf("two runs with the same seed wrote different %s", train.FinalFile)
	}
	if !bytes.Equal(a, c) {
		t.Errorf("a run stopped after 2 steps and resumed wrote another %s than an uninterrupted one", train.FinalFile)
	}
}

// bonsai prune on an image folder at a model's 64×64 input calibrates, prunes,
// fine-tunes for an epoch and writes pruned files that evaluate on the folder.
func TestPruneImageFolderAtModelSize(t *testing.T) {
	testenv.Short(t, "prunes and fine-tunes a 64×64 ResNet-8")
	weights := imageSizeModel(t, 64)
	root := writeAssortedImageFolder(t, []string{"ant", "bee", "cat"}, 4, "train", "val")
	out := filepath.Join(t.TempDir(), "run")
	code, stdout, errOut := bonsai("prune", "-weights", weights, "-data", "imagefolder:"+root, "-flops", "0.5", "-calib", "8",
		"-calib-batch", "4", "-finetune-epochs", "1", "-batch", "4", "-bench-batch", "2", "-json", "-out", out)
	if code != 0 {
		t.Fatalf("prune: exit %d: %s\n%s", code, stdout, errOut)
	}
	var sum pruneSummary
	if err := json.Unmarshal([]byte(stdout[strings.LastIndex(strings.TrimSpace(stdout), "\n")+1:]), &sum); err != nil {
		t.Fatalf("prune -json: %v\n%s", err, stdout)
	}
	if !(sum.MACsAfter < sum.MACsBefore) || sum.AccFinetuned < 0 {
		t.Errorf("MACs %d → %d, accuracy after fine-tuning %v", sum.MACsBefore, sum.MACsAfter, sum.AccFinetuned)
	}
	// The MACs are those of a 64×64 input: four times the 32×32 figure of the
	// same model, give or take the classifier.
	m, _, err := zoo.Load(weights, "")
	if err != nil {
		t.Fatal(err)
	}
	if at64, at32 := nn.Summarize(m, 3, 64, 64).MACs, nn.Summarize(m, 3, 32, 32).MACs; sum.MACsBefore != at64 || at64 < 3*at32 {
		t.Errorf("MACs before pruning %d; the model's at 64×64: %d, at 32×32: %d", sum.MACsBefore, at64, at32)
	}
	for _, f := range []string{"pruned.safetensors", "pruned.onnx"} {
		code, _, errOut := bonsai("eval", "-weights", filepath.Join(out, f), "-data", "imagefolder:"+root, "-json")
		if code != 0 {
			t.Errorf("eval %s: exit %d: %s", f, code, errOut)
		}
	}
}

// loadData brings an image folder to the input size of the architecture: an imported
// model's recorded size, 32×32 for a CIFAR ResNet, 224×224 for an ImageNet one; an
// unknown architecture or one with more classes than outputs is an error.
func TestLoadDataImageSize(t *testing.T) {
	root := writeAssortedImageFolder(t, []string{"ant", "bee"}, 1, "train", "val")
	_, meta, err := zoo.Load(imageSizeModel(t, 48), "")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		arch string
		size int
	}{{meta.Arch, 48}, {"resnet8", 32}, {"mobilenet_v2", 224}} {
		tr, te, err := loadData("imagefolder:"+root, tc.arch)
		if err != nil {
			t.Fatalf("%s: %v", tc.arch, err)
		}
		for _, d := range []*data.Dataset{tr, te} {
			if h, w := d.Size(); h != tc.size || w != tc.size || d.Len() != 2 || d.Classes != 2 {
				t.Errorf("%s: %d images of %d×%d, %d classes; want 2 of %d×%d, 2", tc.arch, d.Len(), h, w, d.Classes, tc.size, tc.size)
			}
		}
		te2, _, err := loadTestSet("imagefolder:"+root, tc.arch)
		if err != nil || !bytes.Equal(te2.Images, te.Images) {
			t.Errorf("%s: loadTestSet differs from loadData's test set (%v)", tc.arch, err)
		}
	}
	if _, _, err := loadData("imagefolder:"+root, "graph_000000000000"); err == nil || !strings.Contains(err.Error(), "model's input size") {
		t.Errorf("unknown architecture: %v", err)
	}
	many := writeAssortedImageFolder(t, strings.Split("a b c d e f g h i j k", " "), 1, "train", "val")
	if _, _, err := loadData("imagefolder:"+many, "resnet8"); err == nil || !strings.Contains(err.Error(), "11 class folders, but the model has 10 outputs") {
		t.Errorf("11 classes for 10 outputs: %v", err)
	}
}
