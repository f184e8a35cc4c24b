package nn_test

import (
	"encoding/json"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// Every adapter of the zoo's layers agrees with its layer: each channel
// tensor is an entry of the layer's state under its name, its axis has the
// side's channel count, and the widths record sets the layer to the same
// shapes.
func TestAdaptersAgreeWithLayers(t *testing.T) {
	for _, arch := range []string{"resnet20", "resnet20b", "vgg11_bn", "resnet18", "mobilenet_v2_cifar"} {
		m, err := zoo.New(arch)
		if err != nil {
			t.Fatal(err)
		}
		nn.Walk(m, func(path string, l nn.Module) {
			a, ok := nn.AdapterOf(l)
			if !ok {
				if _, container := l.(nn.Container); !container {
					t.Errorf("%s %s: layer %T has no adapter", arch, path, l)
				}
				return
			}
			ax := a.Axes(l)
			state := map[string]nn.Entry{}
			if s, ok := l.(nn.Stateful); ok {
				for _, e := range s.State() {
					state[e.Name] = e
				}
			}
			for _, side := range []nn.Side{nn.SideIn, nn.SideOut, nn.SideChannel} {
				want := ax.In
				if side == nn.SideOut {
					want = ax.Out
				}
				for _, ct := range a.Tensors(l, side) {
					e, ok := state[ct.Name]
					switch {
					case !ok || e.Var != ct.Var:
						t.Errorf("%s %s: %s side tensor %q is no state entry of the layer", arch, path, side, ct.Name)
					case ct.Role.Learned() != (e.Kind == nn.Param):
						t.Errorf("%s %s: %q has role %d for an entry of kind %d", arch, path, ct.Name, ct.Role, e.Kind)
					case ct.Var.Value.Shape[ct.Axis] != want:
						t.Errorf("%s %s: %q is %v, axis %d should have the %d channels of side %q", arch, path, ct.Name, ct.Var.Value.Shape, ct.Axis, want, side)
					}
				}
			}
			w := a.Widths(l)
			if w == nil {
				return
			}
			before := shapes(l)
			raw, err := json.Marshal(w)
			if err != nil {
				t.Fatal(err)
			}
			if err := a.SetWidths(l, raw); err != nil {
				t.Errorf("%s %s: SetWidths(%s): %v", arch, path, raw, err)
			}
			if after := shapes(l); !slices.EqualFunc(after, before, slices.Equal) || a.Axes(l).In != ax.In || a.Axes(l).Out != ax.Out {
				t.Errorf("%s %s: widths %s changed the layer", arch, path, raw)
			}
		})
	}
}

// shapes returns the shapes of l's state tensors, in order.
func shapes(l nn.Module) [][]int {
	var out [][]int
	if s, ok := l.(nn.Stateful); ok {
		for _, e := range s.State() {
			if e.Var != nil {
				out = append(out, slices.Clone(e.Var.Value.Shape))
			}
		}
	}
	return out
}

func TestRegisterAdapterTwice(t *testing.T) {
	defer func() {
		if r := recover(); r == nil || !strings.Contains(r.(string), "*nn.Conv2d has an adapter already") {
			t.Errorf("second adapter for *nn.Conv2d: recovered %v", r)
		}
	}()
	nn.RegisterAdapter[*nn.Conv2d](nn.Stateless[*nn.Conv2d]{})
}

func TestAdapterOf(t *testing.T) {
	if _, ok := nn.AdapterOf(nn.NewSequential()); ok {
		t.Error("a Sequential has an adapter")
	}
	if _, ok := nn.AdapterOf(nil); ok {
		t.Error("nil has an adapter")
	}
	if c, ok := nn.OpCoupling(nn.OpCrossEntropy); ok {
		t.Errorf("cross-entropy couples channels: %v", c)
	}
	if c, _ := nn.OpCoupling(nn.OpAddReLU); c != nn.Join {
		t.Errorf("add_relu: %v, want Join", c)
	}
}

// EvalMode switches every Trainable layer to evaluation and gives each its
// own mode back.
func TestEvalMode(t *testing.T) {
	bn, drop := nn.NewBatchNorm2d(2), nn.NewDropout(0.5, 1)
	bn2 := nn.NewBatchNorm2d(2)
	bn2.SetTraining(false)
	m := nn.NewSequential(bn, drop, bn2)
	restore := nn.EvalMode(m)
	if bn.IsTraining() || drop.IsTraining() || bn2.IsTraining() {
		t.Error("a layer is in training mode under EvalMode")
	}
	restore()
	if got := []bool{bn.IsTraining(), drop.IsTraining(), bn2.IsTraining()}; !slices.Equal(got, []bool{true, true, false}) {
		t.Errorf("modes after restore %v, want [true true false]", got)
	}
}

// A depthwise convolution shares its channels between its sides (nn.Shared,
// its filters on the output side, its MACs the output side's) and loses
// them on both at once; other grouped convolutions are unsupported.
func TestConv2dAdapterGroups(t *testing.T) {
	dw := nn.NewConv2d(8, 8, 3, nn.ConvOpts{Groups: 8, Bias: true})
	a, _ := nn.AdapterOf(dw)
	ax := a.Axes(dw)
	if ax.Coupling != nn.Shared || ax.In != 8 || ax.Out != 8 || !slices.Equal(ax.MACs, []nn.Side{nn.SideOut}) {
		t.Errorf("depthwise axes %+v", ax)
	}
	if n := len(a.Tensors(dw, nn.SideIn)); n != 0 {
		t.Errorf("depthwise input side lists %d tensors, want none", n)
	}
	if n := len(a.Tensors(dw, nn.SideOut)); n != 2 {
		t.Errorf("depthwise output side lists %d tensors, want weight and bias", n)
	}
	a.Resize(dw, nn.SideOut, nn.Cut{Keep: []int{0, 2, 5}, Span: 1})
	if dw.In != 3 || dw.Out != 3 || dw.GroupCount() != 3 {
		t.Errorf("after resizing to 3 channels: in %d out %d groups %d", dw.In, dw.Out, dw.GroupCount())
	}
	g := nn.NewConv2d(8, 16, 3, nn.ConvOpts{Groups: 2})
	if ax := a.Axes(g); ax.Coupling != nn.Unsupported || !strings.Contains(ax.Reason, "grouped convolution") {
		t.Errorf("2-group convolution axes %+v", ax)
	}
	if w, _ := json.Marshal(a.Widths(g)); string(w) != "[16,8,2]" {
		t.Errorf("widths of a 2-group convolution %s", w)
	}
}
