package tensor

import (
	"math"
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testutil"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

func TestCrossEntropyMatchesPyTorch(t *testing.T) {
	f, err := safetensors.ReadFile("../nn/testdata/layers.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	get := func(k string) *Tensor {
		v, err := f.Tensors["cross_entropy."+k].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		return FromSlice(v, f.Tensors["cross_entropy."+k].Shape...)
	}
	logits, target := get("input"), get("target")
	labels := make([]int, len(target.Data))
	for i, v := range target.Data {
		labels[i] = int(v)
	}
	per := make([]float32, len(labels))
	mean := CrossEntropy(per, logits, labels)
	testutil.Close(t, "per-sample loss", per, get("per_sample").Data, 1e-6)
	testutil.Close(t, "mean loss", []float32{float32(mean)}, get("output").Data, 1e-6)
}

func TestLogSumExpStable(t *testing.T) {
	if got := LogSumExp([]float32{1000, 1000}); math.Abs(float64(got)-(1000+math.Ln2)) > 1e-3 {
		t.Errorf("LogSumExp(1000, 1000) = %v", got)
	}
	if got := LogSumExp([]float32{-1e30, 0}); got != 0 {
		t.Errorf("LogSumExp(-1e30, 0) = %v", got)
	}
}

func TestArgmaxFirstOnTies(t *testing.T) {
	idx := make([]int, 2)
	Argmax(idx, FromSlice([]float32{1, 3, 3, 0, -1, -2, -1, -5}, 2, 4))
	if idx[0] != 1 || idx[1] != 0 {
		t.Errorf("Argmax = %v, want [1 0]", idx)
	}
}

func TestBatchNormTrainStatistics(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	x := randTensor(rng, 3, 2, 4, 5)
	y := New(x.Shape...)
	mean, variance := make([]float32, 2), make([]float32, 2)
	BatchNormTrain(y, x, []float32{1, 1}, []float32{0, 0}, mean, variance, 0)
	// With γ = 1, β = 0, eps = 0 the output has zero mean and unit variance per channel.
	for c := range 2 {
		var s, ss float64
		for n := range 3 {
			for _, v := range y.Data[(n*2+c)*20 : (n*2+c+1)*20] {
				s += float64(v)
				ss += float64(v) * float64(v)
			}
		}
		if math.Abs(s/60) > 1e-6 || math.Abs(ss/60-1) > 1e-5 {
			t.Errorf("channel %d: mean %g, variance %g", c, s/60, ss/60)
		}
	}
}

func TestSubsamplePadChannelsOddSize(t *testing.T) {
	x := New(1, 1, 3, 3)
	for i := range x.Data {
		x.Data[i] = float32(i + 1)
	}
	y := New(1, 3, 2, 2)
	y.Fill(9)
	SubsamplePadChannels(y, x, 2, 1)
	want := []float32{0, 0, 0, 0, 1, 3, 7, 9, 0, 0, 0, 0}
	testutil.Close(t, "y", y.Data, want, 0)
}

func TestArenaReuses(t *testing.T) {
	var a Arena
	t1 := a.Get(2, 3)
	t1.Data[0] = 5
	a.Reset()
	t2 := a.Zeros(3, 2)
	if &t1.Data[0] != &t2.Data[0] || t2.Data[0] != 0 {
		t.Error("the arena did not hand back its buffer zeroed")
	}
	if n := testing.AllocsPerRun(10, func() { a.Reset(); a.Get(2, 3) }); n > 1 { // the variadic shape
		t.Errorf("Get after Reset made %v allocations", n)
	}
}

func TestView(t *testing.T) {
	x := New(2, 3, 4)
	v := x.View(2, -1)
	if v.Shape[1] != 12 || &v.Data[0] != &x.Data[0] {
		t.Errorf("View(2, -1) = %v", v.Shape)
	}
	defer func() {
		if recover() == nil {
			t.Error("no panic for a view of another size")
		}
	}()
	x.View(5, 5)
}
