package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemvPacked checks SgemvPacked against SgemmPacked with one column, bit for bit, on
// odd sizes (partial panels, several kc slices, several bands of 8 panels), with and
// without each epilogue, on every path and at GOMAXPROCS 1 and 2.
func TestSgemvPacked(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(7, 8))
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		for _, s := range [][2]int{{1, 1}, {3, 5}, {8, 256}, {13, 257}, {70, 300}, {1000, 1280}, {515, 777}, {130, 2049}} {
			m, k := s[0], s[1]
			for _, transA := range []bool{false, true} {
				// nil, bias, bias+relu, bias+relu+clip, bias+residual
				for mode := range 5 {
					name := fmt.Sprintf("%dx%d/transA=%v/epi%d", m, k, transA, mode)
					ar, ac := m, k
					if transA {
						ar, ac = k, m
					}
					lda := ac + 3
					a := randSlice(rng, (ar-1)*lda+ac)
					x := randSlice(rng, k+2)[1 : k+1] // an offset
					bias := randSlice(rng, m)
					for i := 2; i < m; i += 5 {
						bias[i] = []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1))}[i%3]
					}
					var e *GemmEpilogue
					if mode > 0 {
						e = &GemmEpilogue{Bias: bias, Relu: mode == 2 || mode == 3}
						if mode == 3 {
							e.Clip = 0.5
						}
						if mode == 4 {
							e.R, e.LDR = randSlice(rng, m), 1
						}
					}
					p := PackA(transA, m, k, a, lda)
					want := randSlice(rng, m)
					SgemmPacked(p, 1, x, 1, want, 1, e, nil)
					for _, procs := range []int{1, 2} {
						runtime.GOMAXPROCS(procs)
						got := randSlice(rng, m+1)[1:] // old values must not matter
						SgemvPacked(p, x, got, e, NewWorkspace())
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) && !(got[i] != got[i] && want[i] != want[i]) {
								t.Fatalf("%s procs %d: row %d is %v, want %v", name, procs, i, got[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

// BenchmarkSgemvPacked times a classifier's product at batch 1 (1280→1000, MobileNetV2's)
// against SgemmPacked with one column.
func BenchmarkSgemvPacked(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, k := 1000, 1280
	p := PackA(false, m, k, randSlice(rng, m*k), k)
	x, y := randSlice(rng, k), make([]float32, m)
	e := &GemmEpilogue{Bias: randSlice(rng, m)}
	ws := NewWorkspace()
	b.Run("gemv", func(b *testing.B) {
		for range b.N {
			SgemvPacked(p, x, y, e, ws)
		}
	})
	b.Run("gemm", func(b *testing.B) {
		for range b.N {
			SgemmPacked(p, 1, x, 1, y, 1, e, ws)
		}
	})
}
