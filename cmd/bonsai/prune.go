package main

import (
	"encoding/json"
	"fmt"
	"io"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/onnx"
	"github.com/bonsai-dl/bonsai/prune"
)

// pruneOpts are the settings of one "bonsai prune" run, a prune.RunConfig
// with the command line's checks; they are stored in the run directory so
// that -resume continues the same run.
type pruneOpts prune.RunConfig

// pruneState is the progress of a run (state.json in the run directory),
// pruneSummary the output of "bonsai prune -json".
type (
	pruneState   = prune.RunState
	pruneSummary = prune.RunSummary
)

func runPrune(args []string, out, errOut io.Writer) (retErr error) {
	fs := newFlags("prune", errOut)
	o := pruneOpts{}
	fs.StringVar(&o.Arch, "arch", "", "architecture (optional when the weights file names one)")
	fs.StringVar(&o.Weights, "weights", "", "model to prune (safetensors)")
	fs.StringVar(&o.Init, "init", "", `"random": build -arch with seeded random weights instead of loading -weights`)
	fs.StringVar(&o.Data, "data", "", "CIFAR-10 binary directory, imagefolder:DIR (DIR/train, DIR/val: one folder of PNG/JPEG files per class, brought to the model's input size), or synthetic:SIZE for random SIZE×SIZE calibration images (no accuracy, no fine-tuning)")
	fs.StringVar(&o.Criterion, "criterion", prune.Sensitivity, "channel criterion: "+strings.Join(prune.CriterionNames, ", "))
	fs.StringVar(&o.Scope, "scope", "", "sensitivity/taylor scope: all (every parameter that disappears with a channel), filter (the producer's filter) "+
		"or, for sensitivity, channel (the Fisher of a mask on the whole channel; not with -prune-residual) (default: channel for sensitivity without -prune-residual, else all)")
	targetFlags(fs, &o)
	fs.StringVar(&o.Ranking, "ranking", "", "uniform (the same fraction of every group), global (by score), "+
		"global-flops (score per MAC saved) or global-latency (score per millisecond saved, from the measured latency table) "+
		"(default: global-latency with a latency target; else global-flops for sensitivity and taylor, whose scores compare across layers, and uniform for the others)")
	fs.IntVar(&o.MinChannels, "min-channels", 1, "channels every group keeps at least")
	fs.Float64Var(&o.MaxRatio, "max-ratio", 0, fmt.Sprintf("largest fraction of a group one step removes (0: %g)", prune.DefaultMaxRatio))
	fs.IntVar(&o.RoundTo, "round-to", 0, "keep widths a multiple of this (e.g. 8)")
	fs.BoolVar(&o.PruneResidual, "prune-residual", false, "also prune residual-stream groups")
	fs.IntVar(&o.Steps, "steps", 1, "prune in this many equal steps, fine-tuning after each")
	fs.IntVar(&o.Calib, "calib", 4096, "calibration images")
	fs.IntVar(&o.CalibBatch, "calib-batch", 128, "calibration batch size")
	calibFlags(fs, &o)
	fs.IntVar(&o.FinetuneEpochs, "finetune-epochs", 30, "fine-tuning epochs in total (split evenly over the steps)")
	fs.IntVar(&o.Batch, "batch", 128, "fine-tuning batch size")
	fs.Float64Var(&o.LR, "lr", 0.01, "fine-tuning learning rate")
	fs.Float64Var(&o.Momentum, "momentum", 0.9, "fine-tuning SGD momentum")
	fs.Float64Var(&o.WD, "wd", 5e-4, "fine-tuning weight decay")
	fs.StringVar(&o.Schedule, "schedule", "cosine", "fine-tuning schedule (see bonsai train)")
	fs.BoolVar(&o.Distill, "distill", false, "fine-tune against the unpruned model's outputs as well as the labels (knowledge distillation, teacher: -weights)")
	fs.Float64Var(&o.DistillT, "distill-t", 4, "distillation temperature")
	fs.Float64Var(&o.DistillAlpha, "distill-alpha", 0.9, "weight of the distillation term (the labels' cross-entropy gets 1 − alpha)")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of calibration, random criteria and fine-tuning")
	fs.IntVar(&o.TrainImages, "train-images", 0, "use only the first N training images (0: all)")
	fs.IntVar(&o.TestImages, "test-images", 0, "use only the first N test images (0: all)")
	fs.StringVar(&o.TestRange, "test-range", "", "use only test images FIRST:END, e.g. 0:5000 to choose settings and 5000:10000 to report")
	fs.IntVar(&o.BenchBatch, "bench-batch", 0, "batch of the throughput measurement (0: 128 for 32×32 inputs, 8 for larger)")
	meanFlag := fs.String("mean", "", "input mean per channel (default: the weights file's, else CIFAR-10's)")
	stdFlag := fs.String("std", "", "input std per channel")
	outDir := fs.String("out", "", "run directory (required unless -explain)")
	resume := fs.Bool("resume", false, "continue the run in -out")
	explain := fs.Bool("explain", false, "print the channel groups and exit")
	asJSON := fs.Bool("json", false, "print a JSON summary")
	if err := parse(fs, args); err != nil {
		return err
	}
	if err := oneTargetFlag(fs); err != nil {
		return err
	}
	o.fillDefaults(givenFlags(fs))
	st, err := pruneSetup(fs, &o, *outDir, *resume, *explain, *meanFlag, *stdFlag)
	if err != nil {
		return err
	}
	// The model.
	m, meta, err := pruneModel(&o, st, *outDir)
	if err != nil {
		return err
	}
	if st == nil {
		if o.Mean, o.Std, err = normalisation(meta, *meanFlag, *stdFlag, true); err != nil {
			return err
		}
		o.Classes = meta.Classes // the file's names, carried into the pruned files
	}
	inShape, synthetic, err := pruneInput(o)
	if err != nil {
		return err
	}
	if *explain {
		s, err := prune.Explain(m, inShape...)
		if err != nil {
			return err
		}
		_, err = fmt.Fprint(out, s)
		return err
	}
	if *outDir == "" {
		return usagef("-out is required")
	}
	d := &prune.Driver{Config: prune.RunConfig(o), Dir: *outDir, Model: m, InShape: inShape, State: st, Log: out,
		Progress: progressTo(errOut), Timer: imagesPerSecond, Original: func() (nn.Module, error) {
			o := o // pruneModel settles o.Arch
			m, _, err := pruneModel(&o, nil, *outDir)
			return m, err
		}}
	if err := d.Config.Validate(); err != nil {
		return err
	}
	if err := d.Open(); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	defer func() { retErr = d.Close(retErr) }()
	if !synthetic {
		if d.Train, d.Test, err = loadData(o.Data, o.Arch); err != nil {
			return err
		}
		if o.TrainImages > 0 && o.TrainImages < d.Train.Len() {
			d.Train = d.Train.Slice(0, o.TrainImages)
		}
		if o.TestImages > 0 && o.TestImages < d.Test.Len() {
			d.Test = d.Test.Slice(0, o.TestImages)
		}
		if d.Test, err = testRange(d.Test, o.TestRange); err != nil {
			return err
		}
		if err := o.checkCalibSize(d.Train); err != nil {
			return err
		}
	}
	ctx, caught, stop := signalContext()
	defer stop()
	if err := d.Run(ctx); err != nil {
		if onlyCanceled(err) {
			sig := caught()
			fmt.Fprintf(out, "\n%s: state saved; continue with\n  %s\n", stopReason(sig),
				commandLine("bonsai", "prune", "-resume", "-out", *outDir, "-data", o.Data))
			return stoppedError{sig: sig, err: err}
		}
		return err
	}
	sum := d.Summary()
	if err := writeReport(d, sum); err != nil {
		return err
	}
	written := filepath.Join(*outDir, "pruned.safetensors")
	if strings.EqualFold(filepath.Ext(o.Weights), ".onnx") {
		p, err := exportPruned(d.Model, meta, o, *outDir)
		if err != nil {
			return err
		}
		written += ", " + p
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(sum)
	}
	fmt.Fprintf(out, "\n%s: MACs %s → %s (−%.1f %%), params %s → %s; accuracy %s → %s right after pruning → %s after fine-tuning\nwrote %s, %s\n",
		sum.Arch, si(sum.MACsBefore), si(sum.MACsAfter), 100*(1-float64(sum.MACsAfter)/float64(sum.MACsBefore)),
		si(sum.ParamsBefore), si(sum.ParamsAfter), pct(sum.AccBefore), pct(sum.AccPruned), pct(sum.AccFinetuned),
		written, filepath.Join(*outDir, "report.md"))
	return nil
}

// exportPruned writes the pruned model as dir/pruned.onnx (a model read from ONNX goes
// back as ONNX), with the input normalisation of the run and the metadata of the input.
func exportPruned(m nn.Module, meta zoo.Meta, o pruneOpts, dir string) (string, error) {
	a, err := zoo.Lookup(o.Arch)
	if err != nil {
		return "", err
	}
	meta.Mean, meta.Std = o.Mean[:], o.Std[:]
	path := filepath.Join(dir, "pruned.onnx")
	return path, onnx.Export(path, m, a.InputShape, meta, onnx.ExportOptions{})
}

// imagesPerSecond times the compiled forward passes of models together
// (timeForwards) and returns each one's images per second: prune's
// Driver.Timer.
func imagesPerSecond(models []nn.Module, inShape []int, batch, reps int) []float64 {
	ms := timeForwards(models, batch, inShape, reps)
	ips := make([]float64, len(ms))
	for i := range ms {
		ips[i] = float64(batch) / (ms[i] / 1000)
	}
	return ips
}

// pct formats an accuracy fraction, or "n/a" for a negative one.
func pct(a float64) string {
	if a < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f %%", 100*a)
}

func (o pruneOpts) validate(synthetic bool) error {
	if err := o.checkTarget(); err != nil {
		return err
	}
	switch {
	case o.Steps < 1:
		return usagef("-steps must be ≥ 1")
	case o.Calib < 1 && prune.NeedsStats(o.Criterion):
		return usagef("-calib must be ≥ 1 for -criterion %s", o.Criterion)
	case o.FinetuneEpochs < 0:
		return usagef("-finetune-epochs must be ≥ 0")
	case synthetic && o.FinetuneEpochs > 0:
		return usagef("fine-tuning needs real data: with -data synthetic:SIZE give -finetune-epochs 0")
	case o.FinetuneEpochs > 0 && o.FinetuneEpochs%o.Steps != 0:
		return usagef("-finetune-epochs %d is not a multiple of -steps %d", o.FinetuneEpochs, o.Steps)
	case o.Distill && o.Weights == "":
		return usagef("-distill needs -weights: the unpruned model is the teacher")
	case o.Distill && !(o.DistillT > 0):
		return usagef("-distill-t must be positive, got %g", o.DistillT)
	case o.Distill && !(o.DistillAlpha >= 0 && o.DistillAlpha <= 1):
		return usagef("-distill-alpha must be in [0, 1], got %g", o.DistillAlpha)
	}
	return o.validateCalib()
}

// pruneModel returns the model to prune: the last completed or pruned step
// of a resumed run, a seeded random one (-init random) or -weights.
func pruneModel(o *pruneOpts, st *pruneState, dir string) (nn.Module, zoo.Meta, error) {
	if st != nil && st.ModelFile() != "" {
		return zoo.Load(filepath.Join(dir, st.ModelFile()), o.Arch)
	}
	switch o.Init {
	case "":
		if o.Weights == "" {
			return nil, zoo.Meta{}, usagef("give -weights FILE or -init random")
		}
		m, meta, err := zoo.Load(o.Weights, o.Arch)
		if err == nil {
			o.Arch = meta.Arch
		}
		return m, meta, err
	case "random":
		if o.Weights != "" {
			return nil, zoo.Meta{}, usagef("-init random and -weights exclude each other")
		}
		a, err := zoo.Lookup(o.Arch)
		if err != nil {
			return nil, zoo.Meta{}, err
		}
		o.Arch = a.Name
		m, err := a.Build()
		if err != nil {
			return nil, zoo.Meta{}, err
		}
		zoo.InitWeights(m, o.Seed)
		return m, zoo.Meta{Arch: a.Name}, nil
	}
	return nil, zoo.Meta{}, usagef("-init %q: the only value is random", o.Init)
}

// pruneInput returns the input shape [C, H, W] and whether the data are
// synthetic: synthetic:SIZE's, the input size of the architecture (o.Arch,
// see imageSize) for imagefolder:DIR, and CIFAR-10's 32×32 otherwise.
func pruneInput(o pruneOpts) ([]int, bool, error) {
	if size, ok := strings.CutPrefix(o.Data, "synthetic:"); ok {
		n, err := strconv.Atoi(size)
		if err != nil || n < 8 {
			return nil, false, usagef("-data %s: SIZE must be an integer ≥ 8", o.Data)
		}
		return []int{3, n, n}, true, nil
	}
	if o.Data == "" {
		return nil, false, usagef("-data DIR or -data synthetic:SIZE is required")
	}
	if isImageFolder(o.Data) {
		h, w, err := imageSize(o.Arch)
		if err != nil {
			return nil, false, err
		}
		return []int{data.Channels, h, w}, false, nil
	}
	return []int{data.Channels, data.ImageSize, data.ImageSize}, false, nil
}

// pruneSynthetic reports whether the data are synthetic (see pruneInput),
// checking the -data value but needing no model.
func pruneSynthetic(o pruneOpts) (bool, error) {
	if isImageFolder(o.Data) {
		return false, nil
	}
	_, synthetic, err := pruneInput(o)
	return synthetic, err
}
