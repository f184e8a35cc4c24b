package prune_test

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// Score the channels of a model, plan the removal of half its MACs and
// carry the plan out. Criteria that need data (sensitivity, taylor) take
// the Stats of prune.Calibrate instead of nil.
func ExampleMakePlan() {
	m, err := zoo.New("resnet20")
	if err != nil {
		panic(err)
	}
	zoo.InitWeights(m, 1)
	g, err := prune.Trace(m, 3, 32, 32)
	if err != nil {
		panic(err)
	}
	crit, err := prune.NewCriterion(prune.L1, "", 0)
	if err != nil {
		panic(err)
	}
	scores, err := crit.Scores(g, nil)
	if err != nil {
		panic(err)
	}
	plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{FLOPs: 0.5, Ranking: prune.Uniform, RoundTo: 4})
	if err != nil {
		panic(err)
	}
	fmt.Println(plan)
	if err := plan.Apply(nil); err != nil { // pass the optimizer to slice its state too
		panic(err)
	}
	nn.SetTraining(m, false)
	fmt.Println(nn.Summarize(m, 3, 32, 32).MACs == plan.MACsAfter)
	// Output:
	// MACs 40.55M → 19.69M (−51.5 %), params 269.7k → 123.1k (−54.4 %), 336 → 156 channels, 9 of 9 eligible groups pruned
	// true
}
