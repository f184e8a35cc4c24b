package tensor

import (
	"fmt"
	"math"
	"math/rand/v2"
	"runtime"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// TestDWBlock checks DWBlock.Forward against the three PreparedConv.Forward calls it
// stands for, bit for bit, on odd sizes, at stride 1 and 2, with and without the expansion
// and the residual, with bands of 1 to all output rows, on every kernel path and at
// GOMAXPROCS 1 and 2.
func TestDWBlock(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	defer asm.SetPath(asm.CurrentPath())
	shapes := []struct{ c, e, k, h, w, s int }{
		{5, 12, 7, 9, 11, 1},
		{5, 12, 7, 9, 11, 2},
		{6, 17, 6, 10, 8, 2},
		{3, 24, 9, 7, 7, 1},
		{0, 20, 11, 13, 5, 1}, // no expansion: c = e
		{0, 20, 11, 14, 19, 2},
		{16, 40, 24, 15, 33, 1},
		{-3, 8, 5, 21, 17, 1}, // a stem: 3 channels, 3×3 at stride 2 (im2col), as expansion
		{-4, 9, 6, 12, 13, 2},
	}
	for _, path := range asm.AvailablePaths() {
		if err := asm.SetPath(path); err != nil {
			t.Fatal(err)
		}
		for _, sh := range shapes {
			rng := rand.New(rand.NewPCG(uint64(sh.e), uint64(sh.h)))
			const n = 2
			c := sh.c
			if c == 0 {
				c = sh.e
			}
			p1 := ConvParams{Stride: [2]int{1, 1}}
			pd := ConvParams{Stride: [2]int{sh.s, sh.s}, Padding: [2]int{1, 1}, Groups: sh.e}
			var expand *PreparedConv
			xh, xw := sh.h, sh.w // the block's input
			switch {
			case sh.c > 0:
				expand = PrepareConvAlgo(randTensor(rng, sh.e, sh.c, 1, 1), randTensor(rng, sh.e).Data, p1, sh.h, sh.w, ConvGemm)
			case sh.c < 0:
				c = -sh.c
				xh, xw = 2*sh.h-1, 2*sh.w
				ps := ConvParams{Stride: [2]int{2, 2}, Padding: [2]int{1, 1}}
				expand = PrepareConvAlgo(randTensor(rng, sh.e, c, 3, 3), randTensor(rng, sh.e).Data, ps, xh, xw, ConvIm2col)
				if eh, ew := expand.OutShape(); eh != sh.h || ew != sh.w {
					t.Fatalf("stem gives %d×%d", eh, ew)
				}
			}
			if expand != nil {
				expand.Clip = 6
			}
			dw := PrepareConvAlgo(randTensor(rng, sh.e, 1, 3, 3), randTensor(rng, sh.e).Data, pd, sh.h, sh.w, ConvDepthwise)
			dw.Clip = 0.7
			ho, wo := dw.OutShape()
			project := PrepareConvAlgo(randTensor(rng, sh.k, sh.e, 1, 1), randTensor(rng, sh.k).Data, p1, ho, wo, ConvGemm)
			x := randTensor(rng, n, c, xh, xw)
			res := randTensor(rng, n, sh.k, ho, wo)
			for _, withRes := range []bool{false, true} {
				var r *Tensor
				if withRes {
					r = res
				}
				var ws ConvWorkspace
				ex := x
				if expand != nil {
					ex = New(n, sh.e, sh.h, sh.w)
					expand.Forward(ex, x, nil, true, &ws)
				}
				d := New(n, sh.e, ho, wo)
				dw.Forward(d, ex, nil, true, &ws)
				want := New(n, sh.k, ho, wo)
				project.Forward(want, d, r, false, &ws)

				b := NewDWBlock(expand, dw, project, true, true, false)
				for rows := 1; rows <= ho; rows += max(1, ho/3) {
					b.rows = rows
					for _, procs := range []int{1, 2} {
						runtime.GOMAXPROCS(procs)
						name := fmt.Sprintf("%v/%d-%d-%d@%dx%d/s%d/res=%v/rows=%d/procs=%d", path, sh.c, sh.e, sh.k, sh.h, sh.w, sh.s, withRes, rows, procs)
						got := randTensor(rng, n, sh.k, ho, wo)
						b.Forward(got, x, r, &ws)
						for i := range got.Data {
							if math.Float32bits(got.Data[i]) != math.Float32bits(want.Data[i]) {
								t.Fatalf("%s: element %d is %v, want %v", name, i, got.Data[i], want.Data[i])
							}
						}
					}
				}
			}
		}
	}
}

// TestDWBlockRows checks the bands NewDWBlock chooses for MobileNetV2's large blocks: an
// even number of them, at least two, covering the output.
func TestDWBlockRows(t *testing.T) {
	for _, sh := range []struct{ c, e, h, s int }{{0, 32, 112, 1}, {16, 96, 112, 2}, {24, 144, 56, 1}, {24, 144, 56, 2}, {32, 192, 28, 1}, {160, 960, 7, 1}} {
		p1 := ConvParams{Stride: [2]int{1, 1}}
		pd := ConvParams{Stride: [2]int{sh.s, sh.s}, Padding: [2]int{1, 1}, Groups: sh.e}
		var expand *PreparedConv
		if sh.c > 0 {
			expand = PrepareConvAlgo(New(sh.e, sh.c, 1, 1), nil, p1, sh.h, sh.h, ConvGemm)
		}
		dw := PrepareConvAlgo(New(sh.e, 1, 3, 3), nil, pd, sh.h, sh.h, ConvDepthwise)
		ho, wo := dw.OutShape()
		b := NewDWBlock(expand, dw, PrepareConvAlgo(New(8, sh.e, 1, 1), nil, p1, ho, wo, ConvGemm), true, true, false)
		bands := (ho + b.rows - 1) / b.rows
		if bands < 2 || bands%2 != 0 || b.rows < 1 {
			t.Errorf("%+v: %d bands of %d rows for %d output rows", sh, bands, b.rows, ho)
		}
	}
}
