package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"syscall"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/train"
)

func runTrain(args []string, out, errOut io.Writer) error {
	fs := newFlags("train", errOut)
	cfg := train.Config{}
	fs.StringVar(&cfg.Arch, "arch", "resnet20", "architecture")
	dir := fs.String("data", "", "CIFAR-10 binary directory (required)")
	outDir := fs.String("out", "", "run directory: checkpoints, metrics.jsonl, final.safetensors (required)")
	fs.IntVar(&cfg.Epochs, "epochs", 182, "epochs")
	fs.IntVar(&cfg.Batch, "batch", 128, "images per optimizer step")
	fs.StringVar(&cfg.Optimizer, "optimizer", "sgd", "sgd or adamw")
	fs.Float64Var(&cfg.LR, "lr", 0.1, "base learning rate")
	fs.Float64Var(&cfg.Momentum, "momentum", 0.9, "SGD momentum")
	fs.BoolVar(&cfg.Nesterov, "nesterov", false, "Nesterov momentum")
	fs.Float64Var(&cfg.WeightDecay, "wd", 1e-4, "weight decay")
	fs.StringVar(&cfg.Schedule, "schedule", "multistep:91,136", "learning-rate schedule: multistep:E1,E2[:gamma], cosine[:min], onecycle[:pct], constant; prefix warmup:E+ for linear warm-up")
	var smoothing float64
	fs.Float64Var(&smoothing, "label-smoothing", 0, "label smoothing ε")
	fs.Uint64Var(&cfg.Seed, "seed", 1, "seed of initialisation, shuffling and augmentation")
	noAugment := fs.Bool("no-augment", false, "turn off random crop and flip")
	meanFlag := fs.String("mean", "", "input mean per channel (default: the weights file's, else CIFAR-10's)")
	stdFlag := fs.String("std", "", "input std per channel (default: the weights file's, else CIFAR-10's)")
	fs.StringVar(&cfg.Init, "weights", "", "start from these weights (fine-tuning) instead of a seeded initialisation")
	resume := fs.Bool("resume", false, "continue the run in -out from its checkpoint (its stored settings win)")
	maxSteps := fs.Int("max-steps", 0, "stop after this many optimizer steps in total (0: no limit)")
	fs.IntVar(&cfg.CheckpointEvery, "checkpoint-every", 0, "also write a checkpoint every this many steps")
	fs.IntVar(&cfg.TrainImages, "train-images", 0, "train on the first N training images only (0: all 50,000)")
	fs.IntVar(&cfg.TestImages, "test-images", 0, "evaluate on the first N test images only (0: all 10,000)")
	fs.StringVar(&cfg.Teacher, "teacher", "", "distil this model file's outputs into the trained model (knowledge distillation)")
	fs.Float64Var(&cfg.DistillT, "distill-t", 4, "distillation temperature (with -teacher)")
	fs.Float64Var(&cfg.DistillAlpha, "distill-alpha", 0.9, "weight of the distillation term (with -teacher; the labels' cross-entropy gets 1 − alpha)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" || *outDir == "" {
		return usagef("-data and -out are required")
	}
	if *maxSteps < 0 {
		return usagef("-max-steps must be ≥ 0")
	}
	cfg.LabelSmoothing = float32(smoothing)
	if cfg.Teacher != "" {
		abs, err := filepath.Abs(cfg.Teacher) // a resumed run may start elsewhere
		if err != nil {
			return err
		}
		cfg.Teacher = abs
	}
	cfg.Augment = !*noAugment
	var r *train.Run
	if *resume {
		trainSet, testSet, err := loadCIFAR(*dir)
		if err != nil {
			return err
		}
		if r, err = train.Resume(*outDir, trainSet, testSet); err != nil {
			return err
		}
		fmt.Fprintf(out, "resuming %s at epoch %d, step %d\n", *outDir, r.Epoch+1, r.Step)
	} else {
		if _, err := os.Stat(filepath.Join(*outDir, train.CheckpointFile)); err == nil {
			return fmt.Errorf("%s already holds a run; use -resume to continue it or choose another -out", *outDir)
		}
		var meta zoo.Meta
		if cfg.Init != "" {
			var err error
			if _, meta, err = zoo.Load(cfg.Init, ""); err != nil {
				return err
			}
		}
		meta.Mean, meta.Std = orDefault(meta.Mean, data.CIFAR10Mean), orDefault(meta.Std, data.CIFAR10Std)
		var err error
		if cfg.Mean, cfg.Std, err = normalisation(meta, *meanFlag, *stdFlag); err != nil {
			return err
		}
		trainSet, testSet, err := loadCIFAR(*dir)
		if err != nil {
			return err
		}
		if r, err = train.New(cfg, *outDir, trainSet, testSet); err != nil {
			return err
		}
	}
	r.MaxSteps = *maxSteps
	r.Progress, r.Log = progressTo(errOut), out
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	err := r.Train(ctx)
	switch {
	case errors.Is(err, context.Canceled):
		fmt.Fprintf(out, "\ninterrupted at step %d: checkpoint written; continue with -resume -out %s\n", r.Step, *outDir)
		return nil
	case err != nil:
		return err
	case r.MaxSteps > 0 && r.Step >= r.MaxSteps && r.Epoch < r.Config.Epochs:
		fmt.Fprintf(out, "stopped after %d steps (-max-steps): checkpoint written\n", r.Step)
		return nil
	}
	fmt.Fprintf(out, "done: %s\n", filepath.Join(*outDir, train.FinalFile))
	return nil
}

func orDefault(v []float32, d [3]float32) []float32 {
	if v == nil {
		return d[:]
	}
	return v
}

func loadCIFAR(dir string) (trainSet, testSet *data.Dataset, err error) {
	if trainSet, err = data.Load(dir, data.Train); err != nil {
		return nil, nil, err
	}
	testSet, err = data.Load(dir, data.Test)
	return trainSet, testSet, err
}
