package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// TestPreparedConv checks PreparedConv.Forward, with every algorithm that applies, against
// Conv2dForward followed by the bias, the residual and the ReLU, on odd sizes; and that
// each image's output is bit-identical alone and in a batch, at GOMAXPROCS 1 and 2.
func TestPreparedConv(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer asm.SetPath(asm.CurrentPath())
	shapes := []struct {
		c, k, h, w, kh, kw, s, pad int
	}{
		{3, 5, 9, 7, 3, 3, 1, 1},
		{16, 11, 12, 12, 3, 3, 1, 1},
		{8, 13, 14, 10, 3, 3, 2, 1},
		{3, 8, 23, 23, 7, 7, 2, 3},
		{17, 24, 7, 7, 1, 1, 1, 0},
		{12, 20, 9, 9, 1, 1, 2, 0},
		{9, 7, 6, 8, 3, 3, 1, 0},
		{5, 6, 11, 11, 5, 5, 1, 2},
		{64, 40, 7, 7, 3, 3, 1, 1},
	}
	for _, path := range asm.AvailablePaths() {
		if err := asm.SetPath(path); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shapes {
			p := ConvParams{Stride: [2]int{sh.s, sh.s}, Padding: [2]int{sh.pad, sh.pad}}
			for algo := ConvGemm; algo <= ConvIm2col; algo++ {
				if !ConvAlgoApplies(algo, sh.c, sh.k, sh.h, sh.w, sh.kh, sh.kw, p) {
					continue
				}
				name := fmt.Sprintf("%v/%d-%d@%dx%d/k%ds%d/%v", path, sh.c, sh.k, sh.h, sh.w, sh.kh, sh.s, algo)
				rng := rand.New(rand.NewPCG(uint64(sh.c), uint64(sh.k)))
				const n = 3
				x := randTensor(rng, n, sh.c, sh.h, sh.w)
				w := randTensor(rng, sh.k, sh.c, sh.kh, sh.kw)
				bias := randTensor(rng, sh.k).Data
				ho, wo := p.OutSize(sh.h, sh.w, sh.kh, sh.kw)
				res := randTensor(rng, n, sh.k, ho, wo)
				pc := PrepareConvAlgo(w, bias, p, sh.h, sh.w, algo)
				for _, mode := range []struct {
					res  bool
					relu bool
				}{{false, false}, {false, true}, {true, true}, {true, false}} {
					want := New(n, sh.k, ho, wo)
					Conv2dForward(want, x, w, bias, p, nil)
					for i := range want.Data {
						if mode.res {
							want.Data[i] += res.Data[i]
						}
						if mode.relu {
							want.Data[i] = max(want.Data[i], 0)
						}
					}
					var r *Tensor
					if mode.res {
						r = res
					}
					var ws ConvWorkspace
					var first []float32
					for _, procs := range []int{2, 1} {
						runtime.GOMAXPROCS(procs)
						got := New(n, sh.k, ho, wo)
						pc.Forward(got, x, r, mode.relu, &ws)
						var maxDiff, maxRef float64
						for i := range got.Data {
							maxDiff = max(maxDiff, math.Abs(float64(got.Data[i]-want.Data[i])))
							maxRef = max(maxRef, math.Abs(float64(want.Data[i])))
						}
						if maxDiff > 1e-5*max(maxRef, 1) {
							t.Fatalf("%s res=%v relu=%v: max difference %g (max |y| %g)", name, mode.res, mode.relu, maxDiff, maxRef)
						}
						if first == nil {
							first = got.Data
						} else if !bitsEqual(first, got.Data) {
							t.Fatalf("%s: output differs between GOMAXPROCS 2 and 1", name)
						}
					}
					// Each image alone, at 2 threads: a batch smaller than the workers
					// takes other paths (channel-block splits, a shared phase split).
					runtime.GOMAXPROCS(2)
					per := sh.c * sh.h * sh.w
					out := sh.k * ho * wo
					for i := range n {
						xi := FromSlice(x.Data[i*per:(i+1)*per], 1, sh.c, sh.h, sh.w)
						var ri *Tensor
						if r != nil {
							ri = FromSlice(r.Data[i*out:(i+1)*out], 1, sh.k, ho, wo)
						}
						yi := New(1, sh.k, ho, wo)
						pc.Forward(yi, xi, ri, mode.relu, &ws)
						if !bitsEqual(yi.Data, first[i*out:(i+1)*out]) {
							t.Fatalf("%s: image %d alone differs from its output in the batch", name, i)
						}
					}
				}
			}
		}
	}
}

func bitsEqual(a, b []float32) bool {
	for i := range a {
		if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
			return false
		}
	}
	return len(a) == len(b)
}
