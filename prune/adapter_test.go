package prune_test

import (
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Affine is a layer type that Bonsai's packages do not know: a learned
// scale and shift per channel, y[:, c] = a[c]·x[:, c] + b[c].
//
// Shape: x: [N, C, H, W] → y: same. State: scale [C], shift [C].
type Affine struct {
	C            int
	Scale, Shift *autograd.Var
}

// opAffine is the operation Affine records.
const opAffine = "affine"

func NewAffine(c int) *Affine {
	m := &Affine{C: c, Scale: autograd.NewParam(tensor.New(c)), Shift: autograd.NewParam(tensor.New(c))}
	m.Scale.Value.Fill(1)
	return m
}

// Forward computes a·x + b and its backward pass, with the per-sample
// squared gradients of a and b when they track them.
func (m *Affine) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	if ch != m.C {
		panic(fmt.Sprintf("Affine: input %v has %d channels, layer takes %d", x.Value.Shape, ch, m.C))
	}
	hw := h * w
	y := c.Get(n, ch, h, w)
	a, b := m.Scale.Value.Data, m.Shift.Value.Data
	for i, v := range x.Value.Data {
		k := i / hw % ch
		y.Value.Data[i] = a[k]*v + b[k]
	}
	c.RecordOp(opAffine, m, y, func() {
		dy := y.Grad.Data
		if autograd.Wants(x) {
			dx := c.Tape.Grad(x).Data
			for i, g := range dy {
				dx[i] += g * a[i/hw%ch]
			}
		}
		da, db := c.Tape.Grad(m.Scale).Data, c.Tape.Grad(m.Shift).Data
		scale := float64(c.Tape.SampleScale)
		for s := range n {
			for k := range ch {
				var ga, gb float64
				for j := (s*ch + k) * hw; j < (s*ch+k+1)*hw; j++ {
					ga += float64(dy[j]) * float64(x.Value.Data[j])
					gb += float64(dy[j])
				}
				da[k] += float32(ga)
				db[k] += float32(gb)
				if m.Scale.SqGrad != nil {
					m.Scale.SqGrad.Data[k] += float32(scale * ga * scale * ga)
				}
				if m.Shift.SqGrad != nil {
					m.Shift.SqGrad.Data[k] += float32(scale * gb * scale * gb)
				}
			}
		}
	}, x, m.Scale, m.Shift)
	return c.Observed(m, x, y)
}

func (m *Affine) State() []nn.Entry {
	return []nn.Entry{{Name: "scale", Kind: nn.Param, Var: m.Scale}, {Name: "shift", Kind: nn.Param, Var: m.Shift}}
}

func (m *Affine) String() string { return fmt.Sprintf("Affine(%d)", m.C) }

// affineAdapter holds every rule of Affine, in one place: its channels are
// its input and its output, each the entry c of scale and shift.
type affineAdapter struct{}

func init() { nn.RegisterAdapter[*Affine](affineAdapter{}) }

func (affineAdapter) Axes(l *Affine) nn.Axes {
	return nn.Axes{Coupling: nn.PerChannel, In: l.C, Out: l.C}
}

func (affineAdapter) Tensors(l *Affine, s nn.Side) []nn.ChannelTensor {
	if s != nn.SideChannel {
		return nil
	}
	return []nn.ChannelTensor{{Name: "scale", Var: l.Scale, Role: nn.RoleScale}, {Name: "shift", Var: l.Shift, Role: nn.RoleShift}}
}

func (affineAdapter) Resize(l *Affine, _ nn.Side, c nn.Cut) { l.C = len(c.Keep) }

func (affineAdapter) Widths(l *Affine) any { return []int{l.C} }

func (affineAdapter) SetWidths(l *Affine, raw json.RawMessage) error {
	var v []int
	if err := json.Unmarshal(raw, &v); err != nil || len(v) != 1 || v[0] <= 0 {
		return fmt.Errorf("widths %s, want [channels]", raw)
	}
	l.C = v[0]
	l.Scale.Value, l.Shift.Value = tensor.New(l.C), tensor.New(l.C)
	l.Scale.Value.Fill(1)
	return nil
}

func (affineAdapter) Reset(l *Affine, _ *rand.Rand) {
	l.Scale.Value.Fill(1)
	l.Shift.Value.Fill(0)
}

func (affineAdapter) Redraw(*Affine, *rand.Rand, nn.InitScheme) {}

func (affineAdapter) SquaredGrads(l *Affine) []*autograd.Var {
	return []*autograd.Var{l.Scale, l.Shift}
}

func (affineAdapter) Probe(*Affine, int, int) nn.Module { return nil }

// affineNet is conv1 → aff1 → relu → conv2 → aff2 → relu → global average
// pooling → fc, for [N, 3, 6, 6] inputs.
type affineNet struct {
	Conv1, Conv2 *nn.Conv2d
	Aff1, Aff2   *Affine
	FC           *nn.Linear
}

func newAffineNet() *affineNet {
	return &affineNet{
		Conv1: nn.NewConv2d(3, 8, 3, nn.ConvOpts{Padding: 1}), Aff1: NewAffine(8),
		Conv2: nn.NewConv2d(8, 6, 3, nn.ConvOpts{Padding: 1, Stride: 2}), Aff2: NewAffine(6),
		FC: nn.NewLinear(6, 4, true),
	}
}

func (m *affineNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = nn.Relu(c, m.Aff1.Forward(c, m.Conv1.Forward(c, x)))
	x = nn.Relu(c, m.Aff2.Forward(c, m.Conv2.Forward(c, x)))
	return m.FC.Forward(c, nn.GlobalAvgPool(c, x))
}

func (m *affineNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "aff1", Module: m.Aff1}, {Name: "conv2", Module: m.Conv2},
		{Name: "aff2", Module: m.Aff2}, {Name: "fc", Module: m.FC}}
}

func (m *affineNet) String() string { return "AffineNet" }

// randomise draws every parameter of m from rng (scales around 1).
func randomise(m nn.Module, rng *rand.Rand) {
	for _, e := range nn.Parameters(m) {
		for i := range e.Var.Value.Data {
			v := rng.Float64() - 0.5
			if strings.HasSuffix(e.Key, ".scale") {
				v += 1
			}
			e.Var.Value.Data[i] = float32(v)
		}
	}
}

// batches yields n random images [b, 3, 6, 6] with random labels of 4 classes.
func batches(n, b int, seed uint64) func(func(*tensor.Tensor, []int) bool) {
	return func(yield func(*tensor.Tensor, []int) bool) {
		rng := rand.New(rand.NewPCG(seed, 1))
		for i := 0; i < n; i += b {
			x := tensor.New(b, 3, 6, 6)
			for j := range x.Data {
				x.Data[j] = float32(rng.NormFloat64())
			}
			labels := make([]int, b)
			for j := range labels {
				labels[j] = rng.IntN(4)
			}
			if !yield(x, labels) {
				return
			}
		}
	}
}

func forward(m nn.Module, x *tensor.Tensor) []float32 {
	return append([]float32(nil), m.Forward(nn.NewCtx(), autograd.NewVar(x)).Value.Data...)
}

// A layer type defined outside Bonsai, given its rules in one place (its
// adapter), is traced, calibrated, scored, planned, pruned with its
// optimizer state, saved and reloaded like Bonsai's own layers.
func TestCustomLayerAdapter(t *testing.T) {
	m := newAffineNet()
	randomise(m, rand.New(rand.NewPCG(1, 2)))
	g, err := prune.Trace(m, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	var groups []string
	for _, gr := range g.Prunable() {
		groups = append(groups, gr.String())
	}
	if want := []string{"conv1 out ⇒ aff1 ⇒ conv2 in", "conv2 out ⇒ aff2 ⇒ fc in"}; fmt.Sprint(groups) != fmt.Sprint(want) {
		t.Fatalf("prunable groups %q, want %q\n%s", groups, want, g)
	}

	// The affine parameters have per-sample squared gradients (its
	// SquaredGrads), so the sensitivity criterion scores through them.
	stats, err := prune.CalibrateFrom(m, g, batches(64, 16, 3))
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range []string{"aff1.scale", "aff1.shift", "aff2.scale"} {
		if f, ok := stats.Fisher[k]; !ok || f.Numel() != map[byte]int{'1': 8, '2': 6}[k[3]] || !positive(f.Data) {
			t.Errorf("Fisher of %s: %v", k, f)
		}
	}
	crit, err := prune.NewCriterion(prune.Sensitivity, "", 0)
	if err != nil {
		t.Fatal(err)
	}
	scores, err := crit.Scores(g, stats)
	if err != nil {
		t.Fatal(err)
	}
	if bn, err := (must(prune.NewCriterion(prune.BNScale, "", 0))).Scores(g, nil); err != nil || len(bn) != 2 {
		t.Errorf("bn-scale over the affine scales: %v, %v", bn, err)
	}
	plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{Ratio: 0.5, Ranking: prune.Uniform}, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}

	// One optimizer step gives every parameter a momentum buffer.
	var params []optim.Param
	for _, e := range nn.Parameters(m) {
		params = append(params, optim.Param{Name: e.Key, Var: e.Var})
		e.Var.Grad = tensor.New(e.Var.Value.Shape...)
		e.Var.Grad.Fill(0.01)
	}
	opt := optim.NewSGD(params, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	opt.Step()

	// The reference: the original model with the consumers' weights of the
	// removed channels zeroed computes what the pruned model computes.
	x := tensor.New(2, 3, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(math.Sin(float64(i)))
	}
	for _, gp := range plan.Groups {
		for _, c := range gp.Remove {
			for _, ps := range gp.Group.Params(c) {
				if ps.Dep.Side == prune.In {
					for _, i := range ps.Index {
						ps.Var.Value.Data[i] = 0
					}
				}
			}
		}
	}
	ref := forward(m, x)
	if err := plan.Apply(opt); err != nil {
		t.Fatal(err)
	}
	if m.Aff1.C != 4 || m.Aff2.C != 3 || m.Conv2.In != 4 || m.FC.In != 3 {
		t.Fatalf("after the plan:\n%s", nn.Format(m))
	}
	for _, k := range []string{"aff1.scale", "aff1.shift"} {
		if mb := opt.ParamState(k)["momentum_buffer"]; mb == nil || mb.Numel() != 4 {
			t.Errorf("momentum buffer of %s: %v, want 4 entries", k, mb)
		}
	}
	got := forward(m, x)
	for i := range ref {
		if d := math.Abs(float64(got[i] - ref[i])); d > 1e-5 {
			t.Fatalf("pruned output %v, want %v (the original reading no removed channel)", got, ref)
		}
	}

	// Saved with its widths, it reloads into a model built at the
	// original widths.
	path := filepath.Join(t.TempDir(), "affine.safetensors")
	if err := prune.Save(path, m, zoo.Meta{Arch: "affinenet"}); err != nil {
		t.Fatal(err)
	}
	back := newAffineNet()
	meta, err := zoo.LoadInto(path, back)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(meta.Extra[zoo.MetaWidths], `"aff1":[4]`) || nn.Format(back) != nn.Format(m) {
		t.Errorf("reloaded %s\nwidths %s\nwant\n%s", nn.Format(back), meta.Extra[zoo.MetaWidths], nn.Format(m))
	}
	again := forward(back, x)
	for i := range got {
		if again[i] != got[i] {
			t.Fatalf("reloaded output %v, want %v", again, got)
		}
	}
}

// A layer type with no adapter is never pruned: the groups it touches are
// not prunable and say why, and a plan leaves them alone.
func TestLayerWithoutAdapter(t *testing.T) {
	m := &mysteryNet{Conv1: nn.NewConv2d(3, 8, 3, nn.ConvOpts{Padding: 1}), Mix: &mystery{},
		Conv2: nn.NewConv2d(8, 6, 3, nn.ConvOpts{Padding: 1}), FC: nn.NewLinear(6, 4, true)}
	randomise(m, rand.New(rand.NewPCG(3, 4)))
	g, err := prune.Trace(m, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	for _, gr := range g.Groups {
		if strings.Contains(gr.String(), "conv1 out") || strings.Contains(gr.String(), "conv2 in") {
			if gr.Prunable || !strings.Contains(gr.Reason, "reverse from a *prune_test.mystery, a layer with no pruning adapter") {
				t.Errorf("group %s: %s", gr, gr.Summary())
			}
		}
	}
	if err := g.Groups[1].Remove([]int{0}, nil); err == nil {
		t.Errorf("removed channels of %s", g.Groups[1])
	}
	scores, err := must(prune.NewCriterion(prune.L1, "", 0)).Scores(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{Ratio: 0.3}, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	if err := plan.Apply(nil); err != nil {
		t.Fatal(err)
	}
	if m.Conv1.Out != 8 || m.Conv2.In != 8 || m.Conv2.Out >= 6 {
		t.Errorf("after the plan:\n%s", nn.Format(m))
	}
}

// mystery reverses the order of the channels: a layer with no adapter.
type mystery struct{ _ byte }

func (m *mystery) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	y := c.Get(n, ch, h, w)
	hw := h * w
	for s := range n {
		for k := range ch {
			copy(y.Value.Data[(s*ch+k)*hw:(s*ch+k+1)*hw], x.Value.Data[(s*ch+ch-1-k)*hw:(s*ch+ch-k)*hw])
		}
	}
	c.RecordOp("reverse", m, y, func() {}, x)
	return c.Observed(m, x, y)
}

func (m *mystery) String() string { return "Mystery()" }

type mysteryNet struct {
	Conv1, Conv2 *nn.Conv2d
	Mix          *mystery
	FC           *nn.Linear
}

func (m *mysteryNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = nn.Relu(c, m.Conv2.Forward(c, m.Mix.Forward(c, m.Conv1.Forward(c, x))))
	return m.FC.Forward(c, nn.GlobalAvgPool(c, x))
}

func (m *mysteryNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "mix", Module: m.Mix}, {Name: "conv2", Module: m.Conv2}, {Name: "fc", Module: m.FC}}
}

func (m *mysteryNet) String() string { return "MysteryNet" }

func positive(v []float32) bool {
	for _, x := range v {
		if !(x > 0) {
			return false
		}
	}
	return true
}

func must[T any](v T, err error) T {
	if err != nil {
		panic(err)
	}
	return v
}

// Depthwise is a 3×3 depthwise convolution (padding 1): output channel c
// is input channel c convolved with its own filter, plus its bias, so its
// two sides are one set of channels (nn.Shared), as a grouped convolution
// with groups = channels. Shape: [N, C, H, W] → same. State: weight
// [C, 1, 3, 3], bias [C]. Forward only.
type Depthwise struct {
	C            int
	Weight, Bias *autograd.Var
}

func (m *Depthwise) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	n, ch, h, w := x.Value.NCHW()
	y := c.Get(n, ch, h, w)
	for s := range n {
		for k := range ch {
			in, out := x.Value.Data[(s*ch+k)*h*w:], y.Value.Data[(s*ch+k)*h*w:]
			f := m.Weight.Value.Data[k*9 : k*9+9]
			for i := range h {
				for j := range w {
					v := m.Bias.Value.Data[k]
					for di := -1; di <= 1; di++ {
						for dj := -1; dj <= 1; dj++ {
							if i+di >= 0 && i+di < h && j+dj >= 0 && j+dj < w {
								v += f[(di+1)*3+dj+1] * in[(i+di)*w+j+dj]
							}
						}
					}
					out[i*w+j] = v
				}
			}
		}
	}
	c.RecordOp("depthwise", m, y, func() { panic("Depthwise: no backward pass") }, x, m.Weight, m.Bias)
	return c.Observed(m, x, y)
}

// MACs are C·9 per output pixel.
func (m *Depthwise) MACs(_, y *tensor.Tensor) int64 {
	_, _, h, w := y.NCHW()
	return int64(m.C * 9 * h * w)
}

func (m *Depthwise) State() []nn.Entry {
	return []nn.Entry{{Name: "weight", Kind: nn.Param, Var: m.Weight}, {Name: "bias", Kind: nn.Param, Var: m.Bias}}
}

func (m *Depthwise) String() string { return fmt.Sprintf("Depthwise(%d)", m.C) }

// depthwiseAdapter: channel c's filter weight[c] and bias[c] are on the
// output side; the input side holds nothing of its own; the MACs scale
// with the one width.
type depthwiseAdapter struct{ nn.Stateless[*Depthwise] }

func init() { nn.RegisterAdapter[*Depthwise](depthwiseAdapter{}) }

func (depthwiseAdapter) Axes(l *Depthwise) nn.Axes {
	return nn.Axes{Coupling: nn.Shared, In: l.C, Out: l.C, MACs: []nn.Side{nn.SideOut}}
}

func (depthwiseAdapter) Tensors(l *Depthwise, s nn.Side) []nn.ChannelTensor {
	if s != nn.SideOut {
		return nil
	}
	return []nn.ChannelTensor{{Name: "weight", Var: l.Weight, Role: nn.RoleWeight}, {Name: "bias", Var: l.Bias, Role: nn.RoleBias}}
}

func (depthwiseAdapter) Resize(l *Depthwise, _ nn.Side, c nn.Cut) { l.C = len(c.Keep) }

// depthwiseNet is conv1 → dw → relu → conv2 → global average pooling →
// fc, for [N, 3, 6, 6] inputs.
type depthwiseNet struct {
	Conv1, Conv2 *nn.Conv2d
	DW           *Depthwise
	FC           *nn.Linear
}

func (m *depthwiseNet) Forward(c *nn.Ctx, x *autograd.Var) *autograd.Var {
	x = nn.Relu(c, m.DW.Forward(c, m.Conv1.Forward(c, x)))
	return m.FC.Forward(c, nn.GlobalAvgPool(c, m.Conv2.Forward(c, x)))
}

func (m *depthwiseNet) Children() []nn.Child {
	return []nn.Child{{Name: "conv1", Module: m.Conv1}, {Name: "dw", Module: m.DW}, {Name: "conv2", Module: m.Conv2}, {Name: "fc", Module: m.FC}}
}

func (m *depthwiseNet) String() string { return "DepthwiseNet" }

// A layer whose sides are one set of channels (nn.Shared, a depthwise
// convolution) joins its producer's group; removing channels cuts its
// filters once, and the plan's MACs, linear in the width for it, are the
// pruned model's.
func TestSharedCoupling(t *testing.T) {
	m := &depthwiseNet{Conv1: nn.NewConv2d(3, 8, 1, nn.ConvOpts{}), Conv2: nn.NewConv2d(8, 6, 1, nn.ConvOpts{}),
		DW: &Depthwise{C: 8, Weight: autograd.NewParam(tensor.New(8, 1, 3, 3)), Bias: autograd.NewParam(tensor.New(8))},
		FC: nn.NewLinear(6, 4, true)}
	randomise(m, rand.New(rand.NewPCG(5, 6)))
	g, err := prune.Trace(m, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	gr := g.Prunable()[0]
	if gr.String() != "conv1 out ⇒ dw in ⇒ dw out ⇒ conv2 in" || len(g.Prunable()) != 2 {
		t.Fatalf("groups:\n%s", g)
	}
	var names []string
	for _, p := range gr.Params(3) {
		names = append(names, p.Name)
	}
	if !slices.Equal(names, []string{"conv1.weight", "dw.weight", "dw.bias", "conv2.weight"}) {
		t.Errorf("parameters of a channel: %v", names)
	}
	scores, err := must(prune.NewCriterion(prune.L1, "", 0)).Scores(g, nil)
	if err != nil {
		t.Fatal(err)
	}
	plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{Ratio: 0.5, Ranking: prune.Uniform}, 3, 6, 6)
	if err != nil {
		t.Fatal(err)
	}
	x := tensor.New(2, 3, 6, 6)
	for i := range x.Data {
		x.Data[i] = float32(math.Cos(float64(i)))
	}
	for _, gp := range plan.Groups {
		for _, c := range gp.Remove {
			for _, ps := range gp.Group.Params(c) {
				if ps.Dep.Side == prune.In {
					for _, i := range ps.Index {
						ps.Var.Value.Data[i] = 0
					}
				}
			}
		}
	}
	ref := forward(m, x)
	if err := plan.Apply(nil); err != nil { // Apply checks the MACs and parameters against the plan's
		t.Fatal(err)
	}
	if m.DW.C != 4 || m.DW.Weight.Value.Shape[0] != 4 || m.DW.Bias.Value.Numel() != 4 || m.Conv2.In != 4 {
		t.Fatalf("after the plan:\n%s", nn.Format(m))
	}
	got := forward(m, x)
	for i := range ref {
		if math.Abs(float64(got[i]-ref[i])) > 1e-5 {
			t.Fatalf("pruned output %v, want %v", got, ref)
		}
	}
}
