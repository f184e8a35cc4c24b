package classify

import (
	"bytes"
	"image"
	"image/jpeg"
	"image/png"
	"math"
	"testing"
)

// FuzzPreprocess: no image file makes the decoding or any transform (ImageNet's, CIFAR's,
// a non-square input's) panic, and every value written is a normalised pixel. Run with
// go test -fuzz FuzzPreprocess ./classify.
func FuzzPreprocess(f *testing.F) {
	for _, sz := range [][2]int{{13, 7}, {1, 1}, {300, 2}, {3, 260}} {
		m := image.NewNRGBA(image.Rect(0, 0, sz[0], sz[1]))
		for i := range m.Pix {
			m.Pix[i] = uint8(i * 37)
		}
		var p, j bytes.Buffer
		png.Encode(&p, m)
		jpeg.Encode(&j, m, &jpeg.Options{Quality: 75})
		f.Add(p.Bytes())
		f.Add(j.Bytes())
	}
	// mean 0, std 1: every value is a pixel in [0, 1].
	norm := newNormTable([]float32{0, 0, 0}, []float32{1, 1, 1})
	trs := []transform{transformFor(224, 224), transformFor(32, 32), transformFor(64, 48), transformFor(48, 64)}
	dsts := make([][]float32, len(trs))
	for i, tr := range trs {
		dsts[i] = make([]float32, 3*tr.height*tr.width)
	}
	var s scratch
	f.Fuzz(func(t *testing.T, data []byte) {
		img, _, err := DecodeImage(data, 1<<16) // a small limit keeps each input cheap
		if err != nil {
			return
		}
		for i, tr := range trs {
			if err := preprocess(dsts[i], img, tr, norm, &s); err != nil {
				if !img.Bounds().Empty() {
					t.Fatalf("%v image: %v", img.Bounds(), err)
				}
				continue
			}
			for j, v := range dsts[i] {
				if !(v >= 0 && v <= 1) || math.IsNaN(float64(v)) {
					t.Fatalf("%v image, input %d×%d: value %d is %v", img.Bounds(), tr.height, tr.width, j, v)
				}
			}
		}
	})
}
