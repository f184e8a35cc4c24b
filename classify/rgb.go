package classify

import (
	"image"
	"image/color"
)

// rgbImage is an 8-bit RGB image: pixel (x, y) is pix[3*(y*w+x) : 3*(y*w+x)+3], R, G, B.
type rgbImage struct {
	w, h int
	pix  []uint8
}

// newRGB returns a w×h image that reuses buf when it is large enough.
func newRGB(w, h int, buf []uint8) rgbImage {
	n := 3 * w * h
	if cap(buf) < n {
		buf = make([]uint8, n)
	}
	return rgbImage{w: w, h: h, pix: buf[:n]}
}

// toRGB converts img to 8-bit RGB as PIL's Image.convert("RGB") does for the images Go's
// PNG and JPEG decoders return: alpha is dropped (not composited), 16-bit samples keep their
// high byte, grey is copied to the three channels, and a JPEG's YCbCr is converted as
// libjpeg(-turbo) decodes it for PIL (see ycbcrToRGB). buf is reused when large enough.
func toRGB(img image.Image, buf []uint8) rgbImage {
	b := img.Bounds()
	out := newRGB(b.Dx(), b.Dy(), buf)
	w := out.w
	switch m := img.(type) {
	case *image.YCbCr:
		ycbcrToRGB(out, m)
	case *image.NRGBA:
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
			}
		}
	case *image.RGBA:
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				if src[4*x+3] == 0xff {
					dst[3*x], dst[3*x+1], dst[3*x+2] = src[4*x], src[4*x+1], src[4*x+2]
					continue
				}
				p := nrgb(m.RGBAAt(b.Min.X+x, b.Min.Y+y))
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
	case *image.NRGBA64:
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				dst[3*x], dst[3*x+1], dst[3*x+2] = src[8*x], src[8*x+2], src[8*x+4]
			}
		}
	case *image.Gray:
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				v := src[x]
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.Gray16:
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				v := src[2*x]
				dst[3*x], dst[3*x+1], dst[3*x+2] = v, v, v
			}
		}
	case *image.Paletted:
		// PIL's P → RGB takes each entry's colour and ignores its transparency.
		var pal [256][3]uint8
		for i, c := range m.Palette {
			if i < len(pal) {
				pal[i] = nrgb(c)
			}
		}
		for y := range out.h {
			src := m.Pix[m.PixOffset(b.Min.X, b.Min.Y+y):]
			dst := out.pix[3*y*w:]
			for x := range w {
				p := pal[src[x]]
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
	default:
		for y := range out.h {
			dst := out.pix[3*y*w:]
			for x := range w {
				p := nrgb(img.At(b.Min.X+x, b.Min.Y+y))
				dst[3*x], dst[3*x+1], dst[3*x+2] = p[0], p[1], p[2]
			}
		}
	}
	return out
}

// nrgb returns c's non-premultiplied 8-bit R, G, B.
func nrgb(c color.Color) [3]uint8 {
	switch c := c.(type) {
	case color.NRGBA:
		return [3]uint8{c.R, c.G, c.B}
	case color.NRGBA64:
		return [3]uint8{uint8(c.R >> 8), uint8(c.G >> 8), uint8(c.B >> 8)}
	}
	n := color.NRGBAModel.Convert(c).(color.NRGBA)
	return [3]uint8{n.R, n.G, n.B}
}
