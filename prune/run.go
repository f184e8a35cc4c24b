package prune

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"iter"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/train"
)

// Driver carries out a prune run in a directory: Steps times, it traces
// the model, calibrates it (for the criteria that need statistics),
// scores its channels, plans the step's share of the target (Schedule),
// removes the channels and fine-tunes; the state (StateFile) and a model
// file are saved after every stage, so that a run stopped at any point
// continues with the same results. The files of the directory:
//
//   - pruned-step-i.safetensors: the model right after step i's pruning;
//   - finetune-i/: step i's fine-tuning run (see train.Run);
//   - step-i.safetensors: the model after step i's fine-tuning;
//   - pruned.safetensors: the final model;
//   - latency.json: the latency table of a run with a latency target or
//     the global-latency ranking (LatencyFile), measured when the run
//     starts and read, not measured again, when it resumes.
//
// A latency step plans with the table, builds the planned model (from
// RunConfig.Arch, zero weights), measures it, corrects the prediction by
// the error and plans again, up to 4 plans, and keeps the plan whose
// measured latency is nearest the step's target.
//
// The model files are Save's (their widths in the metadata), loadable
// with zoo.Load. Set the fields, then Open (optional: Run opens), Run and
// Close.
type Driver struct {
	Config RunConfig
	Dir    string
	// Model is the model to prune: the original of a new run, or the
	// model of the resumed run's RunState.ModelFile. Run prunes it in
	// place; fine-tuning resumed from a checkpoint replaces it.
	Model nn.Module
	// InShape is the shape [C, H, W] of one input image; Train and Test
	// must hold H×W images.
	InShape []int
	// Train holds the calibration and fine-tuning images; nil calibrates
	// on random images (standard normal, random labels; seeded) and
	// allows no fine-tuning. Test gives the accuracies; nil leaves them
	// −1.
	Train, Test *data.Dataset
	// State is the state of the run to resume (ReadRunState), or nil for
	// a new run, whose state Run starts.
	State *RunState
	// Log receives a line per stage (nil: none); Progress the fine-tuning's
	// live progress line.
	Log, Progress io.Writer
	// Timer, when set, times evaluation-mode forward passes of models on
	// the same random batches [batch, InShape...], alternately, reps
	// rounds (0: as many as fit in about 5 s), and returns each model's
	// images per second. Run times the model when it starts (for the log)
	// and, when it ends, the original (Original) against the pruned model
	// (RunState.Throughput).
	Timer func(models []nn.Module, inShape []int, batch, reps int) []float64
	// Original, when set, builds the model the run started from again,
	// for the final timing.
	Original func() (nn.Module, error)

	lock  *train.DirLock
	fresh bool
	table *LatencyTable // the run's latency table (RunConfig.UsesLatency)
	ref   nn.Module     // the original model, to time others against (relLatency)
}

// Open checks the settings (RunConfig.Validate, and a State for a resumed
// run) and takes the run directory, creating it: it holds no run for a
// new run, and another process may not use it until Close (see
// train.LockDir: a busy directory is an error naming the holder). Call it
// before loading data to find a busy directory at once; Run calls it when
// the caller did not.
func (d *Driver) Open() error {
	if d.lock != nil {
		return nil
	}
	if err := d.Config.Validate(); err != nil {
		return err
	}
	if d.Model == nil || len(d.InShape) != 3 {
		return fmt.Errorf("prune: driver: a model and the input shape [C, H, W] are needed, got %v", d.InShape)
	}
	if d.Dir == "" {
		return errors.New("prune: driver: no run directory")
	}
	lock, err := train.LockDir(d.Dir)
	if err != nil {
		return err
	}
	if d.State == nil {
		if _, err := os.Stat(filepath.Join(d.Dir, StateFile)); err == nil {
			return errors.Join(fmt.Errorf("prune: %s already holds a prune run", d.Dir), lock.Unlock())
		}
	}
	d.lock, d.fresh = lock, d.State == nil
	return nil
}

// Close releases the run directory. err is the outcome of the run as the
// caller sees it: when it is a failure (not a cancellation of Run's
// context) of a new run before its first pruned step, Close removes what
// the run made (its state, and the directory when Open created it), so
// that the same run can start again. It returns err, joined with any
// failure to release the directory.
func (d *Driver) Close(err error) error {
	if d.lock == nil {
		return err
	}
	lock := d.lock
	d.lock = nil
	if err != nil && d.fresh && (d.State == nil || d.State.Pruned == 0) && !canceledOnly(err) {
		os.Remove(filepath.Join(d.Dir, StateFile))
		os.Remove(filepath.Join(d.Dir, StateFile+".tmp"))
		if lock.Created() {
			lock.Unlock()
			os.Remove(d.Dir)
			return err
		}
	}
	return errors.Join(err, lock.Unlock())
}

// canceledOnly reports whether err is a context's cancellation and nothing
// else (no failure joined to it).
func canceledOnly(err error) bool {
	if j, ok := err.(interface{ Unwrap() []error }); ok {
		errs := j.Unwrap()
		for _, e := range errs {
			if !canceledOnly(e) {
				return false
			}
		}
		return len(errs) > 0
	}
	return err != nil && errors.Is(err, context.Canceled)
}

// Run carries out the run (or the rest of a resumed one) and leaves the
// final model in pruned.safetensors. When ctx is canceled it returns
// ctx's error after the stage in progress saved its state (fine-tuning
// saves a checkpoint), and a Driver with the same Config and the State of
// the directory continues the run with the same results.
func (d *Driver) Run(ctx context.Context) error {
	if err := d.Open(); err != nil {
		return err
	}
	c := d.Config
	if d.Train == nil && c.FinetuneEpochs > 0 {
		return &ConfigError{Field: "FinetuneEpochs", Problem: fmt.Sprintf("is %d: fine-tuning needs a training set", c.FinetuneEpochs)}
	}
	for _, ds := range []struct {
		name string
		d    *data.Dataset
	}{{"training", d.Train}, {"test", d.Test}} {
		if ds.d == nil {
			continue
		}
		if h, w := ds.d.Size(); h != d.InShape[1] || w != d.InShape[2] {
			return fmt.Errorf("prune: driver: the %s images are %d×%d, the input shape is %v", ds.name, h, w, d.InShape)
		}
	}
	if d.Train != nil && NeedsStats(c.Criterion) && c.Calib > d.Train.Len() {
		return &ConfigError{Field: "Calib", Problem: fmt.Sprintf("%d: the training set has %d images", c.Calib, d.Train.Len())}
	}
	if d.State == nil {
		d.State = &RunState{Config: c}
	}
	st := d.State
	if st.Pruned == 0 && st.Completed == 0 && st.Before.MACs == 0 {
		s := nn.Summarize(d.Model, d.InShape...)
		acc, loss := d.evaluate()
		st.Before = Figures{MACs: s.MACs, Params: s.Params, Acc: acc, Loss: loss}
		st.Original = map[string][2]int64{}
		for _, l := range s.Layers {
			if l.MACs > 0 {
				st.Original[l.Name] = [2]int64{int64(l.OutShape[1]), l.MACs}
			}
		}
		speed := ""
		if d.Timer != nil {
			speed = fmt.Sprintf(", %.0f images/s", d.Timer([]nn.Module{d.Model}, d.InShape, d.BenchBatch(), 5)[0])
		}
		d.logf("%s: %s MACs, %s params, test accuracy %s%s\n", c.Arch, count(s.MACs), count(s.Params), percent(acc), speed)
		if err := st.save(d.Dir); err != nil {
			return err
		}
	}
	if c.UsesLatency() {
		if err := d.latencyTable(); err != nil {
			return err
		}
	}
	sched := &Schedule{Final: c.PlanConfig(), Steps: c.Steps, BaseMACs: st.BaseMACs, BaseChannels: st.BaseChans}
	sched.Final.BaseLatency = st.BaseLatency
	for i := st.Completed + 1; i <= c.Steps; i++ {
		if err := ctx.Err(); err != nil { // stopped: the state is saved
			return err
		}
		if st.Pruned < i {
			if err := d.pruneStep(i, sched); err != nil {
				return err
			}
			if err := ctx.Err(); err != nil {
				return err
			}
		}
		if err := d.finetune(ctx, i); err != nil {
			return err
		}
		if err := Save(filepath.Join(d.Dir, fmt.Sprintf("step-%d.safetensors", i)), d.Model, d.meta()); err != nil {
			return err
		}
		st.Completed = i
		if err := st.save(d.Dir); err != nil {
			return err
		}
	}
	if err := Save(filepath.Join(d.Dir, "pruned.safetensors"), d.Model, d.meta()); err != nil {
		return err
	}
	if d.Timer != nil && d.Original != nil {
		orig, err := d.Original()
		if err != nil {
			return fmt.Errorf("prune: building the original model again to time it: %w", err)
		}
		// Timed together: the machine's speed drifts between the start of
		// a run and its end by more than a pruned model's gain.
		ips := d.Timer([]nn.Module{orig, d.Model}, d.InShape, d.BenchBatch(), 0)
		copy(st.Throughput[:], ips)
		if c.UsesLatency() {
			ts, err := AlternateLatency([]nn.Module{orig, d.Model}, d.InShape, c.latencyBatch())
			if err != nil {
				return err
			}
			copy(st.Latency[:], ts)
			d.logf("latency at batch %d, timed alternately: %.3f ms → %.3f ms (−%.1f %%)\n", c.latencyBatch(),
				st.Latency[0], st.Latency[1], 100*(1-st.Latency[1]/st.Latency[0]))
		}
	}
	return st.save(d.Dir)
}

// relLatency returns the latency of m in the units of the base latency
// (RunState.BaseLatency): timed call by call in turns with the original
// model (Driver.Original), the ratio of the two times the base latency, so
// that the machine's speed, which drifts on a shared machine and differs
// when a run resumes elsewhere, cancels; without Original, measured alone.
func (d *Driver) relLatency(m nn.Module) (float64, error) {
	c := d.Config
	if d.Original == nil {
		return MeasureLatency(m, d.InShape, c.latencyBatch())
	}
	if d.ref == nil {
		ref, err := d.Original()
		if err != nil {
			return 0, fmt.Errorf("prune: building the original model again to time against it: %w", err)
		}
		d.ref = ref
	}
	ts, err := AlternateLatency([]nn.Module{d.ref, m}, d.InShape, c.latencyBatch())
	if err != nil {
		return 0, err
	}
	return ts[1] / ts[0] * d.State.BaseLatency, nil
}

// latencyTable reads the run's latency table, or measures it (and the
// model's latency, RunState.BaseLatency) and saves it when the run has
// none.
func (d *Driver) latencyTable() error {
	c, st := d.Config, d.State
	t, err := ReadLatencyTable(d.Dir)
	switch {
	case err == nil:
		if cpu := CPUName(); t.CPU != cpu {
			d.logf("latency table of %s measured on %s; this CPU is %s: planning with the stored table\n", d.Dir, t.CPU, cpu)
		}
		if t.Batch != c.latencyBatch() {
			return fmt.Errorf("prune: %s: the latency table is for batch %d, the run's latency batch is %d",
				filepath.Join(d.Dir, LatencyFile), t.Batch, c.latencyBatch())
		}
	case errors.Is(err, fs.ErrNotExist):
		g, err := Trace(d.Model, d.InShape...)
		if err != nil {
			return err
		}
		if t, err = MeasureLatencyTable(d.Model, g, d.InShape, c.latencyBatch(), c.PruneResidual, func(s string) { d.logf("%s\n", s) }); err != nil {
			return err
		}
		if err := t.Write(d.Dir); err != nil {
			return err
		}
	default:
		return err
	}
	d.table = t
	if st.BaseLatency == 0 {
		if st.Pruned > 0 {
			return fmt.Errorf("prune: %s: the run's state has no base latency (a run started without a latency target?)", d.Dir)
		}
		if st.BaseLatency, err = MeasureLatency(d.Model, d.InShape, c.latencyBatch()); err != nil {
			return err
		}
		d.logf("%s: latency %.3f ms at batch %d (compiled, %d threads)\n", c.Arch, st.BaseLatency, c.latencyBatch(), runtime.GOMAXPROCS(0))
		return st.save(d.Dir)
	}
	return nil
}

// latencyPlan makes the plan of step i with a latency table: plan, measure
// the planned model, correct the prediction by the error, plan again, up to
// latencyRounds plans; it returns the plan whose measured latency is
// nearest the target, and each plan's predicted and measured latency. Without an architecture
// to build the planned model from (RunConfig.Arch), it makes one plan.
func (d *Driver) latencyPlan(i int, sched *Schedule, g *Graph, scores map[*Group][]float64) (*Plan, [][2]float64, error) {
	c, st := d.Config, d.State
	now, err := d.relLatency(d.Model)
	if err != nil {
		return nil, nil, err
	}
	tm := &LatencyModel{Table: d.table, Measured: now}
	sched.Final.Timing = tm
	defer func() { sched.Final.Timing = nil }()
	target := st.BaseLatency
	if c.Latency > 0 {
		target *= 1 - sched.Target(i)
	}
	var best *Plan
	var plans [][2]float64
	bestDev := math.Inf(1)
	for len(plans) < latencyRounds {
		plan, err := sched.Plan(i, d.Model, g, scores, d.InShape...)
		if err != nil {
			return nil, nil, err
		}
		if c.Latency == 0 || c.Arch == "" {
			// A MACs or channel target: the table ranks, it does not aim.
			return plan, [][2]float64{{plan.LatencyAfter, 0}}, nil
		}
		measured, err := d.measurePlan(g, plan)
		if err != nil {
			return nil, nil, err
		}
		plans = append(plans, [2]float64{plan.LatencyAfter, measured})
		d.logf("step %d/%d: plan %d: latency predicted %.3f ms, measured %.3f ms (target %.3f ms)\n",
			i, c.Steps, len(plans), plan.LatencyAfter, measured, target)
		if dev := math.Abs(measured - target); dev < bestDev {
			best, bestDev = plan, dev
		}
		if bestDev <= latencyTolerance*st.BaseLatency {
			break
		}
		tm.Correction += measured - plan.LatencyAfter
	}
	return best, plans, nil
}

// latencyRounds is the most plans a latency step makes; latencyTolerance
// the distance from the target, as a fraction of the base latency, at
// which it stops.
const (
	latencyRounds    = 4
	latencyTolerance = 0.01
)

// measurePlan builds the model plan would leave (RunConfig.Arch at the
// model's widths, zero weights, the plan's channels removed) and measures
// its latency (relLatency).
func (d *Driver) measurePlan(g *Graph, plan *Plan) (float64, error) {
	a, err := zoo.Lookup(d.Config.Arch)
	if err != nil {
		return 0, err
	}
	m, err := a.Build()
	if err != nil {
		return 0, err
	}
	if err := zoo.SetWidths(m, zoo.Widths(d.Model)); err != nil {
		return 0, err
	}
	gc, err := Trace(m, d.InShape...)
	if err != nil {
		return 0, err
	}
	if len(gc.Groups) != len(g.Groups) {
		return 0, fmt.Errorf("prune: the copy of the model to time has %d channel groups, the model %d", len(gc.Groups), len(g.Groups))
	}
	for k, gp := range plan.Groups {
		if gc.Groups[k].Channels != gp.Before {
			return 0, fmt.Errorf("prune: the copy of the model to time differs from the model at group %s", gp.Group)
		}
		if len(gp.Remove) == 0 {
			continue
		}
		if err := gc.Groups[k].Remove(gp.Remove, nil); err != nil {
			return 0, err
		}
	}
	return d.relLatency(m)
}

// pruneStep traces, calibrates, scores, plans and removes the channels of
// step i.
func (d *Driver) pruneStep(i int, sched *Schedule) error {
	c, st := d.Config, d.State
	g, err := Trace(d.Model, d.InShape...)
	if err != nil {
		return err
	}
	var stats *Stats
	if NeedsStats(c.Criterion) {
		d.logf("step %d/%d: calibrating on %d images%s\n", i, c.Steps, c.Calib, c.CalibNote())
		if d.Train == nil {
			batches := syntheticBatches(c.Calib, c.CalibBatch, d.InShape, classesOf(d.Model, d.InShape), c.Seed+uint64(i))
			stats, err = CalibrateFisher(d.Model, g, batches, c.FisherConfig(c.Seed+uint64(i)-1))
		} else {
			stats, err = Calibrate(d.Model, g, d.Train, c.calibConfig(i, d.Train))
		}
		if err != nil {
			return err
		}
	}
	crit, err := NewCriterion(c.Criterion, c.Scope, c.Seed+uint64(i))
	if err != nil {
		return err
	}
	scores, err := crit.Scores(g, stats)
	if err != nil {
		return err
	}
	var plan *Plan
	var plans [][2]float64
	if d.table != nil {
		plan, plans, err = d.latencyPlan(i, sched, g, scores)
	} else {
		plan, err = sched.Plan(i, d.Model, g, scores, d.InShape...)
	}
	if err != nil {
		return err
	}
	st.BaseMACs, st.BaseChans = sched.BaseMACs, sched.BaseChannels
	before := nn.Summarize(d.Model, d.InShape...)
	if err := plan.Apply(nil); err != nil {
		return err
	}
	after := nn.Summarize(d.Model, d.InShape...)
	st.Layers = layerRows(before, after, plan, st.Original)
	acc, loss := d.evaluate()
	sf := StepFigures{Step: i, Target: sched.Target(i), MACs: after.MACs, Params: after.Params, AccPruned: acc, LossPruned: loss}
	lat := ""
	if d.table != nil {
		sf.LatencyPredicted, sf.LatencyRounds = plan.LatencyAfter, len(plans)
		if len(plans) > 0 && plans[0][1] > 0 {
			sf.LatencyPlans = plans
		}
		if sf.LatencyMeasured, err = d.relLatency(d.Model); err != nil {
			return err
		}
		lat = fmt.Sprintf("; latency predicted %.3f ms, measured %.3f ms (−%.1f %% of the original's %.3f ms)",
			sf.LatencyPredicted, sf.LatencyMeasured, 100*(1-sf.LatencyMeasured/st.BaseLatency), st.BaseLatency)
	}
	st.StepsDone = append(st.StepsDone[:i-1], sf)
	d.logf("step %d/%d: %s → %s MACs (−%.1f %% of the original), test accuracy right after pruning %s%s\n",
		i, c.Steps, count(before.MACs), count(after.MACs), 100*(1-float64(after.MACs)/float64(st.Before.MACs)), percent(acc), lat)
	if err := Save(filepath.Join(d.Dir, fmt.Sprintf("pruned-step-%d.safetensors", i)), d.Model, d.meta()); err != nil {
		return err
	}
	st.Pruned = i
	return st.save(d.Dir)
}

// finetune trains the model of step i for its share of the epochs, in
// finetune-i/, resuming a checkpoint there if an earlier process left one.
func (d *Driver) finetune(ctx context.Context, i int) error {
	c := d.Config
	if c.FinetuneEpochs/c.Steps == 0 {
		return nil
	}
	dir := filepath.Join(d.Dir, fmt.Sprintf("finetune-%d", i))
	var r *train.Run
	var err error
	if _, statErr := os.Stat(filepath.Join(dir, train.CheckpointFile)); statErr == nil {
		if r, err = train.Resume(dir, d.Train, d.Test); err != nil {
			return err
		}
		d.Model = r.Model
	} else {
		cfg := c.finetuneConfig(i)
		if c.Distill {
			if cfg.Teacher, err = filepath.Abs(c.Weights); err != nil {
				return err
			}
		}
		if r, err = train.NewWithModel(cfg, dir, d.Model, d.Train, d.Test); err != nil {
			return err
		}
	}
	r.Progress, r.Log = d.Progress, d.Log
	r.OnEpoch = func(m train.EpochMetrics) {
		s := &d.State.StepsDone[i-1]
		s.Finetune = append(s.Finetune[:m.Epoch-1], m.TestAcc)
		d.State.save(d.Dir)
	}
	return r.Train(ctx)
}

// RunSummary is the outcome of a finished run.
type RunSummary struct {
	Arch         string  `json:"arch"`
	Criterion    string  `json:"criterion"`
	Ranking      string  `json:"ranking"`
	Steps        int     `json:"steps"`
	MACsBefore   int64   `json:"macs_before"`
	MACsAfter    int64   `json:"macs_after"`
	ParamsBefore int64   `json:"params_before"`
	ParamsAfter  int64   `json:"params_after"`
	AccBefore    float64 `json:"acc_before"`
	AccPruned    float64 `json:"acc_pruned"` // right after the last pruning step
	// AccFinetuned is the accuracy after the last fine-tuning epoch (never
	// the best epoch's), AccPruned without fine-tuning.
	AccFinetuned    float64    `json:"acc_finetuned"`
	ImagesPerSecond [2]float64 `json:"images_per_second"` // RunState.Throughput
	Out             string     `json:"out"`               // the run directory
}

// Summary returns the figures of the finished run.
func (d *Driver) Summary() RunSummary {
	st, c := d.State, d.Config
	last := st.StepsDone[len(st.StepsDone)-1]
	s := RunSummary{Arch: c.Arch, Criterion: c.Criterion, Ranking: c.Ranking, Steps: c.Steps,
		MACsBefore: st.Before.MACs, MACsAfter: last.MACs, ParamsBefore: st.Before.Params, ParamsAfter: last.Params,
		AccBefore: st.Before.Acc, AccPruned: last.AccPruned, AccFinetuned: last.AccPruned, ImagesPerSecond: st.Throughput, Out: d.Dir}
	if n := len(last.Finetune); n > 0 {
		s.AccFinetuned = last.Finetune[n-1]
	}
	return s
}

// BenchBatch returns the batch the Driver times models with (Timer):
// Config.BenchBatch, or 128 for inputs of at most 32×32 pixels and 8 for
// larger ones.
func (d *Driver) BenchBatch() int {
	if d.Config.BenchBatch > 0 {
		return d.Config.BenchBatch
	}
	if d.InShape[1] > 32 {
		return 8
	}
	return 128
}

func (d *Driver) meta() zoo.Meta {
	classes := d.Config.Classes
	if classes == nil {
		classes = zoo.DefaultClasses(d.Config.Arch)
	}
	return zoo.Meta{Arch: d.Config.Arch, Mean: d.Config.Mean[:], Std: d.Config.Std[:], Classes: slices.Clone(classes)}
}

func (d *Driver) logf(format string, a ...any) {
	if d.Log != nil {
		fmt.Fprintf(d.Log, format, a...)
	}
}

// evaluate returns the test accuracy and loss, or −1 without test data.
func (d *Driver) evaluate() (float64, float64) {
	if d.Test == nil {
		return -1, 0
	}
	res := train.NewEvaluator(200, d.Config.Mean, d.Config.Std).Run(d.Model, d.Test)
	return res.Accuracy(), res.Loss
}

// layerRows lines up the layers with MACs of two summaries of the same
// model (before and after a plan) with the plan's scores; the "before"
// figures are the original model's where original has them.
func layerRows(before, after nn.Summary, plan *Plan, original map[string][2]int64) []LayerRow {
	type score struct{ total, removed float64 }
	scores := map[string]score{}
	why := map[string]string{}
	for _, gp := range plan.Groups {
		if gp.Scores == nil {
			for _, d := range gp.Group.Deps {
				if d.Side == Out {
					why[d.Layer] = gp.Why
				}
			}
			continue
		}
		var total float64
		for _, v := range gp.Scores {
			total += v
		}
		for _, d := range gp.Group.Deps {
			if d.Side == Out {
				scores[d.Layer] = score{total, gp.RemovedScore}
			}
		}
	}
	after2 := map[string]nn.LayerStat{}
	for _, l := range after.Layers {
		after2[l.Name] = l
	}
	var rows []LayerRow
	for _, l := range before.Layers {
		if l.MACs == 0 {
			continue
		}
		a := after2[l.Name]
		r := LayerRow{Name: l.Name, Before: l.OutShape[1], After: a.OutShape[1], MACsBefore: l.MACs, MACsAfter: a.MACs}
		if o, ok := original[l.Name]; ok {
			r.Before, r.MACsBefore = int(o[0]), o[1]
		}
		if s, ok := scores[l.Name]; ok {
			r.Score, r.RemovedScore, r.HasScore = s.total, s.removed, true
		} else {
			r.Why = why[l.Name]
		}
		rows = append(rows, r)
	}
	return rows
}

// syntheticBatches yields n seeded random images [b, C, H, W] (standard
// normal) with random labels in batches of b.
func syntheticBatches(n, b int, shape []int, classes int, seed uint64) iter.Seq2[*tensor.Tensor, []int] {
	return func(yield func(*tensor.Tensor, []int) bool) {
		rng := rand.New(rand.NewPCG(seed, 0x73796e7468))
		for i0 := 0; i0 < n; i0 += b {
			k := min(b, n-i0)
			x := tensor.New(append([]int{k}, shape...)...)
			for i := range x.Data {
				x.Data[i] = float32(rng.NormFloat64())
			}
			labels := make([]int, k)
			for i := range labels {
				labels[i] = rng.IntN(classes)
			}
			if !yield(x, labels) {
				return
			}
		}
	}
}

// classesOf returns the number of outputs of m for inputs of shape inShape.
func classesOf(m nn.Module, inShape []int) int {
	s := nn.Summarize(m, inShape...)
	out := s.Layers[len(s.Layers)-1].OutShape
	return out[len(out)-1]
}

// count writes n with an SI suffix: 1.23 M, 456.7 k.
func count(n int64) string {
	switch {
	case n >= 1e6:
		return fmt.Sprintf("%.2f M", float64(n)/1e6)
	case n >= 1e3:
		return fmt.Sprintf("%.1f k", float64(n)/1e3)
	}
	return fmt.Sprint(n)
}

// percent formats an accuracy fraction, or "n/a" for a negative one.
func percent(a float64) string {
	if a < 0 {
		return "n/a"
	}
	return fmt.Sprintf("%.2f %%", 100*a)
}
