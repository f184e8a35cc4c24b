package asm

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"unsafe"
)

// TestDepthwiseArgsLayout pins the field offsets that the generated kernels (_gen/depthwise)
// use.
func TestDepthwiseArgsLayout(t *testing.T) {
	var a dwArgs
	for _, f := range []struct {
		name      string
		got, want uintptr
	}{
		{"x", unsafe.Offsetof(a.x), 0}, {"y", unsafe.Offsetof(a.y), 8}, {"w", unsafe.Offsetof(a.w), 16},
		{"bias", unsafe.Offsetof(a.bias), 24}, {"zero", unsafe.Offsetof(a.zero), 32},
		{"planes", unsafe.Offsetof(a.planes), 40}, {"h", unsafe.Offsetof(a.h), 48},
		{"iyEnd", unsafe.Offsetof(a.iyEnd), 56}, {"nv", unsafe.Offsetof(a.nv), 64},
		{"mode", unsafe.Offsetof(a.mode), 72}, {"rowX", unsafe.Offsetof(a.rowX), 80},
		{"rowY", unsafe.Offsetof(a.rowY), 88}, {"planeX", unsafe.Offsetof(a.planeX), 96},
		{"biasStep", unsafe.Offsetof(a.biasStep), 104}, {"lastOff", unsafe.Offsetof(a.lastOff), 112},
		{"hi", unsafe.Offsetof(a.hi), 120}, {"kmask", unsafe.Offsetof(a.kmask), 128},
		{"ymask", unsafe.Offsetof(a.ymask), 144}, {"wb", unsafe.Offsetof(a.wb), 336},
		{"fmask", unsafe.Offsetof(a.fmask), 720},
	} {
		if f.got != f.want {
			t.Errorf("dwArgs.%s at offset %d, the kernels expect %d", f.name, f.got, f.want)
		}
	}
}

// dwCase is one call of the depthwise kernels: planes of h×w at a stride, with the plane
// data starting off elements into their slices.
type dwCase struct {
	planes, h, w, stride, off int
}

// dwCases are odd and even sizes around the vector widths (rows of one vector, of exactly
// one or two, of one lane more, of several with a short last one), 1×1 planes, and offsets
// that misalign the planes.
func dwCases() []dwCase {
	var cs []dwCase
	for _, s := range []int{1, 2} {
		for _, hw := range [][2]int{{1, 1}, {2, 3}, {3, 7}, {5, 8}, {7, 7}, {4, 9}, {6, 15}, {5, 16}, {4, 17}, {3, 31}, {5, 32},
			{3, 33}, {2, 47}, {4, 56}, {14, 14}, {9, 63}, {2, 65}, {3, 113}, {8, 8}, {9, 5}, {4, 4}, {6, 2}, {1, 6}, {11, 3}} {
			cs = append(cs, dwCase{planes: 3, h: hw[0], w: hw[1], stride: s, off: (hw[0] + hw[1]) % 5})
		}
	}
	return cs
}

// TestDepthwiseMatchesGo checks the kernel of every path against the Go twin, on every
// mode, with and without a bias: the input outside the planes and the output around them
// are NaN sentinels, so that a read or write outside the data shows.
func TestDepthwiseMatchesGo(t *testing.T) {
	defer SetPath(CurrentPath())
	modes := []int{0, DWRelu, DWRelu | DWClip, DWAdd, DWAdd | DWRelu | DWClip, DWClip}
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		for _, c := range dwCases() {
			for _, mode := range modes {
				for _, withBias := range []bool{true, false} {
					name := fmt.Sprintf("%v/%dx%dx%d_s%d_off%d/mode%d/bias%v", p, c.planes, c.h, c.w, c.stride, c.off, mode, withBias)
					checkDepthwise(t, name, c, mode, withBias)
				}
			}
		}
	}
}

func checkDepthwise(t *testing.T, name string, c dwCase, mode int, withBias bool) {
	t.Helper()
	rng := rand.New(rand.NewPCG(uint64(c.h*100+c.w), uint64(mode)))
	ho, wo := (c.h-1)/c.stride+1, (c.w-1)/c.stride+1
	nan := float32(math.NaN())
	const guard = 40
	xs := make([]float32, c.off+c.planes*c.h*c.w+guard)
	for i := range xs {
		xs[i] = nan
	}
	x := xs[c.off : c.off+c.planes*c.h*c.w]
	for i := range x {
		x[i] = float32(rng.NormFloat64())
	}
	w := make([]float32, 9*c.planes)
	for i := range w {
		w[i] = float32(rng.NormFloat64())
	}
	var bias []float32
	if withBias {
		bias = make([]float32, c.planes)
		for i := range bias {
			bias[i] = float32(rng.NormFloat64())
		}
	}
	n := c.planes * ho * wo
	ys := make([]float32, c.off+n+guard)
	for i := range ys {
		ys[i] = nan
	}
	y := ys[c.off : c.off+n]
	for i := range y {
		y[i] = float32(rng.NormFloat64())
	}
	want := make([]float32, n)
	copy(want, y)
	DepthwiseGo(want, x, w, bias, c.planes, c.h, c.w, c.stride, mode, 1.5, 8)
	Depthwise3x3(y, x, w, bias, c.planes, c.h, c.w, c.stride, mode, 1.5)
	for i, v := range ys {
		if (i < c.off || i >= c.off+n) && !math.IsNaN(float64(v)) {
			t.Fatalf("%s: element %d outside the output written", name, i-c.off)
		}
	}
	for i := range y {
		// Each output sums 9 products and 3 partial sums: a few roundings of the largest.
		if d := math.Abs(float64(y[i] - want[i])); !(d <= 1e-5*(1+math.Abs(float64(want[i])))) {
			t.Fatalf("%s: output %d (plane %d, row %d, column %d) is %g, the Go twin's %g", name, i,
				i/(ho*wo), i%(ho*wo)/wo, i%wo, y[i], want[i])
		}
	}
}

// TestDepthwiseGoMatchesDefinition checks the Go twin against the definition in float64.
func TestDepthwiseGoMatchesDefinition(t *testing.T) {
	for _, c := range dwCases() {
		rng := rand.New(rand.NewPCG(uint64(c.h), uint64(c.w)))
		ho, wo := (c.h-1)/c.stride+1, (c.w-1)/c.stride+1
		x := make([]float32, c.planes*c.h*c.w)
		for i := range x {
			x[i] = float32(rng.NormFloat64())
		}
		w := make([]float32, 9*c.planes)
		for i := range w {
			w[i] = float32(rng.NormFloat64())
		}
		bias := []float32{0.5, -0.25, 2}
		y := make([]float32, c.planes*ho*wo)
		DepthwiseGo(y, x, w, bias, c.planes, c.h, c.w, c.stride, 0, 0, 16)
		for p := range c.planes {
			for oy := range ho {
				for ox := range wo {
					s := float64(bias[p])
					for ky := range 3 {
						for kx := range 3 {
							iy, ix := c.stride*oy-1+ky, c.stride*ox-1+kx
							if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
								s += float64(w[9*p+3*ky+kx]) * float64(x[(p*c.h+iy)*c.w+ix])
							}
						}
					}
					if got := y[(p*ho+oy)*wo+ox]; math.Abs(float64(got)-s) > 1e-5*(1+math.Abs(s)) {
						t.Fatalf("%+v: plane %d (%d, %d) is %g, want %g", c, p, oy, ox, got, s)
					}
				}
			}
		}
	}
}

// TestDepthwiseEpilogue checks the modes' semantics on the Go twin and every kernel: NaN
// and −0 give +0 under DWRelu, the clip is exact, DWAdd adds the old value first.
func TestDepthwiseEpilogue(t *testing.T) {
	defer SetPath(CurrentPath())
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		// One 1×1 plane: y = w[4]·x + bias.
		for _, c := range []struct {
			x, w4, bias, old float32
			mode             int
			want             float32
		}{
			{2, 1, 0, 0, DWRelu, 2}, {-2, 1, 0, 0, DWRelu, 0}, {float32(math.NaN()), 1, 0, 0, DWRelu, 0},
			{0, -1, float32(math.Copysign(0, -1)), 0, DWRelu, 0}, {7, 1, 0, 0, DWRelu | DWClip, 6},
			{5, 1, 0, 2, DWAdd | DWRelu | DWClip, 6}, {1, 1, 0, -4, DWAdd | DWRelu, 0}, {1, 1, 0, -4, DWAdd, -3},
		} {
			w := []float32{9, 9, 9, 9, c.w4, 9, 9, 9, 9}
			y := []float32{c.old}
			Depthwise3x3(y, []float32{c.x}, w, []float32{c.bias}, 1, 1, 1, 1, c.mode, 6)
			if math.Float32bits(y[0]) != math.Float32bits(c.want) {
				t.Errorf("%v: %+v gives %g (bits %#x), want %g", p, c, y[0], math.Float32bits(y[0]), c.want)
			}
		}
	}
}

func TestClamp(t *testing.T) {
	defer SetPath(CurrentPath())
	nan := float32(math.NaN())
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 100} {
			src := make([]float32, n)
			for i := range src {
				src[i] = float32(i%11) - 3.5
			}
			if n > 3 {
				src[1], src[2], src[3] = nan, float32(math.Copysign(0, -1)), 6
			}
			dst := make([]float32, n)
			Clamp(dst, src, 0, 6)
			for i, v := range src {
				want := v
				if !(want > 0) {
					want = 0
				}
				if !(want < 6) {
					want = 6
				}
				if math.Float32bits(dst[i]) != math.Float32bits(want) {
					t.Errorf("%v: Clamp(%g) = %g, want %g", p, v, dst[i], want)
				}
			}
		}
	}
}

// TestClampBackward checks ClampBackward (both modes) on every path against its reference
// loop, bit for bit, on odd lengths, with y at the bounds, ±0, NaN and ±Inf and dy of
// either sign (a −0 gradient must become +0 when set).
func TestClampBackward(t *testing.T) {
	defer SetPath(CurrentPath())
	nan, inf := float32(math.NaN()), float32(math.Inf(1))
	negZero := float32(math.Copysign(0, -1))
	special := []float32{0, negZero, 6, nan, -inf, inf, 5.999999, 1e-30, -1e-30, 6.000001}
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		for _, n := range []int{0, 1, 7, 8, 9, 31, 32, 33, 67, 100} {
			y, dy, dx0 := make([]float32, n), make([]float32, n), make([]float32, n)
			for i := range y {
				y[i] = float32(i%13)*0.75 - 2.5
				if i%5 == 2 {
					y[i] = special[(i/5)%len(special)]
				}
				dy[i] = float32(i%7) - 3.25
				if i%9 == 4 {
					dy[i] = negZero
				}
				dx0[i] = float32(i%3) - 1
				if i%11 == 0 {
					dx0[i] = negZero
				}
			}
			for _, set := range []bool{false, true} {
				dx := slices.Clone(dx0)
				ClampBackward(dx, dy, y, 0, 6, set)
				for i := range dx {
					g := float32(0)
					if y[i] > 0 && y[i] < 6 {
						g = dy[i]
					}
					want := dx0[i] + g
					if set {
						want = 0 + g
					}
					if math.Float32bits(dx[i]) != math.Float32bits(want) {
						t.Errorf("%v n=%d set=%v: dx[%d] = %g (y %g, dy %g, dx %g), want %g", p, n, set, i, dx[i], y[i], dy[i], dx0[i], want)
					}
				}
			}
		}
	}
}

// BenchmarkDepthwise3x3 times the current path's kernel on one goroutine over the depthwise
// layers of MobileNetV2 at 224×224 (planes × size, stride), no bias, ReLU6.
func BenchmarkDepthwise3x3(b *testing.B) {
	for _, c := range []dwCase{{32, 112, 112, 1, 0}, {96, 112, 112, 2, 0}, {144, 56, 56, 1, 0}, {144, 56, 56, 2, 0},
		{192, 28, 28, 1, 0}, {192, 28, 28, 2, 0}, {384, 14, 14, 1, 0}, {576, 14, 14, 1, 0}, {576, 14, 14, 2, 0}, {960, 7, 7, 1, 0}} {
		ho, wo := (c.h-1)/c.stride+1, (c.w-1)/c.stride+1
		x := make([]float32, c.planes*c.h*c.w)
		y := make([]float32, c.planes*ho*wo)
		w := make([]float32, 9*c.planes)
		for i := range x {
			x[i] = float32(i%7) - 3
		}
		for i := range w {
			w[i] = float32(i%5) - 2
		}
		b.Run(fmt.Sprintf("%d@%ds%d", c.planes, c.h, c.stride), func(b *testing.B) {
			for range b.N {
				Depthwise3x3(y, x, w, nil, c.planes, c.h, c.w, c.stride, DWRelu|DWClip, 6)
			}
			b.ReportMetric(2*9*float64(len(y))*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}

// TestDepthwiseWgradMatchesGo checks the weight-gradient kernel of every path against the
// Go twin of its width, and the Go twin against the definition in float64, on the sizes
// and offsets of dwCases (input and output gradient surrounded by NaN: a read outside
// them shows).
func TestDepthwiseWgradMatchesGo(t *testing.T) {
	defer SetPath(CurrentPath())
	lanes := map[Path]int{Generic: 8, AVX2: 8, AVX512: 16}
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		for _, c := range dwCases() {
			rng := rand.New(rand.NewPCG(uint64(c.h*100+c.w), 77))
			ho, wo := (c.h-1)/c.stride+1, (c.w-1)/c.stride+1
			nan := float32(math.NaN())
			pad := func(n int) ([]float32, []float32) {
				b := make([]float32, c.off+n+40)
				for i := range b {
					b[i] = nan
				}
				v := b[c.off : c.off+n]
				for i := range v {
					v[i] = float32(rng.NormFloat64())
				}
				return b, v
			}
			_, x := pad(c.planes * c.h * c.w)
			_, dy := pad(c.planes * ho * wo)
			g := make([]float32, 9*c.planes)
			DepthwiseWgrad3x3(g, x, dy, c.planes, c.h, c.w, c.stride)
			want := make([]float32, 9*c.planes)
			DepthwiseWgradGo(want, x, dy, c.planes, c.h, c.w, c.stride, lanes[p])
			for i := range g {
				// Sums of up to ho·wo products: a few roundings of the sum of magnitudes.
				if d := math.Abs(float64(g[i] - want[i])); !(d <= 1e-5*(1+float64(ho*wo))) {
					t.Fatalf("%v %+v: g[%d] = %g, the Go twin's %g", p, c, i, g[i], want[i])
				}
			}
			for ch := range c.planes {
				for tap := range 9 {
					ky, kx := tap/3, tap%3
					var s float64
					for oy := range ho {
						for ox := range wo {
							iy, ix := c.stride*oy-1+ky, c.stride*ox-1+kx
							if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
								s += float64(dy[(ch*ho+oy)*wo+ox]) * float64(x[(ch*c.h+iy)*c.w+ix])
							}
						}
					}
					if got := want[9*ch+tap]; math.Abs(float64(got)-s) > 1e-5*(1+float64(ho*wo)) {
						t.Fatalf("%+v: the Go twin's g[%d][%d] = %g, want %g", c, ch, tap, got, s)
					}
				}
			}
		}
	}
}

// TestDepthwiseBackward2MatchesGo checks the stride-2 data-gradient kernel of every path
// against the Go twin (set and add), the Go twin against the definition, on the sizes of
// dwCases, with NaN around dx and dy.
func TestDepthwiseBackward2MatchesGo(t *testing.T) {
	defer SetPath(CurrentPath())
	for _, p := range AvailablePaths() {
		if err := SetPath(p); err != nil {
			t.Fatal(err)
		}
		for _, c := range dwCases() {
			if c.stride != 2 {
				continue
			}
			for _, mode := range []int{0, DWAdd} {
				rng := rand.New(rand.NewPCG(uint64(c.h*100+c.w), 78))
				ho, wo := (c.h-1)/2+1, (c.w-1)/2+1
				nan := float32(math.NaN())
				pad := func(n int) ([]float32, []float32) {
					b := make([]float32, c.off+n+40)
					for i := range b {
						b[i] = nan
					}
					v := b[c.off : c.off+n]
					for i := range v {
						v[i] = float32(rng.NormFloat64())
					}
					return b, v
				}
				_, dy := pad(c.planes * ho * wo)
				dxb, dx := pad(c.planes * c.h * c.w)
				w := make([]float32, 9*c.planes)
				for i := range w {
					w[i] = float32(rng.NormFloat64())
				}
				want := append([]float32(nil), dx...)
				def := make([]float64, len(dx))
				for i, v := range dx {
					if mode&DWAdd != 0 {
						def[i] = float64(v)
					}
				}
				DepthwiseBackward3x3s2Go(want, dy, w, c.planes, c.h, c.w, mode)
				DepthwiseBackward3x3s2(dx, dy, w, c.planes, c.h, c.w, mode)
				for i, v := range dxb {
					if (i < c.off || i >= c.off+len(dx)) && !math.IsNaN(float64(v)) {
						t.Fatalf("%v %+v: element %d outside dx written", p, c, i-c.off)
					}
				}
				for ch := range c.planes {
					for oy := range ho {
						for ox := range wo {
							for tap := range 9 {
								iy, ix := 2*oy-1+tap/3, 2*ox-1+tap%3
								if iy >= 0 && iy < c.h && ix >= 0 && ix < c.w {
									def[(ch*c.h+iy)*c.w+ix] += float64(dy[(ch*ho+oy)*wo+ox]) * float64(w[9*ch+tap])
								}
							}
						}
					}
				}
				for i := range dx {
					if d := math.Abs(float64(dx[i] - want[i])); !(d <= 1e-5*(1+math.Abs(float64(want[i])))) {
						t.Fatalf("%v %+v mode %d: dx[%d] = %g, the Go twin's %g", p, c, mode, i, dx[i], want[i])
					}
					if d := math.Abs(float64(want[i]) - def[i]); !(d <= 1e-5*(1+math.Abs(def[i]))) {
						t.Fatalf("%+v mode %d: the Go twin's dx[%d] = %g, want %g", c, mode, i, want[i], def[i])
					}
				}
			}
		}
	}
}
