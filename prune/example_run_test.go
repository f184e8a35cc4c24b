package prune_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// Prune a CIFAR ResNet-8 from a Go program: two steps towards 40 % fewer
// MACs, each one calibrated, scored (sensitivity, the empirical Fisher),
// planned, applied and fine-tuned for an epoch, here on random images.
// Open, Run and Close are what `bonsai prune` does between parsing its
// flags and printing its report; a stopped run continues with the State
// that ReadRunState reads from the directory.
func ExampleDriver() {
	m, err := zoo.New("resnet8")
	if err != nil {
		panic(err)
	}
	zoo.InitWeights(m, 1)
	dir, err := os.MkdirTemp("", "prune-example-")
	if err != nil {
		panic(err)
	}
	defer os.RemoveAll(dir)

	d := &prune.Driver{
		Config: prune.RunConfig{
			Arch: "resnet8", Criterion: prune.Sensitivity, Ranking: prune.Uniform, FLOPs: 0.4, Steps: 2,
			Calib: 64, CalibBatch: 64, FinetuneEpochs: 2, Batch: 64, LR: 0.01, Momentum: 0.9, WD: 5e-4,
			Schedule: "cosine", Seed: 1, Mean: zoo.DefaultMean, Std: zoo.DefaultStd,
		},
		Dir:     filepath.Join(dir, "run"),
		Model:   m,
		InShape: []int{3, 32, 32},
		Train:   randomImages(128, 1),
		Test:    randomImages(32, 2),
	}
	err = d.Run(context.Background())
	if err = d.Close(err); err != nil {
		panic(err)
	}

	s := d.Summary()
	fmt.Printf("MACs %d → %d, parameters %d → %d\n", s.MACsBefore, s.MACsAfter, s.ParamsBefore, s.ParamsAfter)
	for _, st := range d.State.StepsDone {
		fmt.Printf("step %d: %.1f %% of the MACs gone, %d MACs, %d epoch(s) of fine-tuning\n", st.Step, 100*st.Target, st.MACs, len(st.Finetune))
	}
	pruned, _, err := zoo.Load(filepath.Join(d.Dir, "pruned.safetensors"), "")
	if err != nil {
		panic(err)
	}
	fmt.Println("pruned.safetensors:", nn.Summarize(pruned, 3, 32, 32).MACs, "MACs")
	// Output:
	// MACs 12239488 → 7299712, parameters 75290 → 45102
	// step 1: 22.5 % of the MACs gone, 9456256 MACs, 1 epoch(s) of fine-tuning
	// step 2: 40.0 % of the MACs gone, 7299712 MACs, 1 epoch(s) of fine-tuning
	// pruned.safetensors: 7299712 MACs
}

// randomImages returns n random CIFAR-sized images with random labels.
func randomImages(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 7))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = uint8(rng.IntN(256))
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(rng.IntN(10))
	}
	return d
}
