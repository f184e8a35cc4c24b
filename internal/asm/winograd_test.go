package asm

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// TestWinogradArgsLayout pins the field offsets that the generated kernels (_gen/conv) use.
func TestWinogradArgsLayout(t *testing.T) {
	var a WinogradInArgs
	var b WinogradOutArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"in.X", unsafe.Offsetof(a.X), 0}, {"in.V", unsafe.Offsetof(a.V), 8},
		{"in.Row", unsafe.Offsetof(a.Row), 16}, {"in.Plane", unsafe.Offsetof(a.Plane), 24},
		{"in.LDC", unsafe.Offsetof(a.LDC), 32}, {"in.LDF", unsafe.Offsetof(a.LDF), 40},
		{"in.C", unsafe.Offsetof(a.C), 48}, {"in.NPieces", unsafe.Offsetof(a.NPieces), 72},
		{"in.Pieces", unsafe.Offsetof(a.Pieces), 104}, {"in.Keep", unsafe.Offsetof(a.Keep), 488},
		{"in.scratch", unsafe.Offsetof(a.scratch), 496},
		{"out.M", unsafe.Offsetof(b.M), 0}, {"out.Y", unsafe.Offsetof(b.Y), 8},
		{"out.Row", unsafe.Offsetof(b.Row), 16}, {"out.Plane", unsafe.Offsetof(b.Plane), 24},
		{"out.LDK", unsafe.Offsetof(b.LDK), 32}, {"out.LDF", unsafe.Offsetof(b.LDF), 40},
		{"out.K", unsafe.Offsetof(b.K), 48}, {"out.NPieces", unsafe.Offsetof(b.NPieces), 72},
		{"out.Pieces", unsafe.Offsetof(b.Pieces), 104}, {"out.Add", unsafe.Offsetof(b.Add), 488},
		{"out.Scale", unsafe.Offsetof(b.Scale), 496}, {"out.Shift", unsafe.Offsetof(b.Shift), 504},
		{"out.R", unsafe.Offsetof(b.R), 512}, {"out.scratch", unsafe.Offsetof(b.scratch), 536},
		{"WinoPiece size", unsafe.Sizeof(WinoPiece{}), 24}, {"WinoPiece.Mask", unsafe.Offsetof(WinoPiece{}.Mask), 8},
	} {
		if f.got != f.want {
			t.Errorf("Winograd args: %s at offset %d, the kernels expect %d", f.name, f.got, f.want)
		}
	}
}

// randomPieces deals the lanes of each quarter to 0…4 pieces at random (disjoint masks per
// row), with offsets from off(quarter, piece); it returns the piece counts.
func randomPieces(rng *rand.Rand, pieces *[16]WinoPiece, rows int, off func(q, p int) int) (n [4]int) {
	for q := range 4 {
		n[q] = rng.IntN(5)
		for p := range n[q] {
			pieces[4*q+p] = WinoPiece{Off: off(q, p)}
		}
		if n[q] == 0 {
			continue
		}
		for r := range rows {
			for l := range 16 {
				if p := rng.IntN(n[q] + 1); p < n[q] { // lane l of row r to piece p, or to none
					pieces[4*q+p].Mask[r] |= 1 << l
				}
			}
		}
	}
	return n
}

// winoPaths runs f for every available path whose transforms differ from the Go twins.
func winoPaths(t *testing.T, f func(t *testing.T, p Path)) {
	prev := CurrentPath()
	defer SetPath(prev)
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		t.Run(p.String(), func(t *testing.T) { f(t, p) })
	}
}

// winoClose reports whether got is within tol·scale of want.
func winoClose(got, want, scale float32, tol float64) bool {
	d := float64(got - want)
	return d <= tol*float64(scale) && -d <= tol*float64(scale)
}

// TestWinogradTransformsMatchGo checks WinogradInput and WinogradOutput on every path
// against the Go twins, on random pieces, strides, channel counts and masks, and that they
// write nothing else.
func TestWinogradTransformsMatchGo(t *testing.T) {
	winoPaths(t, func(t *testing.T, p Path) {
		rng := rand.New(rand.NewPCG(1, 1))
		for it := range 60 {
			row := 16 + rng.IntN(20)
			plane := 6*row + rng.IntN(9)
			c := 1 + rng.IntN(5)
			x := make([]float32, 40*plane)
			for i := range x {
				x[i] = float32(rng.NormFloat64())
			}
			ldc := 16 + rng.IntN(3)*16 + rng.IntN(5)
			ldf := c*ldc + rng.IntN(7)
			v := make([]float32, 36*ldf+ldc*c+16)
			want := make([]float32, len(v))
			var in WinogradInArgs
			in.X, in.XLen = &x[0], len(x)
			in.Row, in.Plane, in.LDC, in.LDF, in.C = row, plane, ldc, ldf, c
			in.NPieces = randomPieces(rng, &in.Pieces, 6, func(q, p int) int {
				return rng.IntN(len(x) - (c-1)*plane - 5*row - 16)
			})
			in.Keep = [2]uint16{uint16(rng.Uint32()), uint16(rng.Uint32())}
			for i := range v {
				v[i] = float32(i)
				want[i] = float32(i)
			}
			in.V, in.VLen = &want[0], len(want)
			WinogradInputGo(&in)
			in.V, in.VLen = &v[0], len(v)
			WinogradInput(&in)
			for i := range v {
				if !winoClose(v[i], want[i], 64, 1e-6) {
					t.Fatalf("input transform %d (row %d plane %d c %d ldc %d ldf %d): v[%d] = %v, want %v", it, row, plane, c, ldc, ldf, i, v[i], want[i])
				}
			}

			k := 1 + rng.IntN(5)
			ldk := 16 + rng.IntN(3)*16 + rng.IntN(5)
			mf := k*ldk + rng.IntN(7)
			m := make([]float32, 36*mf+16)
			for i := range m {
				m[i] = float32(rng.NormFloat64())
			}
			// Disjoint pieces: piece (q, p) writes rows of 16 floats in its own 4·row floats.
			oplane := 16*4*row + rng.IntN(9)
			y := make([]float32, k*oplane+7)
			wantY := make([]float32, len(y))
			for i := range y {
				y[i] = float32(-(i % 97))
				wantY[i] = y[i]
			}
			var out WinogradOutArgs
			out.M, out.MLen = &m[0], len(m)
			out.Row, out.Plane, out.LDK, out.LDF, out.K = row, oplane, ldk, mf, k
			out.NPieces = randomPieces(rng, &out.Pieces, 4, func(q, p int) int {
				return (4*q+p)*4*row + rng.IntN(row-15)
			})
			out.Add = it % 2
			out.Y, out.YLen = &wantY[0], len(wantY)
			WinogradOutputGo(&out)
			out.Y, out.YLen = &y[0], len(y)
			WinogradOutput(&out)
			for i := range y {
				if !winoClose(y[i], wantY[i], 300, 1e-6) {
					t.Fatalf("output transform %d: y[%d] = %v, want %v", it, i, y[i], wantY[i])
				}
			}
		}
	})
}

// TestWinogradOutputEpilogue checks the output transform's epilogues on every path, on odd
// channel counts and random pieces: each kernel's result must equal, bit for bit, its plain
// transform (Scale nil) followed by the epilogue's reference loop (ScaleShift, Relu and
// ScaleShiftAddRelu), and the assembly's must be within rounding of the Go twin's. The
// residual is a separate buffer or Y itself; special values (NaN, ±0, ±Inf) go through
// the ReLU. The assembly's output must equal the Go twin's.
func TestWinogradOutputEpilogue(t *testing.T) {
	winoPaths(t, func(t *testing.T, p Path) {
		rng := rand.New(rand.NewPCG(3, 3))
		for it := range 96 {
			res, relu, alias := it%4 >= 2, it%2 == 1, it%8 >= 4
			row := 16 + rng.IntN(20)
			k := 1 + rng.IntN(7)
			ldk := 16 + rng.IntN(3)*16 + rng.IntN(5)
			mf := k*ldk + rng.IntN(7)
			m := make([]float32, 36*mf+16)
			for i := range m {
				m[i] = float32(rng.NormFloat64())
			}
			m[rng.IntN(len(m))] = float32(math.NaN())
			m[rng.IntN(len(m))] = float32(math.Inf(-1))
			scale, shift := make([]float32, k), make([]float32, k)
			for i := range scale {
				scale[i] = float32(rng.NormFloat64()) / 64
				shift[i] = float32(rng.NormFloat64())
			}
			scale[0], shift[0] = 0, float32(math.Copysign(0, -1)) // −0 outputs
			oplane := 16*4*row + rng.IntN(9)
			y0 := make([]float32, k*oplane+7)
			r := make([]float32, len(y0))
			for i := range y0 {
				y0[i] = float32(-(i % 97))
				r[i] = float32(rng.NormFloat64())
			}
			var out WinogradOutArgs
			out.M, out.MLen = &m[0], len(m)
			out.Row, out.Plane, out.LDK, out.LDF, out.K = row, oplane, ldk, mf, k
			out.NPieces = randomPieces(rng, &out.Pieces, 4, func(q, p int) int {
				return (4*q+p)*4*row + rng.IntN(row-15)
			})
			if alias {
				copy(y0, r)
			}
			written := make([]bool, len(y0)) // the elements the pieces cover
			for q := range 4 {
				for _, pc := range out.Pieces[4*q : 4*q+out.NPieces[q]] {
					for kk := range k {
						for i := range 4 {
							for l := range 16 {
								if pc.Mask[i]&(1<<l) != 0 {
									written[pc.Off+kk*oplane+i*row+l] = true
								}
							}
						}
					}
				}
			}
			var twinY []float32 // the Go twin's output, which the assembly's must equal
			for _, twin := range []bool{true, false} {
				run := WinogradOutput
				if twin {
					run = WinogradOutputGo
				}
				// The reference: the plain transform, then the epilogue's loop.
				out.Scale, out.Shift, out.R, out.RLen, out.Relu = nil, nil, nil, 0, 0
				want := slices.Clone(y0)
				out.Y, out.YLen = &want[0], len(want)
				run(&out)
				for i, w := range written {
					if !w {
						continue
					}
					kk := i / oplane
					v := float32(want[i]*scale[kk]) + shift[kk]
					if res {
						v += r[i]
					}
					if relu && !(v > 0) {
						v = 0
					}
					want[i] = v
				}
				out.Scale, out.Shift = &scale[0], &shift[0]
				if relu {
					out.Relu = 1
				}
				y := slices.Clone(y0)
				out.Y, out.YLen = &y[0], len(y)
				if res {
					out.R, out.RLen = &r[0], len(r)
					if alias {
						out.R = &y[0]
					}
				}
				run(&out)
				for i := range y {
					if math.Float32bits(y[i]) != math.Float32bits(want[i]) {
						t.Fatalf("epilogue %d (res %v relu %v alias %v, Go twin %v): y[%d] = %v, want %v",
							it, res, relu, alias, twin, i, y[i], want[i])
					}
				}
				if twin {
					twinY = y
				} else if !slices.EqualFunc(y, twinY, func(a, b float32) bool { return math.Float32bits(a) == math.Float32bits(b) }) {
					t.Fatalf("epilogue %d (res %v relu %v alias %v): the output differs from the Go twin's", it, res, relu, alias)
				}
			}
		}
	})
}

// TestPanelGemm checks PanelGemm on every path against its definition in float64.
func TestPanelGemm(t *testing.T) {
	winoPaths(t, func(t *testing.T, p Path) {
		rng := rand.New(rand.NewPCG(2, 2))
		mr, lanes := PanelShape()
		for _, sz := range [][3]int{{1, 1, 1}, {2, 3, 7}, {3, 6, 16}, {1, 1, 64}, {4, 7, 33}, {2, 2, 0}} {
			m, n, k := sz[0]*mr, sz[1]*lanes, sz[2]
			ldb, ldc := n+rng.IntN(5), n+rng.IntN(5)
			a := make([]float32, m*k)
			b := make([]float32, k*ldb+1)
			c := make([]float32, m*ldc)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			for i := range c {
				c[i] = 7
			}
			PanelGemm(m, n, k, a, b, ldb, c, ldc)
			for i := range m {
				for j := range ldc {
					want := 7.0
					if j < n {
						want = 0
						for q := range k {
							want += float64(a[i/mr*k*mr+q*mr+i%mr]) * float64(b[q*ldb+j])
						}
					}
					if d := float64(c[i*ldc+j]) - want; d > 1e-5*float64(k+1) || -d > 1e-5*float64(k+1) {
						t.Fatalf("%v: c[%d][%d] = %v, want %v", sz, i, j, c[i*ldc+j], want)
					}
				}
			}
		}
	})
}

// TestPanelGemmRowTails checks PanelGemm, with m a multiple of the panel height or not,
// on every path: the rows of a partial panel (the row-tail kernels on AVX512,
// panelRowsFMA elsewhere) are bit for bit those of the same product with the panel
// computed whole, and on the SIMD paths every row is the pure-Go FMA twin's; the rows past
// m and the columns past n are not written. B and C start at odd offsets, with odd
// leading dimensions.
func TestPanelGemmRowTails(t *testing.T) {
	winoPaths(t, func(t *testing.T, p Path) {
		rng := rand.New(rand.NewPCG(3, 4))
		mr, lanes := PanelShape()
		for _, sz := range [][3]int{{1, 1, 1}, {2, 1, 5}, {7, 3, 9}, {8, 4, 6}, {9, 4, 16}, {13, 5, 7}, {16, 3, 13}, {3, 6, 33}, {15, 2, 2}, {5, 7, 64}} {
			m, n, k := sz[0], sz[1]*lanes, sz[2]
			mpad := (m + mr - 1) / mr * mr
			ldb, ldc := n+1+rng.IntN(5), n+1+rng.IntN(5)
			a := make([]float32, mpad*k)
			b := make([]float32, 3+k*ldb)
			for i := range a {
				a[i] = float32(rng.NormFloat64())
			}
			for i := range b {
				b[i] = float32(rng.NormFloat64())
			}
			c := make([]float32, 1+mpad*ldc)
			whole := make([]float32, 1+mpad*ldc)
			for i := range c {
				c[i] = 7
			}
			PanelGemm(m, n, k, a, b[3:], ldb, c[1:], ldc)
			PanelGemm(mpad, n, k, a, b[3:], ldb, whole[1:], ldc)
			twin := make([]float32, mpad*ldc)
			for i := 0; i < m; i += mr {
				panelRowsFMA(mr, min(mr, m-i), n, k, a[i*k:], b[3:], ldb, twin[i*ldc:], ldc)
			}
			for i := range mpad {
				for j := range ldc {
					got := c[1+i*ldc+j]
					switch {
					case i >= m || j >= n:
						if got != 7 {
							t.Fatalf("m=%d n=%d k=%d: c[%d][%d] = %v written (outside the product)", m, n, k, i, j, got)
						}
					case got != whole[1+i*ldc+j]:
						t.Fatalf("m=%d n=%d k=%d: c[%d][%d] = %v, the whole panel gives %v", m, n, k, i, j, got, whole[1+i*ldc+j])
					case (p == AVX512 || p == AVX2) && got != twin[i*ldc+j]:
						t.Fatalf("m=%d n=%d k=%d: c[%d][%d] = %v, the Go twin gives %v", m, n, k, i, j, got, twin[i*ldc+j])
					}
				}
			}
		}
	})
}

// BenchmarkWinogradTransforms times the input and output transforms of 16 tiles of 64
// channels (four 8×8 images) held in L1.
func BenchmarkWinogradTransforms(b *testing.B) {
	prev := CurrentPath()
	defer SetPath(prev)
	for _, p := range AvailablePaths() {
		SetPath(p)
		const c, row, plane = 64, 8, 64
		x := make([]float32, 4*c*plane)
		const ldf = c*16 + 16 // not a multiple of 4 KiB, as in package tensor
		v := make([]float32, 36*ldf)
		var in WinogradInArgs
		in.X, in.XLen, in.V, in.VLen = &x[0], len(x), &v[0], len(v)
		in.Row, in.Plane, in.LDC, in.LDF, in.C = row, plane, 16, ldf, c
		var out WinogradOutArgs
		out.M, out.MLen, out.Y, out.YLen = &v[0], len(v), &x[0], len(x)
		out.Row, out.Plane, out.LDK, out.LDF, out.K = row, plane, 16, ldf, c
		// Eight tile rows (two per image) of two tiles: two rows per quarter.
		for q := range 4 {
			in.NPieces[q], out.NPieces[q] = 2, 2
			for h := range 2 {
				ty := (2*q + h) % 2
				img := (2*q + h) / 2
				off := img*c*plane + 4*ty*row - 8*h
				in.Pieces[4*q+h].Off = off - row - 1 + 1
				out.Pieces[4*q+h].Off = off
				for r := range 6 {
					if y := 4*ty - 1 + r; y >= 0 && y < 8 {
						in.Pieces[4*q+h].Mask[r] = 0xff << (8 * h)
					}
					out.Pieces[4*q+h].Mask[r] = 0xff << (8 * h)
				}
			}
		}
		in.Keep = [2]uint16{0xaaaa, 0x5555}
		b.Run("input/"+p.String(), func(b *testing.B) {
			for range b.N {
				WinogradInput(&in)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c), "ns/group")
		})
		b.Run("output/"+p.String(), func(b *testing.B) {
			for range b.N {
				WinogradOutput(&out)
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*c), "ns/group")
		})
	}
}
