package infer_test

import (
	"fmt"
	"os"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// BenchmarkInfer times the compiled form of the zoo models at batch 1 and in batches (32 at
// 224×224, 128 at 32×32), each on a plan for its batch size, and reports ms/op and images/s.
// BONSAI_INFER_MODELS=resnet18,resnet20 picks the models (default: ResNet-18, -34, -50 and
// the CIFAR ResNet-20, ResNet-56 and VGG-16-BN). Compare with ../shared/bench/run_ort.sh.
func BenchmarkInfer(b *testing.B) {
	names := []string{"resnet18", "resnet34", "resnet50", "resnet20", "resnet56", "vgg16_bn"}
	if env := os.Getenv("BONSAI_INFER_MODELS"); env != "" {
		names = strings.Split(env, ",")
	}
	for _, name := range names {
		a, err := zoo.Lookup(name)
		if err != nil {
			b.Fatal(err)
		}
		m, err := a.Build()
		if err != nil {
			b.Fatal(err)
		}
		batches := []int{1, 128}
		if a.InputShape[1] > 32 {
			batches = []int{1, 32}
		}
		for _, batch := range batches {
			b.Run(fmt.Sprintf("%s/b%d", name, batch), func(b *testing.B) {
				cm, err := infer.Compile(m, a.InputShape, infer.Options{Batch: batch})
				if err != nil {
					b.Fatal(err)
				}
				r := cm.NewRunner(batch)
				x := randomInput(1, append([]int{batch}, a.InputShape...)...)
				if _, err := r.Run(x); err != nil {
					b.Fatal(err)
				}
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					r.Run(x)
				}
				sec := b.Elapsed().Seconds() / float64(b.N)
				b.ReportMetric(1000*sec, "ms/op")
				b.ReportMetric(float64(batch)/sec, "images/s")
			})
		}
	}
}
