package prune

import (
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
)

// StateFile is the file of a prune run's directory that holds its
// progress (RunState), written after every stage.
const StateFile = "state.json"

// RunState is the progress of a prune run: its settings, how far it got,
// and the figures gathered on the way. A Driver saves it as StateFile
// after every stage, so that a run stopped at any point continues where it
// stopped; a finished run's state holds its results (Driver.Summary).
type RunState struct {
	Config    RunConfig     `json:"opts"`
	Pruned    int           `json:"pruned"`    // steps whose pruning is done (pruned-step-i.safetensors)
	Completed int           `json:"completed"` // steps whose fine-tuning is done too (step-i.safetensors)
	BaseMACs  int64         `json:"base_macs"` // the schedule's base (Schedule.BaseMACs)
	BaseChans int           `json:"base_channels"`
	Before    Figures       `json:"before"` // the model before step 1
	StepsDone []StepFigures `json:"steps"`
	// Layers has a row per Conv2d and Linear layer (per layer with MACs)
	// of the last pruning step.
	Layers []LayerRow `json:"layers"`
	// Original holds each such layer's output channels and MACs before
	// the first step, so that a table shows original → final.
	Original map[string][2]int64 `json:"original"`
	// Throughput is the original's and the pruned model's images/s,
	// timed alternately when the run ends (zero without Driver.Timer).
	Throughput [2]float64 `json:"images_per_second"`
	// BaseLatency is the original model's measured latency in
	// milliseconds at RunConfig.LatencyBatch (runs with a latency table);
	// Latency the original's and the pruned model's, timed alternately
	// when the run ends.
	BaseLatency float64    `json:"base_latency_ms,omitempty"`
	Latency     [2]float64 `json:"latency_ms,omitempty"`
}

// Figures are a model's MACs per image, parameters, and test accuracy
// (−1 without test data) and mean cross-entropy.
type Figures struct {
	MACs   int64   `json:"macs"`
	Params int64   `json:"params"`
	Acc    float64 `json:"acc"`
	Loss   float64 `json:"loss"`
}

// StepFigures are the figures of one pruning step.
type StepFigures struct {
	Step       int       `json:"step"`
	Target     float64   `json:"target"` // fraction of the original MACs (or channels) removed after the step
	MACs       int64     `json:"macs"`
	Params     int64     `json:"params"`
	AccPruned  float64   `json:"acc_pruned"`
	Finetune   []float64 `json:"finetune_acc"` // test accuracy per fine-tuning epoch
	LossPruned float64   `json:"loss_pruned"`
	// LatencyPredicted is the latency in milliseconds the latency model
	// predicted for the step's plan, LatencyMeasured the pruned model's
	// measured right after, and LatencyRounds the plans made to get there
	// (predict, measure the plan's model, correct the prediction, plan
	// again); 0 without a latency table.
	LatencyPredicted float64 `json:"latency_predicted_ms,omitempty"`
	LatencyMeasured  float64 `json:"latency_measured_ms,omitempty"`
	LatencyRounds    int     `json:"latency_rounds,omitempty"`
	// LatencyPlans lists each plan's predicted and measured latency
	// (milliseconds), in the order they were made; the first prediction
	// is the table's alone, the later ones carry the correction.
	LatencyPlans [][2]float64 `json:"latency_plans,omitempty"`
}

// LayerRow is a layer of a pruning step: its output channels and MACs
// before and after (before: the original model's when RunState.Original
// has them), and the summed scores of its output channels (all of them,
// and those removed) when it produces a scored group, or why not.
type LayerRow struct {
	Name         string  `json:"name"`
	Before       int     `json:"channels_before"`
	After        int     `json:"channels_after"`
	MACsBefore   int64   `json:"macs_before"`
	MACsAfter    int64   `json:"macs_after"`
	Score        float64 `json:"score"`
	RemovedScore float64 `json:"removed_score"`
	HasScore     bool    `json:"has_score"`
	// Why says why a layer's output channels have no score: the plan's
	// reason for their group (GroupPlan.Why: "residual stream", "not
	// prunable: the model output").
	Why string `json:"why,omitempty"`
}

// ReadRunState reads the state of the prune run in dir. An error that
// wraps fs.ErrNotExist means dir holds no run.
func ReadRunState(dir string) (*RunState, error) {
	path := filepath.Join(dir, StateFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	st := new(RunState)
	if err := json.Unmarshal(b, st); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	return st, nil
}

// ModelFile returns the name, in the run's directory, of the model a
// resumed run continues from: the last fine-tuned step, or the last pruned
// one when its fine-tuning has not finished; "" before the first step.
func (s *RunState) ModelFile() string {
	switch {
	case s.Pruned == 0:
		return ""
	case s.Pruned > s.Completed:
		return fmt.Sprintf("pruned-step-%d.safetensors", s.Pruned)
	}
	return fmt.Sprintf("step-%d.safetensors", s.Completed)
}

// save writes s to dir's StateFile atomically.
func (s *RunState) save(dir string) error {
	b, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, StateFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, StateFile))
}
