package zoo_test

import (
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/golden"
	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// TestTrainStepMatchesPyTorch runs one SGD step of ResNet-20 at batch 8 in
// training mode and compares the loss, every gradient, and every weight
// and BN buffer after the step with PyTorch (scripts/golden/gen_train_step.py).
func TestTrainStepMatchesPyTorch(t *testing.T) {
	f := golden.ReadGolden(t, "testdata/train_step_resnet20.safetensors")
	m, err := zoo.New("resnet20")
	if err != nil {
		t.Fatal(err)
	}
	init := safetensors.New()
	for k, v := range f.Tensors {
		if rest, ok := strings.CutPrefix(k, "init."); ok {
			init.Tensors[rest] = v
		}
	}
	if err := nn.LoadState(m, init, nn.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	nn.SetTraining(m, true)
	x := golden.Tensor(t, f, "input")
	var target []int
	for _, v := range golden.Tensor(t, f, "target").Data {
		target = append(target, int(v))
	}
	var params []optim.Param
	for _, p := range nn.Parameters(m) {
		params = append(params, optim.Param{Name: p.Key, Var: p.Var})
	}
	opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: 0.9, WeightDecay: 1e-4})
	c := nn.NewCtx()
	c.Record(true)
	loss := nn.CrossEntropy(c, m.Forward(c, autograd.NewVar(x)), target, 0, nil)
	testutil.Close(t, "loss", loss.Value.Data, golden.Tensor(t, f, "loss").Data, 1e-4)
	c.Backward(loss)
	for _, p := range params {
		testutil.Close(t, "gradient of "+p.Name, p.Var.Grad.Data, golden.Tensor(t, f, "grad."+p.Name).Data, 1e-4)
	}
	opt.Step()
	for _, e := range nn.State(m) {
		if e.Kind == nn.Counter {
			want, err := f.Tensors["new."+e.Key].Int64s()
			if err != nil || *e.Count != want[0] {
				t.Errorf("%s = %d, want %v (%v)", e.Key, *e.Count, want, err)
			}
			continue
		}
		testutil.Close(t, e.Key+" after the step", e.Var.Value.Data, golden.Tensor(t, f, "new."+e.Key).Data, 1e-4)
	}
}
