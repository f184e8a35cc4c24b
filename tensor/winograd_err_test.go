package tensor

import (
	"math"
	"math/rand/v2"
	"os"
	"testing"
)

// TestWinogradErrorReport prints max|y − ref|/max|ref| of the Winograd and direct kernels
// (forward and data gradient) on ResNet-20's 3×3 layer shapes, with inputs of ReLU'd
// normals and Kaiming-scale weights. Set BONSAI_WINO_ERR=1 to run it.
func TestWinogradErrorReport(t *testing.T) {
	if os.Getenv("BONSAI_WINO_ERR") == "" {
		t.Skip("BONSAI_WINO_ERR not set")
	}
	rng := rand.New(rand.NewPCG(3, 4))
	p := ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}}
	relErr := func(got, want *Tensor) float64 {
		var d, m float64
		for i := range want.Data {
			d = math.Max(d, math.Abs(float64(got.Data[i])-float64(want.Data[i])))
			m = math.Max(m, math.Abs(float64(want.Data[i])))
		}
		return d / m
	}
	for _, s := range []struct{ n, c, hw int }{{8, 16, 32}, {8, 32, 16}, {8, 64, 8}} {
		x := New(s.n, s.c, s.hw, s.hw)
		for i := range x.Data {
			x.Data[i] = float32(math.Max(0, rng.NormFloat64()))
		}
		w := New(s.c, s.c, 3, 3)
		sd := math.Sqrt(2 / float64(9*s.c))
		for i := range w.Data {
			w.Data[i] = float32(sd * rng.NormFloat64())
		}
		dy := randTensor(rng, s.n, s.c, s.hw, s.hw)
		var ws ConvWorkspace
		ref := conv2dRef(x, w, nil, p)
		y := New(ref.Shape...)
		ws.winogradForward(y, x, w)
		yd := New(ref.Shape...)
		ws.directForward(yd, x, w, p)
		dxRef, _, _, _, _ := convBackwardRef(x, w, dy, p, 1)
		dx := New(x.Shape...)
		ws.winogradBackwardData(dx, dy, w)
		dxd := New(x.Shape...)
		ws.directBackwardData(dxd, dy, w, p, 1)
		t.Logf("n%d c%d %dx%d: fwd wino %.2e direct %.2e | dgrad wino %.2e direct %.2e",
			s.n, s.c, s.hw, s.hw, relErr(y, ref), relErr(yd, ref), relErr(dx, dxRef), relErr(dxd, dxRef))
	}
}
