package infer_test

import (
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// TestCompilePruned compiles pruned ResNet-20s (odd widths, the option-A shortcut's channel
// map; global ranking without rounding) and a pruned MobileNetV2 (odd depthwise widths,
// residual streams pruned too) and checks them against the forward pass, and each
// image's output alone against its output in a batch, at GOMAXPROCS 1 and 2.
func TestCompilePruned(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, arch := range []string{"resnet20", "resnet20b", "mobilenet_v2_cifar"} {
		t.Run(arch, func(t *testing.T) {
			m, err := zoo.New(arch)
			if err != nil {
				t.Fatal(err)
			}
			randomize(m, 7)
			g, err := prune.Trace(m, 3, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			crit, err := prune.NewCriterion(prune.L1, "", 0)
			if err != nil {
				t.Fatal(err)
			}
			scores, err := crit.Scores(g, nil)
			if err != nil {
				t.Fatal(err)
			}
			plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{FLOPs: 0.5, Ranking: prune.Global, PruneResidual: true}, 3, 32, 32)
			if err != nil {
				t.Fatal(err)
			}
			if err := plan.Apply(nil); err != nil {
				t.Fatal(err)
			}
			t.Log(plan)
			x := randomInput(9, 4, 3, 32, 32)
			want := reference(m, x)
			for _, batch := range []int{1, 128} {
				cm, err := infer.Compile(m, []int{3, 32, 32}, infer.Options{Batch: batch})
				if err != nil {
					t.Fatal(err)
				}
				got, err := cm.NewRunner(4).Run(x)
				if err != nil {
					t.Fatal(err)
				}
				if d := maxRelDiff(got, want); d > 1e-4 {
					t.Errorf("plan for batch %d: compiled output differs from the forward pass by %.3g·max|y|", batch, d)
				}
				checkBatchIndependence(t, cm, []int{3, 32, 32})
			}
		})
	}
}
