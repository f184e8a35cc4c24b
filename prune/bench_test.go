package prune

import (
	"os"
	"strconv"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// BenchmarkCalibrate compares Calibrate on BONSAI_CALIB_BENCH images of
// ResNet-56 (default 256, two batches of 128: per-sample squared gradients,
// Taylor sums, input normalisation; 4096 is what acceptance 7 of the pruning
// issue names) with plain forward+backward passes over the same batches in
// evaluation mode, their arena warmed up first as a training loop's is
// (the acceptance asks for ≤ 3×), and reports ms per batch of 128. Each
// Calibrate call sets up its own context, as a pruning step does.
func BenchmarkCalibrate(b *testing.B) {
	const batch = 128
	n := 256
	if v := os.Getenv("BONSAI_CALIB_BENCH"); v != "" {
		var err error
		if n, err = strconv.Atoi(v); err != nil || n < batch || n%batch != 0 {
			b.Fatalf("BONSAI_CALIB_BENCH=%q: want a multiple of %d", v, batch)
		}
	}
	m, err := zoo.New("resnet56")
	if err != nil {
		b.Fatal(err)
	}
	zoo.InitWeights(m, 1)
	g, err := Trace(m, 3, 32, 32)
	if err != nil {
		b.Fatal(err)
	}
	d := syntheticCIFAR(n, 1)
	b.Run("plain", func(b *testing.B) {
		nn.SetTraining(m, false)
		params := nn.Parameters(m)
		x := tensor.New(batch, 3, 32, 32)
		labels := make([]int, batch)
		idx := make([]int, batch)
		c := nn.NewCtx()
		c.Record(true)
		pass := func() {
			for i0 := 0; i0 < n; i0 += batch {
				for j := range batch {
					idx[j] = i0 + j
					labels[j] = int(d.Labels[i0+j])
				}
				d.Normalize(x.Data, idx, data.CIFAR10Mean, data.CIFAR10Std)
				c.Reset()
				for _, p := range params {
					p.Var.ZeroGrad()
				}
				c.Backward(nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), labels, 0, nil))
			}
		}
		pass() // warm the arena and the gradients' buffers
		for b.Loop() {
			pass()
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n/batch), "ms/batch")
	})
	b.Run("calibrate", func(b *testing.B) {
		for b.Loop() {
			if _, err := Calibrate(m, g, d, CalibConfig{N: n, Batch: batch, Mean: data.CIFAR10Mean, Std: data.CIFAR10Std}); err != nil {
				b.Fatal(err)
			}
		}
		b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N*n/batch), "ms/batch")
	})
}
