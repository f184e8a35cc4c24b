package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testutil"
)

// conv2dRef is the direct definition of the convolution, accumulated in float64.
func conv2dRef(x, w *Tensor, bias []float32, p ConvParams) *Tensor {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	y := New(n, k, ho, wo)
	for i := range n {
		for o := range k {
			for oy := range ho {
				for ox := range wo {
					var s float64
					if bias != nil {
						s = float64(bias[o])
					}
					for ci := range c {
						for ky := range kh {
							for kx := range kw {
								iy, ix := oy*p.Stride[0]-p.Padding[0]+ky, ox*p.Stride[1]-p.Padding[1]+kx
								if iy < 0 || iy >= h || ix < 0 || ix >= wd {
									continue
								}
								s += float64(x.Data[((i*c+ci)*h+iy)*wd+ix]) * float64(w.Data[((o*c+ci)*kh+ky)*kw+kx])
							}
						}
					}
					y.Data[((i*k+o)*ho+oy)*wo+ox] = float32(s)
				}
			}
		}
	}
	return y
}

func randTensor(rng *rand.Rand, shape ...int) *Tensor {
	t := New(shape...)
	for i := range t.Data {
		t.Data[i] = float32(rng.NormFloat64())
	}
	return t
}

func TestConv2dForwardMatchesDirect(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		n, c, h, w, k, kh, kw, sh, sw, ph, pw int
		bias                                  bool
	}{
		{2, 3, 7, 9, 5, 3, 3, 1, 1, 1, 1, true},
		{3, 4, 9, 8, 6, 3, 3, 2, 2, 1, 1, false},
		{2, 5, 6, 5, 7, 1, 1, 1, 1, 0, 0, true}, // direct 1×1 path
		{2, 6, 7, 7, 4, 1, 1, 2, 2, 0, 0, false},
		{1, 3, 17, 15, 8, 7, 7, 2, 2, 3, 3, false},
		{1, 2, 9, 11, 3, 5, 5, 1, 1, 0, 0, true},
		{2, 4, 8, 8, 4, 3, 3, 2, 2, 0, 0, true},
		{1, 3, 5, 5, 2, 2, 2, 1, 1, 1, 1, false},
		{1, 2, 5, 6, 3, 3, 2, 2, 3, 2, 1, true},  // rectangular kernel, mixed strides and pads
		{1, 1, 2, 2, 1, 3, 3, 1, 1, 2, 2, false}, // padding wider than the image
		{70, 3, 4, 4, 5, 3, 3, 1, 1, 1, 1, true}, // several samples per GEMM, a partial last group
	}
	var ws ConvWorkspace
	for _, tc := range cases {
		name := fmt.Sprintf("%+v", tc)
		p := ConvParams{Stride: [2]int{tc.sh, tc.sw}, Padding: [2]int{tc.ph, tc.pw}}
		x := randTensor(rng, tc.n, tc.c, tc.h, tc.w)
		w := randTensor(rng, tc.k, tc.c, tc.kh, tc.kw)
		var bias []float32
		if tc.bias {
			bias = randTensor(rng, tc.k).Data
		}
		want := conv2dRef(x, w, bias, p)
		got := New(want.Shape...)
		got.Fill(float32(0x7fc00000)) // stale contents must be overwritten
		Conv2dForward(got, x, w, bias, p, &ws)
		testutil.Close(t, name, got.Data, want.Data, 1e-5)
	}
}

func TestConv2dForwardPanicsOnShapes(t *testing.T) {
	defer func() {
		if recover() == nil {
			t.Error("no panic for a channel mismatch")
		}
	}()
	Conv2dForward(New(1, 2, 3, 3), New(1, 3, 3, 3), New(2, 4, 1, 1), nil, ConvParams{Stride: [2]int{1, 1}}, nil)
}

func TestCeilDiv(t *testing.T) {
	for _, tc := range []struct{ a, b, want int }{{0, 2, 0}, {1, 2, 1}, {2, 2, 1}, {3, 2, 2}, {-1, 2, 0}, {-2, 2, -1}, {-3, 2, -1}} {
		if got := ceilDiv(tc.a, tc.b); got != tc.want {
			t.Errorf("ceilDiv(%d, %d) = %d, want %d", tc.a, tc.b, got, tc.want)
		}
	}
}
