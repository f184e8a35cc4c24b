package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"time"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/train"
)

// demoNet is the demo's small CNN: four 3×3 conv → BN → ReLU layers (two of
// stride 2), global average pooling and a linear head.
func demoNet() *nn.Sequential {
	conv := func(in, out, stride int) []nn.Module {
		return []nn.Module{nn.NewConv2d(in, out, 3, nn.ConvOpts{Stride: stride, Padding: 1}), nn.NewBatchNorm2d(out), nn.NewReLU()}
	}
	var layers []nn.Module
	layers = append(layers, conv(3, 16, 1)...)
	layers = append(layers, conv(16, 32, 2)...)
	layers = append(layers, conv(32, 32, 1)...)
	layers = append(layers, conv(32, 64, 2)...)
	layers = append(layers, nn.NewAdaptiveAvgPool2d(), nn.NewFlatten(), nn.NewLinear(64, demoClasses, true))
	return nn.NewSequential(layers...)
}

func runDemo(args []string, out, errOut io.Writer) error {
	fs := newFlags("demo", errOut)
	seed := fs.Uint64("seed", 1, "seed of the data, the weights and the calibration draw")
	flops := fs.Float64("flops", 0.5, "fraction of MACs to remove")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := (prune.PlanConfig{FLOPs: *flops, Ranking: prune.GlobalFLOPs}).Validate(); err != nil {
		return usagef("-flops %g: want a fraction of the MACs to remove in (0, 1)", *flops)
	}
	start := time.Now()
	dir, err := os.MkdirTemp("", "bonsai-demo-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(dir)

	fmt.Fprintf(out, "Bonsai demo: %d classes of oriented stripes (32×32), a small CNN, pruned by second-order sensitivity.\n\n", demoClasses)
	trainSet, testSet := demoDataset(3000, *seed), demoDataset(600, *seed+1)
	mean, std := [3]float32{0.5, 0.5, 0.5}, [3]float32{0.25, 0.25, 0.25}
	m := demoNet()
	nn.ResetParameters(m, *seed)
	cfg := train.Config{Arch: "demo", Epochs: 6, Batch: 64, Optimizer: "sgd", LR: 0.05, Momentum: 0.9, WeightDecay: 5e-4,
		Schedule: "cosine", Seed: *seed, Mean: mean, Std: std, Augment: false}
	fmt.Fprintf(out, "1. train %d epochs on %d images\n", cfg.Epochs, trainSet.Len())
	r, err := train.NewWithModel(cfg, dir+"/train", m, trainSet, testSet)
	if err != nil {
		return err
	}
	r.OnEpoch = demoEpochLine(out)
	if err := r.Train(context.Background()); err != nil {
		return err
	}
	eval := train.NewEvaluator(200, mean, std)
	before := eval.Run(m, testSet)
	sumBefore := nn.Summarize(m, 3, 32, 32)

	fmt.Fprintf(out, "\n2. calibrate on 1024 training images, rank channels by sensitivity, remove %.0f %% of the MACs\n", 100**flops)
	g, err := prune.Trace(m, 3, 32, 32)
	if err != nil {
		return err
	}
	// The configuration bonsai prune uses by default: the exact Fisher over
	// augmented images, each channel's mask scored as a whole, the global
	// ranking by score per MAC saved.
	stats, err := prune.Calibrate(m, g, trainSet, prune.CalibConfig{N: 1024, Batch: 128, Seed: *seed, Mean: mean, Std: std,
		Augment: true, Fisher: prune.FisherConfig{Kind: prune.FisherExact, Seed: *seed}})
	if err != nil {
		return err
	}
	crit, err := prune.NewCriterion(prune.Sensitivity, prune.ScopeChannel, *seed)
	if err != nil {
		return err
	}
	scores, err := crit.Scores(g, stats)
	if err != nil {
		return err
	}
	plan, err := prune.MakePlan(m, g, scores, prune.PlanConfig{FLOPs: *flops, Ranking: prune.GlobalFLOPs}, 3, 32, 32)
	if err != nil {
		return err
	}
	if err := plan.Apply(nil); err != nil {
		return err
	}
	pruned := eval.Run(m, testSet)
	fmt.Fprintf(out, "   test accuracy right after pruning: %.2f %%\n", 100*pruned.Accuracy())

	cfg.Epochs, cfg.LR = 3, 0.02
	fmt.Fprintf(out, "\n3. fine-tune %d epochs\n", cfg.Epochs)
	r, err = train.NewWithModel(cfg, dir+"/finetune", m, trainSet, testSet)
	if err != nil {
		return err
	}
	r.OnEpoch = demoEpochLine(out)
	if err := r.Train(context.Background()); err != nil {
		return err
	}
	after := eval.Run(m, testSet)
	sumAfter := nn.Summarize(m, 3, 32, 32)

	fmt.Fprintf(out, "\n%-12s %8s %8s\n", "", "before", "after")
	for i, l := range sumBefore.Layers {
		if _, ok := l.Layer.(*nn.Conv2d); ok {
			fmt.Fprintf(out, "%-12s %8d %8d\n", "conv "+l.Name, l.OutShape[1], sumAfter.Layers[i].OutShape[1])
		}
	}
	fmt.Fprintf(out, "%-12s %8s %8s\n", "MACs", si(sumBefore.MACs), si(sumAfter.MACs))
	fmt.Fprintf(out, "%-12s %8s %8s\n", "params", si(sumBefore.Params), si(sumAfter.Params))
	fmt.Fprintf(out, "%-12s %7.2f%% %7.2f%%   (right after pruning: %.2f %%)\n", "accuracy", 100*before.Accuracy(), 100*after.Accuracy(), 100*pruned.Accuracy())
	fmt.Fprintf(errOut, "demo took %.1f s\n", time.Since(start).Seconds())
	return nil
}

// demoEpochLine prints an epoch's figures without its timing, so that the
// demo's output is the same on every run.
func demoEpochLine(out io.Writer) func(train.EpochMetrics) {
	return func(m train.EpochMetrics) {
		fmt.Fprintf(out, "   epoch %d  train loss %.4f acc %.2f %%  test acc %.2f %%\n", m.Epoch, m.TrainLoss, 100*m.TrainAcc, 100*m.TestAcc)
	}
}

// si writes n with an SI suffix: 1.23 M, 456.7 k.
func si(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f k", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}
