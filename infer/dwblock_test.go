package infer

import (
	"math"
	"math/rand/v2"
	"runtime"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// TestFusedBlocksMatchSteps checks that MobileNetV2 at 224×224, whose large inverted
// residuals (and its stem, with the first block) compile to fused blocks, gives the
// outputs of the unfused plan bit for bit, at GOMAXPROCS 1 and 2.
func TestFusedBlocksMatchSteps(t *testing.T) {
	m, err := zoo.New("mobilenet_v2")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 5)
	rng := rand.New(rand.NewPCG(5, 6))
	nn.Walk(m, func(_ string, l nn.Module) {
		if bn, ok := l.(*nn.BatchNorm2d); ok {
			for k := range bn.C {
				bn.Weight.Value.Data[k] = float32(0.5 + rng.Float64())
				bn.Bias.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningMean.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningVar.Value.Data[k] = float32(0.5 + rng.Float64())
			}
		}
	})
	in := []int{3, 224, 224}
	defer func() { noBlocks = false }()
	var cms [2]*Model
	for i := range cms {
		noBlocks = i == 0
		if cms[i], err = Compile(m, in, Options{Batch: 1}); err != nil {
			t.Fatal(err)
		}
	}
	blocks := 0
	for _, l := range cms[1].Layers() {
		if l.Algo == "dwblock" {
			blocks++
			if strings.HasPrefix(l.Name, "features.0.") != (blocks == 1) {
				t.Errorf("block %d is %s: want the stem with the first block only", blocks, l.Name)
			}
		}
	}
	if blocks < 2 {
		t.Fatalf("%d fused blocks", blocks)
	}
	if a, b := cms[0].ActivationFloats(), cms[1].ActivationFloats(); b >= a {
		t.Errorf("fused plan takes %d activation floats, the unfused one %d", b, a)
	}
	x := tensor.New(1, 3, 224, 224)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	want, err := cms[0].NewRunner(1).Run(x)
	if err != nil {
		t.Fatal(err)
	}
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	r := cms[1].NewRunner(1)
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		got, err := r.Run(x)
		if err != nil {
			t.Fatal(err)
		}
		for i := range got.Data {
			if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
				t.Fatalf("GOMAXPROCS %d: logit %d is %v, unfused %v", procs, i, got.Data[i], want.Data[i])
			}
		}
	}
}
