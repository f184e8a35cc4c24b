package main

import (
	"bufio"
	"encoding/json"
	"fmt"
	"image"
	"image/color"
	"image/png"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// exampleModel is package classify's example model: a CIFAR ResNet-8 with random weights
// and full metadata.
const exampleModel = "../../classify/testdata/example/resnet8.safetensors"

// writePNGs writes images lo…hi-1 of d as 32×32 PNG files in dir and returns their paths.
func writePNGs(t *testing.T, d *data.Dataset, lo, hi int, dir string) []string {
	t.Helper()
	var paths []string
	const plane = data.ImageSize * data.ImageSize
	for i := lo; i < hi; i++ {
		img := image.NewRGBA(image.Rect(0, 0, data.ImageSize, data.ImageSize))
		px := d.Images[i*data.ImageBytes:]
		for j := range plane {
			img.Set(j%data.ImageSize, j/data.ImageSize, color.RGBA{px[j], px[plane+j], px[2*plane+j], 255})
		}
		p := filepath.Join(dir, fmt.Sprintf("%05d.png", i))
		f, err := os.Create(p)
		if err != nil {
			t.Fatal(err)
		}
		if err := png.Encode(f, img); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
		paths = append(paths, p)
	}
	return paths
}

// readPredictions reads eval -predictions' JSON lines.
func readPredictions(t *testing.T, path string) []prediction {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var ps []prediction
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var p prediction
		if err := json.Unmarshal(sc.Bytes(), &p); err != nil {
			t.Fatalf("%s line %d: %v", path, len(ps)+1, err)
		}
		ps = append(ps, p)
	}
	return ps
}

// predictJSON runs bonsai predict -json on paths and returns each image's result.
func predictJSON(t *testing.T, weights string, top int, paths ...string) (int, []predictResult, string) {
	t.Helper()
	code, out, errOut := bonsai(append([]string{"predict", "-weights", weights, "-top", fmt.Sprint(top), "-json"}, paths...)...)
	var rs []predictResult
	for _, line := range strings.Split(strings.TrimSpace(out), "\n") {
		var r predictResult
		if err := json.Unmarshal([]byte(line), &r); err != nil {
			t.Fatalf("predict -json line %q: %v", line, err)
		}
		rs = append(rs, r)
	}
	return code, rs, errOut
}

// syntheticCIFAR returns n random CIFAR-like records.
func syntheticCIFAR(n int) *data.Dataset {
	rng := rand.New(rand.NewPCG(7, 7))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = uint8(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.IntN(10))
	}
	return d
}

// eval -predictions and predict on the same images written as PNG files give the same
// classes and probabilities (the same compiled plan and preprocessing, bit for bit).
func TestPredictAgreesWithEvalPredictions(t *testing.T) {
	d := syntheticCIFAR(40)
	m, meta, err := zoo.Load(exampleModel, "")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	out := filepath.Join(dir, "pred.jsonl")
	var mean, std [3]float32
	copy(mean[:], meta.Mean)
	copy(std[:], meta.Std)
	res, err := evalPredictions(m, meta, mean, std, d, 16, out)
	if err != nil {
		t.Fatal(err)
	}
	ps := readPredictions(t, out)
	if len(ps) != d.Len() || res.Total != d.Len() {
		t.Fatalf("%d predictions, total %d, want %d", len(ps), res.Total, d.Len())
	}
	correct := 0
	for i, p := range ps {
		if p.Index != i || p.Label != int(d.Labels[i]) || p.LabelName != zoo.DefaultClasses("resnet8")[p.Label] || p.PredictedName == "" {
			t.Fatalf("line %d: %+v", i, p)
		}
		if p.Label == p.Predicted {
			correct++
		}
	}
	if correct != res.Correct {
		t.Errorf("%d lines correct, the result says %d", correct, res.Correct)
	}
	paths := writePNGs(t, d, 0, d.Len(), dir)
	code, rs, errOut := predictJSON(t, exampleModel, 1, paths...)
	if code != 0 {
		t.Fatalf("predict: exit %d: %s", code, errOut)
	}
	for i, r := range rs {
		if r.Path != paths[i] || len(r.Predictions) != 1 || r.Predictions[0].Class != ps[i].Predicted || r.Predictions[0].Probability != ps[i].Probability {
			t.Errorf("image %d: predict %+v, eval %+v", i, r, ps[i])
		}
	}
}

// Acceptance 1 of issue 15 with the published ResNet-20: bonsai predict on the first 100
// CIFAR-10 test images written as PNG files gives the classes of bonsai eval -predictions.
func TestPredictAgreesWithEvalCIFAR(t *testing.T) {
	testenv.Short(t, "evaluates 10,000 images")
	models, cifar := testenv.Models(t), testenv.CIFAR10(t)
	weights := filepath.Join(models, "resnet20-cifar10.safetensors")
	dir := t.TempDir()
	out := filepath.Join(dir, "pred.jsonl")
	code, stdout, errOut := bonsai("eval", "-weights", weights, "-data", cifar, "-predictions", out, "-json")
	if code != 0 {
		t.Fatalf("eval: exit %d: %s", code, errOut)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(stdout), &rep); err != nil {
		t.Fatal(err)
	}
	ps := readPredictions(t, out)
	if len(ps) != 10000 || rep.Total != 10000 {
		t.Fatalf("%d predictions, total %d", len(ps), rep.Total)
	}
	// The compiled form's accuracy is the published one (PyTorch's, as eval's without
	// -predictions).
	if rep.Correct != 9173 {
		t.Errorf("eval -predictions: %d correct, want 9173", rep.Correct)
	}
	test, err := data.Load(cifar, data.Test)
	if err != nil {
		t.Fatal(err)
	}
	paths := writePNGs(t, test, 0, 100, dir)
	code, rs, errOut := predictJSON(t, weights, 3, paths...)
	if code != 0 || len(rs) != 100 {
		t.Fatalf("predict: exit %d, %d results: %s", code, len(rs), errOut)
	}
	same := 0
	for i, r := range rs {
		if r.Predictions[0].Class == ps[i].Predicted {
			same++
		} else {
			t.Errorf("image %d: predict says %s, eval -predictions %s", i, r.Predictions[0].Name, ps[i].PredictedName)
		}
		if r.Predictions[0].Probability != ps[i].Probability {
			t.Errorf("image %d: probability %v, eval -predictions %v", i, r.Predictions[0].Probability, ps[i].Probability)
		}
	}
	t.Logf("eval -predictions: %d/10000 correct; predict agrees on %d of 100 images", rep.Correct, same)
}

func TestPredictErrors(t *testing.T) {
	dir := t.TempDir()
	good := writePNGs(t, syntheticCIFAR(2), 0, 2, dir)
	notImage := filepath.Join(dir, "notes.txt")
	os.WriteFile(notImage, []byte("not an image"), 0o644)
	half := filepath.Join(dir, "half.png")
	b, _ := os.ReadFile(good[0])
	os.WriteFile(half, b[:len(b)/2], 0o644)

	// The bad files are named, the others still classified, and the status is 1.
	code, rs, errOut := predictJSON(t, exampleModel, 2, good[0], notImage, half, good[1])
	if code != 1 {
		t.Errorf("exit %d, want 1", code)
	}
	if len(rs) != 4 || len(rs[0].Predictions) != 2 || len(rs[3].Predictions) != 2 || rs[1].Error == "" || rs[2].Error == "" {
		t.Errorf("results %+v", rs)
	}
	for _, p := range []string{notImage, half} {
		if !strings.Contains(errOut, p) {
			t.Errorf("stderr %q does not name %s", errOut, p)
		}
	}
	// Text output: one line per image with its path and top k.
	code, out, _ := bonsai("predict", "-weights", exampleModel, "-top", "3", good[0], good[1])
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if code != 0 || len(lines) != 2 || !strings.HasPrefix(lines[0], good[0]+": ") || strings.Count(lines[0], ",") != 2 {
		t.Errorf("exit %d, output %q", code, out)
	}
	noNorm := writeModel(t, map[string]string{"arch": "resnet20"}, nil)
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"predict", good[0]}, 2, "-weights"},
		{[]string{"predict", "-weights", exampleModel}, 2, "image files"},
		{[]string{"predict", "-weights", exampleModel, "-top", "0", good[0]}, 2, "-top"},
		{[]string{"predict", "-weights", exampleModel, "-arch", "resnet21", good[0]}, 2, "resnet21"},
		{[]string{"predict", "-weights", noNorm, good[0]}, 1, `"mean"`},
		{[]string{"predict", "-weights", filepath.Join(dir, "none.safetensors"), good[0]}, 1, "none.safetensors"},
	} {
		code, _, errOut := bonsai(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}

// A pruned model names its classes, so that predict and serve label its answers: the
// file's own names when it has them, else the architecture's.
func TestPrunedFileNamesClasses(t *testing.T) {
	testenv.Short(t, "prunes a model twice (about 20 s)")
	custom := []string{"ant", "bee", "cicada", "dragonfly", "earwig", "flea", "gnat", "hornet", "ichneumon", "june bug"}
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 3)
	named := filepath.Join(t.TempDir(), "insects.safetensors")
	meta := zoo.Meta{Arch: "resnet8", Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}, Classes: custom}
	if err := nn.SaveState(m, meta.Map()).WriteFile(named); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		model []string
		want  []string
	}{
		{"random", []string{"-arch", "resnet8", "-init", "random"}, zoo.DefaultClasses("resnet8")},
		{"named", []string{"-weights", named}, custom},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			args := append(append([]string{"prune"}, tc.model...), "-data", "synthetic:32", "-calib", "16",
				"-flops", "0.3", "-finetune-epochs", "0", "-out", dir)
			code, out, errOut := bonsai(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, out, errOut)
			}
			_, meta, err := zoo.Load(filepath.Join(dir, "pruned.safetensors"), "")
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(meta.Classes, tc.want) {
				t.Errorf("pruned file's classes %q, want %q", meta.Classes, tc.want)
			}
		})
	}
}
