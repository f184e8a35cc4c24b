package zoo_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
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

// TestFusedEvalMatchesUnfused runs evaluation-mode forward passes without a tape of CIFAR
// ResNets (option A and B shortcuts, and one with pruned block-internal widths of 5 to 27
// channels), with random BN parameters and running statistics, once fused (the
// convolutions of each block with their BN, residual and ReLU: BatchNorm2d.ForwardConvRelu
// and ForwardConvAddRelu) and once unfused (an ObserveOp that does nothing), and checks
// that the logits agree bit for bit.
func TestFusedEvalMatchesUnfused(t *testing.T) {
	rng := rand.New(rand.NewPCG(6, 6))
	const n = 5
	x := tensor.New(n, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	pruned := map[string][]int{}
	for s, planes := range []int{16, 32, 64} {
		for b, inner := range []int{planes - 11, planes/2 + 3, 5} {
			p := fmt.Sprintf("layer%d.%d.", s+1, b)
			in := planes
			if b == 0 && s > 0 {
				in = planes / 2
			}
			pruned[p+"conv1"], pruned[p+"bn1"], pruned[p+"conv2"] = []int{inner, in}, []int{inner}, []int{planes, inner}
		}
	}
	widths, err := json.Marshal(pruned)
	if err != nil {
		t.Fatal(err)
	}
	for _, arch := range []string{"resnet14", "resnet8b", "resnet20-pruned"} {
		m, err := zoo.New(strings.TrimSuffix(arch, "-pruned"))
		if err != nil {
			t.Fatal(err)
		}
		if arch == "resnet20-pruned" {
			if err := zoo.SetWidths(m, string(widths)); err != nil {
				t.Fatal(err)
			}
		}
		zoo.InitWeights(m, 4)
		nn.Walk(m, func(_ string, l nn.Module) {
			if bn, ok := l.(*nn.BatchNorm2d); ok {
				for i := range bn.C {
					bn.Weight.Value.Data[i] = float32(1 + 0.3*rng.NormFloat64())
					bn.Bias.Value.Data[i] = float32(0.3 * rng.NormFloat64())
					bn.RunningMean.Value.Data[i] = float32(0.3 * rng.NormFloat64())
					bn.RunningVar.Value.Data[i] = float32(0.5 + rng.Float64())
				}
			}
		})
		nn.SetTraining(m, false)
		run := func(fused bool) []float32 {
			c := nn.NewCtx()
			if !fused {
				c.ObserveOp = func(string, any, *autograd.Var) {}
			}
			return m.Forward(c, autograd.NewVar(x)).Value.Clone().Data
		}
		want, got := run(false), run(true)
		for j := range want {
			if math.Float32bits(got[j]) != math.Float32bits(want[j]) {
				t.Fatalf("%s: logit %d = %v fused, %v unfused", arch, j, got[j], want[j])
			}
		}
	}
}
