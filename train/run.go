package train

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"runtime/debug"
	"slices"
	"strings"
	"time"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/optim"
	"github.com/bonsai-dl/bonsai/tensor"
)

// File names inside a run directory.
const (
	CheckpointFile = "checkpoint.safetensors"
	FinalFile      = "final.safetensors"
	MetricsFile    = "metrics.jsonl"
)

// Run is one training run: a model, its optimizer and schedule, the data,
// and how far it has got.
type Run struct {
	Config Config
	Dir    string
	Model  nn.Module
	Opt    optim.Optimizer
	Sched  optim.Schedule
	Epoch  int // completed epochs
	Step   int // optimizer steps taken

	// MaxSteps, when > 0, stops training once Step reaches it (a
	// checkpoint is written).
	MaxSteps int
	// Progress receives the live progress line (carriage returns); Log the
	// per-epoch lines. Either may be nil.
	Progress, Log io.Writer
	// OnEpoch, when set, is called with each epoch's metrics after they
	// are logged.
	OnEpoch func(EpochMetrics)

	// Running sums of the epoch in progress (saved in mid-epoch
	// checkpoints so that a resumed epoch reports the same figures).
	lossSum       float64
	correct, seen int

	train, test *data.Dataset
	loader      *data.Loader
	eval        *Evaluator
	params      []optim.Param
	ctx         *nn.Ctx
	labels      []int
	teacher     nn.Module // Config.Teacher's model, in evaluation mode
	teacherCtx  *nn.Ctx
	lock        *DirLock // Dir, held from New or Resume until Train returns
	fresh       bool     // made by New or NewWithModel, not Resume
}

// New starts a run in dir (created if needed) with weights initialised from
// cfg.Seed, or loaded from cfg.Init when it names a file (then cfg.Arch may
// be empty: the file's architecture is taken). The run holds dir (see
// LockDir) until Train returns or Close is called; dir must hold no run
// already (ErrRunExists).
func New(cfg Config, dir string, trainSet, testSet *data.Dataset) (*Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	lock, err := lockNew(dir)
	if err != nil {
		return nil, err
	}
	var m nn.Module
	if cfg.Init != "" {
		var meta zoo.Meta
		if m, meta, err = zoo.Load(cfg.Init, cfg.Arch); err != nil {
			return nil, release(lock, err)
		}
		cfg.Arch = meta.Arch
	} else {
		a, err := zoo.Lookup(cfg.Arch)
		if err != nil {
			return nil, release(lock, err)
		}
		cfg.Arch = a.Name
		if m, err = a.Build(); err != nil {
			return nil, release(lock, err)
		}
		zoo.InitWeights(m, cfg.Seed)
	}
	return newLocked(cfg, lock, m, trainSet, testSet)
}

// NewWithModel starts a run in dir (created if needed) that trains m as it
// is — e.g. a pruned model being fine-tuned. cfg.Arch names m's
// architecture; cfg.Init is informational. m's values must be finite. The
// run holds dir as with New.
func NewWithModel(cfg Config, dir string, m nn.Module, trainSet, testSet *data.Dataset) (*Run, error) {
	if err := cfg.Validate(); err != nil {
		return nil, err
	}
	if err := nn.CheckFinite(m); err != nil {
		return nil, fmt.Errorf("train: the model to train: %w", err)
	}
	lock, err := lockNew(dir)
	if err != nil {
		return nil, err
	}
	return newLocked(cfg, lock, m, trainSet, testSet)
}

// lockNew locks dir for a new run: it must hold no checkpoint or final
// model. A metrics file without a checkpoint is a failed run's leftover
// and is removed.
func lockNew(dir string) (*DirLock, error) {
	lock, err := LockDir(dir)
	if err != nil {
		return nil, err
	}
	for _, name := range []string{CheckpointFile, FinalFile} {
		if _, err := os.Stat(filepath.Join(dir, name)); err == nil {
			return nil, release(lock, fmt.Errorf("train: %s: %w (%s)", dir, ErrRunExists, name))
		}
	}
	if err := os.Remove(filepath.Join(dir, MetricsFile)); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return nil, release(lock, err)
	}
	return lock, nil
}

// newLocked is newRun for a new run holding lock; on error it releases
// the lock.
func newLocked(cfg Config, lock *DirLock, m nn.Module, trainSet, testSet *data.Dataset) (*Run, error) {
	r, err := newRun(cfg, lock.Dir(), m, trainSet, testSet)
	if err != nil {
		return nil, release(lock, err)
	}
	r.lock, r.fresh = lock, true
	return r, nil
}

// release unlocks lock, removes its directory if LockDir created it and
// nothing was written there, and returns err.
func release(lock *DirLock, err error) error {
	err = errors.Join(err, lock.Unlock())
	lock.removeCreated()
	return err
}

// Close releases the run's directory (Train does when it returns). A new
// run that has written no checkpoint leaves nothing behind: its metrics
// file is removed, and the directory too when New created it.
func (r *Run) Close() error {
	if r.lock == nil {
		return nil
	}
	lock := r.lock
	r.lock = nil
	if r.fresh {
		if _, err := os.Stat(filepath.Join(r.Dir, CheckpointFile)); errors.Is(err, fs.ErrNotExist) {
			os.Remove(filepath.Join(r.Dir, MetricsFile))
			return release(lock, nil)
		}
	}
	return lock.Unlock()
}

func newRun(cfg Config, dir string, m nn.Module, trainSet, testSet *data.Dataset) (*Run, error) {
	trainSet, testSet = firstImages(trainSet, cfg.TrainImages), firstImages(testSet, cfg.TestImages)
	if trainSet != nil && testSet != nil {
		th, tw := trainSet.Size()
		if h, w := testSet.Size(); h != th || w != tw {
			return nil, fmt.Errorf("train: the training images are %d×%d, the test images %d×%d", th, tw, h, w)
		}
	}
	r := &Run{Config: cfg, Dir: dir, Model: m, train: trainSet, test: testSet, ctx: nn.NewCtx()}
	var err error
	r.loader, err = data.NewLoader(trainSet, data.LoaderConfig{
		Batch: cfg.Batch, Shuffle: true, Augment: cfg.Augment, Seed: cfg.Seed,
		Mean: cfg.Mean, Std: cfg.Std, Workers: 1,
	})
	if err != nil {
		return nil, err
	}
	for _, p := range nn.Parameters(m) {
		r.params = append(r.params, optim.Param{Name: p.Key, Var: p.Var})
	}
	switch strings.ToLower(cfg.Optimizer) {
	case "sgd":
		sc := optim.SGDConfig{LR: cfg.LR, Momentum: cfg.Momentum, Nesterov: cfg.Nesterov, WeightDecay: cfg.WeightDecay}
		if err := sc.Validate(); err != nil {
			return nil, err
		}
		r.Opt = optim.NewSGD(r.params, sc)
	case "adamw":
		r.Opt = optim.NewAdamW(r.params, optim.AdamWConfig{LR: cfg.LR, Beta1: 0.9, Beta2: 0.999, Eps: 1e-8, WeightDecay: cfg.WeightDecay})
	}
	r.Sched, err = optim.ParseSchedule(cfg.Schedule, cfg.LR, r.loader.StepsPerEpoch(), cfg.Epochs)
	if err != nil {
		return nil, &ConfigError{Field: "Schedule", Problem: "is not usable: " + err.Error()}
	}
	if cfg.Teacher != "" {
		if r.teacher, _, err = zoo.Load(cfg.Teacher, ""); err != nil {
			return nil, fmt.Errorf("teacher: %w", err)
		}
		nn.SetTraining(r.teacher, false)
		r.teacherCtx = nn.NewCtx()
	}
	r.ctx.Record(true)
	// The evaluator shares the training context: its forward passes request
	// a prefix of the training step's buffers, so evaluation adds no memory.
	r.eval = NewEvaluator(cfg.Batch, cfg.Mean, cfg.Std)
	r.eval.c = r.ctx
	return r, nil
}

// StepsPerEpoch returns the optimizer steps of one epoch.
func (r *Run) StepsPerEpoch() int { return r.loader.StepsPerEpoch() }

// EpochMetrics is one line of metrics.jsonl.
type EpochMetrics struct {
	Epoch     int     `json:"epoch"` // 1-based
	Step      int     `json:"step"`
	LR        float64 `json:"lr"`
	TrainLoss float64 `json:"train_loss"`
	TrainAcc  float64 `json:"train_acc"`
	TestLoss  float64 `json:"test_loss"`
	TestAcc   float64 `json:"test_acc"`
	Seconds   float64 `json:"seconds"` // timing: differs between reruns
}

// GCPercent is the garbage-collection target (see debug.SetGCPercent) that
// Train sets while it runs: a training process's live heap is mostly a few
// large, pointer-free buffers that cost the collector almost nothing to
// scan, so collecting often is cheap, and it keeps the resident memory flat
// instead of letting it grow to twice the live heap between collections.
var GCPercent = 10

// ErrNonFinite is returned when the loss becomes NaN or infinite.
var ErrNonFinite = errors.New("training diverged: the loss is not finite")

// Train runs until the configured epochs are done, MaxSteps is reached or
// ctx is cancelled; in the last two cases it writes a checkpoint and
// returns ctx's error or nil. At each epoch end it evaluates on the test
// set, appends to metrics.jsonl and writes a checkpoint; every
// CheckpointEvery steps too. When the loss becomes non-finite it stops
// with ErrNonFinite and leaves the last good checkpoint in place. At the
// end it writes final.safetensors. Train holds the run directory while it
// runs (locking it again if an earlier Train released it) and releases it
// when it returns.
func (r *Run) Train(ctx context.Context) (err error) {
	if r.lock == nil {
		if r.lock, err = LockDir(r.Dir); err != nil {
			return err
		}
	}
	defer func() { err = errors.Join(err, r.Close()) }()
	defer debug.SetGCPercent(debug.SetGCPercent(GCPercent))
	spe := r.StepsPerEpoch()
	for r.Epoch < r.Config.Epochs {
		start := time.Now()
		from := r.Step - r.Epoch*spe
		it := r.loader.Epoch(r.Epoch, from)
		if from == 0 {
			r.lossSum, r.correct, r.seen = 0, 0, 0
		}
		nn.SetTraining(r.Model, true)
		for {
			if err := ctx.Err(); err != nil {
				it.Close()
				return errors.Join(err, r.saveCheckpoint())
			}
			if r.MaxSteps > 0 && r.Step >= r.MaxSteps {
				it.Close()
				return r.saveCheckpoint()
			}
			b, ok := it.Next()
			if !ok {
				break
			}
			loss, c, err := r.step(b)
			if err != nil {
				it.Close()
				return err
			}
			r.lossSum += loss * float64(b.N)
			r.correct += c
			r.seen += b.N
			r.progress(b.Index+1-from, spe-from, b.Index+1, spe, start)
			if r.Config.CheckpointEvery > 0 && r.Step%r.Config.CheckpointEvery == 0 && b.Index+1 < spe {
				if err := r.saveCheckpoint(); err != nil {
					it.Close()
					return err
				}
			}
		}
		it.Close()
		r.Epoch++
		res := r.eval.Run(r.Model, r.test)
		met := EpochMetrics{Epoch: r.Epoch, Step: r.Step, LR: r.Sched.LR(r.Step - 1),
			TrainLoss: r.lossSum / float64(max(r.seen, 1)), TrainAcc: float64(r.correct) / float64(max(r.seen, 1)),
			TestLoss: res.Loss, TestAcc: res.Accuracy(), Seconds: time.Since(start).Seconds()}
		if err := r.logEpoch(met); err != nil {
			return err
		}
		if r.OnEpoch != nil {
			r.OnEpoch(met)
		}
		if err := r.saveCheckpoint(); err != nil {
			return err
		}
	}
	return r.save(filepath.Join(r.Dir, FinalFile), false)
}

// step takes one optimizer step on batch b and returns its mean loss and
// the number of correct predictions.
func (r *Run) step(b *data.Batch) (float64, int, error) {
	c := r.ctx
	c.Reset()
	for _, p := range r.params {
		p.Var.ZeroGrad()
	}
	x := tensor.FromSlice(b.X[:b.N*data.Channels*b.Height*b.Width], b.N, data.Channels, b.Height, b.Width)
	logits := r.Model.Forward(c, autograd.NewVar(x))
	var loss *autograd.Var
	if r.teacher != nil {
		r.teacherCtx.Reset()
		t := r.teacher.Forward(r.teacherCtx, autograd.NewVar(x)).Value
		if !slices.Equal(t.Shape, logits.Value.Shape) {
			return 0, 0, fmt.Errorf("teacher %s gives outputs %v, the model %v", r.Config.Teacher, t.Shape, logits.Value.Shape)
		}
		loss = nn.DistillCrossEntropy(c, logits, t, b.Labels[:b.N], r.Config.DistillT, r.Config.DistillAlpha)
	} else {
		loss = nn.CrossEntropy(c, logits, b.Labels[:b.N], r.Config.LabelSmoothing, nil)
	}
	l := float64(loss.Value.Data[0])
	if math.IsNaN(l) || math.IsInf(l, 0) {
		return l, 0, r.nonFinite(l)
	}
	c.Backward(loss)
	r.Opt.SetLR(r.Sched.LR(r.Step))
	r.Opt.Step()
	r.Step++
	if cap(r.labels) < b.N {
		r.labels = make([]int, b.N)
	}
	pred := r.labels[:b.N]
	tensor.Argmax(pred, logits.Value)
	correct := 0
	for i, p := range pred {
		if p == b.Labels[i] {
			correct++
		}
	}
	return l, correct, nil
}

// nonFinite returns the error of a non-finite loss l at the coming step,
// naming the last checkpoint only if there is one.
func (r *Run) nonFinite(l float64) error {
	ckpt := filepath.Join(r.Dir, CheckpointFile)
	last := "no checkpoint was written"
	if _, err := os.Stat(ckpt); err == nil {
		last = "the last good checkpoint is " + ckpt
	}
	return fmt.Errorf("train: %w at epoch %d, step %d (loss %v); %s", ErrNonFinite, r.Epoch+1, r.Step+1, l, last)
}

// progress redraws the progress line: run of the steps this process has
// taken of the runTotal it will take in this epoch, at batch index of total.
func (r *Run) progress(run, runTotal, index, total int, start time.Time) {
	if r.Progress == nil {
		return
	}
	el := time.Since(start).Seconds()
	ips := float64(run*r.Config.Batch) / max(el, 1e-9)
	eta := time.Duration(float64(runTotal-run) * el / float64(run) * float64(time.Second)).Round(time.Second)
	const width = 24
	bar := strings.Repeat("=", index*width/total) + strings.Repeat(" ", width-index*width/total)
	fmt.Fprintf(r.Progress, "\repoch %d/%d [%s] %d/%d  %.0f img/s  loss %.4f  acc %.2f%%  ETA %v   ",
		r.Epoch+1, r.Config.Epochs, bar, index, total, ips, r.lossSum/float64(r.seen), 100*float64(r.correct)/float64(r.seen), eta)
}

func (r *Run) logEpoch(m EpochMetrics) error {
	if r.Progress != nil {
		fmt.Fprint(r.Progress, "\r\033[K")
	}
	if r.Log != nil {
		fmt.Fprintf(r.Log, "epoch %3d/%d  train loss %.4f acc %.2f%%  test loss %.4f acc %.2f%%  lr %.4g  %.1f s\n",
			m.Epoch, r.Config.Epochs, m.TrainLoss, 100*m.TrainAcc, m.TestLoss, 100*m.TestAcc, m.LR, m.Seconds)
	}
	line, err := json.Marshal(m)
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(r.Dir, MetricsFile), os.O_APPEND|os.O_CREATE|os.O_WRONLY, 0o644)
	if err != nil {
		return err
	}
	_, err = f.Write(append(line, '\n'))
	return errors.Join(err, f.Close())
}

// firstImages returns the first n images of d (all of them when n is 0 or
// larger than d).
func firstImages(d *data.Dataset, n int) *data.Dataset {
	if n <= 0 || n >= d.Len() {
		return d
	}
	return d.Slice(0, n)
}
