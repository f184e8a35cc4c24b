package classify

import (
	"image"
	"math"
)

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
// it for an RGB image, bit for bit (see resizeWindow). The result's pixels are in s.
func resize(src rgbImage, w, h int, s *resizeScratch) rgbImage {
	return resizeWindow(src, w, h, image.Rect(0, 0, w, h), s)
}

// resizeWindow returns the window win (within w×h) of src resized to w×h, bit for bit as
// Pillow resizes an RGB image with Image.BILINEAR then crops it: a horizontal pass, rounded
// to 8 bits, over the rows the vertical pass needs, then the vertical pass. Each output
// pixel depends only on its own weights, so only the window's pixels are computed. The
// result's pixels are in s.
func resizeWindow(src rgbImage, w, h int, win image.Rectangle, s *resizeScratch) rgbImage {
	needH, needV := w != src.w, h != src.h
	// The rows of src the vertical pass reads (without one, the window's).
	first, last := win.Min.Y, win.Max.Y
	var vc coeffs
	if needV {
		vc = bilinearCoeffs(src.h, h)
		first = vc.start[win.Min.Y]
		last = vc.start[win.Max.Y-1] + vc.count[win.Max.Y-1]
	}
	ww := win.Dx()
	tmp := newRGB(ww, last-first, s.tmp)
	s.tmp = tmp.pix
	if needH {
		hc := bilinearCoeffs(src.w, w)
		const half = int32(1 << (precisionBits - 1))
		for y := range tmp.h {
			in := src.pix[3*(y+first)*src.w : 3*(y+first+1)*src.w]
			out := tmp.pix[3*y*ww : 3*(y+1)*ww]
			for xo := range ww {
				x := win.Min.X + xo
				k := hc.k[x*hc.size : x*hc.size+hc.count[x]]
				p := in[3*hc.start[x] : 3*(hc.start[x]+len(k))]
				o := out[3*xo : 3*xo+3 : 3*xo+3]
				switch len(k) { // the usual tap counts unrolled (enlarging: 2 or 3)
				case 2:
					p := p[:6:6]
					k0, k1 := k[0], k[1]
					o[0] = clip8(half + int32(p[0])*k0 + int32(p[3])*k1)
					o[1] = clip8(half + int32(p[1])*k0 + int32(p[4])*k1)
					o[2] = clip8(half + int32(p[2])*k0 + int32(p[5])*k1)
				case 3:
					p := p[:9:9]
					k0, k1, k2 := k[0], k[1], k[2]
					o[0] = clip8(half + int32(p[0])*k0 + int32(p[3])*k1 + int32(p[6])*k2)
					o[1] = clip8(half + int32(p[1])*k0 + int32(p[4])*k1 + int32(p[7])*k2)
					o[2] = clip8(half + int32(p[2])*k0 + int32(p[5])*k1 + int32(p[8])*k2)
				default:
					r, g, b := half, half, half
					for j, kj := range k {
						q := p[3*j : 3*j+3 : 3*j+3]
						r += int32(q[0]) * kj
						g += int32(q[1]) * kj
						b += int32(q[2]) * kj
					}
					o[0], o[1], o[2] = clip8(r), clip8(g), clip8(b)
				}
			}
		}
	} else {
		for y := range tmp.h {
			copy(tmp.pix[3*y*ww:3*(y+1)*ww], src.pix[3*((y+first)*src.w+win.Min.X):])
		}
	}
	if !needV {
		return tmp
	}
	return verticalPass(tmp, vc, first, win.Min.Y, win.Dy(), s)
}

// verticalPass computes output rows y0 … y0+h-1 with the weights vc from img, whose row 0
// is the source's row first. Each output row accumulates its input rows one after the
// other (integer sums: the order does not change them).
func verticalPass(img rgbImage, vc coeffs, first, y0, h int, s *resizeScratch) rgbImage {
	w := img.w
	out := newRGB(w, h, s.out)
	s.out = out.pix
	if cap(s.acc) < 3*w {
		s.acc = make([]int32, 3*w)
	}
	acc := s.acc[:3*w]
	const half = int32(1 << (precisionBits - 1))
	n := 3 * w
	for yo := range h {
		y := y0 + yo
		r0 := vc.start[y] - first
		k := vc.k[y*vc.size : y*vc.size+vc.count[y]]
		row := func(j int) []uint8 { return img.pix[(r0+j)*n : (r0+j+1)*n][:n] }
		dst := out.pix[yo*n : (yo+1)*n][:n]
		switch len(k) { // the usual tap counts in one pass (enlarging: 2 or 3)
		case 2:
			a, b := row(0), row(1)
			k0, k1 := k[0], k[1]
			for i := range dst {
				dst[i] = clip8(half + int32(a[i])*k0 + int32(b[i])*k1)
			}
		case 3:
			a, b, c := row(0), row(1), row(2)
			k0, k1, k2 := k[0], k[1], k[2]
			for i := range dst {
				dst[i] = clip8(half + int32(a[i])*k0 + int32(b[i])*k1 + int32(c[i])*k2)
			}
		default:
			for i := range acc {
				acc[i] = half
			}
			for j, kj := range k {
				for i, p := range row(j) {
					acc[i] += int32(p) * kj
				}
			}
			for i, a := range acc {
				dst[i] = clip8(a)
			}
		}
	}
	return out
}
