package nn_test

import (
	"encoding/json"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/internal/golden"
	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// layerCase is the configuration that scripts/golden/gen_golden.py stores
// in the metadata of nn/testdata/layers.safetensors, one JSON per case.
type layerCase struct {
	Op         string  `json:"op"`
	In         int     `json:"in"`
	Out        int     `json:"out"`
	Kernel     int     `json:"kernel"`
	Stride     int     `json:"stride"`
	Padding    int     `json:"padding"`
	Groups     int     `json:"groups"`
	Bias       bool    `json:"bias"`
	Channels   int     `json:"channels"`
	Eps        float32 `json:"eps"`
	Training   bool    `json:"training"`
	Planes     int     `json:"planes"`
	PadEach    int     `json:"pad_each_side"`
	CeilMode   bool    `json:"ceil_mode"`
	OutputSize []int   `json:"output_size"`
}

// subFile returns the tensors of f under "name." with the prefix removed.
func subFile(f *safetensors.File, name string, skip ...string) *safetensors.File {
	s := safetensors.New()
	for k, v := range f.Tensors {
		rest, ok := strings.CutPrefix(k, name+".")
		if !ok || rest == "input" || rest == "output" || rest == "upstream" || strings.HasPrefix(rest, "new_") || strings.HasPrefix(rest, "grad.") {
			continue
		}
		if !contains(skip, rest) {
			s.Tensors[rest] = v
		}
	}
	return s
}

func contains(list []string, s string) bool {
	for _, v := range list {
		if v == s {
			return true
		}
	}
	return false
}

func TestLayersMatchPyTorch(t *testing.T) {
	if seen := layersMatchPyTorch(t, "testdata/layers.safetensors"); seen < 15 {
		t.Errorf("only %d layer cases ran", seen)
	}
}

// TestGroupedLayersMatchPyTorch runs the grouped and depthwise convolutions and ReLU6 of
// nn/testdata/grouped.safetensors (scripts/golden/gen_mobilenet.py) on every kernel path.
func TestGroupedLayersMatchPyTorch(t *testing.T) {
	defer asm.SetPath(asm.CurrentPath())
	for _, p := range asm.AvailablePaths() {
		if err := asm.SetPath(p); err != nil {
			t.Fatal(err)
		}
		t.Run(p.String(), func(t *testing.T) {
			if seen := layersMatchPyTorch(t, "testdata/grouped.safetensors"); seen < 9 {
				t.Errorf("only %d layer cases ran", seen)
			}
		})
	}
}

// layersMatchPyTorch checks every case of a per-layer golden file (forward and gradients)
// and returns the number of cases run.
func layersMatchPyTorch(t *testing.T, path string) int {
	f := golden.ReadGolden(t, path)
	seen := 0
	for name, cfgJSON := range f.Metadata {
		var cfg layerCase
		if err := json.Unmarshal([]byte(cfgJSON), &cfg); err != nil {
			t.Fatalf("case %s: bad config %q: %v", name, cfgJSON, err)
		}
		if cfg.Op == "cross_entropy" {
			continue // tested in package tensor
		}
		t.Run(name, func(t *testing.T) {
			seen++
			var m nn.Module
			switch cfg.Op {
			case "conv2d":
				m = nn.NewConv2d(cfg.In, cfg.Out, cfg.Kernel, nn.ConvOpts{Stride: cfg.Stride, Padding: cfg.Padding, Groups: cfg.Groups, Bias: cfg.Bias})
			case "batchnorm2d":
				bn := nn.NewBatchNorm2d(cfg.Channels)
				bn.SetTraining(cfg.Training)
				m = bn
			case "relu":
				m = nn.NewReLU()
			case "relu6":
				m = nn.NewReLU6()
			case "maxpool2d":
				m = nn.NewMaxPool2d(cfg.Kernel, cfg.Stride, cfg.Padding)
			case "avgpool2d":
				m = nn.NewAvgPool2d(cfg.Kernel, cfg.Stride, cfg.Padding)
			case "adaptive_avgpool2d":
				m = nn.NewAdaptiveAvgPool2d()
			case "linear":
				m = nn.NewLinear(cfg.In, cfg.Out, cfg.Bias)
			case "flatten_linear":
				l := nn.NewLinear(cfg.In, cfg.Out, cfg.Bias)
				m = &flattenLinear{nn.NewSequential(nn.NewFlatten(), l), l}
			case "shortcut_a":
				m = shortcutA{stride: cfg.Stride, pad: cfg.PadEach, out: cfg.Planes}
			default:
				t.Fatalf("unknown op %q", cfg.Op)
			}
			if err := nn.LoadState(m, subFile(f, name), nn.LoadOptions{}); err != nil {
				t.Fatal(err)
			}
			x := autograd.NewParam(golden.Tensor(t, f, name+".input")) // a leaf that wants its gradient
			c := nn.NewCtx()
			c.Record(true)
			y := m.Forward(c, x)
			want := golden.Tensor(t, f, name+".output")
			if !tensor.SameShape(y.Value, want) {
				t.Fatalf("output shape %v, want %v", y.Value.Shape, want.Shape)
			}
			testutil.Close(t, "output", y.Value.Data, want.Data, 1e-5)
			c.Tape.BackwardFrom(y, golden.Tensor(t, f, name+".upstream"))
			testutil.Close(t, "input gradient", x.Grad.Data, golden.Tensor(t, f, name+".grad.input").Data, 1e-4)
			if s, ok := m.(nn.Stateful); ok {
				for _, e := range s.State() {
					if e.Kind == nn.Param {
						testutil.Close(t, e.Name+" gradient", e.Var.Grad.Data, golden.Tensor(t, f, name+".grad."+e.Name).Data, 1e-4)
					}
				}
			}
			if bn, ok := m.(*nn.BatchNorm2d); ok && cfg.Training {
				testutil.Close(t, "running_mean", bn.RunningMean.Value.Data, golden.Tensor(t, f, name+".new_running_mean").Data, 1e-5)
				testutil.Close(t, "running_var", bn.RunningVar.Value.Data, golden.Tensor(t, f, name+".new_running_var").Data, 1e-5)
				if want := golden.Tensor(t, f, name+".new_num_batches_tracked").Data[0]; float32(bn.NumBatchesTracked) != want {
					t.Errorf("num_batches_tracked %d, want %v", bn.NumBatchesTracked, want)
				}
			}
		})
	}
	return seen
}

// flattenLinear presents Flatten → Linear with the Linear's state at top level,
// as the golden case names it.
type flattenLinear struct {
	*nn.Sequential
	l *nn.Linear
}

func (f *flattenLinear) State() []nn.Entry    { return f.l.State() }
func (f *flattenLinear) Children() []nn.Child { return nil }

// shortcutA is the option-A shortcut as a module (the zoo has its own; the
// tensor op is what is tested here).
type shortcutA struct{ stride, pad, out int }

func (s shortcutA) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	return nn.SubsamplePadChannels(c, s, x, s.stride, s.pad, s.out)
}
func (s shortcutA) String() string { return "shortcutA" }
