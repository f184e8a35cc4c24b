package train

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// Metadata keys of a checkpoint besides zoo's arch, mean and std.
const (
	metaConfig = "train_config"
	metaEpoch  = "epoch" // completed epochs
	metaStep   = "step"  // optimizer steps taken
	metaRNG    = "rng"
	metaSums   = "epoch_sums" // running loss sum, correct and seen of the epoch in progress
	rngNote    = "data.Loader: shuffling and augmentation are a pure function of (seed, epoch, position)"
)

// saveCheckpoint writes the run's state to checkpoint.safetensors atomically.
func (r *Run) saveCheckpoint() error {
	return r.save(filepath.Join(r.Dir, CheckpointFile), true)
}

// save writes the model (and, withOptim, the optimizer state and progress)
// to path, atomically.
func (r *Run) save(path string, withOptim bool) error {
	cfg, err := json.Marshal(r.Config)
	if err != nil {
		return err
	}
	meta := zoo.Meta{Arch: r.Config.Arch, Mean: r.Config.Mean[:], Std: r.Config.Std[:], Classes: zoo.DefaultClasses(r.Config.Arch), Extra: map[string]string{
		metaConfig: string(cfg),
		metaEpoch:  strconv.Itoa(r.Epoch),
		metaStep:   strconv.Itoa(r.Step),
		// A pruned model's layer widths, so that zoo.Load and Resume rebuild it.
		zoo.MetaWidths: zoo.Widths(r.Model),
	}}
	if withOptim {
		meta.Extra[metaRNG] = rngNote
		meta.Extra[metaSums] = strconv.FormatFloat(r.lossSum, 'g', -1, 64) + "," + strconv.Itoa(r.correct) + "," + strconv.Itoa(r.seen)
	}
	f := nn.SaveState(r.Model, meta.Map())
	if withOptim {
		for k, t := range r.Opt.State() {
			f.Tensors[k] = safetensors.FromFloat32(t.Shape, t.Data)
		}
	}
	if err := f.WriteFile(path); err != nil {
		return fmt.Errorf("checkpoint: %w", err)
	}
	return nil
}

// Resume continues the run whose checkpoint is in dir, with the
// configuration stored in it (ErrNoRun when dir holds no checkpoint). The
// run holds dir (see LockDir) until Train returns or Close is called.
func Resume(dir string, trainSet, testSet *data.Dataset) (_ *Run, err error) {
	if err := hasCheckpoint(dir); err != nil {
		return nil, err
	}
	lock, err := LockDir(dir)
	if err != nil {
		return nil, err
	}
	defer func() {
		if err != nil {
			lock.Unlock()
		}
	}()
	f, cfg, err := readCheckpoint(dir)
	if err != nil {
		return nil, err
	}
	path := filepath.Join(dir, CheckpointFile)
	epoch, err1 := strconv.Atoi(f.Metadata[metaEpoch])
	step, err2 := strconv.Atoi(f.Metadata[metaStep])
	if err1 != nil || err2 != nil {
		return nil, fmt.Errorf("%s: metadata %q/%q missing or not integers", path, metaEpoch, metaStep)
	}
	if _, err := zoo.ParseMeta(f.Metadata); err != nil { // registers a graph architecture (zoo.MetaGraph)
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	a, err := zoo.Lookup(cfg.Arch)
	if err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	m, err := a.Build()
	if err != nil {
		return nil, err
	}
	if w, ok := f.Metadata[zoo.MetaWidths]; ok {
		if err := zoo.SetWidths(m, w); err != nil {
			return nil, fmt.Errorf("%s: %v", path, err)
		}
	}
	if err := nn.LoadState(m, f, nn.LoadOptions{IgnorePrefixes: []string{"optim."}}); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r, err := newRun(cfg, dir, m, trainSet, testSet)
	if err != nil {
		return nil, err
	}
	state := map[string]*tensor.Tensor{}
	for k, t := range f.Tensors {
		if !strings.HasPrefix(k, "optim.") {
			continue
		}
		v, err := t.Float32s()
		if err != nil {
			return nil, fmt.Errorf("%s: tensor %q: %v", path, k, err)
		}
		for i, x := range v {
			if math.IsNaN(float64(x)) || math.IsInf(float64(x), 0) {
				return nil, fmt.Errorf("%s: tensor %q: %v at element %d; the values must be finite", path, k, x, i)
			}
		}
		state[k] = tensor.FromSlice(v, t.Shape...)
	}
	if err := r.Opt.LoadState(state); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	r.Epoch, r.Step = epoch, step
	if _, err := fmt.Sscanf(f.Metadata[metaSums], "%g,%d,%d", &r.lossSum, &r.correct, &r.seen); err != nil {
		return nil, fmt.Errorf("%s: metadata %q: %v", path, metaSums, err)
	}
	if step < epoch*r.StepsPerEpoch() || step > (epoch+1)*r.StepsPerEpoch() {
		return nil, fmt.Errorf("%s: step %d does not fall in epoch %d (%d steps per epoch)", path, step, epoch+1, r.StepsPerEpoch())
	}
	if err := r.trimMetrics(); err != nil {
		return nil, err
	}
	r.lock = lock
	return r, nil
}

// ReadConfig returns the configuration of the run whose checkpoint is in
// dir (ErrNoRun when there is none), e.g. to compare it with the settings
// a resumed run is asked for.
func ReadConfig(dir string) (Config, error) {
	_, cfg, err := readCheckpoint(dir)
	return cfg, err
}

// readCheckpoint reads dir's checkpoint and the configuration stored in it.
func readCheckpoint(dir string) (*safetensors.File, Config, error) {
	var cfg Config
	if err := hasCheckpoint(dir); err != nil {
		return nil, cfg, err
	}
	path := filepath.Join(dir, CheckpointFile)
	f, err := safetensors.ReadFile(path)
	if err != nil {
		return nil, cfg, err
	}
	if err := json.Unmarshal([]byte(f.Metadata[metaConfig]), &cfg); err != nil {
		return nil, cfg, fmt.Errorf("%s: metadata %q: %v", path, metaConfig, err)
	}
	return f, cfg, nil
}

// trimMetrics drops lines of metrics.jsonl for epochs after the checkpoint
// (written before a crash that came ahead of the checkpoint).
func (r *Run) trimMetrics() error {
	path := filepath.Join(r.Dir, MetricsFile)
	b, err := os.ReadFile(path)
	if os.IsNotExist(err) {
		return nil
	} else if err != nil {
		return err
	}
	var keep bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		var m EpochMetrics
		if json.Unmarshal(sc.Bytes(), &m) == nil && m.Epoch <= r.Epoch {
			keep.Write(sc.Bytes())
			keep.WriteByte('\n')
		}
	}
	if keep.Len() == len(b) {
		return nil
	}
	return os.WriteFile(path, keep.Bytes(), 0o644)
}

// hasCheckpoint returns ErrNoRun, wrapped, when dir has no checkpoint.
func hasCheckpoint(dir string) error {
	if _, err := os.Stat(filepath.Join(dir, CheckpointFile)); errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("train: %s: %w (it has no %s)", dir, ErrNoRun, CheckpointFile)
	}
	return nil
}
