package classify

import (
	"bytes"
	"errors"
	"flag"
	"image"
	"image/color"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"sync"
	"testing"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

var updateExample = flag.Bool("update-example", false, "rewrite testdata/example/resnet8.safetensors")

const exampleModel = "testdata/example/resnet8.safetensors"

// exampleModelBytes builds the example's model file: a CIFAR ResNet-8 with seeded random
// weights and CIFAR-10 metadata.
func exampleModelBytes(t *testing.T) []byte {
	t.Helper()
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 1)
	meta := zoo.Meta{Arch: "resnet8", Mean: []float32{0.4914, 0.4822, 0.4465}, Std: []float32{0.2470, 0.2435, 0.2616},
		Classes: zoo.DefaultClasses("resnet8"), Extra: map[string]string{"note": "random weights (zoo.InitWeights seed 1): for package classify's example only"}}
	path := filepath.Join(t.TempDir(), "m.safetensors")
	if err := nn.SaveState(m, meta.Map()).WriteFile(path); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// The example's model file is what exampleModelBytes writes (run with -update-example to
// rewrite it).
func TestExampleModelFile(t *testing.T) {
	want := exampleModelBytes(t)
	if *updateExample {
		if err := os.MkdirAll(filepath.Dir(exampleModel), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(exampleModel, want, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	got, err := os.ReadFile(exampleModel)
	if err != nil {
		t.Fatalf("%v (write it with go test ./classify -run TestExampleModelFile -update-example)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s is stale: rewrite it with go test ./classify -run TestExampleModelFile -update-example", exampleModel)
	}
}

func loadExample(t testing.TB, o Options) *Classifier {
	t.Helper()
	c, err := Load(exampleModel, o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// testImages returns n varied synthetic images of different sizes and types.
func testImages(n int) []image.Image {
	imgs := make([]image.Image, n)
	for i := range imgs {
		w, h := 20+7*i, 32+5*(i%4)
		if i%3 == 0 {
			w, h = 32, 32
		}
		m := image.NewNRGBA(image.Rect(0, 0, w, h))
		for y := range h {
			for x := range w {
				m.SetNRGBA(x, y, color.NRGBA{uint8(x*9 + i*31), uint8(y*7 + i*17), uint8((x ^ y) * 5), 255})
			}
		}
		imgs[i] = m
	}
	return imgs
}

// The classifier's probabilities are the softmax of the compiled model's logits for the
// preprocessed image, and each image's answer is the same alone, in any batch, and from
// concurrent goroutines.
func TestClassifierBatchesAndConcurrency(t *testing.T) {
	c := loadExample(t, Options{MaxBatch: 4, Runners: 2})
	if c.Arch() != "resnet8" || c.Classes() != 10 || !slices.Equal(c.InputShape(), []int{3, 32, 32}) || c.Names()[3] != "cat" {
		t.Fatalf("arch %s, %d classes, input %v, names %v", c.Arch(), c.Classes(), c.InputShape(), c.Names())
	}
	imgs := testImages(11)
	alone := make([][]Prediction, len(imgs))
	for i, img := range imgs {
		p, err := c.Classify(img, 10)
		if err != nil {
			t.Fatal(err)
		}
		alone[i] = p
	}
	// The reference: the model compiled separately, run on the preprocessed images.
	m, meta, err := zoo.Load(exampleModel, "")
	if err != nil {
		t.Fatal(err)
	}
	cm, err := infer.Compile(m, []int{3, 32, 32}, infer.Options{Batch: 4})
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(1, 3, 32, 32)
	probs := make([]float64, 10)
	for i, img := range imgs {
		if err := c.Preprocess(x.Data, img); err != nil {
			t.Fatal(err)
		}
		y, err := cm.NewRunner(1).Run(x)
		if err != nil {
			t.Fatal(err)
		}
		Softmax(probs, y.Data)
		want := TopK(probs, 10, meta.Classes)
		if !slices.Equal(alone[i], want) {
			t.Fatalf("image %d: %v, want %v", i, alone[i], want)
		}
		sum := 0.0
		for _, p := range alone[i] {
			sum += p.Probability
		}
		if math.Abs(sum-1) > 1e-9 {
			t.Errorf("image %d: probabilities sum to %v", i, sum)
		}
	}
	batch, err := c.ClassifyBatch(imgs, 10) // 11 images: batches of 4, 4, 3
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		if !slices.Equal(batch[i], alone[i]) {
			t.Errorf("image %d: in a batch %v, alone %v", i, batch[i], alone[i])
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for g := range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for r := range 5 {
				i := (g*5 + r) % len(imgs)
				lo := min(i, len(imgs)-3)
				p, err := c.ClassifyBatch(imgs[lo:lo+3], 10)
				if err != nil {
					errs <- err
					return
				}
				if !slices.Equal(p[i-lo], alone[i]) {
					errs <- errors.New("a concurrent answer differs")
					return
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

func TestClassifyTensorAndTopK(t *testing.T) {
	c := loadExample(t, Options{MaxBatch: 2})
	imgs := testImages(5)
	x := tensor.New(5, 3, 32, 32)
	for i, img := range imgs {
		if err := c.Preprocess(x.Data[i*3072:(i+1)*3072], img); err != nil {
			t.Fatal(err)
		}
	}
	got, err := c.ClassifyTensor(x, 3)
	if err != nil {
		t.Fatal(err)
	}
	want, err := c.ClassifyBatch(imgs, 3)
	if err != nil {
		t.Fatal(err)
	}
	for i := range imgs {
		if len(got[i]) != 3 || !slices.Equal(got[i], want[i]) {
			t.Errorf("image %d: tensor %v, images %v", i, got[i], want[i])
		}
		if got[i][0].Probability < got[i][1].Probability || got[i][1].Probability < got[i][2].Probability {
			t.Errorf("image %d: not in decreasing order: %v", i, got[i])
		}
	}
	if p, _ := c.Classify(imgs[0], 50); len(p) != 10 {
		t.Errorf("top 50 of 10 classes gave %d", len(p))
	}
	for _, bad := range []*tensor.Tensor{tensor.New(1, 3, 28, 28), tensor.New(3, 32, 32), tensor.New(0, 3, 32, 32)} {
		if _, err := c.ClassifyTensor(bad, 1); err == nil {
			t.Errorf("input %v: no error", bad.Shape)
		}
	}
	if _, err := c.Classify(imgs[0], 0); err == nil {
		t.Error("k = 0: no error")
	}
	if _, err := c.Classify(image.NewNRGBA(image.Rect(0, 0, 0, 5)), 1); err == nil {
		t.Error("empty image: no error")
	}
	if err := c.Preprocess(make([]float32, 10), imgs[0]); err == nil {
		t.Error("Preprocess into a short slice: no error")
	}
	// Ties keep class order; names are optional.
	p := TopK([]float64{0.25, 0.5, 0.25, 0}, 3, nil)
	if p[0].Class != 1 || p[1].Class != 0 || p[2].Class != 2 || p[0].Name != "" {
		t.Errorf("TopK with ties: %v", p)
	}
	if Softmax(make([]float64, 2), []float32{1, float32(math.NaN())}) {
		t.Error("Softmax accepted a NaN")
	}
}

// Bad model files are errors naming what is missing, never panics.
func TestLoadErrors(t *testing.T) {
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, md map[string]string) string {
		p := filepath.Join(dir, name)
		if err := nn.SaveState(m, md).WriteFile(p); err != nil {
			t.Fatal(err)
		}
		return p
	}
	ok := map[string]string{"arch": "resnet8", "mean": "0.5,0.5,0.5", "std": "0.2,0.2,0.2"}
	with := func(k, v string) map[string]string {
		md := map[string]string{}
		for a, b := range ok {
			md[a] = b
		}
		if v == "" {
			delete(md, k)
		} else {
			md[k] = v
		}
		return md
	}
	for _, tc := range []struct {
		name string
		md   map[string]string
		want string
	}{
		{"nometa", nil, "architecture"},
		{"noarch", with("arch", ""), "architecture"},
		{"nomean", with("mean", ""), `"mean"`},
		{"nostd", with("std", ""), `"std"`},
		{"twomeans", with("mean", "0.5,0.5"), `"mean" has 2 values`},
		{"zerostd", with("std", "0.2,0,0.2"), "positive"},
		{"classes", with("classes", `["a","b"]`), "names 2 classes, the model has 10"},
		{"badclasses", with("classes", `["a",`), `"classes"`},
		{"imagenetarch", with("arch", "resnet18"), "model wants [64 3 7 7]"},
	} {
		p := write(tc.name+".safetensors", tc.md)
		_, err := Load(p, Options{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %s", tc.name, err, tc.want)
		}
	}
	if _, err := Load(filepath.Join(dir, "missing.safetensors"), Options{}); err == nil {
		t.Error("missing file: no error")
	}
	// Options.Arch supplies a missing architecture.
	if _, err := Load(write("arch.safetensors", with("arch", "")), Options{Arch: "resnet8"}); err != nil {
		t.Errorf("Options.Arch: %v", err)
	}
	notImage := filepath.Join(dir, "x.png")
	os.WriteFile(notImage, []byte("hello"), 0o644)
	c := loadExample(t, Options{})
	if _, err := c.ClassifyFile(notImage, 1); err == nil || !strings.Contains(err.Error(), notImage) {
		t.Errorf("not an image: error %v, want one naming the file", err)
	}
}

func TestDecodeImageLimit(t *testing.T) {
	b, err := os.ReadFile(filepath.Join(goldenDir, "small_48x40.png"))
	if err != nil {
		t.Fatal(err)
	}
	if _, f, err := DecodeImage(b, 48*40); err != nil || f != "png" {
		t.Errorf("at the limit: %q, %v", f, err)
	}
	if _, _, err := DecodeImage(b, 48*40-1); !errors.Is(err, ErrTooLarge) {
		t.Errorf("over the limit: %v, want ErrTooLarge", err)
	}
	if _, _, err := DecodeImage(b[:len(b)/2], 0); err == nil {
		t.Error("half a PNG: no error")
	}
}

// TopK agrees with a stable sort of all classes, ties included.
func TestTopKMatchesSort(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	for trial := range 200 {
		n := 1 + rng.IntN(50)
		probs := make([]float64, n)
		for i := range probs {
			probs[i] = float64(rng.IntN(8)) / 8 // many ties
		}
		idx := make([]int, n)
		for i := range idx {
			idx[i] = i
		}
		sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
		k := 1 + rng.IntN(n+2)
		got := TopK(probs, k, nil)
		if len(got) != min(k, n) {
			t.Fatalf("trial %d: %d predictions for k=%d of %d", trial, len(got), k, n)
		}
		for i, p := range got {
			if p.Class != idx[i] || p.Probability != probs[idx[i]] {
				t.Fatalf("trial %d: position %d is class %d, want %d (probs %v)", trial, i, p.Class, idx[i], probs)
			}
		}
	}
}
