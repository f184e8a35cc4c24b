package tensor

import (
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testutil"
)

func randomTensor(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

// An offset map is SubsamplePadChannels, forward and backward.
func TestSubsampleMapChannelsOffsetIsPad(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	x := randomTensor(rng, 2, 3, 5, 4)
	want, got := New(2, 8, 3, 2), New(2, 8, 3, 2)
	SubsamplePadChannels(want, x, 2, 2)
	got.Fill(7)
	SubsampleMapChannels(got, x, 2, []int{2, 3, 4})
	testutil.Close(t, "y", got.Data, want.Data, 0)

	dy := randomTensor(rng, 2, 8, 3, 2)
	dxWant, dxGot := randomTensor(rng, 2, 3, 5, 4), New(2, 3, 5, 4)
	copy(dxGot.Data, dxWant.Data)
	SubsamplePadChannelsBackward(dxWant, dy, 2, 2, 1)
	SubsampleMapChannelsBackward(dxGot, dy, 2, []int{2, 3, 4})
	testutil.Close(t, "dx", dxGot.Data, dxWant.Data, 0)
}

func TestSubsampleMapChannelsDropsAndScatters(t *testing.T) {
	x := New(1, 3, 1, 2)
	copy(x.Data, []float32{1, 2, 3, 4, 5, 6})
	y := New(1, 4, 1, 1)
	y.Fill(9)
	SubsampleMapChannels(y, x, 2, []int{3, -1, 0})
	testutil.Close(t, "y", y.Data, []float32{5, 0, 0, 1}, 0)

	dx := New(1, 3, 1, 2)
	SubsampleMapChannelsBackward(dx, FromSlice([]float32{10, 20, 30, 40}, 1, 4, 1, 1), 2, []int{3, -1, 0})
	testutil.Close(t, "dx", dx.Data, []float32{40, 0, 0, 0, 10, 0}, 0)
}

func TestSubsampleMapChannelsRejectsBadMaps(t *testing.T) {
	for name, dst := range map[string][]int{"short": {0, 1}, "out of range": {0, 1, 4}, "collision": {0, 1, 1}} {
		t.Run(name, func(t *testing.T) {
			defer func() {
				if recover() == nil {
					t.Error("no panic")
				}
			}()
			SubsampleMapChannels(New(1, 4, 1, 1), New(1, 3, 1, 1), 1, dst)
		})
	}
}
