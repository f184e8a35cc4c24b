package tensor

import "github.com/bonsai-dl/bonsai/internal/asm"

// im2col writes the patches of one image x: [C, H, W] into the columns of
// col: row r = (c·kh + ky)·kw + kx, column oy·wo + ox; ld is col's row
// stride. Padding positions are written as zero.
func im2col(col []float32, ld int, x []float32, c, h, w, kh, kw, ho, wo int, p ConvParams) {
	im2colRows(col, ld, x, c, h, w, kh, kw, wo, 0, ho, p)
}

// im2colRows is im2col for the output rows [oy0, oy1) only: column (oy−oy0)·wo + ox.
func im2colRows(col []float32, ld int, x []float32, c, h, w, kh, kw, wo, oy0, oy1 int, p ConvParams) {
	im2colPart(col, ld, x, 0, c, h, w, kh, kw, wo, oy0, oy1, p)
}

// im2colPairMinWidth is the narrowest output row for which im2colPart writes the rows of
// two kernel columns at stride 2 with one Deinterleave2 (a call costs more than a short
// row's element loop: ResNet's 7×7 layers slowed down).
const im2colPairMinWidth = 32

// im2colPart is im2colRows for the input channels [c0, c1) only: the rows of col they own.
func im2colPart(col []float32, ld int, x []float32, c0, c1, h, w, kh, kw, wo, oy0, oy1 int, p ConvParams) {
	sh, sw := p.Stride[0], p.Stride[1]
	ph, pw := p.Padding[0], p.Padding[1]
	r := c0 * kh * kw
	if sw == 2 && kw > 1 && wo >= im2colPairMinWidth {
		im2colPairs(col, ld, x, c0, c1, h, w, kh, kw, wo, oy0, oy1, p)
		return
	}
	for ci := c0; ci < c1; ci++ {
		plane := x[ci*h*w : (ci+1)*h*w]
		for ky := range kh {
			for kx := range kw {
				row := col[r*ld : r*ld+(oy1-oy0)*wo]
				r++
				// Output columns ox whose input column ix = ox·sw − pw + kx lies in [0, w).
				lo := ceilDiv(pw-kx, sw)
				hi := ceilDiv(w+pw-kx, sw) // exclusive
				lo, hi = max(lo, 0), min(hi, wo)
				for oy := oy0; oy < oy1; oy++ {
					dst := row[(oy-oy0)*wo : (oy-oy0+1)*wo]
					iy := oy*sh - ph + ky
					if iy < 0 || iy >= h || lo >= hi {
						clear(dst)
						continue
					}
					clear(dst[:lo])
					clear(dst[hi:])
					src := plane[iy*w:]
					ix := lo*sw - pw + kx
					if sw == 1 {
						copy(dst[lo:hi], src[ix:ix+hi-lo])
						continue
					}
					for ox := lo; ox < hi; ox++ {
						dst[ox] = src[ix]
						ix += sw
					}
				}
			}
		}
	}
}

// im2colPairs is im2colPart at a column stride of 2 on wide rows: the rows of kernel
// columns kx and kx+1 are written together (im2colPair), a last odd column alone.
func im2colPairs(col []float32, ld int, x []float32, c0, c1, h, w, kh, kw, wo, oy0, oy1 int, p ConvParams) {
	n := (oy1 - oy0) * wo
	r := c0 * kh * kw
	for ci := c0; ci < c1; ci++ {
		plane := x[ci*h*w : (ci+1)*h*w]
		for ky := range kh {
			for kx := 0; kx < kw; kx += 2 {
				if kx+1 < kw {
					im2colPair(col[r*ld:r*ld+n], col[(r+1)*ld:(r+1)*ld+n], plane, h, w, ky, kx, wo, oy0, oy1, p)
					r += 2
					continue
				}
				im2colOne(col[r*ld:r*ld+n], plane, h, w, ky, kx, wo, oy0, oy1, p)
				r++
			}
		}
	}
}

// im2colOne writes the row of kernel column kx at kernel row ky of one input plane (see
// im2colPart).
func im2colOne(row, plane []float32, h, w, ky, kx, wo, oy0, oy1 int, p ConvParams) {
	sh, sw, ph, pw := p.Stride[0], p.Stride[1], p.Padding[0], p.Padding[1]
	lo, hi := max(ceilDiv(pw-kx, sw), 0), min(ceilDiv(w+pw-kx, sw), wo)
	for oy := oy0; oy < oy1; oy++ {
		dst := row[(oy-oy0)*wo : (oy-oy0+1)*wo]
		if iy := oy*sh - ph + ky; iy >= 0 && iy < h {
			gatherRow(dst, plane[iy*w:(iy+1)*w], lo, hi, kx-pw, sw)
		} else {
			clear(dst)
		}
	}
}

// im2colPair writes the rows of kernel columns kx (row) and kx+1 (row2) at kernel row ky
// of one input plane at stride 2 (see im2colPart): the columns of kx and kx+1 are the even
// and odd elements of one run of each input row, which one Deinterleave2 writes.
func im2colPair(row, row2, plane []float32, h, w, ky, kx, wo, oy0, oy1 int, p ConvParams) {
	const sw = 2
	sh, ph, pw := p.Stride[0], p.Padding[0], p.Padding[1]
	lo, hi := max(ceilDiv(pw-kx, sw), 0), min(ceilDiv(w+pw-kx, sw), wo)
	lo2, hi2 := max(ceilDiv(pw-kx-1, sw), 0), min(ceilDiv(w+pw-kx-1, sw), wo)
	l, u := max(lo, lo2), min(hi, hi2)
	for oy := oy0; oy < oy1; oy++ {
		dst := row[(oy-oy0)*wo : (oy-oy0+1)*wo]
		dst2 := row2[(oy-oy0)*wo : (oy-oy0+1)*wo]
		iy := oy*sh - ph + ky
		if iy < 0 || iy >= h {
			clear(dst)
			clear(dst2)
			continue
		}
		src := plane[iy*w : (iy+1)*w]
		if u <= l {
			gatherRow(dst, src, lo, hi, kx-pw, sw)
			gatherRow(dst2, src, lo2, hi2, kx+1-pw, sw)
			continue
		}
		// Both rows outside [l, u) element by element, inside in one pass.
		gatherRow(dst[:u], src, lo, l, kx-pw, sw)
		gatherRow(dst2[:u], src, lo2, l, kx+1-pw, sw)
		clear(dst[hi:])
		clear(dst2[hi2:])
		gatherRun(dst[u:hi], src, u, kx-pw, sw)
		gatherRun(dst2[u:hi2], src, u, kx+1-pw, sw)
		i0 := 2*l - pw + kx
		asm.Deinterleave2(dst[l:u], dst2[l:u], src[i0:i0+2*(u-l)])
	}
}

// gatherRow sets dst[ox] = src[ox·sw + off] for ox in [lo, hi) and clears dst's other
// elements.
func gatherRow(dst, src []float32, lo, hi, off, sw int) {
	if lo >= hi {
		clear(dst)
		return
	}
	clear(dst[:lo])
	clear(dst[hi:])
	gatherRun(dst[lo:hi], src, lo, off, sw)
}

// gatherRun sets dst[j] = src[(ox0+j)·sw + off] for every j.
func gatherRun(dst, src []float32, ox0, off, sw int) {
	if len(dst) == 0 {
		return
	}
	ix := ox0*sw + off
	if sw == 1 {
		copy(dst, src[ix:ix+len(dst)])
		return
	}
	s := src[ix : ix+(len(dst)-1)*sw+1]
	for j := range dst {
		dst[j] = s[j*sw]
	}
}

// ceilDiv returns ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -((-a) / b)
	}
	return (a + b - 1) / b
}
