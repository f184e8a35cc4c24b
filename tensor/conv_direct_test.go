package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/internal/testutil"
)

// convCase is one convolution geometry of the tests.
type convCase struct {
	n, c, h, w, k, kh, kw, sh, sw, ph, pw int
	bias                                  bool
}

func (tc convCase) params() ConvParams {
	return ConvParams{Stride: [2]int{tc.sh, tc.sw}, Padding: [2]int{tc.ph, tc.pw}}
}

// convCases cover the direct kernels (3×3 padding 1 at stride 1 and 2, odd sizes, channel
// counts that are not multiples of any tile, batches smaller and larger than the weight
// gradient's slabs, 1-pixel and 1-row images), other kernel sizes with "same" widths, and
// geometries that take the im2col path.
var convCases = []convCase{
	{2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, true},
	{3, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, false},
	{2, 5, 6, 5, 7, 1, 1, 1, 1, 0, 0, true},
	{2, 6, 7, 7, 4, 1, 1, 2, 2, 0, 0, false},
	{1, 3, 17, 15, 8, 7, 7, 2, 2, 3, 3, false},
	{1, 2, 9, 11, 3, 5, 5, 1, 1, 0, 0, true},
	{2, 4, 8, 8, 4, 3, 3, 2, 2, 0, 0, true},
	{1, 3, 5, 5, 2, 2, 2, 1, 1, 1, 1, false},
	{1, 2, 5, 6, 3, 3, 2, 2, 3, 2, 1, true},
	{1, 1, 2, 2, 1, 3, 3, 1, 1, 2, 2, false},
	{70, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1, true},
	{3, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, false},
	{2, 17, 9, 7, 33, 3, 3, 1, 1, 1, 1, true},
	{11, 7, 6, 10, 20, 3, 3, 1, 1, 1, 1, false},
	{9, 16, 8, 8, 32, 3, 3, 2, 2, 1, 1, false},
	{2, 5, 11, 9, 18, 3, 3, 2, 2, 1, 1, true},
	{2, 3, 1, 1, 4, 3, 3, 1, 1, 1, 1, false},
	{2, 3, 1, 9, 4, 3, 3, 1, 1, 1, 1, false},
	{2, 3, 9, 1, 4, 3, 3, 2, 2, 1, 1, false},
	{1, 4, 12, 12, 70, 3, 3, 1, 1, 1, 1, false},
	{2, 3, 9, 10, 5, 5, 5, 1, 1, 2, 2, false},
	{2, 3, 9, 10, 5, 3, 5, 2, 2, 0, 2, true},
	{2, 3, 9, 10, 5, 5, 3, 1, 1, 1, 1, false},
	{1, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, false},
	{1, 32, 16, 16, 64, 3, 3, 2, 2, 1, 1, false},
	{2, 3, 11, 10, 5, 7, 3, 2, 2, 1, 1, true},  // tall kernel, little row padding, stride 2
	{2, 3, 8, 9, 4, 6, 5, 1, 1, 0, 2, false},   // even kernel height, no row padding
	{3, 2, 7, 7, 3, 1, 1, 2, 2, 0, 0, false},   // 1×1 stride-2 projection (empty phases)
	{1, 3, 12, 12, 4, 7, 7, 2, 2, 3, 3, false}, // the ImageNet stem's geometry
	{2, 1, 6, 6, 5, 3, 3, 1, 1, 1, 1, false},   // one input channel (weight rows as long as a channel's)
	{2, 1, 7, 7, 4, 3, 3, 2, 2, 1, 1, true},
	{5, 3, 32, 32, 9, 3, 3, 2, 2, 1, 1, false}, // stride 2 read directly (pairGeometry): rows of 16
	{3, 5, 12, 16, 10, 3, 3, 2, 2, 1, 1, true}, // … and rows of 8
	{2, 3, 10, 16, 4, 3, 3, 2, 2, 1, 1, false}, // rows of 8 in a ragged plane: phase planes
}

// convBackwardRef returns the data, weight, bias and per-sample squared weight and bias
// gradients of a convolution for output gradient dy, by their definitions in float64.
func convBackwardRef(x, w, dy *Tensor, p ConvParams, scale float64) (dx, dw *Tensor, db []float32, sqw, sqb []float32) {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	_, _, ho, wo := dy.NCHW()
	dx, dw = New(n, c, h, wd), New(k, c, kh, kw)
	dxs := make([]float64, len(dx.Data))
	dws := make([]float64, len(dw.Data))
	dbs := make([]float64, k)
	sqw, sqb = make([]float32, len(dw.Data)), make([]float32, k)
	for i := range n {
		g := make([]float64, len(dw.Data))
		gb := make([]float64, k)
		for o := range k {
			for oy := range ho {
				for ox := range wo {
					d := float64(dy.Data[((i*k+o)*ho+oy)*wo+ox])
					gb[o] += d
					for ci := range c {
						for ky := range kh {
							for kx := range kw {
								iy, ix := oy*p.Stride[0]-p.Padding[0]+ky, ox*p.Stride[1]-p.Padding[1]+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								wi := ((o*c+ci)*kh+ky)*kw + kx
								xi := ((i*c+ci)*h+iy)*wd + ix
								dxs[xi] += float64(w.Data[wi]) * d
								g[wi] += float64(x.Data[xi]) * d
							}
						}
					}
				}
			}
		}
		for j, v := range g {
			dws[j] += v
			sqw[j] += float32(scale * v * scale * v)
		}
		for j, v := range gb {
			dbs[j] += v
			sqb[j] += float32(scale * v * scale * v)
		}
	}
	for j, v := range dxs {
		dx.Data[j] = float32(v)
	}
	for j, v := range dws {
		dw.Data[j] = float32(v)
	}
	db = make([]float32, k)
	for j, v := range dbs {
		db[j] = float32(v)
	}
	return dx, dw, db, sqw, sqb
}

// forEachConvPath runs f on every asm path this CPU and build have.
func forEachConvPath(t *testing.T, f func(t *testing.T)) {
	prev := asm.CurrentPath()
	defer asm.SetPath(prev)
	for _, p := range asm.AvailablePaths() {
		if err := asm.SetPath(p); err != nil {
			t.Fatal(err)
		}
		t.Run(p.String(), f)
	}
}

// TestConvMatchesDefinition checks the forward pass, the data gradient (accumulated into
// dx), the weight and bias gradients (accumulated) and the per-sample squared gradients
// against their definitions on every path, with one workspace reused across geometries.
func TestConvMatchesDefinition(t *testing.T) {
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		var ws ConvWorkspace
		for _, tc := range convCases {
			name := fmt.Sprintf("%+v", tc)
			p := tc.params()
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, tc.kh, tc.kw)
			var bias []float32
			if tc.bias {
				bias = randTensor(rng, tc.k).Data
			}
			want := conv2dRef(x, w, bias, p)
			got := New(want.Shape...)
			got.Fill(float32(math.NaN()))
			Conv2dForward(got, x, w, bias, p, &ws)
			testutil.Close(t, name+" forward", got.Data, want.Data, 1e-5)

			dy := randTensor(rng, want.Shape...)
			const scale = 3
			dxRef, dwRef, dbRef, sqwRef, sqbRef := convBackwardRef(x, w, dy, p, scale)
			dx0 := randTensor(rng, x.Shape...)
			dx := dx0.Clone()
			Conv2dBackwardData(dx, dy, w, p, &ws, 1)
			for i := range dx.Data {
				dx.Data[i] -= dx0.Data[i]
			}
			testutil.Close(t, name+" data gradient", dx.Data, dxRef.Data, 2e-5)

			dw0 := randTensor(rng, w.Shape...)
			dw := dw0.Clone()
			db := make([]float32, tc.k)
			Conv2dBackwardFilter(dw, db, x, dy, p, &ws, nil)
			for i := range dw.Data {
				dw.Data[i] -= dw0.Data[i]
			}
			testutil.Close(t, name+" weight gradient", dw.Data, dwRef.Data, 2e-5)
			testutil.Close(t, name+" bias gradient", db, dbRef, 2e-5)

			dw = New(w.Shape...)
			db = make([]float32, tc.k)
			sq := &SquaredGrads{W: make([]float32, len(dw.Data)), B: make([]float32, tc.k), Scale: scale}
			Conv2dBackwardFilter(dw, db, x, dy, p, &ws, sq)
			testutil.Close(t, name+" weight gradient (per sample)", dw.Data, dwRef.Data, 2e-5)
			testutil.Close(t, name+" bias gradient (per sample)", db, dbRef, 2e-5)
			testutil.Close(t, name+" squared weight gradients", sq.W, sqwRef, 5e-5)
			testutil.Close(t, name+" squared bias gradients", sq.B, sqbRef, 5e-5)
		}
	})
}

// TestConvDeterministicAcrossProcs checks that outputs, data gradients and weight
// gradients are bit-identical for GOMAXPROCS = 1, 2 and 3 on every path.
func TestConvDeterministicAcrossProcs(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		for _, tc := range []convCase{
			{24, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, false},
			{13, 16, 12, 12, 32, 3, 3, 2, 2, 1, 1, true},
			{13, 8, 16, 16, 16, 3, 3, 2, 2, 1, 1, false}, // groups of 3 images, ragged per segment
			{7, 5, 32, 32, 9, 3, 3, 2, 2, 1, 1, false},
			{9, 3, 11, 13, 16, 3, 3, 1, 1, 1, 1, false},
			{10, 20, 8, 8, 24, 1, 1, 1, 1, 0, 0, false},
			{6, 5, 9, 9, 7, 5, 5, 2, 2, 1, 1, false},
		} {
			rng := rand.New(rand.NewPCG(5, 6))
			p := tc.params()
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, tc.kh, tc.kw)
			ho, wo := p.OutSize(tc.h, tc.w, tc.kh, tc.kw)
			dy := randTensor(rng, tc.n, tc.k, ho, wo)
			var ref [][]float32
			for _, procs := range []int{1, 2, 3} {
				runtime.GOMAXPROCS(procs)
				var ws ConvWorkspace
				y := New(tc.n, tc.k, ho, wo)
				Conv2dForward(y, x, w, nil, p, &ws)
				dx := New(x.Shape...)
				Conv2dBackwardData(dx, dy, w, p, &ws, 1)
				dw := New(w.Shape...)
				db := make([]float32, tc.k)
				Conv2dBackwardFilter(dw, db, x, dy, p, &ws, nil)
				dw2 := New(w.Shape...)
				sq := &SquaredGrads{W: make([]float32, len(dw.Data)), Scale: 2}
				Conv2dBackwardFilter(dw2, nil, x, dy, p, &ws, sq)
				got := [][]float32{y.Data, dx.Data, dw.Data, db, dw2.Data, sq.W}
				if ref == nil {
					ref = got
					continue
				}
				for i, what := range []string{"output", "data gradient", "weight gradient", "bias gradient", "per-sample weight gradient", "squared gradients"} {
					if !slices.Equal(got[i], ref[i]) {
						t.Errorf("%+v: %s differs between GOMAXPROCS=1 and %d", tc, what, procs)
					}
				}
			}
		}
	})
}

// TestConvNoAllocs checks that a forward and backward pass (with batch norm and ReLU) with
// a reused workspace allocates nothing in steady state with GOMAXPROCS=2
// (testing.AllocsPerRun would force GOMAXPROCS=1, so the process's malloc count is
// compared instead), on the SIMD paths (the Generic path's im2col and Sgemm are asm's).
func TestConvNoAllocs(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		if asm.CurrentPath() == asm.Generic {
			t.Skip("the Generic path lowers to im2col and Sgemm")
		}
		rng := rand.New(rand.NewPCG(15, 15))
		for _, tc := range []convCase{
			{8, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, false},
			{8, 16, 16, 16, 32, 3, 3, 2, 2, 1, 1, false},
		} {
			p := tc.params()
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, tc.kh, tc.kw)
			ho, wo := p.OutSize(tc.h, tc.w, tc.kh, tc.kw)
			y, dy := New(tc.n, tc.k, ho, wo), randTensor(rng, tc.n, tc.k, ho, wo)
			dx, dw := New(x.Shape...), New(w.Shape...)
			gamma, beta := randTensor(rng, tc.k).Data, randTensor(rng, tc.k).Data
			mean, variance := make([]float32, tc.k), make([]float32, tc.k)
			var ws ConvWorkspace
			step := func() {
				Conv2dForward(y, x, w, nil, p, &ws)
				BatchNormTrain(y, y, gamma, beta, mean, variance, 1e-5)
				ReluBackward(dy, dy, y, 1)
				Conv2dBackwardData(dx, dy, w, p, &ws, 1)
				Conv2dBackwardFilter(dw, nil, x, dy, p, &ws, nil)
			}
			for range 3 {
				step()
			}
			var before, after runtime.MemStats
			const steps = 20
			runtime.ReadMemStats(&before)
			for range steps {
				step()
			}
			runtime.ReadMemStats(&after)
			// The runtime itself allocates now and then (a sudog when a parked worker
			// is woken and the cache is empty): fewer allocations than steps shows that
			// no call allocates.
			if n := after.Mallocs - before.Mallocs; n >= steps {
				t.Errorf("%+v: %d allocations in %d steps", tc, n, steps)
			}
		}
	})
}
