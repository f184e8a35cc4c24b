package tensor

import (
	"fmt"
	"math/rand/v2"
	"testing"
)

// TestIm2colPart checks im2colPart against the definition, element by element, on every
// path, for odd sizes, kernels, strides (the stride-2 pairs of kernel columns of wide rows
// included),
// paddings, and ranges of channels and output rows; col's elements outside the rows and
// columns written must stay untouched.
func TestIm2colPart(t *testing.T) {
	onPaths(t, func(t *testing.T) {
		rng := rand.New(rand.NewPCG(9, 10))
		for _, g := range []struct{ c, h, w, kh, kw, sh, sw, ph, pw int }{
			{3, 23, 23, 7, 7, 2, 2, 3, 3}, {2, 9, 12, 3, 3, 2, 2, 1, 1}, {2, 8, 40, 5, 4, 1, 2, 2, 0},
			{1, 5, 5, 3, 3, 2, 2, 0, 0}, {2, 6, 7, 1, 1, 2, 2, 0, 0}, {2, 7, 3, 3, 3, 1, 1, 1, 1},
			{1, 4, 3, 5, 5, 2, 2, 2, 2}, {2, 10, 11, 3, 2, 3, 3, 1, 1}, {1, 6, 70, 6, 6, 2, 2, 3, 3},
			// output rows of at least im2colPairMinWidth: the paired stride-2 rows
			{3, 9, 75, 7, 7, 2, 2, 3, 3}, {2, 5, 66, 3, 3, 2, 2, 1, 1}, {2, 4, 68, 4, 4, 2, 2, 0, 0}, {1, 3, 65, 2, 5, 1, 2, 0, 2},
		} {
			p := ConvParams{Stride: [2]int{g.sh, g.sw}, Padding: [2]int{g.ph, g.pw}}
			ho, wo := p.OutSize(g.h, g.w, g.kh, g.kw)
			x := randTensor(rng, g.c, g.h, g.w).Data
			for _, rg := range [][4]int{{0, g.c, 0, ho}, {1 % g.c, g.c, ho / 2, ho}} {
				c0, c1, oy0, oy1 := rg[0], rg[1], rg[2], rg[3]
				name := fmt.Sprintf("%+v/c%d-%d/rows%d-%d", g, c0, c1, oy0, oy1)
				ld := (oy1-oy0)*wo + 3
				rows := g.c * g.kh * g.kw
				col := make([]float32, rows*ld)
				for i := range col {
					col[i] = -7
				}
				im2colPart(col, ld, x, c0, c1, g.h, g.w, g.kh, g.kw, wo, oy0, oy1, p)
				for ci := range g.c {
					for ky := range g.kh {
						for kx := range g.kw {
							r := (ci*g.kh+ky)*g.kw + kx
							for j := range ld {
								want := float32(-7)
								if oy, ox := oy0+j/wo, j%wo; ci >= c0 && ci < c1 && j < (oy1-oy0)*wo {
									want = 0
									iy, ix := oy*g.sh-g.ph+ky, ox*g.sw-g.pw+kx
									if iy >= 0 && iy < g.h && ix >= 0 && ix < g.w {
										want = x[(ci*g.h+iy)*g.w+ix]
									}
								}
								if got := col[r*ld+j]; got != want {
									t.Fatalf("%s: row %d (c %d ky %d kx %d) column %d is %v, want %v", name, r, ci, ky, kx, j, got, want)
								}
							}
						}
					}
				}
			}
		}
	})
}
