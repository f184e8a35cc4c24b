package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/internal/testutil"
)

// groupedCase is one grouped convolution of the tests: n images of c channels of h×w, k
// output channels in g groups, a kh×kw kernel.
type groupedCase struct {
	n, c, h, w, k, g, kh, kw, sh, sw, ph, pw int
}

func (gc groupedCase) params() ConvParams {
	return ConvParams{Stride: [2]int{gc.sh, gc.sw}, Padding: [2]int{gc.ph, gc.pw}, Groups: gc.g}
}

func (gc groupedCase) String() string {
	return fmt.Sprintf("n%d_c%d_%dx%d_k%d_g%d_k%dx%d_s%dx%d_p%dx%d", gc.n, gc.c, gc.h, gc.w, gc.k, gc.g, gc.kh, gc.kw, gc.sh, gc.sw, gc.ph, gc.pw)
}

// groupedCases cover the depthwise kernels (3×3, padding 1, stride 1 and 2, odd and even
// sizes, rows shorter and longer than a vector), depthwise convolutions of other
// geometries, a channel multiplier and grouped convolutions with several channels a group.
var groupedCases = []groupedCase{
	{2, 5, 7, 9, 5, 5, 3, 3, 1, 1, 1, 1},
	{2, 3, 9, 8, 3, 3, 3, 3, 2, 2, 1, 1},
	{1, 4, 11, 37, 4, 4, 3, 3, 1, 1, 1, 1},
	{1, 4, 13, 35, 4, 4, 3, 3, 2, 2, 1, 1},
	{3, 2, 1, 1, 2, 2, 3, 3, 1, 1, 1, 1},
	{2, 3, 2, 3, 3, 3, 3, 3, 2, 2, 1, 1},
	{2, 6, 8, 7, 6, 6, 5, 5, 1, 1, 2, 2},
	{2, 4, 7, 6, 4, 4, 3, 3, 1, 1, 0, 0},
	{2, 3, 9, 7, 3, 3, 3, 3, 2, 1, 1, 1},
	{2, 4, 6, 5, 8, 4, 3, 3, 1, 1, 1, 1},
	{2, 6, 7, 5, 4, 2, 3, 3, 2, 2, 1, 1},
	{2, 8, 5, 6, 12, 4, 1, 1, 1, 1, 0, 0},
	{1, 6, 5, 5, 9, 3, 2, 2, 1, 1, 1, 1},
}

// groupedRef is the definition of the grouped convolution, in float64: the forward pass,
// the data gradient for output gradient dy, and the weight and bias gradients of image i
// alone (i < 0: of all images).
func groupedRef(x, w, dy *Tensor, bias []float32, p ConvParams, img int) (y, dx, dw *Tensor, db []float64) {
	n, c, h, wd := x.NCHW()
	k, cg, kh, kw := w.NCHW()
	g := p.Groups
	kg := k / g
	ho, wo := p.OutSize(h, wd, kh, kw)
	y, dx, dw = New(n, k, ho, wo), New(n, c, h, wd), New(k, cg, kh, kw)
	dxs, dws := make([]float64, len(dx.Data)), make([]float64, len(dw.Data))
	db = make([]float64, k)
	for i := range n {
		for o := range k {
			grp := o / kg
			for oy := range ho {
				for ox := range wo {
					var s float64
					if bias != nil {
						s = float64(bias[o])
					}
					yi := ((i*k+o)*ho+oy)*wo + ox
					var d float64
					if dy != nil {
						d = float64(dy.Data[yi])
						if img < 0 || img == i {
							db[o] += d
						}
					}
					for ci := range cg {
						ch := grp*cg + ci
						for ky := range kh {
							for kx := range kw {
								iy, ix := oy*p.Stride[0]-p.Padding[0]+ky, ox*p.Stride[1]-p.Padding[1]+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								xi := ((i*c+ch)*h+iy)*wd + ix
								wi := ((o*cg+ci)*kh+ky)*kw + kx
								s += float64(x.Data[xi]) * float64(w.Data[wi])
								dxs[xi] += d * float64(w.Data[wi])
								if img < 0 || img == i {
									dws[wi] += d * float64(x.Data[xi])
								}
							}
						}
					}
					y.Data[yi] = float32(s)
				}
			}
		}
	}
	for i, v := range dxs {
		dx.Data[i] = float32(v)
	}
	for i, v := range dws {
		dw.Data[i] = float32(v)
	}
	return y, dx, dw, db
}

// onPaths runs f on every kernel path of this machine.
func onPaths(t *testing.T, f func(t *testing.T)) {
	defer asm.SetPath(asm.CurrentPath())
	for _, path := range asm.AvailablePaths() {
		if err := asm.SetPath(path); err != nil {
			t.Fatal(err)
		}
		t.Run(path.String(), f)
	}
}

func TestGroupedConvMatchesDefinition(t *testing.T) {
	onPaths(t, func(t *testing.T) {
		for _, gc := range groupedCases {
			t.Run(gc.String(), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(gc.c), uint64(gc.h*gc.w)))
				p := gc.params()
				x := randTensor(rng, gc.n, gc.c, gc.h, gc.w)
				w := randTensor(rng, gc.k, gc.c/gc.g, gc.kh, gc.kw)
				bias := randTensor(rng, gc.k).Data
				ho, wo := p.OutSize(gc.h, gc.w, gc.kh, gc.kw)
				dy := randTensor(rng, gc.n, gc.k, ho, wo)
				yRef, dxRef, dwRef, dbRef := groupedRef(x, w, dy, bias, p, -1)
				var ws ConvWorkspace
				y := New(gc.n, gc.k, ho, wo)
				Conv2dForward(y, x, w, bias, p, &ws)
				testutil.Close(t, "y", y.Data, yRef.Data, 1e-5)

				// The data gradient, set and added (into dx0).
				dx := randTensor(rng, gc.n, gc.c, gc.h, gc.w)
				Conv2dBackwardData(dx, dy, w, p, &ws, 0)
				testutil.Close(t, "dx (set)", dx.Data, dxRef.Data, 1e-5)
				dx0 := randTensor(rng, gc.n, gc.c, gc.h, gc.w)
				dx = dx0.Clone()
				Conv2dBackwardData(dx, dy, w, p, &ws, 1)
				for i := range dxRef.Data {
					dxRef.Data[i] += dx0.Data[i]
				}
				testutil.Close(t, "dx (add)", dx.Data, dxRef.Data, 1e-5)

				// The weight and bias gradients, added into ones.
				dw, db := New(w.Shape...), make([]float32, gc.k)
				dw.Fill(1)
				for i := range db {
					db[i] = 1
				}
				Conv2dBackwardFilter(dw, db, x, dy, p, &ws, nil)
				for i := range dwRef.Data {
					dwRef.Data[i]++
				}
				testutil.Close(t, "dw", dw.Data, dwRef.Data, 1e-5)
				for i, v := range dbRef {
					if math.Abs(float64(db[i])-(v+1)) > 1e-4*(1+math.Abs(v)) {
						t.Errorf("db[%d] = %g, want %g", i, db[i], v+1)
					}
				}
			})
		}
	})
}

// TestGroupedConvSquaredGrads checks the per-sample squared gradients against a loop over
// the images, each with its own gradient squared, and that the summed gradients are those
// of the batch.
func TestGroupedConvSquaredGrads(t *testing.T) {
	onPaths(t, func(t *testing.T) {
		for _, gc := range groupedCases {
			t.Run(gc.String(), func(t *testing.T) {
				rng := rand.New(rand.NewPCG(uint64(gc.k), 9))
				p := gc.params()
				gc.n = 3
				x := randTensor(rng, gc.n, gc.c, gc.h, gc.w)
				w := randTensor(rng, gc.k, gc.c/gc.g, gc.kh, gc.kw)
				ho, wo := p.OutSize(gc.h, gc.w, gc.kh, gc.kw)
				dy := randTensor(rng, gc.n, gc.k, ho, wo)
				const scale = 3
				sq := &SquaredGrads{W: make([]float32, w.Numel()), B: make([]float32, gc.k), Scale: scale}
				dw, db := New(w.Shape...), make([]float32, gc.k)
				var ws ConvWorkspace
				Conv2dBackwardFilter(dw, db, x, dy, p, &ws, sq)
				wantW, wantB := make([]float64, w.Numel()), make([]float64, gc.k)
				sumW := make([]float64, w.Numel())
				for i := range gc.n {
					_, _, dwi, dbi := groupedRef(x, w, dy, nil, p, i)
					for j, v := range dwi.Data {
						wantW[j] += float64(scale*v) * float64(scale*v)
						sumW[j] += float64(v)
					}
					for j, v := range dbi {
						wantB[j] += scale * v * scale * v
					}
				}
				testutil.Close(t, "sq.W", sq.W, f32s(wantW), 1e-5)
				testutil.Close(t, "sq.B", sq.B, f32s(wantB), 1e-5)
				testutil.Close(t, "dw", dw.Data, f32s(sumW), 1e-5)
			})
		}
	})
}

func f32s(v []float64) []float32 {
	out := make([]float32, len(v))
	for i, x := range v {
		out[i] = float32(x)
	}
	return out
}

// TestGroupedConvIndependentOfProcs checks that the grouped passes give bit-identical
// results whatever GOMAXPROCS.
func TestGroupedConvIndependentOfProcs(t *testing.T) {
	for _, gc := range []groupedCase{groupedCases[2], groupedCases[3], groupedCases[10]} {
		rng := rand.New(rand.NewPCG(5, 6))
		gc.n = 5
		p := gc.params()
		x := randTensor(rng, gc.n, gc.c, gc.h, gc.w)
		w := randTensor(rng, gc.k, gc.c/gc.g, gc.kh, gc.kw)
		ho, wo := p.OutSize(gc.h, gc.w, gc.kh, gc.kw)
		dy := randTensor(rng, gc.n, gc.k, ho, wo)
		run := func() []float32 {
			var ws ConvWorkspace
			y := New(gc.n, gc.k, ho, wo)
			Conv2dForward(y, x, w, nil, p, &ws)
			dx := New(gc.n, gc.c, gc.h, gc.w)
			Conv2dBackwardData(dx, dy, w, p, &ws, 1)
			dw := New(w.Shape...)
			sq := &SquaredGrads{W: make([]float32, w.Numel()), Scale: 1}
			Conv2dBackwardFilter(dw, nil, x, dy, p, &ws, sq)
			out := append(append(append(y.Data, dx.Data...), dw.Data...), sq.W...)
			return out
		}
		a := withProcs(1, run)
		b := withProcs(4, run)
		for i := range a {
			if math.Float32bits(a[i]) != math.Float32bits(b[i]) {
				t.Fatalf("%v: element %d is %g with 1 goroutine, %g with 4", gc, i, a[i], b[i])
			}
		}
	}
}

func TestGroupedConvPanicsOnShapes(t *testing.T) {
	x := New(1, 6, 5, 5)
	for _, c := range []struct {
		w *Tensor
		g int
	}{{New(6, 3, 3, 3), 3}, {New(6, 2, 3, 3), 4}, {New(4, 1, 3, 3), 6}} {
		func() {
			defer func() {
				if recover() == nil {
					t.Errorf("weights %v in %d groups on %v: no panic", c.w.Shape, c.g, x.Shape)
				}
			}()
			Conv2dForward(New(1, c.w.Shape[0], 5, 5), x, c.w, nil, ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}, Groups: c.g}, nil)
		}()
	}
}

// withProcs runs f with GOMAXPROCS set to procs.
func withProcs(procs int, f func() []float32) []float32 {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(procs))
	return f()
}

// TestPreparedConvGroupedAndClip checks PreparedConv.Forward on grouped convolutions (their
// algorithm) and every algorithm with a Clip (ReLU6), against Conv2dForward followed by
// the residual, the ReLU and the clip; and that each image's output is bit-identical alone
// and in a batch.
func TestPreparedConvGroupedAndClip(t *testing.T) {
	type shape struct {
		c, k, g, h, w, kh, s, pad int
	}
	shapes := []shape{
		{6, 6, 6, 9, 7, 3, 1, 1}, {5, 5, 5, 12, 11, 3, 2, 1}, {4, 4, 4, 8, 8, 5, 1, 2},
		{6, 9, 3, 7, 7, 3, 1, 1}, {8, 8, 2, 5, 6, 1, 1, 0},
		{3, 5, 1, 9, 7, 3, 1, 1}, {16, 11, 1, 12, 12, 3, 1, 1}, {8, 13, 1, 14, 10, 3, 2, 1}, {17, 24, 1, 7, 7, 1, 1, 0},
	}
	onPaths(t, func(t *testing.T) {
		for _, sh := range shapes {
			p := ConvParams{Stride: [2]int{sh.s, sh.s}, Padding: [2]int{sh.pad, sh.pad}, Groups: sh.g}
			for algo := ConvGemm; algo <= ConvGrouped; algo++ {
				if !ConvAlgoApplies(algo, sh.c, sh.k, sh.h, sh.w, sh.kh, sh.kh, p) {
					continue
				}
				t.Run(fmt.Sprintf("%d-%d@%dx%dg%d/k%ds%d/%v", sh.c, sh.k, sh.h, sh.w, sh.g, sh.kh, sh.s, algo), func(t *testing.T) {
					rng := rand.New(rand.NewPCG(uint64(sh.c), uint64(sh.k)))
					const n = 3
					x := randTensor(rng, n, sh.c, sh.h, sh.w)
					w := randTensor(rng, sh.k, sh.c/max(sh.g, 1), sh.kh, sh.kh)
					bias := randTensor(rng, sh.k).Data
					ho, wo := p.OutSize(sh.h, sh.w, sh.kh, sh.kh)
					res := randTensor(rng, n, sh.k, ho, wo)
					pc := PrepareConvAlgo(w, bias, p, sh.h, sh.w, algo)
					if pc.Algo != algo || pc.C != sh.c {
						t.Fatalf("prepared %v with %d channels, want %v with %d", pc.Algo, pc.C, algo, sh.c)
					}
					for _, m := range []struct {
						res, relu bool
						clip      float32
					}{{false, false, 0}, {false, true, 0}, {true, true, 0}, {true, false, 0}, {false, true, 0.5}, {true, true, 1}} {
						want := New(n, sh.k, ho, wo)
						Conv2dForward(want, x, w, bias, p, nil)
						var scale float64 // of the values before the clip
						for i := range want.Data {
							scale = max(scale, math.Abs(float64(want.Data[i])))
							if m.res {
								want.Data[i] += res.Data[i]
							}
							if m.relu {
								want.Data[i] = max(want.Data[i], 0)
							}
							if m.relu && m.clip > 0 {
								want.Data[i] = min(want.Data[i], m.clip)
							}
						}
						var r *Tensor
						if m.res {
							r = res
						}
						pc.Clip = m.clip
						var ws ConvWorkspace
						got := New(n, sh.k, ho, wo)
						pc.Forward(got, x, r, m.relu, &ws)
						for i := range got.Data {
							if d := math.Abs(float64(got.Data[i] - want.Data[i])); !(d <= 1e-5*scale) {
								t.Fatalf("%+v: output %d is %g, want %g", m, i, got.Data[i], want.Data[i])
							}
						}
						one := New(1, sh.k, ho, wo)
						for i := range n {
							xi := FromSlice(x.Data[i*sh.c*sh.h*sh.w:(i+1)*sh.c*sh.h*sh.w], 1, sh.c, sh.h, sh.w)
							var ri *Tensor
							if m.res {
								ri = FromSlice(res.Data[i*sh.k*ho*wo:(i+1)*sh.k*ho*wo], 1, sh.k, ho, wo)
							}
							pc.Forward(one, xi, ri, m.relu, &ws)
							for j, v := range one.Data {
								if math.Float32bits(v) != math.Float32bits(got.Data[i*sh.k*ho*wo+j]) {
									t.Fatalf("%+v: image %d alone differs from the batch at %d: %g, %g", m, i, j, v, got.Data[i*sh.k*ho*wo+j])
								}
							}
						}
					}
				})
			}
		}
	})
}
