package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/train"
)

// pruneStateFile is a prune run's progress (see pruneState).
const pruneStateFile = prune.StateFile

// pruneFlags names the flag of each fine-tuning train.Config field that
// bonsai prune sets from one.
var pruneFlags = map[string]string{
	"Epochs": "finetune-epochs", "Batch": "batch", "LR": "lr", "Momentum": "momentum", "WeightDecay": "wd",
	"Schedule": "schedule", "DistillT": "distill-t", "DistillAlpha": "distill-alpha", "Mean": "mean", "Std": "std",
	"TrainImages": "train-images", "TestImages": "test-images",
}

// pruneSetup checks a prune command line before any work: every flag's
// value, and -out (writable, not in use, holding no run, or for -resume
// holding the run, whose settings the flags given must agree with). For
// -resume it returns the run's state, with its settings in o; flags not
// given take the run's values.
func pruneSetup(flags *flag.FlagSet, o *pruneOpts, out string, resume, explain bool, mean, std string) (*pruneState, error) {
	if _, err := parseTriple("mean", mean); err != nil {
		return nil, err
	}
	if _, err := parseTriple("std", std); err != nil {
		return nil, err
	}
	var st *pruneState
	if resume {
		var err error
		if st, err = pruneResume(flags, o, out, mean, std); err != nil {
			return nil, err
		}
	}
	if err := checkArch(o.Arch); err != nil {
		return nil, err
	}
	if err := o.checkFlags(); err != nil {
		return nil, err
	}
	if explain || resume {
		return st, nil
	}
	if err := checkOut(out); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(out, pruneStateFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a prune run: continue it with -resume, or choose another -out", out)
	}
	if err := checkInput("weights", o.Weights); err != nil {
		return nil, err
	}
	var err error
	if o.Weights, err = absPath(o.Weights); err != nil { // stored: a resumed run may start elsewhere
		return nil, err
	}
	if synthetic, _ := pruneSynthetic(*o); !synthetic {
		if err := checkInput("data", o.Data); err != nil {
			return nil, err
		}
		if o.Data, err = absPath(o.Data); err != nil {
			return nil, err
		}
	}
	return st, nil
}

// checkFlags checks the settings that need no model: validate's, and the
// criterion, the plan and the fine-tuning settings.
func (o pruneOpts) checkFlags() error {
	if o.Init != "" && o.Init != "random" {
		return usagef("-init %q: the only value is random", o.Init)
	}
	synthetic, err := pruneSynthetic(o)
	if err != nil {
		return err
	}
	if err := o.validate(synthetic); err != nil {
		return err
	}
	if _, err := prune.NewCriterion(o.Criterion, "", 0); err != nil {
		return usagef("-criterion: %v", err)
	}
	if _, err := prune.NewCriterion(prune.Sensitivity, o.Scope, 0); err != nil {
		return usagef("-scope: %v", err)
	}
	if err := prune.RunConfig(o).PlanConfig().Validate(); err != nil {
		return usagef("%v", err)
	}
	switch {
	case o.CalibBatch < 1 && prune.NeedsStats(o.Criterion):
		return usagef("-calib-batch must be ≥ 1, got %d", o.CalibBatch)
	case o.TrainImages < 0 || o.TestImages < 0:
		return usagef("-train-images and -test-images must be ≥ 0")
	case o.BenchBatch < 0:
		return usagef("-bench-batch must be ≥ 0, got %d", o.BenchBatch)
	}
	if o.FinetuneEpochs > 0 {
		cfg := train.Config{Arch: "check", Epochs: o.FinetuneEpochs / o.Steps, Batch: o.Batch, Optimizer: "sgd", LR: o.LR,
			Momentum: o.Momentum, WeightDecay: o.WD, Schedule: o.Schedule, Mean: zoo.DefaultMean, Std: zoo.DefaultStd}
		if o.Distill {
			cfg.Teacher, cfg.DistillT, cfg.DistillAlpha = "check", o.DistillT, o.DistillAlpha
		}
		if err := cfg.Validate(); err != nil {
			return flagError(err, pruneFlags)
		}
	}
	return nil
}

// pruneResume reads the state of the run in out and checks the flags
// given with -resume against its settings, which it copies into o.
func pruneResume(flags *flag.FlagSet, o *pruneOpts, out, mean, std string) (*pruneState, error) {
	if out == "" {
		return nil, usagef("-resume needs -out")
	}
	if err := checkOut(out); err != nil {
		return nil, err
	}
	st, err := prune.ReadRunState(out)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, fmt.Errorf("-resume: no prune run to resume in %s (it has no %s)", out, pruneStateFile)
	} else if err != nil {
		return nil, fmt.Errorf("-resume: %w", err)
	}
	given := givenFlags(flags)
	*o = pruneOpts(st.Config) // the flags' variables now hold the run's values
	run := st.Config
	sameFloats := func(name string, run [3]float32) func(string) (bool, string) {
		return func(g string) (bool, string) {
			v, err := parseTriple(name, g)
			return err == nil && slices.Equal(v, run[:]), zoo.FormatFloats(run[:])
		}
	}
	isSynthetic := func(d string) bool { return strings.HasPrefix(d, "synthetic:") }
	rules := resumeRules{
		changeable: []string{"bench-batch"},
		ignore:     []string{"out", "resume", "json", "explain"},
		same: map[string]func(string) (bool, string){
			"arch": func(g string) (bool, string) {
				a, err := zoo.Lookup(g)
				return err == nil && a.Name == run.Arch, run.Arch
			},
			"weights": func(g string) (bool, string) { return run.Weights != "" && samePath(g, run.Weights), run.Weights },
			// The data may have moved, but not turn synthetic or real.
			"data": func(g string) (bool, string) {
				return g == run.Data || !isSynthetic(g) && !isSynthetic(run.Data), run.Data
			},
			"mean": sameFloats("mean", run.Mean),
			"std":  sameFloats("std", run.Std),
		},
	}
	if err := resumeConflicts(flags, given, out, rules); err != nil {
		return nil, err
	}
	if d, ok := given["data"]; ok && !isSynthetic(d) {
		if err := checkInput("data", d); err != nil {
			return nil, err
		}
		if o.Data, err = absPath(d); err != nil {
			return nil, err
		}
	}
	st.Config = prune.RunConfig(*o) // with the changes allowed, saved from now on
	return st, nil
}
