package asm

import "unsafe"

// Winograd F(4×4, 3×3) building blocks: the input and output transforms of 16 tiles at a
// time, and the product of a packed weight panel with a block of transformed tiles.
//
// A 6×6 input tile d becomes V = Bᵀ·d·B, a 3×3 kernel g becomes U = G·g·Gᵀ, and the 4×4
// output tile is Y = Aᵀ·(U ⊙ V)·A (Lavin & Gray, 2015; interpolation points 0, ±1, ±2, ∞):
//
//	Bᵀ = [4 0 −5 0 1 0; 0 −4 −4 1 1 0; 0 4 −4 −1 1 0; 0 −2 −1 2 1 0; 0 2 −1 −2 1 0; 0 4 0 −5 0 1]
//	G  = [1/4 0 0; −1/6 −1/6 −1/6; −1/6 1/6 −1/6; 1/24 1/12 1/6; 1/24 −1/12 1/6; 0 0 1]
//	Aᵀ = [1 1 1 1 1 0; 0 1 −1 2 −2 0; 0 1 1 4 4 0; 0 1 −1 8 −8 1]
//
// The sum over input channels of U ⊙ V is, for each of the 36 frequencies, a matrix
// product (output channels × input channels by input channels × tiles): PanelGemm.

// WinoLanes is the number of tiles one WinogradInput or WinogradOutput call transforms.
const WinoLanes = 16

// WinogradInArgs are the arguments of WinogradInput. For lane l < 16 (a tile), channel
// c < C and tile element (r, s), r, s < 6, the input element is
//
//	d[l][c][r][s] = X[Off[l] + c·Plane + r·Row + s]   if bit l of RowMask[r] and of ColMask[s] are set
//	d[l][c][r][s] = 0                                 otherwise (the zero padding)
//
// (indices in float32s; elements whose bits are clear are never read, so Off may point
// outside X for them). A call stores V[ξ·LDF + c·LDC + l] = (Bᵀ·d[l][c]·B)[i][j] for the
// frequency ξ = 6i + j. XLen and VLen are the lengths of the memory at X and V, in float32s
// (the Go twin indexes slices of them).
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
	Off     [WinoLanes]int32
	RowMask [8]uint16 // the first 6 are used
	ColMask [8]uint16
}

// WinogradOutArgs are the arguments of WinogradOutput. For lane l < 16 (a tile) and
// output channel k < K, with m[l][k][i][j] = M[(6i+j)·LDF + k·LDK + l], a call stores
//
//	Y[Off[l] + k·Plane + i·Row + j] = (Aᵀ·m[l][k]·A)[i][j]   for i, j < 4
//
// where bit l of RowMask[i] and of ColMask[j] are set (the other elements of the 4×4 tile
// are outside the output and are neither read nor written). Indices are in float32s; MLen
// and YLen are the lengths of the memory at M and Y.
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
	Off     [WinoLanes]int32
	RowMask [4]uint16
	ColMask [4]uint16
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

// winoIn1 is the 1-d input transform v = Bᵀ·d.
func winoIn1(d *[6]float32) (v [6]float32) {
	v[0] = (d[4] + 4*d[0]) - 5*d[2]
	v[1] = (d[3] + d[4]) - 4*(d[1]+d[2])
	v[2] = (d[4] - d[3]) + 4*(d[1]-d[2])
	v[3] = (d[4] - d[2]) + 2*(d[3]-d[1])
	v[4] = (d[4] - d[2]) - 2*(d[3]-d[1])
	v[5] = (d[5] + 4*d[1]) - 5*d[3]
	return v
}

// winoOut1 is the 1-d output transform o = Aᵀ·m.
func winoOut1(m *[6]float32) (o [4]float32) {
	a, b := m[1]+m[2], m[1]-m[2]
	c, d := m[3]+m[4], m[3]-m[4]
	o[0] = (m[0] + a) + c
	o[1] = b + 2*d
	o[2] = a + 4*c
	o[3] = (b + 8*d) + m[5]
	return o
}

// WinogradInputGo is the pure-Go input transform (the twin of the assembly kernels).
func WinogradInputGo(a *WinogradInArgs) {
	x := unsafe.Slice(a.X, a.XLen)
	v := unsafe.Slice(a.V, a.VLen)
	for l := range WinoLanes {
		bit := uint16(1) << l
		for c := range a.C {
			var t [6][6]float32 // rows transformed: t[r] = Bᵀ·d[r]
			for r := range 6 {
				var d [6]float32
				if a.RowMask[r]&bit != 0 {
					base := int(a.Off[l]) + c*a.Plane + r*a.Row
					for s := range 6 {
						if a.ColMask[s]&bit != 0 {
							d[s] = x[base+s]
						}
					}
				}
				t[r] = winoIn1(&d)
			}
			for j := range 6 {
				col := [6]float32{t[0][j], t[1][j], t[2][j], t[3][j], t[4][j], t[5][j]}
				o := winoIn1(&col)
				for i := range 6 {
					v[(6*i+j)*a.LDF+c*a.LDC+l] = o[i]
				}
			}
		}
	}
}

// WinogradOutputGo is the pure-Go output transform (the twin of the assembly kernels).
func WinogradOutputGo(a *WinogradOutArgs) {
	m := unsafe.Slice(a.M, a.MLen)
	y := unsafe.Slice(a.Y, a.YLen)
	for l := range WinoLanes {
		bit := uint16(1) << l
		for k := range a.K {
			var t [4][6]float32 // columns transformed: t[·][j] = Aᵀ·m[·][j]
			for j := range 6 {
				var col [6]float32
				for i := range 6 {
					col[i] = m[(6*i+j)*a.LDF+k*a.LDK+l]
				}
				o := winoOut1(&col)
				for i := range 4 {
					t[i][j] = o[i]
				}
			}
			for i := range 4 {
				if a.RowMask[i]&bit == 0 {
					continue
				}
				o := winoOut1(&t[i])
				base := int(a.Off[l]) + k*a.Plane + i*a.Row
				for j := range 4 {
					if a.ColMask[j]&bit != 0 {
						y[base+j] = o[j]
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
// for i < m and j < n, where m is a multiple of mr and n of lanes (see PanelShape). On
// the SIMD paths each term is added with a fused multiply-add and B is read in place.
func PanelGemm(m, n, k int, a, b []float32, ldb int, c []float32, ldc int) {
	kern := cur().gemm
	if kern.lanes == 0 || !kern.direct {
		panelGemmGo(4, m, n, k, a, b, ldb, c, ldc)
		return
	}
	mr, nr := kern.mr, kern.nr
	if m%mr != 0 || n%kern.lanes != 0 {
		panic("asm: PanelGemm: m or n is not a multiple of the tile")
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
		micro := kern.micro
		if w := n - j; w < nr {
			micro = kern.narrow[w/kern.lanes]
		}
		for i := 0; i < m; i += mr {
			micro(k, a[i*k:(i+mr)*k], b[j:], ldb, c[i*ldc+j:], ldc, 1, 0)
		}
	}
}

// panelGemmGo is PanelGemm in Go, for micro-panels of mr rows.
func panelGemmGo(mr, m, n, k int, a, b []float32, ldb int, c []float32, ldc int) {
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
