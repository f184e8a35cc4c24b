package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/train"
)

// pruner carries out a prune run step by step, saving its state after
// every stage so that -resume continues where it stopped.
type pruner struct {
	o                 pruneOpts
	st                *pruneState
	dir               string
	m                 nn.Module
	inShape           []int
	synthetic         bool
	trainSet, testSet *data.Dataset
	log, progress     io.Writer
}

func (p *pruner) meta() zoo.Meta {
	return zoo.Meta{Arch: p.o.Arch, Mean: p.o.Mean[:], Std: p.o.Std[:], Classes: zoo.DefaultClasses(p.o.Arch)}
}

func (p *pruner) saveState() error {
	b, err := json.MarshalIndent(p.st, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(p.dir, "state.json.tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(p.dir, "state.json"))
}

// evaluate returns the test accuracy and loss, or −1 without test data.
func (p *pruner) evaluate() (float64, float64) {
	if p.testSet == nil {
		return -1, 0
	}
	res := train.NewEvaluator(200, p.o.Mean, p.o.Std).Run(p.m, p.testSet)
	return res.Accuracy(), res.Loss
}

func (p *pruner) benchBatch() int {
	if p.o.BenchBatch > 0 {
		return p.o.BenchBatch
	}
	if p.inShape[1] > 32 {
		return 8
	}
	return 128
}

func (p *pruner) run(ctx context.Context) error {
	st := p.st
	if st.Pruned == 0 && st.Completed == 0 && st.Before.MACs == 0 {
		s := nn.Summarize(p.m, p.inShape...)
		acc, loss := p.evaluate()
		st.Before = pruneFigures{MACs: s.MACs, Params: s.Params, Acc: acc, Loss: loss}
		st.Original = map[string][2]int64{}
		for _, l := range s.Layers {
			if l.MACs > 0 {
				st.Original[l.Name] = [2]int64{int64(l.OutShape[1]), l.MACs}
			}
		}
		fmt.Fprintf(p.log, "%s: %s MACs, %s params, test accuracy %s, %.0f images/s\n", p.o.Arch, si(s.MACs), si(s.Params), pct(acc),
			float64(p.benchBatch())/(timeForward(p.m, p.benchBatch(), p.inShape, 5)/1000))
		if err := p.saveState(); err != nil {
			return err
		}
	}
	sched := &prune.Schedule{Final: p.planConfig(), Steps: p.o.Steps, BaseMACs: st.BaseMACs, BaseChannels: st.BaseChans}
	for i := st.Completed + 1; i <= p.o.Steps; i++ {
		if err := ctx.Err(); err != nil { // stopped: the state is saved
			return err
		}
		if st.Pruned < i {
			if err := p.pruneStep(i, sched); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := p.finetune(ctx, i); err != nil {
			return err
		}
		if err := prune.Save(filepath.Join(p.dir, fmt.Sprintf("step-%d.safetensors", i)), p.m, p.meta()); err != nil {
			return err
		}
		st.Completed = i
		if err := p.saveState(); err != nil {
			return err
		}
	}
	if err := prune.Save(filepath.Join(p.dir, "pruned.safetensors"), p.m, p.meta()); err != nil {
		return err
	}
	if err := p.measureThroughput(); err != nil {
		return err
	}
	return p.saveState()
}

// measureThroughput times the pruned model and the original one alternately,
// in one loop (see timeForwards), and records both throughputs: the machine's
// speed drifts between the start of a run and its end, an hour or more later,
// by more than a pruned model's gain would be known to.
func (p *pruner) measureThroughput() error {
	o := p.o // pruneModel settles o.Arch
	orig, _, err := pruneModel(&o, nil, p.dir)
	if err != nil {
		return fmt.Errorf("reloading the original model to time it: %w", err)
	}
	ms := timeForwards([]nn.Module{orig, p.m}, p.benchBatch(), p.inShape, 0)
	for i := range ms {
		p.st.Throughput[i] = float64(p.benchBatch()) / (ms[i] / 1000)
	}
	return nil
}

func (p *pruner) planConfig() prune.PlanConfig {
	return prune.PlanConfig{FLOPs: p.o.FLOPs, Ratio: p.o.Ratio, Ranking: p.o.Ranking, MinChannels: p.o.MinChannels,
		MaxRatio: p.o.MaxRatio, RoundTo: p.o.RoundTo, PruneResidual: p.o.PruneResidual}
}

// pruneStep calibrates, scores, plans and removes the channels of step i.
func (p *pruner) pruneStep(i int, sched *prune.Schedule) error {
	st := p.st
	g, err := prune.Trace(p.m, p.inShape...)
	if err != nil {
		return err
	}
	var stats *prune.Stats
	if prune.NeedsStats(p.o.Criterion) {
		fmt.Fprintf(p.log, "step %d/%d: calibrating on %d images%s\n", i, p.o.Steps, p.o.Calib, calibNote(p.o))
		seed := p.o.Seed + uint64(i) - 1
		if p.synthetic {
			stats, err = prune.CalibrateFisher(p.m, g, syntheticBatches(p.o.Calib, p.o.CalibBatch, p.inShape, classesOf(p.m, p.inShape), p.o.Seed+uint64(i)),
				p.o.fisherConfig(seed))
		} else {
			stats, err = prune.Calibrate(p.m, g, p.trainSet, prune.CalibConfig{N: min(p.o.Calib, p.trainSet.Len()), Batch: p.o.CalibBatch,
				Seed: seed, Mean: p.o.Mean, Std: p.o.Std, Augment: p.o.CalibAugment, Fisher: p.o.fisherConfig(seed)})
		}
		if err != nil {
			return err
		}
	}
	crit, err := prune.NewCriterion(p.o.Criterion, p.o.Scope, p.o.Seed+uint64(i))
	if err != nil {
		return err
	}
	scores, err := crit.Scores(g, stats)
	if err != nil {
		return err
	}
	plan, err := sched.Plan(i, p.m, g, scores, p.inShape...)
	if err != nil {
		return err
	}
	st.BaseMACs, st.BaseChans = sched.BaseMACs, sched.BaseChannels
	before := nn.Summarize(p.m, p.inShape...)
	if err := plan.Apply(nil); err != nil {
		return err
	}
	after := nn.Summarize(p.m, p.inShape...)
	st.Layers = layerRows(before, after, plan, st.Original)
	acc, loss := p.evaluate()
	st.StepsDone = append(st.StepsDone[:i-1], stepFigures{Step: i, Target: sched.Target(i), MACs: after.MACs, Params: after.Params, AccPruned: acc, LossPruned: loss})
	fmt.Fprintf(p.log, "step %d/%d: %s → %s MACs (−%.1f %% of the original), test accuracy right after pruning %s\n",
		i, p.o.Steps, si(before.MACs), si(after.MACs), 100*(1-float64(after.MACs)/float64(st.Before.MACs)), pct(acc))
	if err := prune.Save(filepath.Join(p.dir, fmt.Sprintf("pruned-step-%d.safetensors", i)), p.m, p.meta()); err != nil {
		return err
	}
	st.Pruned = i
	return p.saveState()
}

// finetune trains the model of step i for its share of the epochs, in
// finetune-i/, resuming a checkpoint there if an earlier process left one.
func (p *pruner) finetune(ctx context.Context, i int) error {
	epochs := p.o.FinetuneEpochs / p.o.Steps
	if epochs == 0 {
		return nil
	}
	dir := filepath.Join(p.dir, fmt.Sprintf("finetune-%d", i))
	var r *train.Run
	var err error
	if _, statErr := os.Stat(filepath.Join(dir, train.CheckpointFile)); statErr == nil {
		if r, err = train.Resume(dir, p.trainSet, p.testSet); err != nil {
			return err
		}
		p.m = r.Model
	} else {
		cfg := train.Config{Arch: p.o.Arch, Epochs: epochs, Batch: p.o.Batch, Optimizer: "sgd", LR: p.o.LR, Momentum: p.o.Momentum,
			WeightDecay: p.o.WD, Schedule: p.o.Schedule, Seed: p.o.Seed + uint64(i), Mean: p.o.Mean, Std: p.o.Std, Augment: true,
			Init: fmt.Sprintf("pruned-step-%d.safetensors", i)}
		if p.o.Distill {
			teacher, err := filepath.Abs(p.o.Weights)
			if err != nil {
				return err
			}
			cfg.Teacher, cfg.DistillT, cfg.DistillAlpha = teacher, p.o.DistillT, p.o.DistillAlpha
		}
		if r, err = train.NewWithModel(cfg, dir, p.m, p.trainSet, p.testSet); err != nil {
			return err
		}
	}
	r.Progress, r.Log = p.progress, p.log
	r.OnEpoch = func(m train.EpochMetrics) {
		s := &p.st.StepsDone[i-1]
		s.Finetune = append(s.Finetune[:m.Epoch-1], m.TestAcc)
		p.saveState()
	}
	return r.Train(ctx)
}

// classesOf returns the number of outputs of m for inputs of shape inShape.
func classesOf(m nn.Module, inShape []int) int {
	s := nn.Summarize(m, inShape...)
	out := s.Layers[len(s.Layers)-1].OutShape
	return out[len(out)-1]
}
