package prune

import (
	"math"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/train"
)

// The single-channel experiment's measurement: LossWithout equals, to the
// last bit, a whole evaluation (train.Evaluator, eager) of the model with the
// channel zeroed, whether the block input is cached (CIFAR ResNet,
// channels visited forwards and then backwards) or not (other models); zeroing
// equals surgery; the model is left unchanged. (The experiment itself is
// bonsai prune-rho.)
func TestLossProbe(t *testing.T) {
	d := syntheticCIFAR(12, 6)
	mean, std := data.CIFAR10Mean, data.CIFAR10Std
	for _, cached := range []bool{true, false} {
		t.Run(map[bool]string{true: "cached", false: "whole"}[cached], func(t *testing.T) {
			tp := zooTopology("resnet8", 32, 1)
			m := tp.model()
			g := tp.trace(t, m)
			chs := InternalChannels(g)
			if len(chs) != 16+32+64 {
				t.Fatalf("%d internal channels, want 112 (each block's first convolution)", len(chs))
			}
			pick := SampleChannels(chs, 5, 3)
			pick = append(pick, pick[0]) // back to the first block: the cache is rebuilt
			probe := NewLossProbe(m, d, 5, mean, std)
			if probe.cache == nil {
				t.Fatal("no block cache for a CIFAR ResNet")
			}
			if !cached {
				probe.cache = nil // as for any other model
			}
			ev := train.NewEvaluator(5, mean, std)
			ev.Eager = true
			base := ev.Run(m, d).Loss
			if probe.Loss() != base {
				t.Errorf("loss %.9g, the evaluator's %.9g", probe.Loss(), base)
			}
			for _, c := range pick {
				got, err := probe.LossWithout(c)
				if err != nil {
					t.Fatal(err)
				}
				want := withChannelZeroed(c.Group, c.Index, func() float64 { return ev.Run(m, d).Loss })
				if got != want {
					t.Errorf("%s: loss %.9g, a whole evaluation with it zeroed %.9g", c, got, want)
				}
				if got == base {
					t.Errorf("%s: removing it does not change the loss (%.9g)", c, got)
				}
			}
			if after := ev.Run(m, d).Loss; after != base {
				t.Errorf("the probe left the model changed: loss %.9g, was %.9g", after, base)
			}
			// Zeroing = surgery, on a second copy.
			c := pick[1]
			gi := slices.Index(g.Groups, c.Group)
			m2 := tp.model()
			g2 := tp.trace(t, m2)
			if err := g2.Groups[gi].Remove([]int{c.Index}, nil); err != nil {
				t.Fatal(err)
			}
			zeroed, _ := probe.LossWithout(c)
			if cut := ev.Run(m2, d).Loss; math.Abs(zeroed-cut) > 1e-5*cut {
				t.Errorf("%s: loss %.7f zeroed, %.7f removed by surgery", c, zeroed, cut)
			}
			nn.SetTraining(m, false)
		})
	}
}

func TestSampleChannels(t *testing.T) {
	m := zooTopology("resnet8", 32, 1).model()
	g, err := Trace(m, 3, 32, 32)
	if err != nil {
		t.Fatal(err)
	}
	all := InternalChannels(g)
	a, b, c := SampleChannels(all, 20, 1), SampleChannels(all, 20, 1), SampleChannels(all, 20, 2)
	if len(a) != 20 || !slices.Equal(a, b) || slices.Equal(a, c) {
		t.Fatalf("20 channels with seed 1 twice and seed 2: %v / %v / %v", a, b, c)
	}
	pos := func(x ChannelRef) int { return slices.Index(all, x) }
	for i := 1; i < len(a); i++ {
		if pos(a[i]) <= pos(a[i-1]) {
			t.Errorf("drawn channels not distinct or out of order: %s after %s", a[i], a[i-1])
		}
	}
	if got := SampleChannels(all, 0, 1); !slices.Equal(got, all) {
		t.Error("k = 0 does not give every channel")
	}
}
