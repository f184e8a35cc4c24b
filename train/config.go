package train

import (
	"fmt"
	"math"
	"strings"

	"github.com/bonsai-dl/bonsai/optim"
)

// Config is everything that determines a training run. It is stored in
// every checkpoint, so that -resume continues the same run.
type Config struct {
	Arch            string     `json:"arch"`
	Epochs          int        `json:"epochs"`
	Batch           int        `json:"batch"`
	Optimizer       string     `json:"optimizer"` // "sgd" or "adamw"
	LR              float64    `json:"lr"`
	Momentum        float64    `json:"momentum"`
	Nesterov        bool       `json:"nesterov"`
	WeightDecay     float64    `json:"weight_decay"`
	Schedule        string     `json:"schedule"` // see optim.ParseSchedule
	LabelSmoothing  float32    `json:"label_smoothing"`
	Seed            uint64     `json:"seed"`
	Mean            [3]float32 `json:"mean"`
	Std             [3]float32 `json:"std"`
	Augment         bool       `json:"augment"`
	CheckpointEvery int        `json:"checkpoint_every"` // optimizer steps; 0: only at epoch ends
	// TrainImages and TestImages, when > 0, restrict the run to the first
	// images of each split (quick experiments and tests).
	TrainImages int `json:"train_images,omitempty"`
	TestImages  int `json:"test_images,omitempty"`
	// Init is "" to initialise the weights from Seed, or the file they were
	// loaded from (fine-tuning). With Init set, Arch may be empty: New
	// takes the file's architecture.
	Init string `json:"init"`
	// Data records where the data set was read from. It is informational:
	// the caller passes the data, and a resumed run may read it elsewhere.
	Data string `json:"data,omitempty"`
	// Teacher, when set, names a model file whose logits the run distils
	// into the trained model (Hinton et al., 2015): the loss is
	// (1 − DistillAlpha)·cross-entropy + DistillAlpha·DistillT²·KL of the
	// softened outputs (see nn.DistillCrossEntropy). The teacher runs in
	// evaluation mode on the same augmented batches.
	Teacher      string  `json:"teacher,omitempty"`
	DistillT     float64 `json:"distill_t,omitempty"`
	DistillAlpha float64 `json:"distill_alpha,omitempty"`
}

// ConfigError is a Config field whose value cannot work.
type ConfigError struct {
	Field   string // the Config field, e.g. "LR"
	Problem string // e.g. "must be positive, got -0.1"
}

func (e *ConfigError) Error() string { return "train: Config." + e.Field + " " + e.Problem }

// Validate reports the first setting that cannot work, as a *ConfigError.
func (c Config) Validate() error {
	bad := func(field, format string, a ...any) error {
		return &ConfigError{Field: field, Problem: fmt.Sprintf(format, a...)}
	}
	switch {
	case c.Arch == "" && c.Init == "":
		return bad("Arch", "is empty and no Init file names an architecture")
	case c.Epochs <= 0:
		return bad("Epochs", "must be positive, got %d", c.Epochs)
	case c.Batch <= 0:
		return bad("Batch", "must be positive, got %d", c.Batch)
	case !(c.LR > 0) || math.IsInf(c.LR, 0):
		return bad("LR", "must be positive and finite, got %g", c.LR)
	case !(c.Momentum >= 0 && c.Momentum < 1):
		return bad("Momentum", "must be in [0, 1), got %g", c.Momentum)
	case !(c.WeightDecay >= 0) || math.IsInf(c.WeightDecay, 0):
		return bad("WeightDecay", "must be ≥ 0 and finite, got %g", c.WeightDecay)
	case !(c.LabelSmoothing >= 0 && c.LabelSmoothing < 1):
		return bad("LabelSmoothing", "must be in [0, 1), got %g", c.LabelSmoothing)
	case c.TrainImages < 0:
		return bad("TrainImages", "must be ≥ 0, got %d", c.TrainImages)
	case c.TestImages < 0:
		return bad("TestImages", "must be ≥ 0, got %d", c.TestImages)
	case c.CheckpointEvery < 0:
		return bad("CheckpointEvery", "must be ≥ 0, got %d", c.CheckpointEvery)
	case c.Teacher != "" && c.LabelSmoothing != 0:
		return bad("LabelSmoothing", "must be 0 when distilling from a teacher (its soft targets replace smoothing), got %g", c.LabelSmoothing)
	case c.Teacher != "" && !(c.DistillT > 0):
		return bad("DistillT", "must be positive, got %g", c.DistillT)
	case c.Teacher != "" && !(c.DistillAlpha >= 0 && c.DistillAlpha <= 1):
		return bad("DistillAlpha", "must be in [0, 1], got %g", c.DistillAlpha)
	}
	for _, v := range c.Mean {
		if math.IsNaN(float64(v)) || math.IsInf(float64(v), 0) {
			return bad("Mean", "must be finite, got %v", c.Mean)
		}
	}
	for _, v := range c.Std {
		if !(v > 0) || math.IsInf(float64(v), 0) {
			return bad("Std", "must be positive and finite, got %v", c.Std)
		}
	}
	switch strings.ToLower(c.Optimizer) {
	case "sgd", "adamw":
	default:
		return bad("Optimizer", "is %q, want sgd or adamw", c.Optimizer)
	}
	if _, err := optim.ParseSchedule(c.Schedule, c.LR, 1, c.Epochs); err != nil {
		return bad("Schedule", "is not usable: %v", err)
	}
	return nil
}
