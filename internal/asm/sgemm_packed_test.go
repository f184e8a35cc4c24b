package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

// TestSgemmPacked checks SgemmPacked against Sgemm followed by the epilogue's element-wise
// kernels, bit for bit, on odd sizes, offsets and leading dimensions, on every path and at
// GOMAXPROCS 1 and 2.
func TestSgemmPacked(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		for _, s := range [][3]int{{1, 1, 1}, {7, 5, 3}, {9, 49, 300}, {64, 3136 / 4, 64}, {33, 130, 517}, {200, 17, 40}} {
			m, n, k := s[0], s[1], s[2]
			for _, transA := range []bool{false, true} {
				// none, bias, bias+relu, bias+res, bias+res+relu; 5 to 8: 1 to 4 and a clip
				for _, mode := range []int{0, 1, 2, 3, 4, 5, 6, 7, 8} {
					name := fmt.Sprintf("%dx%dx%d/transA=%v/epi%d", m, n, k, transA, mode)
					ar, ac := m, k
					if transA {
						ar, ac = k, m
					}
					lda, ldb, ldc, ldr := ac+3, n+1, n+2, n+5
					a := randSlice(rng, (ar-1)*lda+ac)
					b := randSlice(rng, (k-1)*ldb+n)
					bias := randSlice(rng, m)
					for i := 2; i < m; i += 5 { // special values through the epilogue
						bias[i] = []float32{float32(math.NaN()), float32(math.Copysign(0, -1)), float32(math.Inf(-1))}[i%3]
					}
					r := randSlice(rng, (m-1)*ldr+n)
					want := randSlice(rng, (m-1)*ldc+n)
					got := append([]float32(nil), want...)
					Sgemm(transA, false, m, n, k, 1, a, lda, b, ldb, 0, want, ldc, nil)
					var e *GemmEpilogue
					if mode > 0 {
						var clip float32
						if mode > 4 {
							mode -= 4
							clip = 0.5
						}
						e = &GemmEpilogue{Bias: bias, Relu: mode == 2 || mode == 4, Clip: clip}
						if mode >= 3 {
							e.R, e.LDR = r, ldr
						}
						for i := range m {
							row := want[i*ldc : i*ldc+n]
							rr := r[i*ldr : i*ldr+n]
							switch mode {
							case 1:
								ScaleShift(row, row, 1, bias[i])
							case 2:
								ScaleShiftRelu(row, row, 1, bias[i])
							case 3:
								ScaleShift(row, row, 1, bias[i])
								Add(row, row, rr)
							case 4:
								ScaleShiftAddRelu(row, row, rr, 1, bias[i])
							}
							if clip > 0 {
								Clamp(row, row, 0, clip)
							}
						}
					}
					p := PackA(transA, m, k, a, lda)
					for _, procs := range []int{1, 2} {
						runtime.GOMAXPROCS(procs)
						res := append([]float32(nil), got...)
						SgemmPacked(p, n, b, ldb, res, ldc, e, NewWorkspace())
						for i := range res {
							if math.Float32bits(res[i]) != math.Float32bits(want[i]) && !(res[i] != res[i] && want[i] != want[i]) {
								t.Fatalf("%s procs %d: element %d (row %d col %d) is %v, want %v", name, procs, i, i/ldc, i%ldc, res[i], want[i])
							}
						}
					}
				}
			}
		}
	})
}

func randSlice(rng *rand.Rand, n int) []float32 {
	s := make([]float32, n)
	for i := range s {
		s[i] = float32(rng.NormFloat64())
	}
	return s
}

// TestPartitionPacked checks the grids SgemmPacked's partition picks for the 1×1
// convolutions of a ResNet-50 at batch 1 on 2 workers, with the 8×48 tiles of the AVX-512
// kernel: bands of columns where they split evenly enough, bands of rows where the
// columns would split badly (196 = 3 + 2 tiles of 48 apart from the last 4), and never
// more parts than workers.
func TestPartitionPacked(t *testing.T) {
	for _, tc := range []struct{ m, n, p, pr, pc int }{
		{128, 784, 2, 1, 2},   // 512→128 on 28×28: 9 + 8 column tiles
		{64, 3136, 2, 1, 2},   // 256→64 on 56×56
		{256, 196, 2, 2, 1},   // 1024→256 on 14×14
		{2048, 49, 2, 2, 1},   // 512→2048 on 7×7: one column tile and a bit
		{512, 784, 1, 1, 1},   // one worker
		{8, 48, 4, 1, 1},      // one tile
		{4096, 4096, 4, 2, 2}, // square: as square as the workers allow
	} {
		pr, pc := partitionPacked(tc.m, tc.n, tc.p, 8, 48)
		if pr != tc.pr || pc != tc.pc {
			t.Errorf("partitionPacked(%d, %d, p=%d) = %d×%d, want %d×%d", tc.m, tc.n, tc.p, pr, pc, tc.pr, tc.pc)
		}
	}
}

// TestSgemmOneTileParallel checks a product of one micro-tile with a long k, which has
// enough multiply-adds to be split but only one rectangle to split into: at GOMAXPROCS 2,
// Sgemm and SgemmPacked used to hand a second part to the pool that named rectangle −1.
func TestSgemmOneTileParallel(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	const m, n, k = 4, 16, 100000
	rng := rand.New(rand.NewPCG(7, 7))
	_, a, _ := matrix(rng, m, k, 0, 0)
	_, b, _ := matrix(rng, k, n, 0, 0)
	p := PackA(false, m, k, a, k)
	var want [2][]float32
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		c := make([]float32, m*n)
		Sgemm(false, false, m, n, k, 1, a, k, b, n, 0, c, n, nil)
		cp := make([]float32, m*n)
		SgemmPacked(p, n, b, n, cp, n, nil, nil)
		if procs == 1 {
			want = [2][]float32{c, cp}
			continue
		}
		if !slices.Equal(c, want[0]) || !slices.Equal(cp, want[1]) {
			t.Fatalf("GOMAXPROCS 2 differs from 1")
		}
	}
	if !slices.Equal(want[0], want[1]) {
		t.Fatalf("SgemmPacked differs from Sgemm")
	}
}
