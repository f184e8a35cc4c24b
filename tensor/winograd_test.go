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

// winoCases are Winograd geometries: odd sizes, images smaller than a tile and not a
// multiple of it, channel counts that are not multiples of any panel, blocks that span
// images, and the benchmark layers' channel counts.
var winoCases = []convCase{
	{2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, true},
	{1, 1, 1, 1, 1, 3, 3, 1, 1, 1, 1, false},
	{3, 2, 2, 3, 3, 3, 3, 1, 1, 1, 1, false},
	{5, 7, 5, 6, 9, 3, 3, 1, 1, 1, 1, true},
	{2, 17, 9, 7, 33, 3, 3, 1, 1, 1, 1, false},
	{13, 33, 8, 8, 31, 3, 3, 1, 1, 1, 1, false},
	{3, 64, 8, 8, 64, 3, 3, 1, 1, 1, 1, false},
	{2, 32, 16, 16, 32, 3, 3, 1, 1, 1, 1, true},
	{1, 16, 32, 32, 16, 3, 3, 1, 1, 1, 1, false},
	{1, 4, 13, 45, 70, 3, 3, 1, 1, 1, 1, false},
	{25, 5, 3, 5, 4, 3, 3, 1, 1, 1, 1, false},
	{2, 3, 5, 64, 4, 3, 3, 1, 1, 1, 1, false},
	{3, 2, 6, 61, 3, 3, 3, 1, 1, 1, 1, false},
	{7, 3, 10, 12, 5, 3, 3, 1, 1, 1, 1, false},
	{9, 2, 4, 4, 3, 3, 3, 1, 1, 1, 1, false},
}

// TestWinogradMatchesDefinition checks the Winograd forward pass against the definition
// (float64) on every path, with one workspace reused across geometries.
func TestWinogradMatchesDefinition(t *testing.T) {
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		var ws ConvWorkspace
		for _, tc := range winoCases {
			p := tc.params()
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, 3, 3)
			want := conv2dRef(x, w, nil, p)
			got := New(want.Shape...)
			got.Fill(float32(math.NaN()))
			ws.winogradForward(got, x, w)
			testutil.Close(t, fmt.Sprintf("%+v", tc), got.Data, want.Data, 1e-5)
		}
	})
}

// TestWinogradBackwardDataMatchesDefinition checks the Winograd data gradient, added into
// dx, against the definition (float64) on every path.
func TestWinogradBackwardDataMatchesDefinition(t *testing.T) {
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 9))
		var ws ConvWorkspace
		for _, tc := range winoCases {
			p := tc.params()
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, 3, 3)
			dy := randTensor(rng, tc.n, tc.k, tc.h, tc.w)
			want, _, _, _, _ := convBackwardRef(x, w, dy, p, 1)
			dx0 := randTensor(rng, x.Shape...)
			dx := dx0.Clone()
			ws.winogradBackwardData(dx, dy, w)
			for i := range dx.Data {
				dx.Data[i] -= dx0.Data[i]
			}
			testutil.Close(t, fmt.Sprintf("%+v", tc), dx.Data, want.Data, 2e-5)
		}
	})
}

// TestWinogradDeterministicAcrossProcs checks that the Winograd forward pass is
// bit-identical for GOMAXPROCS = 1, 2 and 3 on every path.
func TestWinogradDeterministicAcrossProcs(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		for _, tc := range []convCase{
			{24, 16, 16, 16, 16, 3, 3, 1, 1, 1, 1, false},
			{17, 64, 8, 8, 40, 3, 3, 1, 1, 1, 1, false},
			{9, 3, 11, 13, 16, 3, 3, 1, 1, 1, 1, false},
		} {
			rng := rand.New(rand.NewPCG(5, 6))
			x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
			w := randTensor(rng, tc.k, tc.c, 3, 3)
			var ref []float32
			for _, procs := range []int{1, 2, 3} {
				runtime.GOMAXPROCS(procs)
				var ws ConvWorkspace
				y := New(tc.n, tc.k, tc.h, tc.w)
				ws.winogradForward(y, x, w)
				dx := New(tc.n, tc.c, tc.h, tc.w)
				ws.winogradBackwardData(dx, y, w)
				if ref == nil {
					ref = dx.Data
				} else if !slices.Equal(dx.Data, ref) {
					t.Errorf("%+v: output or data gradient differs between GOMAXPROCS=1 and %d", tc, procs)
				}
			}
		}
	})
}

// TestWinogradNoAllocs checks that the Winograd forward pass with a reused workspace
// allocates nothing in steady state with GOMAXPROCS=2.
func TestWinogradNoAllocs(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(2)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(15, 15))
		x := randTensor(rng, 16, 32, 16, 16)
		w := randTensor(rng, 32, 32, 3, 3)
		y := New(16, 32, 16, 16)
		dx := New(16, 32, 16, 16)
		var ws ConvWorkspace
		for range 3 {
			ws.winogradForward(y, x, w)
			ws.winogradBackwardData(dx, y, w)
		}
		var before, after runtime.MemStats
		const steps = 20
		runtime.ReadMemStats(&before)
		for range steps {
			ws.winogradForward(y, x, w)
			ws.winogradBackwardData(dx, y, w)
		}
		runtime.ReadMemStats(&after)
		if n := after.Mallocs - before.Mallocs; n >= steps {
			t.Errorf("%d allocations in %d steps", n, steps)
		}
	})
}

// TestWinogradDispatch checks that Conv2dForward and Conv2dBackwardData take the Winograd
// kernels where winogradPreferred says so.
func TestWinogradDispatch(t *testing.T) {
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		p := ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}}
		x := randTensor(rng, 4, 64, 8, 8)
		w := randTensor(rng, 64, 64, 3, 3)
		var ws ConvWorkspace
		got, wino := New(4, 64, 8, 8), New(4, 64, 8, 8)
		Conv2dForward(got, x, w, nil, p, &ws)
		ws.winogradForward(wino, x, w)
		if winogradPreferred(64, 64, 8, 8) != slices.Equal(got.Data, wino.Data) {
			t.Errorf("winogradPreferred = %v, but Conv2dForward's output equal to Winograd's: %v",
				winogradPreferred(64, 64, 8, 8), slices.Equal(got.Data, wino.Data))
		}
		dx, winoDx := New(4, 64, 8, 8), New(4, 64, 8, 8)
		Conv2dBackwardData(dx, x, w, p, &ws, 1)
		ws.winogradBackwardData(winoDx, x, w)
		if winogradPreferred(64, 64, 8, 8) != slices.Equal(dx.Data, winoDx.Data) {
			t.Errorf("winogradPreferred = %v, but Conv2dBackwardData's output equal to Winograd's: %v",
				winogradPreferred(64, 64, 8, 8), slices.Equal(dx.Data, winoDx.Data))
		}
		if asm.CurrentPath() != asm.AVX512 && winogradPreferred(64, 64, 8, 8) {
			t.Errorf("Winograd preferred on the %v path", asm.CurrentPath())
		}
	})
}

// BenchmarkWinograd times the Winograd forward pass alone on the stride-1 layers of
// BenchmarkConv2d (batch 128), with GFLOP/s counted as for the direct convolution.
func BenchmarkWinograd(b *testing.B) {
	const n = 128
	for _, s := range convBenchShapes {
		if s.stride != 1 {
			continue
		}
		flops := 2 * float64(n) * float64(s.cout*s.hw*s.hw) * float64(s.cin*9)
		rng := rand.New(rand.NewPCG(1, 2))
		x := randTensor(rng, n, s.cin, s.hw, s.hw)
		w := randTensor(rng, s.cout, s.cin, 3, 3)
		y := New(n, s.cout, s.hw, s.hw)
		var ws ConvWorkspace
		b.Run(s.name, func(b *testing.B) {
			ws.winogradForward(y, x, w)
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				ws.winogradForward(y, x, w)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestWinogradWeightCache checks that the cache of transformed weights gives results
// bit-identical to a fresh workspace's while the weights are reused, changed in place (one
// element, or the sign of a zero), and evicted or left uncached under a small limit.
func TestWinogradWeightCache(t *testing.T) {
	prevLimit := winoCacheLimit
	defer func() { winoCacheLimit = prevLimit }()
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		type layer struct {
			x, w *Tensor
			grad bool
		}
		var layers []layer
		for i, tc := range []convCase{
			{3, 16, 8, 8, 16, 3, 3, 1, 1, 1, 1, false},
			{2, 7, 9, 5, 11, 3, 3, 1, 1, 1, 1, false},
			{2, 11, 9, 5, 7, 3, 3, 1, 1, 1, 1, false},
		} {
			w := randTensor(rng, tc.k, tc.c, 3, 3)
			w.Data[0] = 0
			layers = append(layers, layer{randTensor(rng, tc.n, tc.c, tc.h, tc.w), w, false})
			layers = append(layers, layer{randTensor(rng, tc.n, tc.k, tc.h, tc.w), w, true})
			if i == 2 { // a tensor of the same shape as layer 0's
				layers = append(layers, layer{layers[0].x, randTensor(rng, 16, 16, 3, 3), false})
			}
		}
		run := func(ws *ConvWorkspace, l layer) []float32 {
			n, _, h, wd := l.x.NCHW()
			if l.grad {
				dx := New(n, l.w.Shape[1], h, wd)
				ws.winogradBackwardData(dx, l.x, l.w)
				return dx.Data
			}
			y := New(n, l.w.Shape[0], h, wd)
			ws.winogradForward(y, l.x, l.w)
			return y.Data
		}
		for _, limit := range []int{prevLimit, 36*(16*16+16) + 9*16*16, 1} {
			winoCacheLimit = limit
			var ws ConvWorkspace
			for round := range 6 {
				switch round {
				case 2:
					layers[0].w.Data[3] += 1
				case 3:
					layers[0].w.Data[0] = float32(math.Copysign(0, -1))
				case 4:
					layers[2].w.Data[len(layers[2].w.Data)-1] *= 2
				}
				for i, l := range layers {
					var fresh ConvWorkspace
					if got, want := run(&ws, l), run(&fresh, l); !sameBits(got, want) {
						t.Errorf("limit %d, round %d, layer %d: cached result differs from a fresh workspace's", limit, round, i)
					}
					for key, want := range fresh.wino.cache { // its only entry
						if e := ws.wino.cache[key]; e != nil && !sameBits(e.u, want.u) {
							t.Errorf("limit %d, round %d, layer %d: cached transform differs from a fresh one", limit, round, i)
						}
					}
				}
				if ws.wino.cached > limit {
					t.Errorf("limit %d: cache holds %d floats", limit, ws.wino.cached)
				}
			}
			if limit == prevLimit && len(ws.wino.cache) != len(layers) {
				t.Errorf("%d cache entries for %d layers", len(ws.wino.cache), len(layers))
			}
		}
	})
}
