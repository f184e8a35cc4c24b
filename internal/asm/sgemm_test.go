package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"
)

// sgemmRef is the test oracle: the reference loop of Sgemm with float64 accumulation and
// BLAS quick-return semantics (alpha == 0 or k == 0: C = beta·C, A and B not read).
func sgemmRef(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int) {
	for i := 0; i < m; i++ {
		for j := 0; j < n; j++ {
			ci := i*ldc + j
			var s float64
			if alpha != 0 {
				for p := 0; p < k; p++ {
					var x, y float32
					if transA {
						x = a[p*lda+i]
					} else {
						x = a[i*lda+p]
					}
					if transB {
						y = b[j*ldb+p]
					} else {
						y = b[p*ldb+j]
					}
					s += float64(x) * float64(y)
				}
			}
			r := float64(alpha) * s
			if beta != 0 {
				r += float64(beta) * float64(c[ci])
			}
			c[ci] = float32(r)
		}
	}
}

const sentinel = float32(-7777.25) // fills buffer space outside the matrices

// gemmCase describes one Sgemm test problem.
type gemmCase struct {
	transA, transB bool
	m, n, k        int
	alpha, beta    float32
	padA, padB     int // extra leading-dimension elements beyond the stored row width
	padC           int
	off            int  // offset of each matrix inside its buffer
	nanC           bool // fill C with NaN (meaningful with beta == 0)
}

func (g gemmCase) String() string {
	return fmt.Sprintf("tA=%v tB=%v m=%d n=%d k=%d alpha=%g beta=%g padA=%d padB=%d padC=%d off=%d nanC=%v",
		g.transA, g.transB, g.m, g.n, g.k, g.alpha, g.beta, g.padA, g.padB, g.padC, g.off, g.nanC)
}

// matrix allocates a buffer holding a rows×cols matrix with leading dimension cols+pad at
// offset off, tail padding `off` elements, random values in [-1, 1) inside the matrix and
// the sentinel elsewhere. It returns the buffer, the matrix view and the leading dimension.
func matrix(rng *rand.Rand, rows, cols, pad, off int) (buf, view []float32, ld int) {
	ld = cols + pad
	size := 0
	if rows > 0 {
		size = (rows-1)*ld + cols
	}
	buf = make([]float32, off+size+off)
	for i := range buf {
		buf[i] = sentinel
	}
	view = buf[off : off+size]
	for i := 0; i < rows; i++ {
		for j := 0; j < cols; j++ {
			view[i*ld+j] = 2*rng.Float32() - 1
		}
	}
	return buf, view, ld
}

// check runs one case through Sgemm and the oracle and compares. Tolerance, per element:
//
//	|got − ref| ≤ 1e-5·max|ref| + 1e-6·k·|alpha|   (all inputs in [-1, 1))
//
// which is far above the expected float32 rounding error of a k-term sum (≈ 6e-8·k in the
// worst realistic case) and far below any indexing mistake. Buffer elements outside the
// m×n window of C (before, after, and the ldc padding) must keep their sentinel bits.
func (g gemmCase) check(t *testing.T, rng *rand.Rand, ws *Workspace) {
	t.Helper()
	ar, ac := g.m, g.k
	if g.transA {
		ar, ac = g.k, g.m
	}
	br, bc := g.k, g.n
	if g.transB {
		br, bc = g.n, g.k
	}
	_, a, lda := matrix(rng, ar, ac, g.padA, g.off)
	_, b, ldb := matrix(rng, br, bc, g.padB, g.off)
	cbuf, c, ldc := matrix(rng, g.m, g.n, g.padC, g.off)
	if g.nanC {
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				c[i*ldc+j] = float32(math.NaN())
			}
		}
	}
	ref := append([]float32(nil), c...)
	gen := append([]float32(nil), c...)
	sgemmRef(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, ref, ldc)
	Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, c, ldc, ws)
	if path := CurrentPath(); path != Generic {
		// The pure-Go path is the oracle of every assembly path: max|Δ| ≤ 1e-5·max|ref|.
		mustSetPath(t, Generic)
		Sgemm(g.transA, g.transB, g.m, g.n, g.k, g.alpha, a, lda, b, ldb, g.beta, gen, ldc, nil)
		mustSetPath(t, path)
		var maxGen, maxDiff float64
		for i := 0; i < g.m; i++ {
			for j := 0; j < g.n; j++ {
				x, y := float64(gen[i*ldc+j]), float64(c[i*ldc+j])
				maxGen = math.Max(maxGen, math.Abs(x))
				if d := math.Abs(x - y); d > maxDiff || math.IsNaN(d) {
					maxDiff = d
				}
			}
		}
		if !(maxDiff <= 1e-5*maxGen) {
			t.Fatalf("%v on %v: max|Δ| = %g against the generic path, want ≤ 1e-5·%g", g, path, maxDiff, maxGen)
		}
	}

	var maxRef float64
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			maxRef = math.Max(maxRef, math.Abs(float64(ref[i*ldc+j])))
		}
	}
	tol := 1e-5*maxRef + 1e-6*float64(g.k)*math.Abs(float64(g.alpha))
	bad := 0
	for i := 0; i < g.m; i++ {
		for j := 0; j < g.n; j++ {
			got, want := float64(c[i*ldc+j]), float64(ref[i*ldc+j])
			if math.IsNaN(got) || math.Abs(got-want) > tol {
				if bad < 5 {
					t.Errorf("%v: C[%d][%d] = %g, want %g (tol %g)", g, i, j, got, want, tol)
				}
				bad++
			}
		}
	}
	// Everything in the buffer that is not inside the m×n window must be untouched.
	for idx, v := range cbuf {
		rel := idx - g.off
		inside := rel >= 0 && rel < len(c) && rel%ldc < g.n
		if !inside && math.Float32bits(v) != math.Float32bits(sentinel) {
			t.Errorf("%v: C buffer[%d] outside the matrix changed to %g", g, idx, v)
			break
		}
	}
	if bad > 0 {
		t.Fatalf("%v: %d wrong elements", g, bad)
	}
}

var transCombos = [][2]bool{{false, false}, {false, true}, {true, false}, {true, true}}

// TestSgemmSweep sweeps each of m, n, k over 1…67 with the other two fixed, for all four
// transpose combinations, with padded leading dimensions and offsets.
func TestSgemmSweep(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(1, 2))
		ws := NewWorkspace()
		for _, tr := range transCombos {
			for s := 1; s <= 67; s++ {
				for dim := 0; dim < 3; dim++ {
					m, n, k := 13, 29, 17
					switch dim {
					case 0:
						m = s
					case 1:
						n = s
					case 2:
						k = s
					}
					g := gemmCase{transA: tr[0], transB: tr[1], m: m, n: n, k: k, alpha: 1, beta: 0.25,
						padA: s % 3, padB: (s + 1) % 4, padC: s % 5, off: s % 7}
					g.check(t, rng, ws)
				}
			}
		}
	})
}

// TestSgemmAlphaBeta covers every alpha/beta combination, beta == 0 with NaN-filled C, and
// k == 0, on shapes with edge tiles in both directions.
func TestSgemmAlphaBeta(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(3, 4))
		for _, tr := range transCombos {
			for _, alpha := range []float32{1, -0.5, 0} {
				for _, beta := range []float32{0, 1, 0.25} {
					for _, sz := range [][3]int{{7, 5, 9}, {33, 17, 70}, {4, 2, 1}, {5, 3, 0}, {1, 1, 1}} {
						for _, nan := range []bool{false, true} {
							if nan && beta != 0 {
								continue
							}
							g := gemmCase{transA: tr[0], transB: tr[1], m: sz[0], n: sz[1], k: sz[2],
								alpha: alpha, beta: beta, padA: 1, padB: 2, padC: 3, off: 5, nanC: nan}
							g.check(t, rng, nil)
						}
					}
				}
			}
		}
	})
}

// TestSgemmRandom checks random shapes up to ~300 (crossing the default kc = 256), with
// random transposes, padding, offsets, alpha and beta, on both the sequential and the
// parallel path.
func TestSgemmRandom(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(5, 6))
		ws := NewWorkspace()
		count, maxDim := 40, 300
		if testing.Short() || raceEnabled {
			count, maxDim = 15, 150
		}
		alphas := []float32{1, -0.5, 0, 2}
		betas := []float32{0, 1, 0.25, -1}
		for i := 0; i < count; i++ {
			g := gemmCase{
				transA: rng.IntN(2) == 1, transB: rng.IntN(2) == 1,
				m: 1 + rng.IntN(maxDim), n: 1 + rng.IntN(maxDim), k: 1 + rng.IntN(maxDim),
				alpha: alphas[rng.IntN(len(alphas))], beta: betas[rng.IntN(len(betas))],
				padA: rng.IntN(4), padB: rng.IntN(4), padC: rng.IntN(4), off: rng.IntN(9),
			}
			g.nanC = g.beta == 0 && rng.IntN(2) == 1
			g.check(t, rng, ws)
		}
	})
}

// TestSgemmSmallBlocks shrinks mc, kc and nc so that small problems cross many block
// boundaries (several kc slices with beta merging, partial mc blocks and nc panels).
func TestSgemmSmallBlocks(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		defer SetBlockSizes(0, 0, 0)
		rng := rand.New(rand.NewPCG(7, 8))
		ws := NewWorkspace()
		for _, bsz := range [][3]int{{4, 1, 2}, {8, 5, 6}, {12, 7, 10}, {5, 3, 3}} {
			SetBlockSizes(bsz[0], bsz[1], bsz[2])
			for i := 0; i < 30; i++ {
				tr := transCombos[i%4]
				g := gemmCase{transA: tr[0], transB: tr[1],
					m: 1 + rng.IntN(40), n: 1 + rng.IntN(40), k: 1 + rng.IntN(40),
					alpha: []float32{1, -0.5}[i%2], beta: []float32{0, 1, 0.25}[i%3],
					padA: i % 3, padB: i % 2, padC: i % 4, off: i % 5}
				g.nanC = g.beta == 0
				g.check(t, rng, ws)
			}
		}
		mc, kc, nc := BlockSizes()
		if kern := cur().gemm; mc%kern.mr != 0 || nc%kern.nr != 0 || kc != 3 {
			t.Errorf("BlockSizes() = %d, %d, %d: mc, nc must be rounded to tile multiples", mc, kc, nc)
		}
	})
}

// TestSgemmDeterministic checks that results are bit-identical whatever GOMAXPROCS is (1 and
// 2, plus 3 and 4 which give other partitions), for shapes large enough to take the
// parallel path, including the block-size override.
func TestSgemmDeterministic(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		defer SetBlockSizes(0, 0, 0)
		rng := rand.New(rand.NewPCG(9, 10))
		shapes := [][3]int{{131, 97, 77}, {16, 2000, 144}, {16, 144, 3000}, {300, 7, 200}, {70, 70, 70}, {257, 129, 300}}
		if testing.Short() || raceEnabled {
			shapes = shapes[:4]
		}
		for _, bs := range [][3]int{{0, 0, 0}, {16, 33, 40}} {
			SetBlockSizes(bs[0], bs[1], bs[2])
			for si, sh := range shapes {
				m, n, k := sh[0], sh[1], sh[2]
				kern := cur().gemm
				if pr, pc := partition(m, n, maxParts(m, n, k, 2), kern.blocks().nc, kern.mr, kern.nr); pr*pc != 2 {
					t.Fatalf("shape %v: partition for 2 workers = %d×%d, want 2 parts", sh, pr, pc)
				}
				tr := transCombos[si%4]
				ar, ac := m, k
				if tr[0] {
					ar, ac = k, m
				}
				br, bc := k, n
				if tr[1] {
					br, bc = n, k
				}
				_, a, lda := matrix(rng, ar, ac, 1, 0)
				_, b, ldb := matrix(rng, br, bc, 0, 0)
				_, c0, ldc := matrix(rng, m, n, 2, 0)
				var want []float32
				for _, procs := range []int{1, 2, 3, 4} {
					runtime.GOMAXPROCS(procs)
					c := append([]float32(nil), c0...)
					Sgemm(tr[0], tr[1], m, n, k, -0.5, a, lda, b, ldb, 0.25, c, ldc, nil)
					if want == nil {
						want = c
						continue
					}
					for i := range c {
						if math.Float32bits(c[i]) != math.Float32bits(want[i]) {
							t.Fatalf("shape %v blocks %v: GOMAXPROCS=%d differs from GOMAXPROCS=1 at %d: %g vs %g",
								sh, bs, procs, i, c[i], want[i])
						}
					}
				}
			}
		}
	})
}

// TestSgemmNoAlloc checks that a reused Workspace makes Sgemm allocation-free, on the
// sequential and on the parallel path.
func TestSgemmNoAlloc(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		if raceEnabled {
			t.Skip("the race detector allocates")
		}
		defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
		runtime.GOMAXPROCS(2)
		rng := rand.New(rand.NewPCG(11, 12))
		for _, sh := range [][3]int{{20, 30, 40}, {100, 90, 80}} {
			m, n, k := sh[0], sh[1], sh[2]
			_, a, _ := matrix(rng, m, k, 0, 0)
			_, b, _ := matrix(rng, k, n, 0, 0)
			_, c, _ := matrix(rng, m, n, 0, 0)
			ws := NewWorkspace()
			allocs := testing.AllocsPerRun(20, func() {
				Sgemm(false, true, m, n, k, 1, a, k, b[:n*k], k, 0, c, n, ws)
			})
			if allocs != 0 {
				t.Errorf("Sgemm %v with a reused Workspace: %v allocs per call, want 0", sh, allocs)
			}
		}
	})
}

func expectPanic(t *testing.T, want string, f func()) {
	t.Helper()
	defer func() {
		t.Helper()
		r := recover()
		if r == nil {
			t.Errorf("no panic, want one mentioning %q", want)
			return
		}
		if msg := fmt.Sprint(r); !strings.Contains(msg, want) {
			t.Errorf("panic %q, want one mentioning %q", msg, want)
		}
	}()
	f()
}

func TestSgemmPanics(t *testing.T) {
	a := make([]float32, 6*5)
	b := make([]float32, 5*7)
	c := make([]float32, 6*7)
	expectPanic(t, "negative size", func() { Sgemm(false, false, -1, 7, 5, 1, a, 5, b, 7, 0, c, 7, nil) })
	expectPanic(t, "negative size", func() { Sgemm(false, false, 6, 7, -5, 1, a, 5, b, 7, 0, c, 7, nil) })
	expectPanic(t, "leading dimension of A", func() { Sgemm(false, false, 6, 7, 5, 1, a, 4, b, 7, 0, c, 7, nil) })
	expectPanic(t, "leading dimension of A (transposed)", func() { Sgemm(true, false, 6, 7, 5, 1, a, 5, b, 7, 0, c, 7, nil) })
	expectPanic(t, "leading dimension of B", func() { Sgemm(false, false, 6, 7, 5, 1, a, 5, b, 6, 0, c, 7, nil) })
	expectPanic(t, "leading dimension of B (transposed)", func() { Sgemm(false, true, 6, 7, 5, 1, a, 5, b, 4, 0, c, 7, nil) })
	expectPanic(t, "leading dimension of C", func() { Sgemm(false, false, 6, 7, 5, 1, a, 5, b, 7, 0, c, 6, nil) })
	expectPanic(t, "len(A)", func() { Sgemm(false, false, 6, 7, 5, 1, a[:29], 5, b, 7, 0, c, 7, nil) })
	expectPanic(t, "len(A)", func() { Sgemm(false, false, 6, 7, 5, 1, a, 6, b, 7, 0, c, 7, nil) })
	expectPanic(t, "len(B)", func() { Sgemm(false, false, 6, 7, 5, 1, a, 5, b[:34], 7, 0, c, 7, nil) })
	expectPanic(t, "len(C)", func() { Sgemm(false, false, 6, 7, 5, 1, a, 5, b, 7, 0, c[:41], 7, nil) })
	expectPanic(t, "len(C)", func() { Sgemm(false, false, 6, 7, 5, 1, a, 5, b, 7, 0, c, 8, nil) })
	// Exact minimum lengths (last row only as long as the width) are fine.
	Sgemm(false, false, 6, 7, 5, 1, make([]float32, 5*6+5), 6, b, 7, 0, make([]float32, 5*8+7), 8, nil)
	// Empty problems: nothing read or written, nil slices allowed.
	Sgemm(false, false, 0, 0, 0, 1, nil, 0, nil, 0, 0, nil, 0, nil)
	Sgemm(true, true, 0, 5, 3, 1, nil, 0, make([]float32, 15), 3, 0, nil, 5, nil)
	Sgemm(false, false, 4, 3, 0, 1, nil, 0, nil, 3, 0, make([]float32, 12), 3, nil)
}

func TestPartition(t *testing.T) {
	for _, tc := range []struct{ m, n, k, p, pr, pc int }{
		{16, 131072, 144, 2, 1, 2},
		{16, 144, 131072, 2, 1, 2},
		{1024, 16, 64, 2, 2, 1},
		{4, 2, 1000000, 8, 1, 1}, // a single micro-tile cannot be split
		{8, 2, 100000, 4, 2, 1},
	} {
		pr, pc := partition(tc.m, tc.n, maxParts(tc.m, tc.n, tc.k, tc.p), DefaultNC, mr, nr)
		if pr != tc.pr || pc != tc.pc {
			t.Errorf("partition(%d, %d, %d, p=%d) = %d×%d, want %d×%d", tc.m, tc.n, tc.k, tc.p, pr, pc, tc.pr, tc.pc)
		}
	}
	// split deals units exactly once.
	for units := 0; units < 30; units++ {
		for parts := 1; parts < 7; parts++ {
			next := 0
			for i := 0; i < parts; i++ {
				lo, hi := split(units, parts, i)
				if lo != next || hi < lo {
					t.Fatalf("split(%d, %d, %d) = [%d, %d), want lo = %d", units, parts, i, lo, hi, next)
				}
				next = hi
			}
			if next != units {
				t.Fatalf("split(%d, %d, ·) covers %d units", units, parts, next)
			}
		}
	}
}

// Benchmarks here loop over b.N rather than use b.Loop: with b.Loop the whole measurement of
// the first -cpu value happens in the testing package's initial probe run, before it sets
// GOMAXPROCS, so "go test -bench . -cpu 1,2" would time the -cpu 1 case with GOMAXPROCS=2.
// They run on the current path (BONSAI_CPU, else the best available; see CurrentPath).

// benchShapes are the SGEMM benchmark shapes: the squares 128…2048 and the im2col GEMMs of
// the CIFAR ResNet 3×3 convolutions at batch 128, as ../shared/bench/shapes.py lists them
// for OpenBLAS (row-major, no transposes): fwd M=Cout, N=Hout·Wout·B, K=Cin·9; dW M=Cout,
// N=Cin·9, K=Hout·Wout·B; dX M=Cin·9, N=Hout·Wout·B, K=Cout. The "-tB"/"-tA" variants are
// the same products in the layouts tensor's convolution uses (dW = dY·colᵀ, dX = Wᵀ·dY).
type benchShape struct {
	name           string
	m, n, k        int
	transA, transB bool
}

func benchShapes() []benchShape {
	var s []benchShape
	for _, n := range []int{128, 256, 512, 1024, 2048} {
		s = append(s, benchShape{name: fmt.Sprintf("sq%d", n), m: n, n: n, k: n})
	}
	const batch = 128
	convs := []struct {
		name            string
		cin, cout, h, s int
	}{
		{"c3-16@32", 3, 16, 32, 1},
		{"c16@32", 16, 16, 32, 1},
		{"c16-32s2", 16, 32, 32, 2},
		{"c32@16", 32, 32, 16, 1},
		{"c32-64s2", 32, 64, 16, 2},
		{"c64@8", 64, 64, 8, 1},
	}
	for _, c := range convs {
		ho := c.h / c.s
		s = append(s, benchShape{name: c.name + "-fwd", m: c.cout, n: ho * ho * batch, k: c.cin * 9})
	}
	for _, c := range convs {
		if c.s != 1 || c.cin == 3 {
			continue
		}
		hwb := c.h * c.h * batch
		s = append(s, benchShape{name: c.name + "-dW", m: c.cout, n: c.cin * 9, k: hwb})
		s = append(s, benchShape{name: c.name + "-dX", m: c.cin * 9, n: hwb, k: c.cout})
	}
	for _, c := range convs {
		if c.s != 1 || c.cin == 3 {
			continue
		}
		hwb := c.h * c.h * batch
		s = append(s, benchShape{name: c.name + "-dW-tB", m: c.cout, n: c.cin * 9, k: hwb, transB: true})
		s = append(s, benchShape{name: c.name + "-dX-tA", m: c.cin * 9, n: hwb, k: c.cout, transA: true})
	}
	return s
}

// BenchmarkSgemm reports GFLOP/s (2·m·n·k per call) with a reused Workspace, on the current
// path, for the shapes of benchShapes.
//
// BONSAI_BENCH_BLOCKS=mc,kc,nc sets the block sizes first (SetBlockSizes; 0 keeps a default),
// for tuning them.
func BenchmarkSgemm(b *testing.B) {
	if env := os.Getenv("BONSAI_BENCH_BLOCKS"); env != "" {
		var mc, kc, nc int
		if _, err := fmt.Sscanf(env, "%d,%d,%d", &mc, &kc, &nc); err != nil {
			b.Fatalf("BONSAI_BENCH_BLOCKS=%q: want mc,kc,nc: %v", env, err)
		}
		SetBlockSizes(mc, kc, nc)
		defer SetBlockSizes(0, 0, 0)
	}
	b.Logf("path %v, block sizes %s", CurrentPath(), blockSizesString())
	for _, s := range benchShapes() {
		b.Run(s.name, func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			ar, ac := s.m, s.k
			if s.transA {
				ar, ac = s.k, s.m
			}
			br, bc := s.k, s.n
			if s.transB {
				br, bc = s.n, s.k
			}
			_, a, lda := matrix(rng, ar, ac, 0, 0)
			_, bm, ldb := matrix(rng, br, bc, 0, 0)
			_, c, ldc := matrix(rng, s.m, s.n, 0, 0)
			ws := NewWorkspace()
			Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, ldc, ws) // warm up ws
			b.ReportAllocs()
			b.ResetTimer()
			for i := 0; i < b.N; i++ {
				Sgemm(s.transA, s.transB, s.m, s.n, s.k, 1, a, lda, bm, ldb, 0, c, ldc, ws)
			}
			flops := 2 * float64(s.m) * float64(s.n) * float64(s.k)
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkAfterIdle times square Sgemm calls that each follow an idle gap of 300 µs,
// longer than the pool workers poll for work, as calls separated by other work do: the
// workers are parked then, and waking one takes tens of µs (more on a VM). It reports the
// mean time per call (the gap excluded) and the GFLOP/s that makes.
func BenchmarkAfterIdle(b *testing.B) {
	for _, n := range []int{128, 256} {
		b.Run(fmt.Sprintf("sq%d", n), func(b *testing.B) {
			rng := rand.New(rand.NewPCG(1, 1))
			_, a, _ := matrix(rng, n, n, 0, 0)
			_, bm, _ := matrix(rng, n, n, 0, 0)
			_, c, _ := matrix(rng, n, n, 0, 0)
			ws := NewWorkspace()
			Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n, ws) // warm up ws
			var busy time.Duration
			for i := 0; i < b.N; i++ {
				time.Sleep(300 * time.Microsecond)
				t0 := time.Now()
				Sgemm(false, false, n, n, n, 1, a, n, bm, n, 0, c, n, ws)
				busy += time.Since(t0)
			}
			b.ReportMetric(float64(busy.Nanoseconds())/float64(b.N)/1e3, "µs/call")
			b.ReportMetric(2*float64(n*n*n)*float64(b.N)/busy.Seconds()/1e9, "GFLOP/s")
		})
	}
}

// BenchmarkKernel measures the current path's micro-kernel alone on L1-resident packed
// panels (kc = 256), merging into a tile-sized C with beta = 1.
func BenchmarkKernel(b *testing.B) {
	const kc = 256
	g := cur().gemm
	pa := make([]float32, kc*g.mr)
	pb := make([]float32, kc*g.nr)
	for i := range pa {
		pa[i] = float32(i%7) * 0.25
	}
	for i := range pb {
		pb[i] = float32(i%5) * 0.25
	}
	c := make([]float32, g.mr*g.nr)
	for i := 0; i < b.N; i++ {
		g.micro(kc, pa, pb, g.nr, c, g.nr, 1, 1)
	}
	b.ReportMetric(2*kc*float64(g.mr*g.nr)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
}

// BenchmarkPackB measures packing a kc×nc panel of a wide non-transposed B (the c16@32
// forward shape: ldb = 131072) for the current path's kernel.
func BenchmarkPackB(b *testing.B) {
	const kb, nb, ldb = 144, 4096, 131072
	g := cur().gemm
	src := make([]float32, kb*ldb)
	dst := make([]float32, kb*roundUp(nb, g.nr))
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		packB(g, false, kb, nb, src, ldb, 0, 8192, dst)
	}
	b.ReportMetric(float64(kb*nb)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}
