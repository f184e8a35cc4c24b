package tensor

import (
	"math"
	"math/rand/v2"
	"runtime"
	"slices"
	"testing"
)

func sameBitsT(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d values, want %d", what, len(got), len(want))
	}
	for i := range want {
		if math.Float32bits(got[i]) != math.Float32bits(want[i]) {
			t.Fatalf("%s: [%d] = %v, want %v", what, i, got[i], want[i])
		}
	}
}

// TestBatchNormReluMatchesUnfused checks that the fused batch
// normalisations (BatchNormReluTrain/Eval, BatchNormAddReluTrain/Eval) and
// their backward passes (adding and setting, both modes, with and without
// per-sample squared gradients) give bit for bit what BatchNormTrain/Eval,
// Add, Relu, ReluBackward and BatchNormBackward give, on every path and for
// GOMAXPROCS 1 and 2.
func TestBatchNormReluMatchesUnfused(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(31, 31))
		const n, c, h, w = 5, 7, 9, 11
		x, s := randTensor(rng, n, c, h, w), randTensor(rng, n, c, h, w)
		dy := randTensor(rng, n, c, h, w)
		gamma, beta := randTensor(rng, c).Data, randTensor(rng, c).Data
		for _, procs := range []int{1, 2} {
			runtime.GOMAXPROCS(procs)
			for _, training := range []bool{true, false} {
				mean, variance := make([]float32, c), make([]float32, c)
				z := New(n, c, h, w) // the normalised x
				if training {
					BatchNormTrain(z, x, gamma, beta, mean, variance, 1e-5)
				} else {
					copy(mean, randTensor(rng, c).Data)
					for i := range variance {
						variance[i] = float32(rng.Float64() + 0.5)
					}
					BatchNormEval(z, x, gamma, beta, mean, variance, 1e-5)
				}
				yr, ya := New(n, c, h, w), New(n, c, h, w)
				Relu(yr, z)
				AddRelu(ya, z, s)

				gotR, gotA := New(n, c, h, w), New(n, c, h, w)
				m2, v2 := slices.Clone(mean), slices.Clone(variance)
				scale, shift := make([]float32, c), make([]float32, c)
				if training {
					BatchNormReluTrain(gotR, x, gamma, beta, m2, v2, scale, shift, 1e-5)
					BatchNormAddReluTrain(gotA, x, s, gamma, beta, m2, v2, 1e-5)
				} else {
					BatchNormReluEval(gotR, x, gamma, beta, m2, v2, scale, shift, 1e-5)
					BatchNormAddReluEval(gotA, x, s, gamma, beta, m2, v2, 1e-5)
				}
				sameBitsT(t, "relu(bn(x))", gotR.Data, yr.Data)
				sameBitsT(t, "relu(bn(x) + s)", gotA.Data, ya.Data)
				sameBitsT(t, "mean", m2, mean)
				sameBitsT(t, "variance", v2, variance)

				for _, withSq := range []bool{false, true} {
					sqs := func() *SquaredGrads {
						if !withSq {
							return nil
						}
						return &SquaredGrads{W: make([]float32, c), B: make([]float32, c), Scale: 3}
					}
					base := randTensor(rng, n, c, h, w)
					for _, y := range []*Tensor{yr, ya} {
						g := New(n, c, h, w) // the gradient of z
						ReluBackward(g, dy, y, 1)
						wantAdd, wantSet := base.Clone(), New(n, c, h, w)
						dgW, dbW, sqW := make([]float32, c), make([]float32, c), sqs()
						BatchNormBackward(wantAdd, g, x, gamma, mean, variance, 1e-5, training, dgW, dbW, sqW, 1)
						BatchNormBackward(wantSet, g, x, gamma, mean, variance, 1e-5, training, nil, nil, nil, 1)
						check := func(what string, gotAdd, gotSet *Tensor, dg, db []float32, sq *SquaredGrads) {
							t.Helper()
							sameBitsT(t, what+" dx added", gotAdd.Data, wantAdd.Data)
							sameBitsT(t, what+" dx set", gotSet.Data, wantSet.Data)
							sameBitsT(t, what+" dgamma", dg, dgW)
							sameBitsT(t, what+" dbeta", db, dbW)
							if withSq {
								sameBitsT(t, what+" sq.W", sq.W, sqW.W)
								sameBitsT(t, what+" sq.B", sq.B, sqW.B)
							}
						}
						gotAdd, gotSet := base.Clone(), base.Clone()
						dg, db, sq := make([]float32, c), make([]float32, c), sqs()
						if y == yr {
							BatchNormReluBackward(gotAdd, dy, x, scale, shift, gamma, mean, variance, 1e-5, training, dg, db, sq, true)
							BatchNormReluBackward(gotSet, dy, x, scale, shift, gamma, mean, variance, 1e-5, training, nil, nil, nil, false)
							check("relu", gotAdd, gotSet, dg, db, sq)
							gotSet = base.Clone()
							BatchNormBackward(gotSet, g, x, gamma, mean, variance, 1e-5, training, nil, nil, nil, 0)
							sameBitsT(t, "BatchNormBackwardSet", gotSet.Data, wantSet.Data)
							continue
						}
						wantDsAdd, wantDsSet := base.Clone(), New(n, c, h, w)
						ReluBackward(wantDsAdd, dy, y, 1)
						ReluBackward(wantDsSet, dy, y, 1)
						for _, addS := range []bool{false, true} {
							dsA, dsS := base.Clone(), base.Clone()
							gotAdd, gotSet := base.Clone(), base.Clone()
							dg, db, sq := make([]float32, c), make([]float32, c), sqs()
							BatchNormAddReluBackward(gotAdd, dsA, dy, y, x, gamma, mean, variance, 1e-5, training, dg, db, sq, true, addS)
							BatchNormAddReluBackward(gotSet, dsS, dy, y, x, gamma, mean, variance, 1e-5, training, nil, nil, nil, false, addS)
							check("add relu", gotAdd, gotSet, dg, db, sq)
							wantDs := wantDsSet
							if addS {
								wantDs = wantDsAdd
							}
							sameBitsT(t, "ds (dx added)", dsA.Data, wantDs.Data)
							sameBitsT(t, "ds (dx set)", dsS.Data, wantDs.Data)
							dsOnly := base.Clone()
							BatchNormAddReluBackward(nil, dsOnly, dy, y, x, gamma, mean, variance, 1e-5, training, nil, nil, nil, false, addS)
							sameBitsT(t, "ds alone", dsOnly.Data, wantDs.Data)
						}
					}
				}
			}
		}
	})
}

// TestReluBackwardSetMatchesAdd checks ReluBackwardSet, ReluBackwardSet2,
// Clear and the parallel AddRelu on a tensor large enough to be cut into
// parallel chunks.
func TestReluBackwardSetMatchesAdd(t *testing.T) {
	rng := rand.New(rand.NewPCG(32, 32))
	shape := []int{3, 5, 97, 101}
	y, dy := randTensor(rng, shape...), randTensor(rng, shape...)
	Relu(y, y)
	want := New(shape...)
	ReluBackward(want, dy, y, 1)
	a, b := randTensor(rng, shape...), randTensor(rng, shape...)
	ReluBackward(a, dy, y, 0)
	sameBitsT(t, "ReluBackwardSet", a.Data, want.Data)
	a, b = randTensor(rng, shape...), randTensor(rng, shape...)
	ReluBackwardSet2(a, b, dy, y)
	sameBitsT(t, "ReluBackwardSet2 a", a.Data, want.Data)
	sameBitsT(t, "ReluBackwardSet2 b", b.Data, want.Data)
	Clear(a)
	sameBitsT(t, "Clear", a.Data, New(shape...).Data)
	p, q := randTensor(rng, shape...), randTensor(rng, shape...)
	s := New(shape...)
	AddRelu(s, p, q)
	for i := range s.Data {
		v := p.Data[i] + q.Data[i]
		if !(v > 0) {
			v = 0
		}
		if s.Data[i] != v {
			t.Fatalf("AddRelu: [%d] = %v, want %v", i, s.Data[i], v)
		}
	}
}

// TestSubsamplePadChannelsParallel checks the option-A shortcut, forward and
// backward (adding and setting), against direct loops on a batch large enough
// to be cut into parallel parts, for GOMAXPROCS 1 and 2.
func TestSubsamplePadChannelsParallel(t *testing.T) {
	prevProcs := runtime.GOMAXPROCS(0)
	defer runtime.GOMAXPROCS(prevProcs)
	rng := rand.New(rand.NewPCG(33, 33))
	for _, hw := range [][2]int{{7, 6}, {8, 6}, {4, 0}} {
		testSubsample(t, rng, hw[0], hw[1])
	}
}

func testSubsample(t *testing.T, rng *rand.Rand, h, w int) {
	const n, c, k, pb, s = 11, 3, 8, 2, 2
	ho, wo := (h+s-1)/s, (w+s-1)/s
	x, dy := randTensor(rng, n, c, h, w), randTensor(rng, n, k, ho, wo)
	wantY, wantDx := New(n, k, ho, wo), randTensor(rng, n, c, h, w)
	base := wantDx.Clone()
	for i := range n {
		for ch := range c {
			for oy := range ho {
				for ox := range wo {
					wantY.Data[((i*k+pb+ch)*ho+oy)*wo+ox] = x.Data[((i*c+ch)*h+oy*s)*w+ox*s]
					wantDx.Data[((i*c+ch)*h+oy*s)*w+ox*s] += dy.Data[((i*k+pb+ch)*ho+oy)*wo+ox]
				}
			}
		}
	}
	wantSet := New(n, c, h, w)
	SubsamplePadChannelsBackward(wantSet, dy, s, pb, 1)
	for _, procs := range []int{1, 2} {
		runtime.GOMAXPROCS(procs)
		y := randTensor(rng, n, k, ho, wo)
		SubsamplePadChannels(y, x, s, pb)
		sameBitsT(t, "forward", y.Data, wantY.Data)
		dx := base.Clone()
		SubsamplePadChannelsBackward(dx, dy, s, pb, 1)
		sameBitsT(t, "backward", dx.Data, wantDx.Data)
		dx = base.Clone()
		SubsamplePadChannelsBackward(dx, dy, s, pb, 0)
		sameBitsT(t, "backward set", dx.Data, wantSet.Data)
	}
}

// TestConv2dBackwardDataSet checks that Conv2dBackwardDataSet, on a buffer
// full of NaNs, gives what Conv2dBackwardData adds into a zeroed one, on
// every path, for the direct stride-1 geometry and for others.
func TestConv2dBackwardDataBeta0(t *testing.T) {
	forEachConvPath(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(34, 34))
		for _, tc := range []struct {
			n, c, k, h, w, kern, stride, pad int
		}{
			{3, 5, 7, 9, 11, 3, 1, 1}, {2, 16, 16, 8, 8, 3, 1, 1}, {2, 32, 32, 8, 8, 3, 1, 1}, {2, 4, 6, 9, 7, 3, 2, 1},
			{2, 3, 5, 6, 6, 1, 1, 0},
		} {
			p := ConvParams{Stride: [2]int{tc.stride, tc.stride}, Padding: [2]int{tc.pad, tc.pad}}
			ho, wo := p.OutSize(tc.h, tc.w, tc.kern, tc.kern)
			w := randTensor(rng, tc.k, tc.c, tc.kern, tc.kern)
			dy := randTensor(rng, tc.n, tc.k, ho, wo)
			want := New(tc.n, tc.c, tc.h, tc.w)
			Conv2dBackwardData(want, dy, w, p, new(ConvWorkspace), 1)
			got := New(tc.n, tc.c, tc.h, tc.w)
			for i := range got.Data {
				got.Data[i] = float32(math.NaN())
			}
			Conv2dBackwardData(got, dy, w, p, new(ConvWorkspace), 0)
			for i := range want.Data {
				if got.Data[i] != want.Data[i] {
					t.Fatalf("%+v: dx[%d] = %v, want %v", tc, i, got.Data[i], want.Data[i])
				}
			}
		}
	})
}

// TestBackwardBeta checks the beta argument of the backward kernels other than 0 and 1:
// dx = beta·dx + g, with g what beta 0 sets, to float32 rounding (the scale is one rounding,
// the addition another).
func TestBackwardBeta(t *testing.T) {
	rng := rand.New(rand.NewPCG(35, 35))
	const beta = 0.5
	check := func(name string, dx0 *Tensor, run func(dx *Tensor, beta float32)) {
		t.Helper()
		g := New(dx0.Shape...)
		run(g, 0)
		got := dx0.Clone()
		run(got, beta)
		for i := range got.Data {
			want := beta*dx0.Data[i] + g.Data[i]
			if d := math.Abs(float64(got.Data[i] - want)); d > 1e-6*(1+math.Abs(float64(want))) {
				t.Fatalf("%s: dx[%d] = %v, want %v·%v + %v", name, i, got.Data[i], beta, dx0.Data[i], g.Data[i])
			}
		}
	}
	p := ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}}
	w := randTensor(rng, 6, 5, 3, 3)
	dy := randTensor(rng, 2, 6, 7, 9)
	check("Conv2dBackwardData", randTensor(rng, 2, 5, 7, 9), func(dx *Tensor, b float32) {
		Conv2dBackwardData(dx, dy, w, p, new(ConvWorkspace), b)
	})
	x, y := randTensor(rng, 2, 5, 7, 9), randTensor(rng, 2, 5, 7, 9)
	g5 := randTensor(rng, 2, 5, 7, 9)
	check("ReluBackward", randTensor(rng, 2, 5, 7, 9), func(dx *Tensor, b float32) { ReluBackward(dx, g5, y, b) })
	gamma, mean, variance := make([]float32, 5), make([]float32, 5), make([]float32, 5)
	for i := range gamma {
		gamma[i], mean[i], variance[i] = 0.5+rng.Float32(), rng.Float32()-0.5, 0.5+rng.Float32()
	}
	check("BatchNormBackward", randTensor(rng, 2, 5, 7, 9), func(dx *Tensor, b float32) {
		BatchNormBackward(dx, g5, x, gamma, mean, variance, 1e-5, true, nil, nil, nil, b)
	})
	dys := randTensor(rng, 2, 8, 4, 5)
	check("SubsamplePadChannelsBackward", randTensor(rng, 2, 5, 7, 9), func(dx *Tensor, b float32) {
		SubsamplePadChannelsBackward(dx, dys, 2, 2, b)
	})
}
