package train

import (
	"fmt"
	"strings"
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
	// loaded from (fine-tuning).
	Init string `json:"init"`
	// Teacher, when set, names a model file whose logits the run distils
	// into the trained model (Hinton et al., 2015): the loss is
	// (1 − DistillAlpha)·cross-entropy + DistillAlpha·DistillT²·KL of the
	// softened outputs (see nn.DistillCrossEntropy). The teacher runs in
	// evaluation mode on the same augmented batches.
	Teacher      string  `json:"teacher,omitempty"`
	DistillT     float64 `json:"distill_t,omitempty"`
	DistillAlpha float64 `json:"distill_alpha,omitempty"`
}

// Validate reports the first setting that cannot work, naming its flag.
func (c Config) Validate() error {
	switch {
	case c.Arch == "":
		return fmt.Errorf("-arch: no architecture given")
	case c.Epochs <= 0:
		return fmt.Errorf("-epochs must be positive, got %d", c.Epochs)
	case c.Batch <= 0:
		return fmt.Errorf("-batch must be positive, got %d", c.Batch)
	case !(c.LR > 0):
		return fmt.Errorf("-lr must be positive, got %g", c.LR)
	case c.Momentum < 0 || c.Momentum >= 1:
		return fmt.Errorf("-momentum must be in [0, 1), got %g", c.Momentum)
	case c.WeightDecay < 0:
		return fmt.Errorf("-wd must be ≥ 0, got %g", c.WeightDecay)
	case c.LabelSmoothing < 0 || c.LabelSmoothing >= 1:
		return fmt.Errorf("-label-smoothing must be in [0, 1), got %g", c.LabelSmoothing)
	case c.TrainImages < 0 || c.TestImages < 0:
		return fmt.Errorf("-train-images and -test-images must be ≥ 0")
	case c.CheckpointEvery < 0:
		return fmt.Errorf("-checkpoint-every must be ≥ 0, got %d", c.CheckpointEvery)
	case c.Teacher != "" && c.LabelSmoothing != 0:
		return fmt.Errorf("-label-smoothing and -teacher do not combine (the teacher's soft targets replace smoothing)")
	case c.Teacher != "" && !(c.DistillT > 0):
		return fmt.Errorf("-distill-t must be positive, got %g", c.DistillT)
	case c.Teacher != "" && !(c.DistillAlpha >= 0 && c.DistillAlpha <= 1):
		return fmt.Errorf("-distill-alpha must be in [0, 1], got %g", c.DistillAlpha)
	}
	for _, s := range c.Std {
		if !(s > 0) {
			return fmt.Errorf("-std must be positive, got %v", c.Std)
		}
	}
	switch strings.ToLower(c.Optimizer) {
	case "sgd", "adamw":
	default:
		return fmt.Errorf("-optimizer: unknown %q (sgd or adamw)", c.Optimizer)
	}
	return nil
}
