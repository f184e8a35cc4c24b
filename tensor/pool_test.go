package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"
)

// maxPoolRef is the plain loop: each window in row-major order, NaN propagated.
func maxPoolRef(x *Tensor, kh, kw int, p ConvParams) *Tensor {
	n, c, h, w := x.NCHW()
	ho, wo := p.OutSize(h, w, kh, kw)
	y := New(n, c, ho, wo)
	for i := range n * c {
		for oy := range ho {
			for ox := range wo {
				m := float32(math.Inf(-1))
				for ky := range kh {
					for kx := range kw {
						iy, ix := oy*p.Stride[0]-p.Padding[0]+ky, ox*p.Stride[1]-p.Padding[1]+kx
						if iy >= 0 && iy < h && ix >= 0 && ix < w {
							if v := x.Data[(i*h+iy)*w+ix]; v > m || v != v {
								m = v
							}
						}
					}
				}
				y.Data[(i*ho+oy)*wo+ox] = m
			}
		}
	}
	return y
}

func TestMaxPool2d(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(2))
	rng := rand.New(rand.NewPCG(8, 9))
	for _, c := range []struct{ n, ch, h, w, k, s, pad int }{
		{1, 64, 112, 112, 3, 2, 1}, {2, 3, 7, 9, 3, 2, 1}, {1, 5, 8, 8, 2, 2, 0}, {3, 4, 13, 11, 3, 1, 1},
		{1, 2, 5, 5, 5, 1, 2}, {1, 1, 1, 1, 3, 2, 1}, {2, 300, 20, 17, 3, 3, 0}, {1, 2, 4, 40, 4, 3, 2},
		{2, 64, 32, 32, 2, 2, 0}, {1, 3, 7, 9, 2, 2, 0}, {1, 512, 2, 2, 2, 2, 0}, {1, 7, 5, 3, 2, 2, 0},
		{1, 3, 3, 3, 3, 2, 1}, {2, 5, 4, 4, 3, 2, 1}, {1, 6, 9, 10, 3, 2, 1}, {1, 4, 10, 9, 3, 2, 1},
	} {
		name := fmt.Sprintf("%+v", c)
		x := randTensor(rng, c.n, c.ch, c.h, c.w)
		for i := 0; i < len(x.Data); i += 97 {
			x.Data[i] = float32(math.NaN())
		}
		p := ConvParams{Stride: [2]int{c.s, c.s}, Padding: [2]int{c.pad, c.pad}}
		want := maxPoolRef(x, c.k, c.k, p)
		got := New(want.Shape...)
		MaxPool2d(got, x, c.k, c.k, p)
		for i := range want.Data {
			g, w := got.Data[i], want.Data[i]
			if g != w && !(g != g && w != w) {
				t.Fatalf("%s: element %d is %v, want %v", name, i, g, w)
			}
		}
	}
}
