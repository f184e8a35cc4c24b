package infer

import (
	"testing"

	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// TestChunkImages checks which models run batches data-parallel: the CIFAR networks in
// chunks of several images, MobileNetV2 at 224×224 (small steps) one image per chunk,
// ResNet-18 at 224×224 (large steps) step by step.
func TestChunkImages(t *testing.T) {
	for _, c := range []struct {
		arch     string
		min, max int // chunk of a 32-image batch over 2 goroutines
	}{
		{"resnet20", 4, 16},
		{"mobilenet_v2", 1, 1},
		{"resnet18", 0, 0},
		{"resnet56", 4, 16},
		{"vgg16_bn", 0, 0}, // 59 MB of weights: read once per batch, not once per chunk
	} {
		if c.arch == "resnet18" && testing.Short() {
			continue // compiling it takes seconds
		}
		a, err := zoo.Lookup(c.arch)
		if err != nil {
			t.Fatal(err)
		}
		m, _ := a.Build()
		cm, err := Compile(m, a.InputShape, Options{Batch: 32})
		if err != nil {
			t.Fatal(err)
		}
		if got := cm.chunkImages(32, 2); got < c.min || got > c.max {
			t.Errorf("%s: chunk of %d images, want %d to %d (mean %d MACs per step, %d bytes of weights, %d of steps' inputs and outputs per image)",
				c.arch, got, c.min, c.max, cm.meanStepMACs(), cm.weightBytes(), cm.trafficPerImage())
		}
	}
}
