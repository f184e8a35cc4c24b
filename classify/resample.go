package classify

import "math"

// PIL's fixed-point resampling (Pillow 9, libImaging/Resample.c): 8-bit samples, filter
// coefficients with 22 fractional bits.
const precisionBits = 32 - 8 - 2

// coeffs are the filter weights of one direction of a resize: output sample i reads
// input samples start[i] … start[i]+count[i]-1 with weights k[i*size : i*size+count[i]].
type coeffs struct {
	size         int // weights per output sample (the most any one uses)
	start, count []int
	k            []int32
}

// bilinearCoeffs computes PIL's weights for resizing inSize samples to outSize with the
// bilinear (triangle) filter, widened by the scale when shrinking (antialiasing): Pillow's
// precompute_coeffs with support 1 and normalize_coeffs_8bpc, in the same float64
// arithmetic, so that the weights are bit-identical.
func bilinearCoeffs(inSize, outSize int) coeffs {
	scale := float64(inSize) / float64(outSize)
	filterscale := max(scale, 1)
	support := 1.0 * filterscale
	size := int(math.Ceil(support))*2 + 1
	c := coeffs{size: size, start: make([]int, outSize), count: make([]int, outSize), k: make([]int32, outSize*size)}
	pre := make([]float64, size)
	for i := range outSize {
		center := (float64(i) + 0.5) * scale
		ss := 1.0 / filterscale
		xmin := max(int(center-support+0.5), 0)
		xmax := min(int(center+support+0.5), inSize) - xmin
		ww := 0.0
		for x := range xmax {
			w := triangle((float64(x+xmin) - center + 0.5) * ss)
			pre[x] = w
			ww += w
		}
		for x := range xmax {
			if ww != 0 {
				pre[x] /= ww
			}
		}
		k := c.k[i*size : (i+1)*size]
		for x := range xmax {
			if pre[x] < 0 {
				k[x] = int32(-0.5 + pre[x]*(1<<precisionBits))
			} else {
				k[x] = int32(0.5 + pre[x]*(1<<precisionBits))
			}
		}
		c.start[i], c.count[i] = xmin, xmax
	}
	return c
}

func triangle(x float64) float64 {
	x = math.Abs(x)
	if x < 1 {
		return 1 - x
	}
	return 0
}

// clip8 is Pillow's clip8: the accumulated sum's integer part, clamped to 0…255.
func clip8(v int32) uint8 {
	v >>= precisionBits
	switch {
	case v < 0:
		return 0
	case v > 255:
		return 255
	}
	return uint8(v)
}

// resizeScratch holds the buffers of a resize, reused between calls.
type resizeScratch struct {
	tmp, out []uint8
	acc      []int32
}

// resize returns src resized to w×h as Pillow's Image.resize((w, h), Image.BILINEAR) does
// it for an RGB image, bit for bit: a horizontal pass over the rows the vertical pass needs
// (rounded to 8 bits), then a vertical pass. The result's pixels are in s.out.
func resize(src rgbImage, w, h int, s *resizeScratch) rgbImage {
	if w == src.w && h == src.h {
		out := newRGB(w, h, s.out)
		s.out = out.pix
		copy(out.pix, src.pix)
		return out
	}
	img := src
	if w != src.w {
		hc := bilinearCoeffs(src.w, w)
		// The rows the vertical pass reads (all of them when there is none).
		first, last := 0, src.h
		var vc coeffs
		if h != src.h {
			vc = bilinearCoeffs(src.h, h)
			first, last = vc.start[0], vc.start[h-1]+vc.count[h-1]
		}
		tmp := newRGB(w, last-first, s.tmp)
		s.tmp = tmp.pix
		for y := range tmp.h {
			in := src.pix[3*(y+first)*src.w : 3*(y+first+1)*src.w]
			out := tmp.pix[3*y*w : 3*(y+1)*w]
			for x := range w {
				k := hc.k[x*hc.size : x*hc.size+hc.count[x]]
				p := in[3*hc.start[x]:]
				r, g, b := int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1)), int32(1<<(precisionBits-1))
				for j, kj := range k {
					r += int32(p[3*j]) * kj
					g += int32(p[3*j+1]) * kj
					b += int32(p[3*j+2]) * kj
				}
				out[3*x], out[3*x+1], out[3*x+2] = clip8(r), clip8(g), clip8(b)
			}
		}
		if h == src.h {
			return tmp
		}
		img = tmp
		return verticalPass(img, vc, first, h, s)
	}
	return verticalPass(img, bilinearCoeffs(src.h, h), 0, h, s)
}

// verticalPass resizes img (whose row 0 is the source's row first) to h rows with the
// weights vc. Each output row accumulates its input rows one after the other (integer
// sums: the order does not change them).
func verticalPass(img rgbImage, vc coeffs, first, h int, s *resizeScratch) rgbImage {
	w := img.w
	out := newRGB(w, h, s.out)
	s.out = out.pix
	if cap(s.acc) < 3*w {
		s.acc = make([]int32, 3*w)
	}
	acc := s.acc[:3*w]
	for y := range h {
		for i := range acc {
			acc[i] = 1 << (precisionBits - 1)
		}
		y0 := vc.start[y] - first
		for j, kj := range vc.k[y*vc.size : y*vc.size+vc.count[y]] {
			row := img.pix[3*(y0+j)*w : 3*(y0+j+1)*w]
			for i, p := range row {
				acc[i] += int32(p) * kj
			}
		}
		dst := out.pix[3*y*w : 3*(y+1)*w]
		for i, a := range acc {
			dst[i] = clip8(a)
		}
	}
	return out
}

// crop returns the w×h region of src whose top-left corner is (x0, y0), which must lie
// inside src, reusing buf.
func crop(src rgbImage, x0, y0, w, h int, buf []uint8) rgbImage {
	out := newRGB(w, h, buf)
	for y := range h {
		copy(out.pix[3*y*w:3*(y+1)*w], src.pix[3*((y0+y)*src.w+x0):])
	}
	return out
}
