package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// TestSgemmPackedNarrow checks SgemmPacked with 1 to 4 columns (the narrow products)
// against the micro-kernel's (noNarrow), bit for bit, on odd sizes (partial panels, an odd
// panel count, several kc slices, several bands of 8 panels), with row strides wider than
// the columns and each epilogue, on every path and at GOMAXPROCS 1 and 2.
func TestSgemmPackedNarrow(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		for _, s := range [][2]int{{1, 1}, {3, 5}, {8, 256}, {13, 257}, {70, 300}, {515, 777}, {130, 2049}, {512, 4608}} {
			m, k := s[0], s[1]
			for n := 1; n <= narrowCols; n++ {
				// nil, bias, bias+relu, bias+relu+clip, bias+residual+relu
				for mode := range 5 {
					name := fmt.Sprintf("%dx%dx%d/epi%d", m, k, n, mode)
					lda := k + 3
					a := randSlice(rng, (m-1)*lda+k)
					ldb, ldc := n+2, n+1
					b := randSlice(rng, k*ldb+1)[1:] // an offset
					bias := randSlice(rng, m)
					for i := 2; i < m; i += 5 {
						bias[i] = []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1))}[i%3]
					}
					var e *GemmEpilogue
					if mode > 0 {
						e = &GemmEpilogue{Bias: bias, Relu: mode >= 2}
						if mode == 3 {
							e.Clip = 0.5
						}
						if mode == 4 {
							e.R, e.LDR = randSlice(rng, m*(n+3)), n+3
						}
					}
					p := PackA(false, m, k, a, lda)
					want := randSlice(rng, m*ldc)
					got := make([]float32, len(want))
					copy(got, want) // the columns past n must stay
					noNarrow = true
					SgemmPacked(p, n, b, ldb, want, ldc, e, nil)
					noNarrow = false
					for _, procs := range []int{1, 2} {
						runtime.GOMAXPROCS(procs)
						g := append([]float32(nil), got...)
						for i := 0; i < m; i++ {
							for j := range n {
								g[i*ldc+j] = rng.Float32() // old values must not matter
							}
						}
						SgemmPacked(p, n, b, ldb, g, ldc, e, NewWorkspace())
						for i := range g {
							if math.Float32bits(g[i]) != math.Float32bits(want[i]) && !(g[i] != g[i] && want[i] != want[i]) {
								t.Fatalf("%s procs %d: element %d (row %d, column %d) is %v, want %v", name, procs, i, i/ldc, i%ldc, g[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

// BenchmarkSgemmPackedNarrow times the product of a 512→512 3×3 convolution on a 2×2 map
// at batch 1 (m 512, k 4608, 4 columns) on the narrow products and on the micro-kernel.
func BenchmarkSgemmPackedNarrow(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	m, k, n := 512, 4608, 4
	// Eight such layers (75 MB) in turn, as a network runs them: the weights come from
	// memory, not from the last-level cache.
	a := randSlice(rng, m*k)
	var ps []*PackedA
	for range 8 {
		ps = append(ps, PackA(false, m, k, a, k))
	}
	x, y := randSlice(rng, k*n), make([]float32, m*n)
	e := &GemmEpilogue{Bias: randSlice(rng, m), Relu: true}
	ws := NewWorkspace()
	for _, off := range []bool{false, true} {
		b.Run(map[bool]string{false: "narrow", true: "micro"}[off], func(b *testing.B) {
			noNarrow = off
			defer func() { noNarrow = false }()
			for i := range b.N {
				SgemmPacked(ps[i%len(ps)], n, x, n, y, n, e, ws)
			}
			b.ReportMetric(2*float64(m*n*k)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestSgemmNarrowEdge checks Sgemm and SgemmPacked whose last column tile has 1 to 4
// columns (the narrow products take it: 7×7 and 14×14 maps at batch 1 have 49 and 196
// output pixels) against the micro-kernel's edge tiles (noNarrow), bit for bit: odd row
// counts, several kc slices, alpha and beta other than 0 and 1, each epilogue, GOMAXPROCS 1
// and 2, every path.
func TestSgemmNarrowEdge(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(11, 12))
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		for _, s := range [][3]int{{5, 7, 49}, {8, 300, 52}, {17, 601, 97}, {130, 1100, 196}, {512, 333, 51}, {3, 2, 100}} {
			m, k, n := s[0], s[1], s[2]
			for _, ab := range [][2]float32{{1, 0}, {1, 1}, {0.5, 1}, {1.5, -0.25}, {2, 0}} {
				for _, transB := range []bool{false, true} {
					name := fmt.Sprintf("%dx%dx%d/alpha=%v/beta=%v/transB=%v", m, k, n, ab[0], ab[1], transB)
					a := randSlice(rng, m*k)
					br, bc := k, n
					if transB {
						br, bc = n, k
					}
					b := randSlice(rng, br*bc)
					c0 := randSlice(rng, m*n)
					want := append([]float32(nil), c0...)
					noNarrow = true
					Sgemm(false, transB, m, n, k, ab[0], a, k, b, bc, ab[1], want, n, nil)
					noNarrow = false
					for _, procs := range []int{1, 2} {
						runtime.GOMAXPROCS(procs)
						got := append([]float32(nil), c0...)
						Sgemm(false, transB, m, n, k, ab[0], a, k, b, bc, ab[1], got, n, NewWorkspace())
						for i := range got {
							if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
								t.Fatalf("Sgemm %s procs %d: element %d is %v, want %v", name, procs, i, got[i], want[i])
							}
						}
					}
				}
			}
			for mode := range 3 { // nil, bias+relu, bias+residual
				name := fmt.Sprintf("packed %dx%dx%d/epi%d", m, k, n, mode)
				a := randSlice(rng, m*k)
				b := randSlice(rng, k*n)
				var e *GemmEpilogue
				if mode > 0 {
					e = &GemmEpilogue{Bias: randSlice(rng, m), Relu: mode == 1}
					if mode == 2 {
						e.R, e.LDR = randSlice(rng, m*n), n
					}
				}
				p := PackA(false, m, k, a, k)
				want := make([]float32, m*n)
				noNarrow = true
				SgemmPacked(p, n, b, n, want, n, e, nil)
				noNarrow = false
				for _, procs := range []int{1, 2} {
					runtime.GOMAXPROCS(procs)
					got := randSlice(rng, m*n)
					SgemmPacked(p, n, b, n, got, n, e, NewWorkspace())
					for i := range got {
						if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
							t.Fatalf("%s procs %d: element %d is %v, want %v", name, procs, i, got[i], want[i])
						}
					}
				}
			}
		}
	})
}
