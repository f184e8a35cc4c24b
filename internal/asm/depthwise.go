package asm

import (
	"fmt"
	"unsafe"
)

// Depthwise 3×3 convolution kernels: each output channel reads only its own input channel,
// through 3×3 taps with one pixel of zero padding, at stride 1 or 2 (the depthwise layers
// of MobileNetV2). A call computes consecutive channel planes of one image, an output row
// at a time, a vector of Lanes output pixels at a time; every output pixel is
//
//	s_ky = Σ_kx w[ky·3+kx]·x[s·oy−1+ky][s·ox−1+kx]     (kx = 0, 1, 2 in order; taps in the
//	                                                     padding count as zero)
//	v    = ((s0 + s1) + s2) + bias
//	v    = y_old + v          with DWAdd
//	v    = max(v, 0)          with DWRelu (+0 for NaN and −0)
//	v    = min(v, hi)         with DWClip
//
// The three row sums s_ky are independent chains (multiply, then two fused multiply-adds
// on the SIMD paths; products and sums rounded separately in the Go twin), so that the
// kernels hide the latency of the FMA.

// Depthwise modes, combined with |.
const (
	// DWAdd adds the result into y instead of overwriting it (before the activation).
	DWAdd = 1 << iota
	// DWRelu applies max(·, 0): x > 0 ? x : +0, so NaN and −0 give +0.
	DWRelu
	// DWClip applies min(·, hi) after the ReLU (ReLU6 is DWRelu|DWClip with hi = 6).
	DWClip
)

// dwArgs is the argument block of the depthwise kernels; the generated code
// (_gen/depthwise) reads its fields at fixed offsets (TestDepthwiseArgsLayout pins them).
// The kernels change planes and, on AVX2 at stride 2, wb.
type dwArgs struct {
	x, y, w, bias unsafe.Pointer // first plane's input and output, weights [planes][9], bias [planes]
	zero          unsafe.Pointer // a row of zeros, read for the input rows in the padding
	planes        int
	h             int // input rows
	iyEnd         int // s·ho − 1: the first input row of the output row after the last
	nv            int // vectors per output row
	mode          int // DWAdd | DWRelu | DWClip
	rowX, rowY    int // bytes per input and output row
	planeX        int // bytes per input plane
	biasStep      int // 4, or 0 without bias (bias then points at zeros)
	lastOff       int // byte offset of the last vector of an output row
	hi            float32
	_             float32
	// kmask (AVX-512) are the load and store masks of the first and last vectors of a row,
	// one bit per lane; ymask (AVX2) the same as vectors of int32 lanes (−1: load/store).
	// Stride 1: [0] first vector, kx = 0; [1..3] last vector, kx = 0..2; [4] store.
	// Stride 2: [0] first vector, the load at column 2jL−1; [1..4] last vector, the loads at
	// columns 2jL, 2jL+L, 2jL−1, 2jL−1+L; [5] store. With one vector per row, the last
	// vector's masks include the first's.
	kmask [8]uint16
	ymask [6][8]int32
	// wb is the AVX2 kernels' table of broadcast values: the weights [0..8] and bias [9] of
	// the plane (stride 2), hi [10].
	wb [12][8]float32
	// fmask are the masks of the flat kernel (rows of at most 8 pixels at stride 1; see
	// dwSetupFlat) for its first, middle, last and only group of rows: the loads of kernel
	// rows 0, 1, 2, and the store.
	fmask [4][4]uint16
}

// dwZeros is the row of zeros the kernels read in place of input rows in the padding;
// dwMaxWidth bounds the rows it serves (wider inputs run on the Go twin).
var dwZeros [2*dwMaxWidth + 64]float32

const dwMaxWidth = 4096

// Depthwise3x3 computes planes consecutive channels of a depthwise 3×3 convolution of one
// image with padding 1 and stride 1 or 2, as described above: x: [planes, h, wd], w:
// [planes, 3, 3], bias: [planes] (nil: zeros), y: [planes, ho, wo] with ho = ⌊(h−1)/s⌋+1
// and wo = ⌊(wd−1)/s⌋+1; mode combines DWAdd, DWRelu and DWClip (hi is the DWClip bound).
// It runs the current path's kernel (AVX512: 16 lanes, AVX2: 8, Generic: the Go twin with
// 8 lanes). y must not overlap x. It panics if a slice is too short or stride is not 1 or 2.
func Depthwise3x3(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32) {
	if stride != 1 && stride != 2 {
		panic(fmt.Sprintf("asm: Depthwise3x3: stride %d", stride))
	}
	ho, wo := (h-1)/stride+1, (wd-1)/stride+1
	if planes <= 0 || h <= 0 || wd <= 0 {
		if planes < 0 || h < 0 || wd < 0 {
			panic(fmt.Sprintf("asm: Depthwise3x3: %d planes of %d×%d", planes, h, wd))
		}
		return
	}
	if len(x) < planes*h*wd || len(y) < planes*ho*wo || len(w) < 9*planes || (bias != nil && len(bias) < planes) {
		panic(fmt.Sprintf("asm: Depthwise3x3: %d planes of %d×%d (stride %d): slices of %d, %d, %d and %d values",
			planes, h, wd, stride, len(x), len(y), len(w), len(bias)))
	}
	if depthwiseSIMD(y, x, w, bias, planes, h, wd, stride, mode, hi) {
		return
	}
	depthwiseGo(y, x, w, bias, planes, h, wd, stride, mode, hi, 8)
}

// DepthwiseGo is the Go twin of Depthwise3x3 with vectors of lanes output pixels (the
// vector width only shapes the loops; the results do not depend on it). Tests compare the
// kernels with it.
func DepthwiseGo(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32, lanes int) {
	depthwiseGo(y, x, w, bias, planes, h, wd, stride, mode, hi, lanes)
}

func depthwiseGo(y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32, lanes int) {
	ho, wo := (h-1)/stride+1, (wd-1)/stride+1
	nv := (wo + lanes - 1) / lanes
	for c := range planes {
		xp := x[c*h*wd : (c+1)*h*wd]
		yp := y[c*ho*wo : (c+1)*ho*wo]
		wc := w[9*c : 9*c+9]
		var b float32
		if bias != nil {
			b = bias[c]
		}
		for oy := range ho {
			yr := yp[oy*wo : (oy+1)*wo]
			for j := range nv {
				for ox := j * lanes; ox < min(wo, (j+1)*lanes); ox++ {
					var s [3]float32
					for ky := range 3 {
						iy := stride*oy - 1 + ky
						if iy < 0 || iy >= h {
							continue // a row of zeros: s_ky stays +0
						}
						row := xp[iy*wd : (iy+1)*wd]
						var v [3]float32
						for kx := range 3 {
							if ix := stride*ox - 1 + kx; ix >= 0 && ix < wd {
								v[kx] = row[ix]
							}
						}
						acc := float32(wc[3*ky] * v[0])
						acc += float32(wc[3*ky+1] * v[1])
						acc += float32(wc[3*ky+2] * v[2])
						s[ky] = acc
					}
					v := ((s[0] + s[1]) + s[2]) + b
					yr[ox] = dwEpilogue(v, yr[ox], mode, hi)
				}
			}
		}
	}
}

// dwEpilogue applies mode to the convolution's value v of an output whose old value is old.
func dwEpilogue(v, old float32, mode int, hi float32) float32 {
	if mode&DWAdd != 0 {
		v = old + v
	}
	if mode&DWRelu != 0 && !(v > 0) {
		v = 0
	}
	if mode&DWClip != 0 && !(v < hi) {
		v = hi
	}
	return v
}

// dwSetup fills the argument block for vectors of lanes pixels and reports whether the
// kernels can run the call: rows no wider than dwMaxWidth.
func dwSetup(a *dwArgs, y, x, w, bias []float32, planes, h, wd, stride, mode int, hi float32, lanes int) bool {
	if wd > dwMaxWidth {
		return false
	}
	ho, wo := (h-1)/stride+1, (wd-1)/stride+1
	a.x, a.y, a.w = unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), unsafe.Pointer(&w[0])
	a.bias, a.biasStep = unsafe.Pointer(&dwZeros[0]), 0
	if bias != nil {
		a.bias, a.biasStep = unsafe.Pointer(&bias[0]), 4
	}
	a.zero = unsafe.Pointer(&dwZeros[1])
	a.planes, a.h, a.iyEnd = planes, h, stride*ho-1
	a.nv = (wo + lanes - 1) / lanes
	a.mode, a.hi = mode, hi
	a.rowX, a.rowY, a.planeX = 4*wd, 4*wo, 4*h*wd
	a.lastOff = 4 * (a.nv - 1) * lanes
	for l := range 8 {
		a.wb[10][l] = hi
	}
	a.setMasks(stride, lanes, wd, wo)
	return true
}

// setMasks fills kmask and ymask (see dwArgs) for vectors of lanes pixels.
func (a *dwArgs) setMasks(stride, lanes, wd, wo int) {
	// valid returns the mask of the lanes l whose column c0 + l lies in [0, limit).
	valid := func(c0, limit int) uint16 {
		var m uint16
		for l := range lanes {
			if c := c0 + l; c >= 0 && c < limit {
				m |= 1 << l
			}
		}
		return m
	}
	L := lanes
	last := (a.nv - 1) * L
	var k [8]uint16
	if stride == 1 {
		k[0] = valid(-1, wd)
		for kx := range 3 {
			k[1+kx] = valid(last+kx-1, wd)
		}
		k[4] = valid(last, wo)
	} else {
		k[0] = valid(-1, wd)
		for i, off := range []int{0, L, -1, L - 1} {
			k[1+i] = valid(2*last+off, wd)
		}
		k[5] = valid(last, wo)
	}
	a.kmask = k
	for i := range a.ymask {
		for l := range 8 {
			a.ymask[i][l] = 0
			if k[i]&(1<<l) != 0 {
				a.ymask[i][l] = -1
			}
		}
	}
}

// DepthwiseWgrad3x3 sets g to the weight gradients of planes consecutive channels of a
// depthwise 3×3 convolution of one image with padding 1 and stride 1 or 2:
//
//	g[c][3ky+kx] = Σ_{oy,ox} dy[c][oy][ox] · x[c][s·oy−1+ky][s·ox−1+kx]   (padding: zero)
//
// x: [planes, h, wd], dy: [planes, ho, wo] as for Depthwise3x3, g: [planes, 9]
// (overwritten). Each tap's products are summed lane by lane over the vectors of Lanes
// output pixels of each row, rows in order (one fused multiply-add each on the SIMD
// paths), and the lanes then added in a tree (the upper half onto the lower, down to one).
// It runs the current path's kernel (AVX512: 16 lanes, AVX2: 8, Generic: the Go twin with
// 8). It panics if a slice is too short or stride is not 1 or 2.
func DepthwiseWgrad3x3(g, x, dy []float32, planes, h, wd, stride int) {
	if stride != 1 && stride != 2 {
		panic(fmt.Sprintf("asm: DepthwiseWgrad3x3: stride %d", stride))
	}
	ho, wo := (h-1)/stride+1, (wd-1)/stride+1
	if planes < 0 || h < 0 || wd < 0 {
		panic(fmt.Sprintf("asm: DepthwiseWgrad3x3: %d planes of %d×%d", planes, h, wd))
	}
	if planes == 0 || h == 0 || wd == 0 {
		clear(g[:9*planes])
		return
	}
	if len(x) < planes*h*wd || len(dy) < planes*ho*wo || len(g) < 9*planes {
		panic(fmt.Sprintf("asm: DepthwiseWgrad3x3: %d planes of %d×%d (stride %d): slices of %d, %d and %d values",
			planes, h, wd, stride, len(x), len(dy), len(g)))
	}
	if depthwiseWgradSIMD(g, x, dy, planes, h, wd, stride) {
		return
	}
	depthwiseWgradGo(g, x, dy, planes, h, wd, stride, 8)
}

// DepthwiseWgradGo is the Go twin of DepthwiseWgrad3x3 with vectors of lanes (8 or 16)
// output pixels, the order of the sums of the kernel of that width (each product rounded
// before it is added, where the kernels fuse them).
func DepthwiseWgradGo(g, x, dy []float32, planes, h, wd, stride, lanes int) {
	depthwiseWgradGo(g, x, dy, planes, h, wd, stride, lanes)
}

func depthwiseWgradGo(g, x, dy []float32, planes, h, wd, stride, lanes int) {
	ho, wo := (h-1)/stride+1, (wd-1)/stride+1
	acc := make([]float32, 9*lanes)
	for c := range planes {
		xp := x[c*h*wd : (c+1)*h*wd]
		dp := dy[c*ho*wo : (c+1)*ho*wo]
		clear(acc)
		for oy := range ho {
			for ox := range wo {
				d := dp[oy*wo+ox]
				l := ox % lanes
				for ky := range 3 {
					iy := stride*oy - 1 + ky
					if iy < 0 || iy >= h {
						continue
					}
					for kx := range 3 {
						if ix := stride*ox - 1 + kx; ix >= 0 && ix < wd {
							acc[(3*ky+kx)*lanes+l] += float32(xp[iy*wd+ix] * d)
						}
					}
				}
			}
		}
		for t := range 9 {
			a := acc[t*lanes : (t+1)*lanes]
			for n := lanes / 2; n >= 1; n /= 2 {
				for i := range n {
					a[i] += a[i+n]
				}
			}
			g[9*c+t] = a[0]
		}
	}
}

// DepthwiseBackward3x3s2 computes the input gradient of planes consecutive channels of a
// depthwise 3×3 convolution of one image with padding 1 at stride 2:
//
//	dx[c][iy][ix] = Σ dy[c][oy][ox] · w[c][3ky+kx]  over iy = 2·oy−1+ky, ix = 2·ox−1+kx
//
// dx: [planes, h, wd] (overwritten, or added into with mode DWAdd), dy: [planes, ho, wo]
// with ho = ⌊(h−1)/2⌋+1 and wo = ⌊(wd−1)/2⌋+1, w: [planes, 9]. An even row or column of dx
// takes one tap per row and column of the kernel, an odd one two. It runs the current
// path's kernel (AVX512, AVX2) or the Go twin. It panics if a slice is too short.
func DepthwiseBackward3x3s2(dx, dy, w []float32, planes, h, wd, mode int) {
	ho, wo := (h-1)/2+1, (wd-1)/2+1
	if planes < 0 || h < 0 || wd < 0 {
		panic(fmt.Sprintf("asm: DepthwiseBackward3x3s2: %d planes of %d×%d", planes, h, wd))
	}
	if planes == 0 || h == 0 || wd == 0 {
		return
	}
	if len(dx) < planes*h*wd || len(dy) < planes*ho*wo || len(w) < 9*planes {
		panic(fmt.Sprintf("asm: DepthwiseBackward3x3s2: %d planes of %d×%d: slices of %d, %d and %d values",
			planes, h, wd, len(dx), len(dy), len(w)))
	}
	if depthwiseBackward2SIMD(dx, dy, w, planes, h, wd, mode) {
		return
	}
	DepthwiseBackward3x3s2Go(dx, dy, w, planes, h, wd, mode)
}

// DepthwiseBackward3x3s2Go is the Go twin of DepthwiseBackward3x3s2: per element of dx,
// the taps in the order ky = 1 (even rows), or 0 then 2 (odd rows), and within a row kx =
// 1 (even columns), or 2 then 0 (odd columns); products rounded before they are added.
func DepthwiseBackward3x3s2Go(dx, dy, w []float32, planes, h, wd, mode int) {
	ho, wo := (h-1)/2+1, (wd-1)/2+1
	for c := range planes {
		g := dy[c*ho*wo : (c+1)*ho*wo]
		wc := w[9*c : 9*c+9]
		for iy := range h {
			row := dx[(c*h+iy)*wd : (c*h+iy+1)*wd]
			for ix := range wd {
				var v float32
				for _, ky := range [2][]int{{1}, {0, 2}}[iy%2] {
					oy := (iy + 1 - ky) / 2
					if oy >= ho {
						continue
					}
					for _, kx := range [2][]int{{1}, {2, 0}}[ix%2] {
						if ox := (ix + 1 - kx) / 2; ox < wo {
							v += float32(g[oy*wo+ox] * wc[3*ky+kx])
						}
					}
				}
				if mode&DWAdd != 0 {
					v = row[ix] + v
				}
				row[ix] = v
			}
		}
	}
}

// dwSetupBackward2 fills the argument block of the stride-2 data-gradient kernels (see
// emitBackward2 in _gen/depthwise) for dx: [planes, h, wd] and vectors of lanes pixels,
// and reports whether the kernels can run the call.
func dwSetupBackward2(a *dwArgs, dx, dy, w []float32, planes, h, wd, mode, lanes int) bool {
	if wd > dwMaxWidth {
		return false
	}
	ho, wo := (h-1)/2+1, (wd-1)/2+1
	a.x, a.y, a.w = unsafe.Pointer(&dy[0]), unsafe.Pointer(&dx[0]), unsafe.Pointer(&w[0])
	a.zero = unsafe.Pointer(&dwZeros[1])
	a.planes, a.h, a.iyEnd = planes, ho, h
	a.nv = (wo + lanes - 1) / lanes
	a.mode = mode
	a.rowX, a.rowY, a.planeX = 4*wo, 4*wd, 4*ho*wo
	a.lastOff = 4 * (a.nv - 1) * lanes
	last := (a.nv - 1) * lanes
	valid := func(c0, limit int) uint16 {
		var m uint16
		for l := range lanes {
			if c := c0 + l; c >= 0 && c < limit {
				m |= 1 << l
			}
		}
		return m
	}
	a.kmask = [8]uint16{valid(last, wo), valid(2*last, wd), valid(2*last+lanes, wd)}
	for i := range a.ymask {
		for l := range 8 {
			a.ymask[i][l] = 0
			if a.kmask[i]&(1<<l) != 0 {
				a.ymask[i][l] = -1
			}
		}
	}
	return true
}

// dwSetupFlat fills the argument block of depthwise3x3s1FlatAVX512 (see emitFlat1 in
// _gen/depthwise) and reports whether the kernel computes the call: stride 1, rows of at
// most 8 pixels, vectors of 16 lanes holding r = ⌊16/wd⌋ rows each.
func dwSetupFlat(a *dwArgs, y, x, w, bias []float32, planes, h, wd, mode int, hi float32) bool {
	if wd > 8 {
		return false
	}
	r := 16 / wd
	groups := (h + r - 1) / r
	q := h - (groups-1)*r // rows of the last group
	a.x, a.y, a.w = unsafe.Pointer(&x[0]), unsafe.Pointer(&y[0]), unsafe.Pointer(&w[0])
	a.bias, a.biasStep = unsafe.Pointer(&dwZeros[0]), 0
	if bias != nil {
		a.bias, a.biasStep = unsafe.Pointer(&bias[0]), 4
	}
	a.planes, a.h, a.mode, a.hi = planes, groups, mode, hi
	a.rowX, a.planeX, a.lastOff = 4*r*wd, 4*h*wd, 4*wd
	// lanes returns the mask of lanes [lo, hi).
	lanes := func(lo, hi int) uint16 {
		var m uint16
		for l := max(lo, 0); l < min(hi, 16); l++ {
			m |= 1 << l
		}
		return m
	}
	var colL, colR uint16
	for l := range r * wd {
		if l%wd != 0 {
			colL |= 1 << l
		}
		if l%wd != wd-1 {
			colR |= 1 << l
		}
	}
	a.kmask[0], a.kmask[1] = colL, colR
	full := lanes(0, r*wd)
	a.fmask = [4][4]uint16{
		{lanes(wd, r*wd), full, full, full},                                   // first
		{full, full, full, full},                                              // middle
		{lanes(0, q*wd), lanes(0, q*wd), lanes(0, (q-1)*wd), lanes(0, q*wd)},  // last
		{lanes(wd, q*wd), lanes(0, q*wd), lanes(0, (q-1)*wd), lanes(0, q*wd)}, // only
	}
	return true
}
