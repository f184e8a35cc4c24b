package prune

import (
	"math"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
)

// TestCalibBatchesOtherSize checks the calibration batches of 40×40 images:
// [b, 3, 40, 40], each image normalised and cropped and flipped by
// DrawCropFlipPad with the padding of its size.
func TestCalibBatchesOtherSize(t *testing.T) {
	const S, n = 40, 10
	rng := rand.New(rand.NewPCG(4, 1))
	d := &data.Dataset{Height: S, Width: S, Images: make([]byte, n*3*S*S), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = byte(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(i % 10)
	}
	c := CalibConfig{N: 7, Batch: 3, Seed: 9, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std, Augment: true}
	batches, err := c.Batches(d)
	if err != nil {
		t.Fatal(err)
	}
	idx := data.Permutation(n, c.Seed, CalibEpoch)[:c.N]
	want := make([]float32, 3*S*S)
	pos := 0
	for x, labels := range batches {
		if len(x.Shape) != 4 || x.Shape[1] != 3 || x.Shape[2] != S || x.Shape[3] != S || x.Shape[0] != len(labels) {
			t.Fatalf("batch of shape %v with %d labels", x.Shape, len(labels))
		}
		for j := range labels {
			d.NormalizeCropFlip(want, idx[pos], data.DrawCropFlipPad(c.Seed, CalibEpoch, pos, 5), c.Mean, c.Std)
			got := x.Data[j*3*S*S : (j+1)*3*S*S]
			for k := range want {
				if math.Float32bits(got[k]) != math.Float32bits(want[k]) {
					t.Fatalf("sample %d: element %d = %v, want %v", pos, k, got[k], want[k])
				}
			}
			if labels[j] != int(d.Labels[idx[pos]]) {
				t.Fatalf("sample %d: label %d", pos, labels[j])
			}
			pos++
		}
	}
	if pos != c.N {
		t.Fatalf("%d samples, want %d", pos, c.N)
	}
}

// TestDriverSizeMismatch checks that a Driver refuses data of another size
// than its input shape.
func TestDriverSizeMismatch(t *testing.T) {
	d := &Driver{
		Config:  RunConfig{Criterion: L1, FLOPs: 0.5, Steps: 1, Seed: 1, Std: [3]float32{1, 1, 1}},
		Dir:     t.TempDir(),
		Model:   tiny.model(),
		InShape: []int{3, 40, 40},
		Test:    syntheticCIFAR(4, 1),
	}
	err := d.Close(d.Run(t.Context()))
	if err == nil || !strings.Contains(err.Error(), "the test images are 32×32, the input shape is [3 40 40]") {
		t.Errorf("Run with 32×32 test images for input [3 40 40]: %v", err)
	}
}
