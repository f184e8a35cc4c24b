package data

import (
	"fmt"
)

// Normalize writes the images idx of d into dst as float32 with shape
// [len(idx), 3, H, W] (H×W = d.Size()): image k of the batch is d's image
// idx[k], at dst[k*d.BytesPerImage():], in the same CHW layout. Each pixel
// p of channel c becomes
//
//	v = (float32(p)/255 - mean[c]) / std[c]
//
// evaluated in float32 in exactly that order, each step rounded to float32.
// This matches torchvision's ToTensor followed by Normalize bit for bit
// (x.float().div(255), then sub_(mean).div_(std), all float32).
//
// Elements of dst beyond len(idx)*d.BytesPerImage() are left alone.
// Normalize panics if len(dst) < len(idx)*d.BytesPerImage() or an index is
// outside [0, d.Len()); both are programmer errors.
func (d *Dataset) Normalize(dst []float32, idx []int, mean, std [3]float32) {
	b := d.BytesPerImage()
	if need := len(idx) * b; len(dst) < need {
		panic(fmt.Sprintf("data: Normalize: len(dst) = %d, need %d for %d images", len(dst), need, len(idx)))
	}
	// A pixel has only 256 values, so compute each channel's 256 results
	// once with the exact formula, then look them up.
	var table [Channels][256]float32
	for c := range Channels {
		for p := range 256 {
			table[c][p] = normPixel(uint8(p), mean[c], std[c])
		}
	}
	plane := b / Channels
	n := d.Len()
	for k, i := range idx {
		if i < 0 || i >= n {
			panic(fmt.Sprintf("data: Normalize: idx[%d] = %d out of range [0, %d)", k, i, n))
		}
		src := d.Images[i*b : (i+1)*b]
		out := dst[k*b : (k+1)*b]
		for c := range Channels {
			t := &table[c]
			s := src[c*plane : (c+1)*plane]
			o := out[c*plane : (c+1)*plane]
			for j, p := range s {
				o[j] = t[p]
			}
		}
	}
}

// normPixel is the reference formula, one float32 rounding per operation.
// The explicit conversions forbid the compiler from fusing operations.
func normPixel(p uint8, mean, std float32) float32 {
	x := float32(float32(p) / 255)
	x = float32(x - mean)
	return float32(x / std)
}
