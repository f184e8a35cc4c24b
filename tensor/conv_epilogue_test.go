package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// epilogueRef is the unfused reference of Conv2dForwardEpilogue: Conv2dForward, then the
// epilogue's reference loop.
func epilogueRef(x, w *Tensor, p ConvParams, e ConvEpilogue, y0 *Tensor) *Tensor {
	y := y0.Clone()
	var r []float32
	if e.Residual != nil {
		r = e.Residual.Data
	}
	Conv2dForward(y, x, w, nil, p, nil)
	n, k, h, wd := y.NCHW()
	for i := range n * k * h * wd {
		kk := i / (h * wd) % k
		v := float32(y.Data[i]*e.Scale[kk]) + e.Shift[kk]
		if r != nil {
			v += r[i]
		}
		if e.Relu && !(v > 0) {
			v = 0
		}
		y.Data[i] = v
	}
	return y
}

// TestConv2dForwardEpilogue checks the fused epilogue against Conv2dForward followed by the
// epilogue, bit for bit, on every path, on the Winograd cases and on geometries of the
// direct and im2col kernels, with and without residual and ReLU.
func TestConv2dForwardEpilogue(t *testing.T) {
	cases := append(append([]convCase{}, winoCases...),
		convCase{3, 16, 9, 7, 12, 3, 3, 2, 2, 1, 1, false},
		convCase{2, 8, 6, 5, 16, 1, 1, 1, 1, 0, 0, false},
		convCase{2, 5, 6, 5, 3, 3, 3, 1, 1, 1, 1, false})
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		var ws ConvWorkspace
		for ci, tc := range cases {
			for v := range 4 {
				res, relu := v%2 == 1, v >= 2
				p := tc.params()
				x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
				w := randTensor(rng, tc.k, tc.c, tc.kh, tc.kw)
				ho, wo := p.OutSize(tc.h, tc.w, tc.kh, tc.kw)
				e := ConvEpilogue{Scale: make([]float32, tc.k), Shift: make([]float32, tc.k), Relu: relu}
				for i := range e.Scale {
					e.Scale[i] = float32(rng.NormFloat64())
					e.Shift[i] = float32(rng.NormFloat64())
				}
				e.Scale[0], e.Shift[0] = 0, float32(math.Copysign(0, -1))
				y := randTensor(rng, tc.n, tc.k, ho, wo)
				if res {
					e.Residual = randTensor(rng, tc.n, tc.k, ho, wo)
				}
				want := epilogueRef(x, w, p, e, y)
				Conv2dForwardEpilogue(y, x, w, p, &ws, e)
				for i := range y.Data {
					if math.Float32bits(y.Data[i]) != math.Float32bits(want.Data[i]) {
						t.Fatalf("case %d %+v, residual %v relu %v: y[%d] = %v, want %v",
							ci, tc, res, relu, i, y.Data[i], want.Data[i])
					}
				}
			}
		}
	})
}

// TestConv2dForwardEpilogueDeterministic checks that the fused epilogue gives the same
// results for GOMAXPROCS 1, 2 and 3 and allocates nothing in steady state at 2.
func TestConv2dForwardEpilogueDeterministic(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(13, 14))
		p := ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}}
		x := randTensor(rng, 17, 16, 16, 16)
		w := randTensor(rng, 11, 16, 3, 3)
		e := ConvEpilogue{Scale: randTensor(rng, 11).Data, Shift: randTensor(rng, 11).Data,
			Residual: randTensor(rng, 17, 11, 16, 16), Relu: true}
		var ref []float32
		for _, procs := range []int{1, 2, 3} {
			runtime.GOMAXPROCS(procs)
			var ws ConvWorkspace
			y := New(17, 11, 16, 16)
			Conv2dForwardEpilogue(y, x, w, p, &ws, e)
			if ref == nil {
				ref = y.Data
			} else if !sameBits(y.Data, ref) {
				t.Errorf("output differs between GOMAXPROCS=1 and %d", procs)
			}
			if procs == 2 {
				allocs := testing.AllocsPerRun(5, func() { Conv2dForwardEpilogue(y, x, w, p, &ws, e) })
				if allocs != 0 {
					t.Errorf("%v allocations per call", allocs)
				}
			}
		}
	})
}

// BenchmarkConv2dForwardEpilogue times Conv2dForwardEpilogue (batch 128, 3×3, padding 1)
// on the shapes of benchShapes with a ReLU ("relu": the head of a residual block) and with a
// residual and a ReLU ("addrelu": its tail), as dispatched ("fused"), and with the
// Winograd kernels ("wino") and the direct kernels followed by the epilogue pass
// ("direct") where they apply.
func BenchmarkConv2dForwardEpilogue(b *testing.B) {
	const n = 128
	for _, s := range benchShapes(b) {
		if s.k != 3 || s.g > 1 {
			continue // the epilogue of ungrouped 3×3 layers only
		}
		rng := rand.New(rand.NewPCG(1, 2))
		p := ConvParams{Stride: [2]int{s.stride, s.stride}, Padding: [2]int{1, 1}}
		ho, wo := p.OutSize(s.hw, s.hw, 3, 3)
		x := randTensor(rng, n, s.cin, s.hw, s.hw)
		w := randTensor(rng, s.cout, s.cin, 3, 3)
		y := New(n, s.cout, ho, wo)
		r := randTensor(rng, n, s.cout, ho, wo)
		var ws ConvWorkspace
		for _, epi := range []string{"relu", "addrelu"} {
			e := ConvEpilogue{Scale: randTensor(rng, s.cout).Data, Shift: randTensor(rng, s.cout).Data, Relu: true}
			if epi == "addrelu" {
				e.Residual = r
			}
			for _, how := range []string{"fused", "wino", "direct"} {
				if how == "wino" && !winogradGeometry(3, 3, s.hw, p) {
					continue
				}
				run := func() {
					switch how {
					case "fused":
						Conv2dForwardEpilogue(y, x, w, p, &ws, e)
					case "wino":
						ws.winogradEpilogue(y, x, w, &e)
					case "direct":
						ws.directForward(y, x, w, p)
						ws.epilogue = epilogueTask{y: y.Data, e: e, k: s.cout, plane: ho * wo}
						if e.Residual != nil {
							ws.epilogue.r = r.Data
						}
						parallelFor(n, &ws.epilogue)
					}
				}
				b.Run(s.name+"/"+epi+"/"+how, func(b *testing.B) {
					run()
					b.ReportAllocs()
					b.ResetTimer()
					for range b.N {
						run()
					}
				})
			}
		}
	}
}
