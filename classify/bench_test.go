package classify

import (
	"bytes"
	"image"
	"image/draw"
	"image/jpeg"
	"image/png"
	"testing"
)

// BenchmarkPreprocess times decoding and preprocessing one image as the service does it
// (decode), and the preprocessing alone (decoded): a 224×224 JPEG (quality 90) for an ImageNet model, a 32×32 PNG for a CIFAR model.
func BenchmarkPreprocess(b *testing.B) {
	src := readImage(b, goldenDir+"/landscape.png")
	for _, tc := range []struct {
		name   string
		size   int
		format string
		tr     transform
	}{
		{"jpeg224-imagenet", 224, "jpeg", transformFor(224, 224)},
		{"png32-cifar", 32, "png", transformFor(32, 32)},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var s scratch
			// The centre of the picture, as an NRGBA image.
			sb := src.Bounds()
			r := image.Rect(0, 0, tc.size, tc.size).Add(sb.Min.Add(sb.Max).Div(2).Sub(image.Pt(tc.size/2, tc.size/2)))
			img := image.NewNRGBA(image.Rect(0, 0, tc.size, tc.size))
			draw.Draw(img, img.Rect, src, r.Min, draw.Src)
			var buf bytes.Buffer
			if tc.format == "jpeg" {
				jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
			} else {
				png.Encode(&buf, img)
			}
			norm := newNormTable([]float32{0.5, 0.5, 0.5}, []float32{0.25, 0.25, 0.25})
			dst := make([]float32, 3*tc.tr.height*tc.tr.width)
			b.Run("decode", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					m, _, err := DecodeImage(buf.Bytes(), 0)
					if err != nil {
						b.Fatal(err)
					}
					if err := preprocess(dst, m, tc.tr, norm, &s); err != nil {
						b.Fatal(err)
					}
				}
			})
			// The preprocessing alone, of the decoded image.
			m, _, err := DecodeImage(buf.Bytes(), 0)
			if err != nil {
				b.Fatal(err)
			}
			b.Run("decoded", func(b *testing.B) {
				b.ReportAllocs()
				for b.Loop() {
					if err := preprocess(dst, m, tc.tr, norm, &s); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
}
