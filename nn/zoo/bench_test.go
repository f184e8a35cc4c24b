package zoo_test

import (
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// BenchmarkTrainStep times one SGD training step (forward, backward and
// update) at batch 128 and reports ms/step, for comparison with
// ../shared/bench/run_models_torch.sh.
func BenchmarkTrainStep(b *testing.B) {
	for _, arch := range []string{"resnet20", "resnet56", "mobilenet_v2_cifar"} {
		b.Run(arch, func(b *testing.B) {
			m, err := zoo.New(arch)
			if err != nil {
				b.Fatal(err)
			}
			zoo.InitWeights(m, 1)
			nn.SetTraining(m, true)
			var params []optim.Param
			for _, p := range nn.Parameters(m) {
				params = append(params, optim.Param{Name: p.Key, Var: p.Var})
			}
			opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4})
			const n = 128
			rng := rand.New(rand.NewPCG(1, 2))
			x := tensor.New(n, 3, 32, 32)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(10)
			}
			c := nn.NewCtx()
			c.Record(true)
			step := func() { // one SGD step
				c.Reset()
				for _, p := range params {
					p.Var.ZeroGrad()
				}
				c.Backward(nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), labels, 0, nil))
				opt.Step()
			}
			step() // warm the arena and workspaces
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
		})
	}
}

// BenchmarkSquaredGrads compares a plain forward+backward of ResNet-56 at
// batch 128 (BN in evaluation mode, as for calibration) with one that also
// accumulates per-sample squared gradients (nn.TrackSquaredGrads), and
// reports ms/step for each.
func BenchmarkSquaredGrads(b *testing.B) {
	for _, sq := range []bool{false, true} {
		name := map[bool]string{false: "resnet56-plain", true: "resnet56-sqgrad"}[sq]
		b.Run(name, func(b *testing.B) {
			m, err := zoo.New("resnet56")
			if err != nil {
				b.Fatal(err)
			}
			zoo.InitWeights(m, 1)
			nn.TrackSquaredGrads(m, sq)
			const n = 128
			rng := rand.New(rand.NewPCG(1, 2))
			x := tensor.New(n, 3, 32, 32)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			labels := make([]int, n)
			for i := range labels {
				labels[i] = rng.IntN(10)
			}
			params := nn.Parameters(m)
			c := nn.NewCtx()
			c.Record(true)
			c.Tape.SampleScale = n
			step := func() {
				c.Reset()
				for _, p := range params {
					p.Var.ZeroGrad()
				}
				c.Backward(nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), labels, 0, nil))
			}
			step()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(float64(b.Elapsed().Milliseconds())/float64(b.N), "ms/step")
		})
	}
}
