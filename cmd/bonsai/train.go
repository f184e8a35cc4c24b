package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/train"
)

// defaultArch is what bonsai train trains when neither -arch nor -weights
// names an architecture.
const defaultArch = "resnet20"

// trainFlagsOutsideConfig are bonsai train's settings that are not
// train.Config fields as they are.
type trainFlagsOutsideConfig struct {
	smoothing float64
	noAugment bool
	mean, std string
	out       string
	resume    bool
	maxSteps  int
}

func runTrain(args []string, out, errOut io.Writer) error {
	fs := newFlags("train", errOut)
	cfg := train.Config{}
	x := trainFlagsOutsideConfig{}
	fs.StringVar(&cfg.Arch, "arch", "", "architecture (default "+defaultArch+"; with -weights, the file's)")
	fs.StringVar(&cfg.Data, "data", "", "CIFAR-10 binary directory, or imagefolder:DIR (DIR/train, DIR/val: one folder of PNG/JPEG files per class, brought to the model's input size) (required; with -resume, the run's unless given)")
	fs.StringVar(&x.out, "out", "", "run directory: checkpoints, metrics.jsonl, final.safetensors (required)")
	fs.IntVar(&cfg.Epochs, "epochs", 182, "epochs")
	fs.IntVar(&cfg.Batch, "batch", 128, "images per optimizer step")
	fs.StringVar(&cfg.Optimizer, "optimizer", "sgd", "sgd or adamw")
	fs.Float64Var(&cfg.LR, "lr", 0.1, "base learning rate")
	fs.Float64Var(&cfg.Momentum, "momentum", 0.9, "SGD momentum")
	fs.BoolVar(&cfg.Nesterov, "nesterov", false, "Nesterov momentum")
	fs.Float64Var(&cfg.WeightDecay, "wd", 1e-4, "weight decay")
	fs.StringVar(&cfg.Schedule, "schedule", "multistep:91,136", "learning-rate schedule: multistep:E1,E2[:gamma], cosine[:min], onecycle[:pct], constant; prefix warmup:E+ for linear warm-up")
	fs.Float64Var(&x.smoothing, "label-smoothing", 0, "label smoothing ε")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of initialisation, shuffling and augmentation")
	fs.BoolVar(&x.noAugment, "no-augment", false, "turn off random crop and flip")
	fs.StringVar(&x.mean, "mean", "", "input mean per channel (default: the weights file's, else CIFAR-10's)")
	fs.StringVar(&x.std, "std", "", "input std per channel (default: the weights file's, else CIFAR-10's)")
	fs.StringVar(&cfg.Init, "weights", "", "start from these weights (fine-tuning) instead of a seeded initialisation")
	fs.BoolVar(&x.resume, "resume", false, "continue the run in -out: flags left out take the run's values; -data, -max-steps and -checkpoint-every may differ, other flags must agree with the run")
	fs.IntVar(&x.maxSteps, "max-steps", 0, "stop after this many optimizer steps in total (0: no limit)")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", 0, "also write a checkpoint every this many steps")
	fs.IntVar(&cfg.TrainImages, "train-images", 0, "train on the first N training images only (0: all 50,000)")
	fs.IntVar(&cfg.TestImages, "test-images", 0, "evaluate on the first N test images only (0: all 10,000)")
	fs.StringVar(&cfg.Teacher, "teacher", "", "distil this model file's outputs into the trained model (knowledge distillation)")
	fs.Float64Var(&cfg.DistillT, "distill-t", 4, "distillation temperature (with -teacher)")
	fs.Float64Var(&cfg.DistillAlpha, "distill-alpha", 0.9, "weight of the distillation term (with -teacher; the labels' cross-entropy gets 1 − alpha)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if x.maxSteps < 0 {
		return usagef("-max-steps must be ≥ 0, got %d", x.maxSteps)
	}
	var r *train.Run
	var err error
	if x.resume {
		r, err = resumeTrainRun(fs, &cfg, &x, out)
	} else {
		r, err = newTrainRun(cfg, x)
	}
	if err != nil {
		return err
	}
	return trainToEnd(r, x, out, errOut)
}

// newTrainRun validates the flags of a new run, checks -out, loads the
// data and starts the run.
func newTrainRun(cfg train.Config, x trainFlagsOutsideConfig) (*train.Run, error) {
	if cfg.Data == "" {
		return nil, usagef("-data is required")
	}
	if err := checkArch(cfg.Arch); err != nil {
		return nil, err
	}
	mean, err := parseTriple("mean", x.mean)
	if err != nil {
		return nil, err
	}
	std, err := parseTriple("std", x.std)
	if err != nil {
		return nil, err
	}
	cfg.LabelSmoothing, cfg.Augment = float32(x.smoothing), !x.noAugment
	// Every flag's value, with the normalisation the run will have at the
	// latest (a weights file's comes later).
	check := cfg
	check.Mean, check.Std = triple(mean, zoo.DefaultMean), triple(std, zoo.DefaultStd)
	if check.Arch == "" && check.Init == "" {
		check.Arch = defaultArch
	}
	if err := check.Validate(); err != nil {
		return nil, flagError(err, trainFlags)
	}
	if err := checkOut(x.out); err != nil {
		return nil, err
	}
	if _, err := os.Stat(filepath.Join(x.out, train.CheckpointFile)); err == nil {
		return nil, fmt.Errorf("%s already holds a run: continue it with -resume, or choose another -out", x.out)
	}
	for _, in := range [][2]string{{"data", cfg.Data}, {"weights", cfg.Init}, {"teacher", cfg.Teacher}} {
		if err := checkInput(in[0], in[1]); err != nil {
			return nil, err
		}
	}
	// Stored absolute, so that a resumed run may start elsewhere.
	for _, p := range []*string{&cfg.Data, &cfg.Init, &cfg.Teacher} {
		if *p, err = absPath(*p); err != nil {
			return nil, err
		}
	}
	if cfg.Teacher != "" { // its weights are checked before the data is read
		if _, _, err := zoo.Load(cfg.Teacher, ""); err != nil {
			return nil, fmt.Errorf("-teacher: %w", err)
		}
	}
	var meta zoo.Meta
	if cfg.Init != "" {
		if _, meta, err = zoo.Load(cfg.Init, cfg.Arch); err != nil {
			return nil, err
		}
		cfg.Arch = meta.Arch
	} else if cfg.Arch == "" {
		cfg.Arch = defaultArch
	}
	if cfg.Mean, cfg.Std, err = normalisation(meta, x.mean, x.std, true); err != nil {
		return nil, err
	}
	trainSet, testSet, err := loadData(cfg.Data, cfg.Arch)
	if err != nil {
		return nil, err
	}
	r, err := train.New(cfg, x.out, trainSet, testSet)
	if errors.Is(err, train.ErrRunExists) {
		return nil, fmt.Errorf("%w: continue it with -resume, or choose another -out", err)
	}
	return r, flagError(err, trainFlags)
}

// resumeTrainRun checks a -resume command line against the run in -out and
// resumes it: flags not given take the run's values.
func resumeTrainRun(fs *flag.FlagSet, cfg *train.Config, x *trainFlagsOutsideConfig, out io.Writer) (*train.Run, error) {
	if err := checkOut(x.out); err != nil {
		return nil, err
	}
	stored, err := train.ReadConfig(x.out)
	if err != nil {
		return nil, fmt.Errorf("-resume: %w", err)
	}
	given := givenFlags(fs)
	*cfg = stored // the flags' variables now hold the run's values
	sameFloats := func(name string, run [3]float32) func(string) (bool, string) {
		return func(g string) (bool, string) {
			v, err := parseTriple(name, g)
			return err == nil && slices.Equal(v, run[:]), zoo.FormatFloats(run[:])
		}
	}
	rules := resumeRules{
		changeable: []string{"data", "max-steps", "checkpoint-every"},
		ignore:     []string{"out", "resume"},
		same: map[string]func(string) (bool, string){
			"arch": func(g string) (bool, string) {
				a, err := zoo.Lookup(g)
				return err == nil && a.Name == stored.Arch, stored.Arch
			},
			"no-augment": func(g string) (bool, string) {
				b, _ := strconv.ParseBool(g)
				return b == !stored.Augment, strconv.FormatBool(!stored.Augment)
			},
			"label-smoothing": func(g string) (bool, string) {
				v, _ := strconv.ParseFloat(g, 64)
				return float32(v) == stored.LabelSmoothing, fmt.Sprint(stored.LabelSmoothing)
			},
			"mean":    sameFloats("mean", stored.Mean),
			"std":     sameFloats("std", stored.Std),
			"weights": func(g string) (bool, string) { return stored.Init != "" && samePath(g, stored.Init), stored.Init },
			"teacher": func(g string) (bool, string) {
				return stored.Teacher != "" && samePath(g, stored.Teacher), stored.Teacher
			},
		},
	}
	if err := resumeConflicts(fs, given, x.out, rules); err != nil {
		return nil, err
	}
	if cfg.Data == "" {
		return nil, usagef("-resume: the run in %s does not record where its data is: give -data", x.out)
	}
	if err := checkInput("data", cfg.Data); err != nil {
		return nil, err
	}
	if cfg.Data, err = absPath(cfg.Data); err != nil {
		return nil, err
	}
	if _, err := zoo.Lookup(cfg.Arch); err != nil && isImageFolder(cfg.Data) {
		// A graph architecture is known once a file that holds it is read.
		if _, _, err := zoo.Load(filepath.Join(x.out, train.CheckpointFile), ""); err != nil {
			return nil, fmt.Errorf("-resume: %w", err)
		}
	}
	trainSet, testSet, err := loadData(cfg.Data, cfg.Arch)
	if err != nil {
		return nil, err
	}
	r, err := train.Resume(x.out, trainSet, testSet)
	if err != nil {
		return nil, err
	}
	r.Config.Data, r.Config.CheckpointEvery = cfg.Data, cfg.CheckpointEvery
	fmt.Fprintf(out, "resuming %s at epoch %d, step %d\n", x.out, r.Epoch+1, r.Step)
	return r, nil
}

// trainToEnd trains r until it ends, stops at -max-steps or is stopped by
// a signal, and says how to continue.
func trainToEnd(r *train.Run, x trainFlagsOutsideConfig, out, errOut io.Writer) error {
	r.MaxSteps = x.maxSteps
	r.Progress, r.Log = progressTo(errOut), out
	ctx, caught, stop := signalContext()
	defer stop()
	err := r.Train(ctx)
	cont := commandLine("bonsai", "train", "-resume", "-out", x.out, "-data", r.Config.Data)
	switch {
	case onlyCanceled(err):
		sig := caught()
		fmt.Fprintf(out, "\n%s at step %d: checkpoint written; continue with\n  %s\n", stopReason(sig), r.Step, cont)
		return stoppedError{sig: sig}
	case err != nil:
		return err
	case r.MaxSteps > 0 && r.Step >= r.MaxSteps && r.Epoch < r.Config.Epochs:
		fmt.Fprintf(out, "stopped after %d steps (-max-steps): checkpoint written; continue with\n  %s\n", r.Step, cont)
		return nil
	}
	fmt.Fprintf(out, "done: %s\n", filepath.Join(x.out, train.FinalFile))
	return nil
}

// triple returns v as an array, or d when v is nil.
func triple(v []float32, d [3]float32) [3]float32 {
	if v != nil {
		copy(d[:], v)
	}
	return d
}

// loadData returns the training and test images of -data: a CIFAR-10 binary
// directory (32×32), or imagefolder:DIR (DIR/train and DIR/val) brought to the input
// size of the architecture arch (imageSize).
func loadData(dir, arch string) (trainSet, testSet *data.Dataset, err error) {
	if trainSet, testSet, ok, err := loadImageFolder(dir, arch); ok {
		return trainSet, testSet, err
	}
	if trainSet, err = data.Load(dir, data.Train); err != nil {
		return nil, nil, err
	}
	testSet, err = data.Load(dir, data.Test)
	return trainSet, testSet, err
}
