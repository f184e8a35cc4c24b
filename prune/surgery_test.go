package prune

import (
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// removeRandom removes a random quarter of every prunable group of g.
func removeRandom(t *testing.T, g *Graph, seed uint64, opt optim.Optimizer) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 6))
	for _, gr := range g.Prunable() {
		if err := gr.Remove(randomChannels(rng, gr), opt); err != nil {
			t.Fatal(err)
		}
	}
}

func optimParams(m nn.Module) []optim.Param {
	var ps []optim.Param
	for _, e := range nn.Parameters(m) {
		ps = append(ps, optim.Param{Name: e.Key, Var: e.Var})
	}
	return ps
}

func setGrads(ps []optim.Param, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 7))
	for _, p := range ps {
		g := tensor.New(p.Var.Value.Shape...)
		for i := range g.Data {
			g.Data[i] = float32(rng.NormFloat64())
		}
		p.Var.Grad = g
	}
}

// Surgery slices the optimizer's buffers, the gradients and the
// per-sample squared gradients like the parameters, and leaves AdamW's
// step alone; the optimizer then steps on the smaller parameters.
func TestRemoveSlicesOptimizerState(t *testing.T) {
	tp := zooTopology("resnet20", 32, 1)
	for name, newOpt := range map[string]func([]optim.Param) optim.Optimizer{
		"sgd": func(ps []optim.Param) optim.Optimizer {
			return optim.NewSGD(ps, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
		},
		"adamw": func(ps []optim.Param) optim.Optimizer {
			return optim.NewAdamW(ps, optim.AdamWConfig{LR: 0.01, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8})
		},
	} {
		t.Run(name, func(t *testing.T) {
			m := tp.model()
			ps := optimParams(m)
			opt := newOpt(ps)
			setGrads(ps, 1)
			opt.Step()
			// Make every buffer, gradient and squared gradient a copy of
			// its parameter, so the sliced ones must equal the pruned values.
			for _, p := range ps {
				for k, s := range opt.ParamState(p.Name) {
					if k != "step" {
						copy(s.Data, p.Var.Value.Data)
					}
				}
				p.Var.Grad = p.Var.Value.Clone()
				p.Var.SqGrad = p.Var.Value.Clone()
			}
			removeRandom(t, tp.trace(t, m), 2, opt)
			if s := ps[0].Var.Value.Shape; ps[0].Name != "conv1.weight" || s[0] != 12 {
				t.Fatalf("%s has shape %v after removing 4 of 16 output channels", ps[0].Name, s)
			}
			for _, p := range ps {
				v := p.Var.Value
				for _, other := range []*tensor.Tensor{p.Var.Grad, p.Var.SqGrad} {
					if !slices.Equal(other.Data, v.Data) || !tensor.SameShape(other, v) {
						t.Fatalf("%s: gradient not sliced like the parameter", p.Name)
					}
				}
				for k, s := range opt.ParamState(p.Name) {
					if k == "step" {
						if s.Data[0] != 1 {
							t.Errorf("%s: step %v, want 1", p.Name, s.Data[0])
						}
						continue
					}
					if !tensor.SameShape(s, v) || !slices.Equal(s.Data, v.Data) {
						t.Fatalf("%s: state %s has shape %v, parameter %v, or other values", p.Name, k, s.Shape, v.Shape)
					}
				}
			}
			setGrads(ps, 3)
			opt.Step() // panics on a state of the wrong shape
		})
	}
}

// The parameters stay the same Vars, so an optimizer made before pruning
// keeps updating the model.
func TestRemoveKeepsVars(t *testing.T) {
	m := tiny.model()
	before := nn.Parameters(m)
	removeRandom(t, tiny.trace(t, m), 1, nil)
	after := nn.Parameters(m)
	for i := range before {
		if before[i].Var != after[i].Var {
			t.Errorf("%s is a new Var", before[i].Key)
		}
	}
}

// Group.Params lists exactly the elements that removal deletes: their
// number is the drop in the parameter count, and they are distinct.
func TestParamsCountWhatDisappears(t *testing.T) {
	for _, tp := range []topology{tiny, zooTopology("resnet20", 32, 1), zooTopology("resnet50", 64, 1)} {
		t.Run(tp.name, func(t *testing.T) {
			if testing.Short() && tp.name == "resnet50" {
				t.Skip("large model under -short")
			}
			m := tp.build()
			g := tp.trace(t, m)
			for _, gr := range g.Prunable() {
				c := gr.Channels / 2
				n := 0
				for _, ps := range gr.Params(c) {
					seen := map[int]bool{}
					for _, i := range ps.Index {
						if i < 0 || i >= ps.Var.Value.Numel() || seen[i] {
							t.Fatalf("%s: index %d out of range or repeated", ps.Name, i)
						}
						seen[i] = true
					}
					n += len(ps.Index)
				}
				before := nn.CountParams(m)
				if err := gr.Remove([]int{c}, nil); err != nil {
					t.Fatal(err)
				}
				if got := before - nn.CountParams(m); got != int64(n) {
					t.Errorf("group %s: removing a channel deletes %d parameters, Params lists %d", gr, got, n)
				}
			}
		})
	}
}

// Setting to zero the parameter elements Group.Params lists for a channel
// computes what removing the channel computes, wherever every tensor of
// the group is made by a layer with parameters (all but the option-A
// streams, whose shortcut carries the channels on without parameters).
func TestParamsZeroedIsRemoval(t *testing.T) {
	for _, tp := range []topology{tiny, zooTopology("resnet20b", 32, 2), zooTopology("resnet20", 32, 2)} {
		t.Run(tp.name, func(t *testing.T) {
			x := tp.input()
			n := len(tp.trace(t, tp.build()).Groups)
			for i := range n {
				zeroed, removed := tp.model(), tp.model()
				gz, gr := tp.trace(t, zeroed).Groups[i], tp.trace(t, removed).Groups[i]
				if !gz.Prunable || slices.ContainsFunc(gz.Deps, func(d Dep) bool { _, ok := d.Module.(ChannelMapper); return ok }) {
					continue
				}
				c := gz.Channels - 1
				for _, ps := range gz.Params(c) {
					for _, j := range ps.Index {
						ps.Var.Value.Data[j] = 0
					}
				}
				if err := gr.Remove([]int{c}, nil); err != nil {
					t.Fatal(err)
				}
				want := run(zeroed, x)
				if d, mag := maxAbsDiff(run(removed, x), want); !(d <= 1e-5*mag) {
					t.Errorf("group %s: removal and zeroed parameters differ by %.3g (max %.3g)", gz, d, mag)
				}
			}
		})
	}
}

func TestRemoveErrors(t *testing.T) {
	m := tiny.model()
	g := tiny.trace(t, m)
	in, conv1 := g.Groups[0], g.Groups[1]
	state := nn.SaveState(m, nil)
	for _, tc := range []struct {
		g    *Group
		idx  []int
		want string
	}{
		{in, []int{0}, "is not prunable: the network input"},
		{conv1, []int{8}, "channel 8 to remove is outside 0…7 or repeated"},
		{conv1, []int{2, 2}, "channel 2 to remove is outside 0…7 or repeated"},
		{conv1, []int{0, 1, 2, 3, 4, 5, 6, 7}, "removing all 8 channels"},
	} {
		if err := tc.g.Remove(tc.idx, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Remove(%v) on %s: error %v, want %q", tc.idx, tc.g, err, tc.want)
		}
	}
	if err := conv1.Keep([]int{9}, nil); err == nil || !strings.Contains(err.Error(), "channel 9 to keep is outside 0…7") {
		t.Errorf("Keep(9): error %v", err)
	}
	// A group traced before the model changed under it is refused.
	m.(*tinyNet).BN1.C = 7
	if err := conv1.Remove([]int{0}, nil); err == nil || !strings.Contains(err.Error(), "bn1 has 7 channels, the group expects 8") {
		t.Errorf("Remove on a changed model: error %v", err)
	}
	m.(*tinyNet).BN1.C = 8
	after := nn.SaveState(m, nil)
	for k, v := range state.Tensors {
		if !slices.Equal(v.Shape, after.Tensors[k].Shape) {
			t.Errorf("a failed Remove changed %s", k)
		}
	}
	if err := conv1.Keep([]int{7, 0, 3}, nil); err != nil || conv1.Channels != 3 || m.(*tinyNet).Conv2.In != 3 {
		t.Errorf("Keep: error %v, %d channels", err, conv1.Channels)
	}
}

// The layers print their new widths and Summarize counts the MACs that are left.
func TestFormatAndMACsFollow(t *testing.T) {
	tp := zooTopology("resnet20", 32, 1)
	m := tp.build()
	macs := nn.Summarize(m, tp.inShape...).MACs
	g := tp.trace(t, m)
	if err := findGroup(t, g, "layer1.0.conv1 out").Remove([]int{0, 3, 5, 7}, nil); err != nil {
		t.Fatal(err)
	}
	f := nn.Format(m)
	for _, want := range []string{
		"(conv1): Conv2d(16, 12, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=False)\n      (bn1): BatchNorm2d(12, eps=1e-05",
		"(conv2): Conv2d(12, 16, kernel_size=(3, 3)",
	} {
		if !strings.Contains(f, want) {
			t.Errorf("no %q in\n%s", want, f)
		}
	}
	// 4 filters of 16·3·3 and 16 filters' 4 input planes of 3·3, at 32×32.
	if got, want := macs-nn.Summarize(m, tp.inShape...).MACs, int64(2*4*16*9*32*32); got != want {
		t.Errorf("MACs dropped by %d, want %d", got, want)
	}
}

// A pruned model trains: the shortcuts' irregular maps have a backward
// pass, and an optimizer made before pruning steps.
func TestTrainAfterPruning(t *testing.T) {
	tp := zooTopology("resnet20", 32, 4)
	m := tp.model()
	ps := optimParams(m)
	opt := optim.NewSGD(ps, optim.SGDConfig{LR: 0.1, Momentum: 0.9})
	removeRandom(t, tp.trace(t, m), 4, opt)
	nn.SetTraining(m, true)
	c := nn.NewCtx()
	c.Record(true)
	for _, p := range ps {
		p.Var.ZeroGrad()
	}
	loss := nn.CrossEntropy(c, m.Forward(c, tp.input()), []int{0, 1, 2, 3}, 0, nil)
	c.Backward(loss)
	opt.Step()
	for _, p := range ps {
		if !tensor.SameShape(p.Var.Grad, p.Var.Value) {
			t.Fatalf("%s: gradient %v for %v", p.Name, p.Var.Grad.Shape, p.Var.Value.Shape)
		}
	}
	if !slices.ContainsFunc(ps[0].Var.Grad.Data, func(v float32) bool { return v != 0 }) {
		t.Error("no gradient reached conv1")
	}
}
