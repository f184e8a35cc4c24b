package tensor

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

// im2colPart is im2colRows for the input channels [c0, c1) only: the rows of col they own.
func im2colPart(col []float32, ld int, x []float32, c0, c1, h, w, kh, kw, wo, oy0, oy1 int, p ConvParams) {
	sh, sw := p.Stride[0], p.Stride[1]
	ph, pw := p.Padding[0], p.Padding[1]
	r := c0 * kh * kw
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

// ceilDiv returns ⌈a/b⌉ for b > 0 and any sign of a.
func ceilDiv(a, b int) int {
	if a <= 0 {
		return -((-a) / b)
	}
	return (a + b - 1) / b
}
