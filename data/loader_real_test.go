package data_test

import (
	"math"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// TestRealCIFAR10Stats checks CIFAR10Mean and CIFAR10Std against the
// training set's per-channel statistics (population standard deviation,
// as the usual recipes compute it), and the size of a training epoch.
// Skipped without $BONSAI_CIFAR10, except under CI=true.
func TestRealCIFAR10Stats(t *testing.T) {
	dir := testenv.CIFAR10(t)
	d, err := data.Load(dir, data.Train)
	if err != nil {
		t.Fatal(err)
	}
	const plane = data.ImageSize * data.ImageSize
	var sum, sq [3]float64
	for i := range d.Len() {
		img := d.Images[i*data.ImageBytes : (i+1)*data.ImageBytes]
		for c := range 3 {
			var s, q uint64
			for _, p := range img[c*plane : (c+1)*plane] {
				s += uint64(p)
				q += uint64(p) * uint64(p)
			}
			sum[c] += float64(s)
			sq[c] += float64(q)
		}
	}
	n := float64(d.Len() * plane)
	for c := range 3 {
		mean := sum[c] / n / 255
		std := math.Sqrt(sq[c]/n/(255*255) - mean*mean)
		t.Logf("channel %d: mean %.6f std %.6f", c, mean, std)
		if math.Abs(mean-float64(data.CIFAR10Mean[c])) > 5e-5 || math.Abs(std-float64(data.CIFAR10Std[c])) > 5e-5 {
			t.Errorf("channel %d: mean %.6f, std %.6f; CIFAR10Mean %v, CIFAR10Std %v", c, mean, std, data.CIFAR10Mean[c], data.CIFAR10Std[c])
		}
	}

	l, err := data.NewLoader(d, data.LoaderConfig{Batch: 128, Shuffle: true, Augment: true, Seed: 1, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	if l.StepsPerEpoch() != 391 {
		t.Errorf("StepsPerEpoch = %d, want 391", l.StepsPerEpoch())
	}
	it := l.Epoch(0, 0)
	defer it.Close()
	images := 0
	var count [data.NumClasses]int
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		images += b.N
		for _, y := range b.Labels {
			count[y]++
		}
	}
	if images != 50000 || count != [data.NumClasses]int{5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000, 5000} {
		t.Errorf("epoch: %d images, per class %v", images, count)
	}
}
