package tensor

import (
	"github.com/bonsai-dl/bonsai/asm"
)

// Winograd F(4×4, 3×3) convolution for 3×3 kernels at stride 1 with padding 1 (see the asm
// package for the transforms). The output is cut into 4×4 tiles, each read as the 6×6 input
// tile around it; 16 multiplications per 36 frequencies replace 9·16 per tile (4× fewer).
//
// The work is cut into blocks of consecutive tiles (over all images, in image, row, column
// order). For a block, a worker transforms the input tiles of every channel into its buffer
// V: [36][C][block], small enough to stay in L2; then, for groups of output channels, it
// multiplies each frequency's transformed weights U: [36][K][C] by V into M:
// [36][group][block] (asm.PanelGemm) and transforms M into the output tiles. Every output
// element is computed by the same sequence of operations whatever the block it falls in,
// so the results do not depend on the number of workers (nor on the block size).

// winoVFloats is the size of a block's transformed input (V) that the block length aims at:
// 36·C·block floats, 432 KiB, less than half of the L2 of a Zen 5 core.
const winoVFloats = 36 * 3072

// winoKGroup is the number of output channels multiplied and transformed together.
const winoKGroup = 32

// winoWorkspace holds the Winograd convolution's transformed weights and per-worker buffers.
type winoWorkspace struct {
	u       []float32 // transformed weights: [36][kpad/mr panels][C][mr]
	workers []winoWorker
	task    winoTask
}

type winoWorker struct {
	v, m []float32
	in   asm.WinogradInArgs
	out  asm.WinogradOutArgs
}

// winoGeom is the geometry of one Winograd convolution.
type winoGeom struct {
	n, c, k, h, w int
	th, tw        int // tiles per column and row of an image
	tiles         int // n·th·tw
	block         int // tiles per block (a multiple of 48: of 16 lanes and of the GEMM widths)
	mr, kpad      int // GEMM panel height; output channels rounded up to it
	kgroup        int // output channels per GEMM group (a multiple of mr)
}

// winogradGeometry reports whether the Winograd kernels handle a convolution: 3×3 at
// stride 1 with padding 1.
func winogradGeometry(kh, kw int, p ConvParams) bool {
	return kh == 3 && kw == 3 && p.Stride == [2]int{1, 1} && p.Padding == [2]int{1, 1}
}

// winogradForward computes y = conv(x, w) (3×3, stride 1, padding 1) with Winograd
// F(4×4, 3×3).
func (ws *ConvWorkspace) winogradForward(y, x, w *Tensor) {
	n, c, h, wd := x.NCHW()
	k := w.Shape[0]
	mr, _ := asm.PanelShape()
	g := winoGeom{n: n, c: c, k: k, h: h, w: wd, th: (h + 3) / 4, tw: (wd + 3) / 4, mr: mr}
	g.tiles = n * g.th * g.tw
	g.block = max(48, winoVFloats/(36*c)/48*48)
	g.block = min(g.block, (g.tiles+47)/48*48)
	g.kpad = (k + mr - 1) / mr * mr
	g.kgroup = min(g.kpad, max(mr, winoKGroup/mr*mr))
	d := &ws.wino
	d.u = grow(d.u, 36*g.kpad*c)
	winoWeights(d.u, w.Data, k, c, g.kpad, mr)
	procs := maxProcs()
	if len(d.workers) < procs {
		d.workers = append(d.workers, make([]winoWorker, procs-len(d.workers))...)
	}
	blocks := (g.tiles + g.block - 1) / g.block
	d.task = winoTask{d: d, g: g, x: x.Data, y: y.Data}
	parallelFor(blocks, &d.task)
	d.task = winoTask{}
}

// winoWeights sets u[ξ][k/mr][c][k%mr] = (G·w[k][c]·Gᵀ)[i][j] for ξ = 6i+j (computed in
// float64, rounded once), with zeros for the rows k ≥ K of the last panel.
func winoWeights(u, w []float32, k, c, kpad, mr int) {
	gm := [6][3]float64{
		{1.0 / 4, 0, 0},
		{-1.0 / 6, -1.0 / 6, -1.0 / 6},
		{-1.0 / 6, 1.0 / 6, -1.0 / 6},
		{1.0 / 24, 1.0 / 12, 1.0 / 6},
		{1.0 / 24, -1.0 / 12, 1.0 / 6},
		{0, 0, 1},
	}
	fs := kpad * c // floats per frequency
	for kk := range kpad {
		for ch := range c {
			at := kk/mr*c*mr + ch*mr + kk%mr
			if kk >= k {
				for f := range 36 {
					u[f*fs+at] = 0
				}
				continue
			}
			g := w[(kk*c+ch)*9 : (kk*c+ch)*9+9]
			var t [6][3]float64 // G·g
			for i := range 6 {
				for j := range 3 {
					t[i][j] = gm[i][0]*float64(g[j]) + gm[i][1]*float64(g[3+j]) + gm[i][2]*float64(g[6+j])
				}
			}
			for i := range 6 {
				for j := range 6 {
					s := t[i][0]*gm[j][0] + t[i][1]*gm[j][1] + t[i][2]*gm[j][2]
					u[(6*i+j)*fs+at] = float32(s)
				}
			}
		}
	}
}

// winoTask computes block i of a Winograd convolution.
type winoTask struct {
	d    *winoWorkspace
	g    winoGeom
	x, y []float32
}

func (t *winoTask) part(wk, i int) {
	g := &t.g
	d := t.d
	wr := &d.workers[wk]
	wr.v = grow(wr.v, 36*g.c*g.block)
	wr.m = grow(wr.m, 36*g.kgroup*g.block)
	t0 := i * g.block
	nt := min(g.block, g.tiles-t0)
	ncol := (nt + asm.WinoLanes - 1) / asm.WinoLanes * asm.WinoLanes
	tpi := g.th * g.tw
	img0 := t0 / tpi // the image of the block's first tile: offsets are relative to it
	plane := g.h * g.w

	in := &wr.in
	xs := t.x[img0*g.c*plane:]
	in.X, in.XLen = &xs[0], len(xs)
	in.V, in.VLen = &wr.v[0], len(wr.v)
	in.Row, in.Plane, in.LDC, in.LDF, in.C = g.w, plane, g.block, g.c*g.block, g.c
	for l0 := 0; l0 < ncol; l0 += asm.WinoLanes {
		in.RowMask, in.ColMask = [8]uint16{}, [8]uint16{}
		for l := range asm.WinoLanes {
			tt := t0 + l0 + l
			if l0+l >= nt {
				in.Off[l] = 0
				continue
			}
			img, r := tt/tpi-img0, tt%tpi
			oy, ox := 4*(r/g.tw)-1, 4*(r%g.tw)-1
			in.Off[l] = int32(img*g.c*plane + oy*g.w + ox)
			for q := range 6 {
				if yy := oy + q; yy >= 0 && yy < g.h {
					in.RowMask[q] |= 1 << l
				}
				if xx := ox + q; xx >= 0 && xx < g.w {
					in.ColMask[q] |= 1 << l
				}
			}
		}
		in.V = &wr.v[l0]
		in.VLen = len(wr.v) - l0
		asm.WinogradInput(in)
	}

	out := &wr.out
	ys := t.y[img0*g.k*plane:]
	for k0 := 0; k0 < g.kpad; k0 += g.kgroup {
		kb := min(g.kgroup, g.kpad-k0)
		for f := range 36 {
			a := d.u[f*g.kpad*g.c+k0*g.c : f*g.kpad*g.c+(k0+kb)*g.c]
			asm.PanelGemm(kb, ncol, g.c, a, wr.v[f*g.c*g.block:], g.block, wr.m[f*kb*g.block:], g.block)
		}
		kout := min(kb, g.k-k0)
		if kout <= 0 {
			continue
		}
		yk := ys[k0*plane:]
		out.Y, out.YLen = &yk[0], len(yk)
		out.Row, out.Plane, out.LDK, out.LDF, out.K = g.w, plane, g.block, kb*g.block, kout
		for l0 := 0; l0 < ncol; l0 += asm.WinoLanes {
			out.RowMask, out.ColMask = [4]uint16{}, [4]uint16{}
			for l := range asm.WinoLanes {
				tt := t0 + l0 + l
				if l0+l >= nt {
					out.Off[l] = 0
					continue
				}
				img, r := tt/tpi-img0, tt%tpi
				oy, ox := 4*(r/g.tw), 4*(r%g.tw)
				out.Off[l] = int32(img*g.k*plane + oy*g.w + ox)
				for q := range 4 {
					if oy+q < g.h {
						out.RowMask[q] |= 1 << l
					}
					if ox+q < g.w {
						out.ColMask[q] |= 1 << l
					}
				}
			}
			out.M, out.MLen = &wr.m[l0], len(wr.m)-l0
			asm.WinogradOutput(out)
		}
	}
}

// winogradPreferred reports whether Conv2dForward uses the Winograd kernels for a 3×3,
// stride-1, padding-1 convolution of c to k channels on h×w images: on the SIMD paths,
// where they measured faster than the direct kernels.
func winogradPreferred(c, k, h, w int) bool {
	return asm.CurrentPath() != asm.Generic && c >= 32 && k >= 32
}
