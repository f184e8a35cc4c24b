package classify

import (
	"fmt"
	"image"
)

// Pixels appends to dst img as a model of input [3, height, width] takes it before
// normalisation: converted to RGB, resized and cropped by the architecture's convention
// (see the package documentation), as 8-bit R, G and B planes of height×width pixels
// each (CHW, 3·height·width bytes, data.Dataset's layout). Normalising them with the
// model's mean and std (data.Dataset.Normalize) gives Classifier.Preprocess's values bit
// for bit. It errors for an empty image.
func Pixels(dst []uint8, img image.Image, height, width int) ([]uint8, error) {
	if height <= 0 || width <= 0 {
		panic(fmt.Sprintf("classify: Pixels at %d×%d", height, width))
	}
	b := img.Bounds()
	if b.Empty() {
		return dst, fmt.Errorf("classify: empty image (%dx%d)", b.Dx(), b.Dy())
	}
	var s scratch
	out := transformFor(height, width).apply(toRGB(img, nil), &s)
	plane := height * width
	n := len(dst)
	dst = append(dst, make([]uint8, 3*plane)...)
	r, g, bl := dst[n:n+plane], dst[n+plane:n+2*plane], dst[n+2*plane:]
	for i := range plane {
		p := out.pix[3*i : 3*i+3]
		r[i], g[i], bl[i] = p[0], p[1], p[2]
	}
	return dst, nil
}
