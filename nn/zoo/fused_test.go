package zoo_test

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestFusedMatchesUnfused runs a forward and backward pass of CIFAR ResNets
// (option A and B shortcuts) in training and evaluation mode, with
// per-sample squared gradients, once fused (no observer) and once unfused
// (an ObserveOp that does nothing turns the fused BN+ReLU and BN+add+ReLU
// off), and checks that the loss, every gradient, every squared gradient and
// the BN running statistics agree bit for bit.
func TestFusedMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(5, 5))
	const n = 4
	x := tensor.New(n, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	labels := []int{1, 7, 3, 3}
	for _, arch := range []string{"resnet14", "resnet8b"} {
		for _, training := range []bool{true, false} {
			run := func(fused bool) (out [][]float32) {
				m, err := zoo.New(arch)
				if err != nil {
					t.Fatal(err)
				}
				zoo.InitWeights(m, 3)
				nn.SetTraining(m, training)
				nn.TrackSquaredGrads(m, true)
				c := nn.NewCtx()
				c.Record(true)
				c.Tape.SampleScale = n
				if !fused {
					c.ObserveOp = func(string, any, *autograd.Var) {}
				}
				params := nn.Parameters(m)
				for _, p := range params {
					p.Var.ZeroGrad()
				}
				loss := nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), labels, 0, nil)
				c.Backward(loss)
				out = append(out, loss.Value.Data)
				for _, p := range params {
					out = append(out, p.Var.Grad.Data, p.Var.SqGrad.Data)
				}
				for _, e := range nn.State(m) {
					if e.Kind == nn.Buffer {
						out = append(out, e.Var.Value.Data)
					}
				}
				return out
			}
			want, got := run(false), run(true)
			for i := range want {
				for j := range want[i] {
					if math.Float32bits(got[i][j]) != math.Float32bits(want[i][j]) {
						t.Fatalf("%s, training %v: value %d[%d] = %v fused, %v unfused", arch, training, i, j, got[i][j], want[i][j])
					}
				}
			}
		}
	}
}
