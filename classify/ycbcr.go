package classify

import "image"

// libjpeg's YCbCr → RGB tables (jdcolor.c, build_ycc_rgb_table): 16-bit fixed point,
// R = Y + crR[Cr], G = Y + (cbG[Cb] + crG[Cr]) >> 16, B = Y + cbB[Cb], each clamped to
// 0…255.
var crR, cbB, crG, cbG [256]int32

func init() {
	const scale = 16
	fix := func(x float64) int64 { return int64(x*(1<<scale) + 0.5) }
	for i := range 256 {
		x := int64(i - 128)
		crR[i] = int32((fix(1.40200)*x + 1<<(scale-1)) >> scale)
		cbB[i] = int32((fix(1.77200)*x + 1<<(scale-1)) >> scale)
		crG[i] = int32(-fix(0.71414) * x)
		cbG[i] = int32(-fix(0.34414)*x + 1<<(scale-1))
	}
}

func clamp8(v int32) uint8 {
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// ycbcrToRGB converts m into out (m's size) as libjpeg-turbo does when PIL decodes a JPEG:
// chroma upsampled with libjpeg's "fancy" triangle filter (jdsample.c: h2v1, h1v2 and h2v2,
// the image's edge rows and columns repeated), then libjpeg's fixed-point colour conversion.
// Only the inverse DCT differs from PIL's decoding (Go's rounds differently by a level now
// and then). Subsampling ratios other than 4:4:4, 4:2:2, 4:2:0 and 4:4:0, and images that
// do not start at (0, 0), take the nearest chroma sample.
func ycbcrToRGB(out rgbImage, m *image.YCbCr) {
	w, h := out.w, out.h
	// hs, vs: chroma subsampling factors (1 or 2) when the fancy filter applies.
	hs, vs := 0, 0
	if m.Rect.Min == (image.Point{}) {
		switch m.SubsampleRatio {
		case image.YCbCrSubsampleRatio444:
			hs, vs = 1, 1
		case image.YCbCrSubsampleRatio422:
			hs, vs = 2, 1
		case image.YCbCrSubsampleRatio420:
			hs, vs = 2, 2
		case image.YCbCrSubsampleRatio440:
			hs, vs = 1, 2
		}
	}
	if hs == 0 {
		for y := range h {
			dst := out.pix[3*y*w:]
			for x := range w {
				yi := m.YOffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				ci := m.COffset(m.Rect.Min.X+x, m.Rect.Min.Y+y)
				putRGB(dst[3*x:], m.Y[yi], m.Cb[ci], m.Cr[ci])
			}
		}
		return
	}
	cw, ch := (w+hs-1)/hs, (h+vs-1)/vs // the chroma planes' size (libjpeg's downsampled_width/height)
	// libjpeg filters horizontally only when a row has more than two chroma samples, and
	// h2v2 then filters vertically too; h1v2 always filters.
	fancyH := hs == 2 && cw > 2
	fancyV := vs == 2 && (hs == 1 || fancyH)
	cb := make([]uint8, 2*cw)
	cr := make([]uint8, 2*cw)
	var sumCb, sumCr []int32
	if fancyV {
		sumCb, sumCr = make([]int32, cw), make([]int32, cw)
	}
	for y := range h {
		row := min(y/vs, ch-1)
		if fancyV {
			// The nearer chroma row counts 3/4, the next nearer 1/4.
			far := row - 1
			if y%2 == 1 {
				far = row + 1
			}
			far = min(max(far, 0), ch-1)
			colSums(sumCb, m.Cb[row*m.CStride:], m.Cb[far*m.CStride:])
			colSums(sumCr, m.Cr[row*m.CStride:], m.Cr[far*m.CStride:])
			if hs == 2 {
				h2v2Row(cb, sumCb)
				h2v2Row(cr, sumCr)
			} else {
				bias := int32(1) // jdsample.c h1v2: 1 with the row above, 2 with the one below
				if y%2 == 1 {
					bias = 2
				}
				h1v2Row(cb, sumCb, bias)
				h1v2Row(cr, sumCr, bias)
			}
		} else {
			srcCb, srcCr := m.Cb[row*m.CStride:row*m.CStride+cw], m.Cr[row*m.CStride:row*m.CStride+cw]
			switch {
			case fancyH:
				h2v1Row(cb, srcCb)
				h2v1Row(cr, srcCr)
			case hs == 2:
				for i := range cw {
					cb[2*i], cb[2*i+1] = srcCb[i], srcCb[i]
					cr[2*i], cr[2*i+1] = srcCr[i], srcCr[i]
				}
			default:
				copy(cb, srcCb)
				copy(cr, srcCr)
			}
		}
		ys := m.Y[y*m.YStride : y*m.YStride+w]
		cbs, crs := cb[:w], cr[:w]
		dst := out.pix[3*y*w : 3*(y+1)*w]
		for x, yv := range ys { // putRGB, inlined by hand (too large for the compiler)
			yy := int32(yv)
			cb, cr := cbs[x], crs[x]
			d := dst[3*x : 3*x+3 : 3*x+3]
			d[0] = clamp8(yy + crR[cr])
			d[1] = clamp8(yy + (cbG[cb]+crG[cr])>>16)
			d[2] = clamp8(yy + cbB[cb])
		}
	}
}

func putRGB(dst []uint8, y, cb, cr uint8) {
	yy := int32(y)
	dst[2] = clamp8(yy + cbB[cb])
	dst[1] = clamp8(yy + (cbG[cb]+crG[cr])>>16)
	dst[0] = clamp8(yy + crR[cr])
}

// colSums sets sum[i] = 3·near[i] + far[i].
func colSums(sum []int32, near, far []uint8) {
	for i := range sum {
		sum[i] = 3*int32(near[i]) + int32(far[i])
	}
}

// h2v2Row is jdsample.c's h2v2_fancy_upsample for one output row, from the column sums of
// its two chroma rows (len(sum) > 2); out has 2·len(sum) samples.
func h2v2Row(out []uint8, sum []int32) {
	n := len(sum)
	out[0] = uint8((sum[0]*4 + 8) >> 4)
	out[1] = uint8((sum[0]*3 + sum[1] + 7) >> 4)
	for i := 1; i < n-1; i++ {
		out[2*i] = uint8((sum[i]*3 + sum[i-1] + 8) >> 4)
		out[2*i+1] = uint8((sum[i]*3 + sum[i+1] + 7) >> 4)
	}
	out[2*n-2] = uint8((sum[n-1]*3 + sum[n-2] + 8) >> 4)
	out[2*n-1] = uint8((sum[n-1]*4 + 7) >> 4)
}

// h1v2Row is jdsample.c's h1v2_fancy_upsample for one output row.
func h1v2Row(out []uint8, sum []int32, bias int32) {
	for i, s := range sum {
		out[i] = uint8((s + bias) >> 2)
	}
}

// h2v1Row is jdsample.c's h2v1_fancy_upsample (len(in) > 2); out has 2·len(in) samples.
func h2v1Row(out, in []uint8) {
	n := len(in)
	out[0] = in[0]
	out[1] = uint8((int32(in[0])*3 + int32(in[1]) + 2) >> 2)
	for i := 1; i < n-1; i++ {
		v := int32(in[i]) * 3
		out[2*i] = uint8((v + int32(in[i-1]) + 1) >> 2)
		out[2*i+1] = uint8((v + int32(in[i+1]) + 2) >> 2)
	}
	out[2*n-2] = uint8((int32(in[n-1])*3 + int32(in[n-2]) + 1) >> 2)
	out[2*n-1] = in[n-1]
}
