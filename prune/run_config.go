package prune

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/train"
)

// RunConfig is everything that determines a prune run (Driver): the
// target and its limits, how channels are scored, the calibration, and the
// fine-tuning after each step. It is saved in the run's state
// (RunState.Config) so that a resumed run is the same run; the JSON keys
// are the field names.
type RunConfig struct {
	// Arch is the model's architecture, as zoo.Lookup names it: the files
	// the run writes record it, and fine-tuning needs it.
	Arch string
	// Weights is the file the model was loaded from, or "": the teacher
	// of Distill. Init records how the weights were made when there is no
	// file ("random": zoo.InitWeights with Seed). Data records where the
	// data sets came from. The Driver reads none of them but Weights.
	Weights, Init, Data string
	// Criterion and Scope choose the channels' scores (NewCriterion).
	Criterion, Scope string
	// Ranking, FLOPs, Latency, Ratio, MaxRatio, MinChannels, RoundTo and
	// PruneResidual are the final target and the limits, as in PlanConfig;
	// Steps splits the target into that many plans (Schedule), each
	// followed by FinetuneEpochs/Steps epochs of fine-tuning.
	Ranking                     string
	FLOPs, Ratio, MaxRatio      float64
	MinChannels, RoundTo, Steps int
	PruneResidual               bool
	// Calib is the number of calibration images of each step (for the
	// criteria that need statistics, NeedsStats), in batches of
	// CalibBatch.
	Calib, CalibBatch int
	// FinetuneEpochs is the number of fine-tuning epochs in total, a
	// multiple of Steps (0: none); Batch, LR, Momentum, WD (weight decay)
	// and Schedule are its SGD settings (see train.Config).
	FinetuneEpochs, Batch int
	LR, Momentum, WD      float64
	Schedule              string
	// Seed seeds the calibration draws (Seed + i − 1 at step i), the
	// random criterion and the fine-tuning (Seed + i).
	Seed uint64
	// Mean and Std are the model's input normalisation (see
	// zoo.Meta.Normalization); the files the run writes record them.
	Mean, Std [3]float32
	// Classes are the names of the model's output classes, carried from
	// the file pruned (zoo.Meta.Classes) into the files the run writes;
	// nil: the architecture's (zoo.DefaultClasses).
	Classes []string `json:",omitempty"`
	// TrainImages, TestImages and TestRange record which images of the
	// data sets the caller kept (the first N of each split, or the test
	// images FIRST:END); the Driver takes the data sets as it is given
	// them.
	TrainImages, TestImages int
	// BenchBatch is the batch of the throughput timings (0: 128 for inputs
	// of at most 32×32 pixels, 8 for larger ones).
	BenchBatch int
	// Distill fine-tunes with the unpruned model (Weights) as teacher, at
	// temperature DistillT with weight DistillAlpha (see train.Config).
	Distill      bool    `json:",omitempty"`
	DistillT     float64 `json:",omitempty"`
	DistillAlpha float64 `json:",omitempty"`
	// Fisher, FisherSamples and FisherClasses choose the Fisher estimate
	// of the sensitivity criterion (FisherConfig); CalibAugment gives the
	// calibration images the training crop and flip
	// (CalibConfig.Augment).
	Fisher        string `json:",omitempty"`
	FisherSamples int    `json:",omitempty"`
	FisherClasses int    `json:",omitempty"`
	CalibAugment  bool   `json:",omitempty"`
	TestRange     string `json:",omitempty"`
	// Latency is the fraction of the model's measured latency to remove
	// (instead of FLOPs or Ratio), at LatencyBatch images per call (0: 1);
	// a latency target or the GlobalLatency ranking times the model's
	// layers first (LatencyFile).
	Latency      float64 `json:",omitempty"`
	LatencyBatch int     `json:",omitempty"`
}

// UsesLatency reports whether the run needs a latency table: a latency
// target or the GlobalLatency ranking.
func (c RunConfig) UsesLatency() bool { return c.Latency > 0 || c.Ranking == GlobalLatency }

// latencyBatch returns LatencyBatch, 1 when it is 0.
func (c RunConfig) latencyBatch() int { return max(c.LatencyBatch, 1) }

// ConfigError is a RunConfig field whose value cannot work.
type ConfigError struct {
	Field   string // the RunConfig field, e.g. "Steps"
	Problem string // e.g. "must be ≥ 1, got 0"
}

func (e *ConfigError) Error() string { return "prune: RunConfig." + e.Field + " " + e.Problem }

// Validate reports the first setting of c that cannot work, without a
// model or data: a *ConfigError for a field, or the error of the plan
// (PlanConfig.Validate), criterion (NewCriterion), Fisher estimate
// (FisherConfig.Validate) or fine-tuning (train.Config.Validate) it makes.
func (c RunConfig) Validate() error {
	bad := func(field, format string, a ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, a...)}
	}
	if c.Steps < 1 {
		return bad("Steps", "must be ≥ 1, got %d", c.Steps)
	}
	if err := c.PlanConfig().Validate(); err != nil {
		return err
	}
	if _, err := NewCriterion(c.Criterion, c.Scope, 0); err != nil {
		return err
	}
	if NeedsStats(c.Criterion) {
		switch {
		case c.Calib < 1:
			return bad("Calib", "must be ≥ 1 for criterion %s, got %d", c.Criterion, c.Calib)
		case c.CalibBatch < 1:
			return bad("CalibBatch", "must be ≥ 1, got %d", c.CalibBatch)
		}
	}
	if err := c.FisherConfig(0).Validate(); err != nil {
		return err
	}
	switch {
	case c.Fisher != "" && c.Fisher != FisherEmpirical && c.Criterion != Sensitivity:
		return bad("Fisher", "%s is for criterion %s; %s does not read the Fisher diagonal", c.Fisher, Sensitivity, c.Criterion)
	case c.Scope == ScopeChannel && c.PruneResidual:
		return bad("Scope", "%s scores the channels that are not residual streams: not with PruneResidual", c.Scope)
	case c.FinetuneEpochs < 0:
		return bad("FinetuneEpochs", "must be ≥ 0, got %d", c.FinetuneEpochs)
	case c.FinetuneEpochs%c.Steps != 0:
		return bad("FinetuneEpochs", "%d is not a multiple of Steps %d", c.FinetuneEpochs, c.Steps)
	case c.Distill && c.Weights == "":
		return bad("Distill", "needs Weights: the unpruned model is the teacher")
	case c.TrainImages < 0 || c.TestImages < 0:
		return bad("TrainImages", "and TestImages must be ≥ 0, got %d and %d", c.TrainImages, c.TestImages)
	case c.BenchBatch < 0:
		return bad("BenchBatch", "must be ≥ 0, got %d", c.BenchBatch)
	case c.LatencyBatch < 0:
		return bad("LatencyBatch", "must be ≥ 0, got %d", c.LatencyBatch)
	}
	for i, s := range c.Std {
		if !(s > 0) {
			return bad("Std", "%v: channel %d is not positive", c.Std, i)
		}
	}
	if c.FinetuneEpochs > 0 {
		if c.Arch == "" {
			return bad("Arch", "is empty: fine-tuning needs the architecture")
		}
		if err := c.finetuneConfig(1).Validate(); err != nil {
			return fmt.Errorf("prune: fine-tuning: %w", err)
		}
	}
	return nil
}

// PlanConfig returns the final target and limits of the run.
func (c RunConfig) PlanConfig() PlanConfig {
	return PlanConfig{FLOPs: c.FLOPs, Latency: c.Latency, Ratio: c.Ratio, Ranking: c.Ranking, MinChannels: c.MinChannels,
		MaxRatio: c.MaxRatio, RoundTo: c.RoundTo, PruneResidual: c.PruneResidual}
}

// FisherConfig returns the Fisher estimate of the run, with seed for its
// draws.
func (c RunConfig) FisherConfig(seed uint64) FisherConfig {
	return FisherConfig{Kind: c.Fisher, Samples: c.FisherSamples, Classes: c.FisherClasses, Seed: seed}
}

// finetuneConfig returns the fine-tuning of step i (without the Init and
// Teacher files).
func (c RunConfig) finetuneConfig(i int) train.Config {
	cfg := train.Config{Arch: c.Arch, Epochs: c.FinetuneEpochs / c.Steps, Batch: c.Batch, Optimizer: "sgd", LR: c.LR,
		Momentum: c.Momentum, WeightDecay: c.WD, Schedule: c.Schedule, Seed: c.Seed + uint64(i), Mean: c.Mean, Std: c.Std,
		Augment: true, Init: fmt.Sprintf("pruned-step-%d.safetensors", i)}
	if c.Distill {
		cfg.Teacher, cfg.DistillT, cfg.DistillAlpha = c.Weights, c.DistillT, c.DistillAlpha
	}
	return cfg
}

// calibConfig returns the calibration of step i over the training set d.
func (c RunConfig) calibConfig(i int, d *data.Dataset) CalibConfig {
	seed := c.Seed + uint64(i) - 1
	return CalibConfig{N: min(c.Calib, d.Len()), Batch: c.CalibBatch, Seed: seed, Mean: c.Mean, Std: c.Std,
		Augment: c.CalibAugment, Fisher: c.FisherConfig(seed)}
}

// CalibNote describes the calibration in a few words for a log or a
// report: ", empirical Fisher", ", exact Fisher (≤ 10 classes per image),
// augmented", or "" for a criterion that reads no Fisher diagonal.
func (c RunConfig) CalibNote() string {
	var s string
	if c.Criterion == Sensitivity {
		switch c.Fisher {
		case FisherSampled:
			s = fmt.Sprintf(", sampled Fisher (%d label(s) per image)", max(c.FisherSamples, 1))
		case FisherExact:
			s = fmt.Sprintf(", exact Fisher (≤ %d classes per image)", c.FisherClasses)
		default:
			s = ", empirical Fisher"
		}
	}
	if c.CalibAugment {
		s += ", augmented"
	}
	return s
}
