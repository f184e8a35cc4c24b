package nn_test

import (
	"encoding/json"
	"fmt"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/golden"
	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestOpsMatchPyTorch runs the multi-input cases of nn/testdata/ops.safetensors
// (scripts/golden/gen_ops.py): Concat, Sigmoid, MulChannels and ChannelScale, forward and
// backward against PyTorch.
func TestOpsMatchPyTorch(t *testing.T) {
	f := golden.ReadGolden(t, "testdata/ops.safetensors")
	seen := 0
	for name, cfgJSON := range f.Metadata {
		var cfg struct{ Op string }
		if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
			t.Fatalf("case %s: bad config %q: %v", name, cfgJSON, err)
		}
		t.Run(name, func(t *testing.T) {
			seen++
			var xs []*autograd.Var
			for i := 0; ; i++ {
				k := fmt.Sprintf("%s.input%d", name, i)
				if _, ok := f.Tensors[k]; !ok {
					break
				}
				xs = append(xs, autograd.NewParam(golden.Tensor(t, f, k)))
			}
			c := nn.NewCtx()
			c.Record(true)
			var y *autograd.Var
			var scale *nn.ChannelScale
			switch cfg.Op {
			case "concat":
				y = nn.Concat(c, xs...)
			case "sigmoid":
				y = nn.Sigmoid(c, xs[0])
			case "mul_channels":
				y = nn.MulChannels(c, xs[0], xs[1])
			case "channel_scale":
				w := golden.Tensor(t, f, name+".weight")
				scale = nn.NewChannelScale(w.Shape[0])
				copy(scale.Weight.Value.Data, w.Data)
				y = scale.Forward(c, xs[0])
			default:
				t.Fatalf("unknown op %q", cfg.Op)
			}
			want := golden.Tensor(t, f, name+".output")
			if !tensor.SameShape(y.Value, want) {
				t.Fatalf("output shape %v, want %v", y.Value.Shape, want.Shape)
			}
			testutil.Close(t, "output", y.Value.Data, want.Data, 1e-5)
			c.Tape.BackwardFrom(y, golden.Tensor(t, f, name+".upstream"))
			for i, x := range xs {
				testutil.Close(t, fmt.Sprintf("input %d gradient", i), x.Grad.Data, golden.Tensor(t, f, fmt.Sprintf("%s.grad.input%d", name, i)).Data, 1e-4)
			}
			if scale != nil {
				testutil.Close(t, "weight gradient", scale.Weight.Grad.Data, golden.Tensor(t, f, name+".grad.weight").Data, 1e-4)
			}
		})
	}
	if seen < 6 {
		t.Errorf("only %d cases ran", seen)
	}
}
