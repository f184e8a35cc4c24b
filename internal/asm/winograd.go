package asm

import (
	"math"
	"unsafe"
)

// Winograd F(4×4, 3×3) building blocks: the input and output transforms of 16 tiles at a
// time, and the product of a packed weight panel with a block of transformed tiles.
//
// A 6×6 input tile d becomes V = Bᵀ·d·B, a 3×3 kernel g becomes U = G·g·Gᵀ, and the 4×4
// output tile is Y = Aᵀ·(U ⊙ V)·A (Lavin & Gray, 2015), here with the interpolation points
// 0, ±3/4, ±4/3, ∞ (rows and columns scaled to integers) rather than the usual
// 0, ±1, ±2, ∞: their float32 rounding errors are about 4× smaller (see the choice of
// points in Barabasz, Anderson, Soodhalter & Gregg, 2020; measured in a float32 simulation
// of the transforms over sets of points):
//
//	Bᵀ = [144 0 −337 0 144 0; 0 −48 −64 27 36 0; 0 48 −64 −27 36 0;
//	      0 −36 −27 64 48 0; 0 36 −27 −64 48 0; 0 144 0 −337 0 144]
//	G  = [1/144 0 0; −16 −12 −9; −16 12 −9; 9 12 16; 9 −12 16; 0 0 1/144] (rows 1–4 /50400)
//	Aᵀ = [1 64 64 27 27 0; 0 48 −48 36 −36 0; 0 36 36 48 48 0; 0 27 −27 64 −64 1]
//
// The sum over input channels of U ⊙ V is, for each of the 36 frequencies, a matrix
// product (output channels × input channels by input channels × tiles): PanelGemm.

// WinoLanes is the number of tiles one WinogradInput or WinogradOutput call transforms.
const WinoLanes = 16

// The transforms read and write the image rows of their 16 tiles through a "flat" row of
// 64 floats, four per tile: flat[4l + q] is column q of tile l's part of an image row
// (tile l covers input columns 4·tx − 1 … 4·tx + 4 and output columns 4·tx … 4·tx + 3).
// Consecutive tiles of one tile row are consecutive in flat, so the caller describes
// flat as up to 4 pieces per 16-float quarter: contiguous runs of image memory.

// WinoPiece is a run of flat lanes of one quarter read from (or written to) image memory:
// for row r (see the Args types), lane λ of the quarter is the float32 at
// Off + r·Row + λ (+ the channel's plane) if bit λ of Mask[r] is set.
type WinoPiece struct {
	Off  int
	Mask [6]uint16
}

// WinogradInArgs are the arguments of WinogradInput. For channel c < C and tile row
// r < 6, the flat row is
//
//	flat_r[16σ + λ] = X[p.Off + c·Plane + r·Row + λ]   for the piece p of quarter σ with bit λ of p.Mask[r]
//	flat_r[16σ + λ] = 0                                when no piece of σ has the bit
//
// where the pieces of quarter σ are Pieces[4σ : 4σ+NPieces[σ]] (NPieces[σ] ≤ 4, their
// masks disjoint; elements whose bits are clear are never read, so an Off may point
// outside X for them).
// Tile l's input is d[l][r][q] = flat_r[4l + q − 1] for q = 1…4, with the column to the left
// d[l][r][0] = flat_r[4l − 1] where bit l of Keep[0] is set (0 otherwise, and for l = 0)
// and the column to the right d[l][r][5] = flat_r[4l + 4] where bit l of Keep[1] is set (0
// otherwise, and for l = 15). A call stores
//
//	V[ξ·LDF + c·LDC + l] = (Bᵀ·d[l]·B)[i][j]   for the frequency ξ = 6i + j
//
// Indices are in float32s; XLen and VLen are the lengths of the memory at X and V (the Go
// twin indexes slices of them).
type WinogradInArgs struct {
	X       *float32
	V       *float32
	Row     int
	Plane   int
	LDC     int
	LDF     int
	C       int
	XLen    int
	VLen    int
	NPieces [4]int
	Pieces  [16]WinoPiece
	Keep    [2]uint16
	_       [2]uint16
	scratch [25 * WinoLanes]float32 // the kernels' row-transformed flat rows (+ room to align them)
}

// WinogradOutArgs are the arguments of WinogradOutput. For output channel k < K, with
// m[l][i][j] = M[(6i+j)·LDF + k·LDK + l] and o[l] = Aᵀ·m[l]·A (4×4), the flat rows
// flat_i[4l + j] = o[l][i][j] (i, j < 4) are stored through the pieces:
//
//	Y[p.Off + k·Plane + i·Row + λ] = flat_i[16σ + λ]   for the pieces p of quarter σ and the bits λ of p.Mask[i]
//
// (Pieces[4σ : 4σ+NPieces[σ]], Mask[4] and Mask[5] unused), or adds flat_i[16σ + λ] to
// that element if Add ≠ 0. Nothing else is read from Y or written.
//
// With Scale not nil (and Add = 0), an epilogue maps each value v = flat_i[16σ + λ] before
// it is stored, as a batch normalisation in evaluation mode, a residual join and a ReLU
// (rounded as ScaleShift, ScaleShiftRelu and ScaleShiftAddRelu: no fused multiply-add):
//
//	v = float32(v·Scale[k]) + Shift[k]
//	v = v + R[p.Off + k·Plane + i·Row + λ]   if R is not nil (the element of Y's index)
//	v = max(v, +0)                           if Relu ≠ 0 (+0 for NaN and −0, as Relu)
//
// R may be Y. Indices are in float32s; MLen, YLen and RLen are the lengths of the memory
// at M, Y and R, and Scale and Shift hold K values.
type WinogradOutArgs struct {
	M       *float32
	Y       *float32
	Row     int
	Plane   int
	LDK     int
	LDF     int
	K       int
	MLen    int
	YLen    int
	NPieces [4]int
	Pieces  [16]WinoPiece
	Add     int
	Scale   *float32
	Shift   *float32
	R       *float32
	RLen    int
	Relu    int
	scratch [41 * WinoLanes]float32 // the kernels' transformed rows and output tiles (+ room to align them)
}

// WinogradInput runs the input transform of the current path (see WinogradInArgs).
func WinogradInput(a *WinogradInArgs) {
	if f := archWinoInput(CurrentPath()); f != nil {
		f(a)
		return
	}
	WinogradInputGo(a)
}

// WinogradOutput runs the output transform of the current path (see WinogradOutArgs).
func WinogradOutput(a *WinogradOutArgs) {
	if f := archWinoOutput(CurrentPath()); f != nil {
		f(a)
		return
	}
	WinogradOutputGo(a)
}

// fma32 is the fused multiply-add of float32s a·b + c (rounded once, as the assembly's).
func fma32(a, b, c float32) float32 {
	return float32(math.FMA(float64(a), float64(b), float64(c)))
}

// winoIn1 is the 1-d input transform v = Bᵀ·d.
func winoIn1(d *[6]float32) (v [6]float32) {
	q := fma32(-64, d[2], 36*d[4])
	p := fma32(-48, d[1], 27*d[3])
	r := fma32(-27, d[2], 48*d[4])
	s := fma32(-36, d[1], 64*d[3])
	v[0] = fma32(-337, d[2], 144*(d[0]+d[4]))
	v[1] = q + p
	v[2] = q - p
	v[3] = r + s
	v[4] = r - s
	v[5] = fma32(-337, d[3], 144*(d[1]+d[5]))
	return v
}

// winoOut1 is the 1-d output transform o = Aᵀ·m.
func winoOut1(m *[6]float32) (o [4]float32) {
	a, b := m[1]+m[2], m[1]-m[2]
	c, d := m[3]+m[4], m[3]-m[4]
	o[0] = fma32(27, c, fma32(64, a, m[0]))
	o[1] = fma32(36, d, 48*b)
	o[2] = fma32(48, c, 36*a)
	o[3] = fma32(64, d, fma32(27, b, m[5]))
	return o
}

// WinogradInputGo is the pure-Go input transform (the twin of the assembly kernels).
func WinogradInputGo(a *WinogradInArgs) {
	x := unsafe.Slice(a.X, a.XLen)
	v := unsafe.Slice(a.V, a.VLen)
	for c := range a.C {
		var flat [6][4 * WinoLanes]float32
		for r := range 6 {
			for q := range 4 {
				for _, p := range a.Pieces[4*q : 4*q+a.NPieces[q]] {
					for l := range 16 {
						if p.Mask[r]&(1<<l) != 0 {
							flat[r][16*q+l] = x[p.Off+c*a.Plane+r*a.Row+l]
						}
					}
				}
			}
		}
		for l := range WinoLanes {
			var d [6][6]float32 // the tile: d[r][q]
			for r := range 6 {
				copy(d[r][1:5], flat[r][4*l:4*l+4])
				if a.Keep[0]&(1<<l) != 0 && l > 0 {
					d[r][0] = flat[r][4*l-1]
				}
				if a.Keep[1]&(1<<l) != 0 && l < WinoLanes-1 {
					d[r][5] = flat[r][4*l+4]
				}
			}
			var t [6][6]float32 // columns transformed first (as the assembly): t[i][q] = (Bᵀ·d)[i][q]
			for q := range 6 {
				col := [6]float32{d[0][q], d[1][q], d[2][q], d[3][q], d[4][q], d[5][q]}
				o := winoIn1(&col)
				for i := range 6 {
					t[i][q] = o[i]
				}
			}
			for i := range 6 {
				o := winoIn1(&t[i])
				for j := range 6 {
					v[(6*i+j)*a.LDF+c*a.LDC+l] = o[j]
				}
			}
		}
	}
}

// WinogradOutputGo is the pure-Go output transform (the twin of the assembly kernels).
func WinogradOutputGo(a *WinogradOutArgs) {
	m := unsafe.Slice(a.M, a.MLen)
	y := unsafe.Slice(a.Y, a.YLen)
	var scale, shift, r []float32
	if a.Scale != nil {
		scale, shift = unsafe.Slice(a.Scale, a.K), unsafe.Slice(a.Shift, a.K)
		if a.R != nil {
			r = unsafe.Slice(a.R, a.RLen)
		}
	}
	for k := range a.K {
		var flat [4][4 * WinoLanes]float32
		for l := range WinoLanes {
			var t [6][4]float32 // rows transformed first (as the assembly): t[i][·] = Aᵀ·m[i][·]
			for i := range 6 {
				var row [6]float32
				for j := range 6 {
					row[j] = m[(6*i+j)*a.LDF+k*a.LDK+l]
				}
				t[i] = winoOut1(&row)
			}
			for j := range 4 {
				col := [6]float32{t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]}
				o := winoOut1(&col)
				for i := range 4 {
					flat[i][4*l+j] = o[i]
				}
			}
		}
		for i := range 4 {
			for q := range 4 {
				for _, p := range a.Pieces[4*q : 4*q+a.NPieces[q]] {
					for l := range 16 {
						if p.Mask[i]&(1<<l) == 0 {
							continue
						}
						at := p.Off + k*a.Plane + i*a.Row + l
						v := flat[i][16*q+l]
						switch {
						case a.Add != 0:
							y[at] += v
							continue
						case scale != nil:
							v = float32(v*scale[k]) + shift[k]
							if r != nil {
								v += r[at]
							}
							if a.Relu != 0 && !(v > 0) {
								v = 0
							}
						}
						y[at] = v
					}
				}
			}
		}
	}
}

// PanelShape reports the tile of PanelGemm on the current path: the m of a call is a
// multiple of mr, its n a multiple of lanes.
func PanelShape() (mr, lanes int) {
	k := cur().gemm
	if k.lanes == 0 {
		return 4, 8
	}
	return k.mr, k.lanes
}

// PanelGemm sets C = A·B for an m×k A packed in micro-panels, as PanelShape describes:
//
//	c[i·ldc + j] = Σ_{p<k} a[(i/mr)·k·mr + p·mr + i%mr] · b[p·ldb + j]   (sequentially in p, from zero)
//
// for i < m and j < n, where n is a multiple of lanes (see PanelShape); a holds ⌈m/mr⌉
// whole micro-panels (the rows of the last one past m are read, and ignored, when m is
// not a multiple of mr: the output channels a Winograd product pads to mr, which it does
// not compute). On the SIMD paths each term is added with a fused multiply-add and B is
// read in place.
func PanelGemm(m, n, k int, a, b []float32, ldb int, c []float32, ldc int) {
	kern := cur().gemm
	if kern.lanes == 0 || !kern.direct {
		panelGemmGo(4, m, n, k, a, b, ldb, c, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	if n%kern.lanes != 0 {
		panic("asm: PanelGemm: n is not a multiple of the vector")
	}
	if m == 0 || n == 0 {
		return
	}
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	for j := 0; j < n; j += nr {
		w := min(nr, n-j)
		for i := 0; i < m; i += mr {
			r := min(mr, m-i)
			ai, ci := a[i*k:(i+mr)*k], c[i*ldc+j:]
			switch {
			case kern.panel[r][w/kern.lanes] != nil:
				kern.panel[r][w/kern.lanes](k, ai, b[j:], ldb, ci, ldc)
			case r < mr:
				panelRowsFMA(mr, r, w, k, ai, b[j:], ldb, ci, ldc)
			case w < nr:
				kern.narrow[w/kern.lanes](k, ai, b[j:], ldb, ci, ldc, 1, 0)
			default:
				kern.micro(k, ai, b[j:], ldb, ci, ldc, 1, 0)
			}
		}
	}
}

// panelRowsFMA sets c[i·ldc + j] = Σ_{p<k} a[p·mr + i]·b[p·ldb + j] for i < r and j < n,
// one fused multiply-add per term from zero, as the micro-kernels compute their rows (the
// partial panel of PanelGemm on a path without row tails).
func panelRowsFMA(mr, r, n, k int, a, b []float32, ldb int, c []float32, ldc int) {
	for i := range r {
		row := c[i*ldc : i*ldc+n]
		for j := range row {
			var s float32
			for p := range k {
				s = fma32(a[p*mr+i], b[p*ldb+j], s)
			}
			row[j] = s
		}
	}
}

// panelGemmGo is PanelGemm in Go, for micro-panels of mr rows.
func panelGemmGo(mr, m, n, k int, a, b []float32, ldb int, c []float32, ldc int) {
	if k == 0 {
		for i := range m {
			clear(c[i*ldc : i*ldc+n])
		}
		return
	}
	for i := range m {
		ap := a[i/mr*k*mr+i%mr:]
		row := c[i*ldc : i*ldc+n]
		clear(row)
		for p := range k {
			s := ap[p*mr]
			brow := b[p*ldb : p*ldb+n]
			for j, bv := range brow {
				row[j] += float32(s * bv)
			}
		}
	}
}
