package classify

import (
	"fmt"
	"image"
	"math"
)

// transform is the geometry of the preprocessing: the image is resized and cropped to the
// model's input height×width.
type transform struct {
	height, width int
	// resizeShort > 0: resize the shorter side to resizeShort (the longer in proportion,
	// truncated), then crop the centre (torchvision's Resize(256) + CenterCrop(224)).
	// resizeShort == 0: resize to height×width unless the image has that size already.
	resizeShort int
}

// transformFor returns the convention of a model taking [3, height, width] inputs: CIFAR
// models (32×32) take the image resized to 32×32, ImageNet-style models (any other size)
// the shorter side resized to 256/224 of the input size (256 for 224), then the centre.
func transformFor(height, width int) transform {
	if height == 32 && width == 32 {
		return transform{height: height, width: width}
	}
	return transform{height: height, width: width, resizeShort: int(math.Round(float64(min(height, width)) * 256 / 224))}
}

// apply returns the height×width RGB image that the transform makes of src.
func (t transform) apply(src rgbImage, s *scratch) rgbImage {
	if t.resizeShort == 0 {
		return resize(src, t.width, t.height, &s.resize)
	}
	// torchvision's _compute_resized_output_size: the shorter side becomes resizeShort, the
	// longer int(resizeShort · long / short).
	w, h := src.w, src.h
	if w <= h {
		w, h = t.resizeShort, int(float64(t.resizeShort*h)/float64(w))
	} else {
		w, h = int(float64(t.resizeShort*w)/float64(h)), t.resizeShort
	}
	// torchvision's center_crop: offsets int(round((size − crop) / 2)), rounding half to even
	// as Python's round does; only the cropped pixels are computed.
	top := int(math.RoundToEven(float64(h-t.height) / 2))
	left := int(math.RoundToEven(float64(w-t.width) / 2))
	if h < t.height || w < t.width {
		// A non-square input whose longer side exceeds the resized image's (no zoo model
		// has one): resize to the input size instead of padding.
		return resize(src, t.width, t.height, &s.resize)
	}
	return resizeWindow(src, w, h, image.Rect(left, top, left+t.width, top+t.height), &s.resize)
}

// scratch holds the buffers of one preprocessing, reused between images.
type scratch struct {
	rgb    []uint8
	resize resizeScratch
}

// normTable maps each 8-bit value of each channel to its normalised value,
// (float32(p)/255 − mean)/std with one float32 rounding per operation: torchvision's
// ToTensor followed by Normalize, bit for bit (as data.Dataset.Normalize computes it).
type normTable [3][256]float32

func newNormTable(mean, std []float32) *normTable {
	var t normTable
	for c := range 3 {
		for p := range 256 {
			x := float32(float32(p) / 255)
			x = float32(x - mean[c])
			t[c][p] = float32(x / std[c])
		}
	}
	return &t
}

// preprocess writes img, transformed by t and normalised by norm, into dst (3·height·width
// floats, CHW). It errors for an empty image.
func preprocess(dst []float32, img image.Image, t transform, norm *normTable, s *scratch) error {
	b := img.Bounds()
	if b.Empty() {
		return fmt.Errorf("classify: empty image (%dx%d)", b.Dx(), b.Dy())
	}
	if len(dst) != 3*t.height*t.width {
		panic(fmt.Sprintf("classify: preprocess into %d floats, want %d", len(dst), 3*t.height*t.width))
	}
	src := toRGB(img, s.rgb)
	s.rgb = src.pix
	out := t.apply(src, s)
	plane := t.height * t.width
	r, g, bl := dst[:plane], dst[plane:2*plane], dst[2*plane:]
	for i := range plane {
		p := out.pix[3*i : 3*i+3]
		r[i] = norm[0][p[0]]
		g[i] = norm[1][p[1]]
		bl[i] = norm[2][p[2]]
	}
	return nil
}
