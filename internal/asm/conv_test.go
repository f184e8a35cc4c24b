package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// TestConvArgsLayout pins the field offsets that the generated kernels (_gen/conv) use.
func TestConvArgsLayout(t *testing.T) {
	var a ConvTileArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"A", unsafe.Offsetof(a.A), 0}, {"X", unsafe.Offsetof(a.X), 8}, {"Y", unsafe.Offsetof(a.Y), 16},
		{"Runs", unsafe.Offsetof(a.Runs), 24}, {"NRuns", unsafe.Offsetof(a.NRuns), 32},
		{"LDX", unsafe.Offsetof(a.LDX), 40}, {"LDY", unsafe.Offsetof(a.LDY), 48},
		{"Rows", unsafe.Offsetof(a.Rows), 56}, {"Beta", unsafe.Offsetof(a.Beta), 64},
		{"XOff", unsafe.Offsetof(a.XOff), 72}, {"YOff", unsafe.Offsetof(a.YOff), 104},
		{"Mask", unsafe.Offsetof(a.Mask), 136}, {"SMask", unsafe.Offsetof(a.SMask), 168},
		{"scratch", unsafe.Offsetof(a.scratch), 184}, {"flushed", unsafe.Offsetof(a.flushed), 336},
		{"part", unsafe.Offsetof(a.part), 344}, {"pf", unsafe.Offsetof(a.pf), 1880}, {"pfn", unsafe.Offsetof(a.pfn), 1888},
		{"Perm", unsafe.Offsetof(a.Perm), 1896}, {"PairD", unsafe.Offsetof(a.PairD), 1904}, {"ConvRun.Flush", unsafe.Offsetof(ConvRun{}.Flush), 16},
	} {
		if f.got != f.want {
			t.Errorf("ConvTileArgs.%s at offset %d, the kernels expect %d", f.name, f.got, f.want)
		}
	}
	var w WgradArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"X", unsafe.Offsetof(w.X), 0}, {"D", unsafe.Offsetof(w.D), 8}, {"Acc", unsafe.Offsetof(w.Acc), 16},
		{"Rows", unsafe.Offsetof(w.Rows), 24}, {"Cols", unsafe.Offsetof(w.Cols), 32},
		{"XCol", unsafe.Offsetof(w.XCol), 40}, {"XRow", unsafe.Offsetof(w.XRow), 48},
		{"XPlane", unsafe.Offsetof(w.XPlane), 56}, {"DCol", unsafe.Offsetof(w.DCol), 64},
		{"DRow", unsafe.Offsetof(w.DRow), 72}, {"DTapRow", unsafe.Offsetof(w.DTapRow), 80},
		{"DTapCol", unsafe.Offsetof(w.DTapCol), 88}, {"Imgs", unsafe.Offsetof(w.Imgs), 96},
		{"XImg", unsafe.Offsetof(w.XImg), 104}, {"DImg", unsafe.Offsetof(w.DImg), 112},
		{"pf", unsafe.Offsetof(w.pf), 136}, {"pfn", unsafe.Offsetof(w.pfn), 144},
	} {
		if f.got != f.want {
			t.Errorf("WgradArgs.%s at offset %d, the kernels expect %d", f.name, f.got, f.want)
		}
	}
}

// convPaths runs f for the direct-convolution kernels of every available path.
func convPaths(t *testing.T, f func(t *testing.T, k *ConvKernel)) {
	for _, p := range AvailablePaths() {
		k := ConvKernelFor(p)
		if k.Path != p {
			t.Fatalf("ConvKernelFor(%v).Path = %v", p, k.Path)
		}
		t.Run(p.String(), func(t *testing.T) { f(t, k) })
	}
}

// closeTo reports whether got is within tol·scale of want (both finite).
func closeTo(got, want, scale, tol float64) bool {
	return !math.IsNaN(got) && math.Abs(got-want) <= tol*scale+1e-6
}

// TestConvTileMatchesGo checks each path's tile kernel against the Go twin with the same tile
// geometry, on random runs, masks, offsets, row counts and both Beta modes; input elements
// that no set mask bit selects are NaN (so a read of a masked-off lane shows), and output
// elements outside Rows × SMask must keep their contents.
func TestConvTileMatchesGo(t *testing.T) {
	convPaths(t, func(t *testing.T, k *ConvKernel) {
		checkTiles(t, k, rand.New(rand.NewPCG(7, uint64(k.Path))), false)
	})
}

// TestConvTilePairsMatchesGo checks the two-table tile kernel of each path that has one
// against the Go twin, as TestConvTileMatchesGo does, with random permute indices and table
// distances as well. The kernel reads whole tables, but a NaN it selects shows.
func TestConvTilePairsMatchesGo(t *testing.T) {
	convPaths(t, func(t *testing.T, k *ConvKernel) {
		if !k.HasTilePairs() {
			t.Skip("no two-table tile kernel")
		}
		checkTiles(t, k, rand.New(rand.NewPCG(9, uint64(k.Path))), true)
	})
}

// checkTiles runs 300 random trials of k.Tile (k.TilePairs with pairs) against convTileGo.
func checkTiles(t *testing.T, k *ConvKernel, rng *rand.Rand, pairs bool) {
	xlen, xoff := 16384, 6000
	if pairs {
		xlen, xoff = 65536, 30000
	}
	const ylen = 2048
	for trial := range 300 {
		nruns := rng.IntN(7)
		runs := make([]ConvRun, nruns)
		steps := 0
		ldx := 4 * (1 + rng.IntN(70))
		if rng.IntN(4) == 0 {
			ldx = -ldx
		}
		for r := range runs {
			runs[r] = ConvRun{Delta: 4 * (rng.IntN(41) - 20), Count: rng.IntN(6), Flush: rng.IntN(3) / 2}
			if rng.IntN(3) == 0 && runs[r].Count > 0 {
				runs[r].Count += 10 + rng.IntN(20) // a long run, through the unrolled loop
			}
			steps += runs[r].Count
		}
		var args ConvTileArgs
		// elem is the input element (in bytes from X) that lane l of a run's step at byte
		// offset off reads.
		elem := func(off, r, l int) int { return off + 4*l }
		if pairs {
			perm := make([]int32, max(nruns, 1)*k.Lanes)
			for i := range perm {
				perm[i] = int32(rng.IntN(4 * k.Lanes)) // bits above the table index are ignored
			}
			args.PairD = 4 * (k.Lanes + rng.IntN(3*k.Lanes))
			if rng.IntN(3) == 0 {
				args.PairD = -args.PairD
			}
			args.Perm = &perm[0]
			elem = func(off, r, l int) int {
				e := int(perm[r*k.Lanes+l]) & (2*k.Lanes - 1)
				return off + e/k.Lanes*args.PairD + 4*(e%k.Lanes)
			}
		}
		masks := make([][]uint32, k.Vecs)
		x := make([]float32, xlen)
		y := make([]float32, ylen)
		read := make([]bool, xlen)
		args.NRuns, args.LDX = nruns, ldx
		for v := range k.Vecs {
			masks[v] = make([]uint32, max(nruns, 1))
			args.XOff[v] = 4 * (xoff + rng.IntN(200) + 16*v*rng.IntN(3))
			off := args.XOff[v]
			for r, run := range runs {
				off += run.Delta
				m := rng.Uint32() & (1<<k.Lanes - 1)
				switch rng.IntN(4) {
				case 0:
					m = 0
				case 1:
					m = 1<<k.Lanes - 1
				}
				masks[v][r] = m
				for q := range run.Count {
					for l := range k.Lanes {
						if m>>l&1 != 0 {
							read[elem(off+q*ldx, r, l)/4] = true
						}
					}
				}
				off += run.Count * ldx
			}
			args.Mask[v] = &masks[v][0]
			args.YOff[v] = 4 * rng.IntN(300)
			args.SMask[v] = rng.Uint32() & (1<<k.Lanes - 1)
			if rng.IntN(2) == 0 {
				args.SMask[v] = 1<<k.Lanes - 1
			}
		}
		for i := range x {
			x[i] = float32(math.NaN())
			if read[i] {
				x[i] = float32(rng.NormFloat64())
			}
		}
		for i := range y {
			y[i] = float32(rng.NormFloat64())
		}
		a := make([]float32, max(steps*k.MR, 1))
		for i := range a {
			a[i] = float32(rng.NormFloat64())
		}
		args.A, args.ALen = &a[0], len(a)
		args.X, args.XLen = &x[0], xlen
		if nruns > 0 {
			args.Runs = &runs[0]
		} else {
			args.Runs = &ConvRun{}
		}
		args.LDY = 4 * (k.Vecs*k.Lanes + rng.IntN(40))
		args.Rows = 1 + rng.IntN(k.MR)
		args.Beta = rng.IntN(2)
		args.SetPrefetch(x[rng.IntN(100):], rng.IntN(40)) // prefetching never changes results
		want := append([]float32(nil), y...)
		ref := args
		ref.Y, ref.YLen = &want[0], len(want)
		convTileGo(k.MR, k.Lanes, k.Vecs, &ref)
		args.Y, args.YLen = &y[0], len(y)
		if pairs {
			k.TilePairs(&args)
		} else {
			k.Tile(&args)
		}
		scale := math.Sqrt(float64(steps)) + 1
		for i := range y {
			if y[i] != want[i] && !closeTo(float64(y[i]), float64(want[i]), scale, 1e-5) {
				t.Fatalf("trial %d: y[%d] = %v, want %v (runs %v, rows %d, beta %d, pairD %d)", trial, i, y[i], want[i], runs, args.Rows, args.Beta, args.PairD)
			}
		}
	}
}

// TestWgradMatchesGo checks every weight-gradient kernel of each path against the Go twin,
// on random grids, strides and accumulator contents.
func TestWgradMatchesGo(t *testing.T) {
	convPaths(t, func(t *testing.T, k *ConvKernel) {
		rng := rand.New(rand.NewPCG(8, uint64(k.Path)))
		n := 0
		for _, w := range wgradWindows {
			for nv := 1; nv <= 2; nv++ {
				maxNIC := k.WgradNIC(w[0], w[1], nv)
				if want := wgradNIC(w[0], w[1], nv, 2*k.Lanes); k.Path != Generic && maxNIC != want && w[0]*w[1]*nv+2 <= 2*k.Lanes {
					t.Errorf("%v: WgradNIC(%d, %d, %d) = %d, want %d", k.Path, w[0], w[1], nv, maxNIC, want)
				}
				r, c := w[0], w[1]
				for nic := 1; nic <= maxNIC; nic++ {
					n++
					for trial := range 30 {
						const xlen, dlen = 8192, 16384
						x := make([]float32, xlen)
						d := make([]float32, dlen)
						for i := range x {
							x[i] = float32(rng.NormFloat64())
						}
						for i := range d {
							d[i] = float32(rng.NormFloat64())
						}
						nacc := nic * r * c * nv * k.Lanes
						acc := make([]float32, nacc+7)
						for i := range acc {
							acc[i] = float32(rng.NormFloat64())
						}
						aoff := rng.IntN(8)
						args := WgradArgs{
							Rows: rng.IntN(5), Cols: rng.IntN(9),
							XCol: 4 * (1 + rng.IntN(3)), XRow: 4 * (20 + rng.IntN(20)), XPlane: 4 * (200 + rng.IntN(300)),
							DCol:    4 * nv * k.Lanes * (1 + rng.IntN(2)),
							DTapCol: 4 * nv * k.Lanes * (1 + rng.IntN(2)),
						}
						args.DRow = args.DCol * (9 + rng.IntN(5))
						args.DTapRow = args.DRow + 4*k.Lanes*rng.IntN(3)
						args.XImg = 4 * (args.Rows*args.XRow/4 + rng.IntN(50))
						args.DImg = 4 * (args.Rows*args.DRow/4 + 4*rng.IntN(50))
						xbase, dbase := rng.IntN(100), rng.IntN(100)
						args.X, args.XLen = &x[xbase], xlen-xbase
						args.D, args.DLen = &d[dbase], dlen-dbase
						want := append([]float32(nil), acc...)
						ref := args
						ref.Acc = &want[aoff]
						wgradGo(nic, r, c, nv, k.Lanes, &ref)
						args.Acc = &acc[aoff]
						k.Wgrad(nic, r, c, nv, &args)
						scale := math.Sqrt(float64(args.Imgs*args.Rows*args.Cols)) + 1
						for i := range acc {
							if acc[i] != want[i] && !closeTo(float64(acc[i]), float64(want[i]), scale, 1e-5) {
								t.Fatalf("%d×%d×%d×%d trial %d: acc[%d] = %v, want %v (%+v)", nic, r, c, nv, trial, i, acc[i], want[i], args)
							}
						}
					}
				}
			}
		}
		if n == 0 {
			t.Fatal("no weight-gradient kernels")
		}
	})
}

// TestTranspose checks Transpose on every path against the plain loop, for sizes around
// the 8×8 blocks and leading dimensions larger than the rows.
func TestTranspose(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 9))
		for rows := 1; rows <= 19; rows++ {
			for _, cols := range []int{1, 7, 8, 9, 16, 17, 33} {
				lds, ldd := cols+rng.IntN(5), rows+rng.IntN(5)
				src := make([]float32, (rows-1)*lds+cols)
				for i := range src {
					src[i] = float32(rng.NormFloat64())
				}
				dst := make([]float32, (cols-1)*ldd+rows)
				for i := range dst {
					dst[i] = -7
				}
				want := append([]float32(nil), dst...)
				for i := range rows {
					for j := range cols {
						want[j*ldd+i] = src[i*lds+j]
					}
				}
				Transpose(dst, ldd, src, lds, rows, cols)
				for i := range want {
					if dst[i] != want[i] {
						t.Fatalf("%d×%d (lds %d, ldd %d): dst[%d] = %v, want %v", rows, cols, lds, ldd, i, dst[i], want[i])
					}
				}
			}
		}
	})
}

// BenchmarkConvKernels measures the current path's direct-convolution kernels alone on
// cache-resident operands: Tile with 144 k-steps (16 channels × 9 taps, all lanes set),
// and Wgrad for an 8×8 and a 32×32 grid of positions with the widest 3×3 kernels.
func BenchmarkConvKernels(b *testing.B) {
	k := CurrentConvKernel()
	for _, cin := range []int{16, 64} {
		b.Run(fmt.Sprintf("tile/k%d", cin*9), func(b *testing.B) {
			const taps = 9
			x := make([]float32, 64*64*cin+4096)
			y := make([]float32, 64*64*k.MR)
			a := make([]float32, cin*taps*k.MR)
			runs := make([]ConvRun, taps)
			masks := make([]uint32, taps)
			for t := range runs {
				runs[t] = ConvRun{Delta: 4 * (t%3 + t/3*64), Count: cin}
				if t > 0 {
					runs[t].Delta -= 4 * (cin*64*64 + (t-1)%3 + (t-1)/3*64)
				}
				masks[t] = 1<<k.Lanes - 1
			}
			args := ConvTileArgs{A: &a[0], X: &x[0], Y: &y[0], Runs: &runs[0], NRuns: taps, LDX: 4 * 64 * 64, LDY: 4 * 64 * 64,
				Rows: k.MR, XLen: len(x), YLen: len(y), ALen: len(a)}
			for v := range k.Vecs {
				args.XOff[v] = 4 * (100 + v*k.Lanes)
				args.YOff[v] = 4 * v * k.Lanes
				args.Mask[v] = &masks[0]
				args.SMask[v] = 1<<k.Lanes - 1
			}
			for range b.N {
				k.Tile(&args)
			}
			b.ReportMetric(2*float64(cin*taps*k.MR*k.Vecs*k.Lanes)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
	for _, hw := range []int{8, 32} {
		for _, nv := range []int{1, 2} {
			nic := k.WgradNIC(3, 3, nv)
			if nic == 0 {
				continue
			}
			b.Run(fmt.Sprintf("wgrad%dx3x3x%d/%dx%d", nic, nv, hw, hw), func(b *testing.B) {
				vl := nv * k.Lanes
				x := make([]float32, 3*hw*hw)
				d := make([]float32, (hw+2)*(hw+2)*vl)
				acc := make([]float32, nic*9*vl)
				args := WgradArgs{X: &x[0], D: &d[0], Acc: &acc[0], Imgs: 1, Rows: hw, Cols: hw,
					XCol: 4, XRow: 4 * hw, XPlane: 4 * hw * hw, DCol: 4 * vl, DRow: 4 * vl * (hw + 2),
					DTapRow: 4 * vl * (hw + 2), DTapCol: 4 * vl, XLen: len(x), DLen: len(d)}
				for range b.N {
					k.Wgrad(nic, 3, 3, nv, &args)
				}
				b.ReportMetric(2*float64(nic*9*vl*hw*hw)*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// TestPhaseHelpers checks Deinterleave2 and InterleaveAdd2 on every path against their
// loops, for lengths around the vector widths.
func TestPhaseHelpers(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(10, 10))
		for n := 0; n <= 70; n++ {
			src := make([]float32, n+3)
			for i := range src {
				src[i] = float32(rng.NormFloat64())
			}
			off := rng.IntN(3)
			s := src[off : off+n]
			even, odd := make([]float32, (n+1)/2), make([]float32, n/2)
			Deinterleave2(even, odd, s)
			for j := range s {
				got := even
				if j%2 == 1 {
					got = odd
				}
				if got[j/2] != s[j] {
					t.Fatalf("Deinterleave2, n=%d: element %d is %v, want %v", n, j, got[j/2], s[j])
				}
			}
			dst := append([]float32(nil), s...)
			InterleaveAdd2(dst, even, odd)
			for j := range dst {
				if dst[j] != s[j]+s[j] {
					t.Fatalf("InterleaveAdd2, n=%d: dst[%d] = %v, want %v", n, j, dst[j], s[j]+s[j])
				}
			}
		}
	})
}

// TestPhaseRows checks DeinterleaveRows and InterleaveAddRows on every path against the
// row-by-row loops, with pair counts around the vector width and padded strides.
func TestPhaseRows(t *testing.T) {
	var a phaseRowsArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"Planes", unsafe.Offsetof(a.Planes), 16}, {"PhaseOdd", unsafe.Offsetof(a.PhaseOdd), 72},
		{"MaskT", unsafe.Offsetof(a.MaskT), 80}, {"MaskHi", unsafe.Offsetof(a.MaskHi), 88},
	} {
		if f.got != f.want {
			t.Errorf("phaseRowsArgs.%s at offset %d, the kernels expect %d", f.name, f.got, f.want)
		}
	}
	forEachPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(12, 12))
		for _, pairs := range []int{1, 4, 8, 15, 16, 17, 31, 40} {
			planes, rows := 1+rng.IntN(3), 1+rng.IntN(4)
			interRow := 2*pairs + rng.IntN(3)
			interPlane := rows*interRow + rng.IntN(5)
			phaseRow := pairs + rng.IntN(3)
			phaseOdd := rows * phaseRow
			phasePlane := 2*phaseOdd + rng.IntN(4)
			inter := make([]float32, planes*interPlane+4)
			phase := make([]float32, planes*phasePlane+4)
			for i := range inter {
				inter[i] = float32(rng.NormFloat64())
			}
			for i := range phase {
				phase[i] = float32(rng.NormFloat64())
			}
			wantPhase := append([]float32(nil), phase...)
			for p := range planes {
				for r := range rows {
					o := p*phasePlane + r*phaseRow
					Deinterleave2(wantPhase[o:o+pairs], wantPhase[o+phaseOdd:o+phaseOdd+pairs], inter[p*interPlane+r*interRow:][:2*pairs])
				}
			}
			DeinterleaveRows(phase, phaseRow, phasePlane, phaseOdd, inter, interRow, interPlane, planes, rows, pairs)
			if !slices.Equal(phase, wantPhase) {
				t.Fatalf("DeinterleaveRows, %d pairs: differs from the row loop", pairs)
			}
			wantInter := append([]float32(nil), inter...)
			for p := range planes {
				for r := range rows {
					o := p*phasePlane + r*phaseRow
					InterleaveAdd2(wantInter[p*interPlane+r*interRow:][:2*pairs], phase[o:o+pairs], phase[o+phaseOdd:o+phaseOdd+pairs])
				}
			}
			InterleaveAddRows(inter, interRow, interPlane, phase, phaseRow, phasePlane, phaseOdd, planes, rows, pairs)
			if !slices.Equal(inter, wantInter) {
				t.Fatalf("InterleaveAddRows, %d pairs: differs from the row loop", pairs)
			}
		}
	})
}

// TestPrefetchRows calls PrefetchRows on every path with ranges inside, across and beyond
// the end of a slice (a hint: it must only not panic and not touch memory outside p).
func TestPrefetchRows(t *testing.T) {
	forEachPath(t, func(t *testing.T) {
		p := make([]float32, 1000)
		for _, c := range [][4]int{{0, 3, 100, 50}, {-20, 5, 100, 64}, {900, 5, 30, 200}, {999, 1, 1, 1},
			{1000, 2, 1, 1}, {10, 0, 10, 10}, {0, 20, 100, 17}, {-5000, 2, 10, 10}, {5, 3, 0, 10}} {
			PrefetchRows(p, c[0], c[1], c[2], c[3])
		}
	})
}
