package data

import (
	"fmt"
	"math/bits"
	"math/rand/v2"
)

// CIFAR-10 training-set statistics per RGB channel of pixels scaled to
// [0, 1], rounded to four digits: the usual normalisation for training on
// CIFAR-10. (The pretrained akamaster models use the ImageNet values
// instead; their files say so in their metadata.)
var (
	CIFAR10Mean = [3]float32{0.4914, 0.4822, 0.4465} // per-channel mean
	CIFAR10Std  = [3]float32{0.2470, 0.2435, 0.2616} // per-channel standard deviation
)

// Pad is the zero padding of RandomCrop on each side of a 32×32 image, in
// pixels: the crop window's top-left corner is drawn from [0, 2·Pad]².
// Other sizes scale it: see PadFor.
const Pad = 4

// PadFor returns the zero padding of RandomCrop on each side of a
// height×width image: min(height, width)/8 pixels, rounded down — Pad (4)
// for CIFAR's 32×32, 8 for 64×64, 28 for 224×224, and 0 (no crop, the flip
// only) below 8 pixels. The window thus moves by up to an eighth of the
// image in each direction whatever the size, as it does on CIFAR-10.
func PadFor(height, width int) int { return min(height, width) / 8 }

// Pad returns the crop padding of d's images, PadFor(d.Size()).
func (d *Dataset) Pad() int { return PadFor(d.Size()) }

// CropFlip is the augmentation of one image of height×width pixels with
// padding pad = PadFor(height, width): torchvision's
// RandomCrop((height, width), padding=pad) with the window at (Top, Left)
// of the image zero-padded to (height+2·pad)×(width+2·pad), then a
// horizontal flip when Flip is set. For 32×32 images pad is Pad, the
// padded image 40×40. CropFlip{Top: pad, Left: pad} is the identity.
type CropFlip struct {
	Top, Left int  // window corner in the padded image, each in [0, 2·pad]
	Flip      bool // reverse each row after cropping
}

// Domain tags keep the shuffling and augmentation streams of one seed apart.
const (
	tagShuffle uint64 = 0x53485546464c4521 // "SHUFFLE!"
	tagAugment uint64 = 0x4155474d454e5421 // "AUGMENT!"
)

// mix64 is splitmix64's finaliser, a bijection of uint64 that scatters
// nearby inputs.
func mix64(z uint64) uint64 {
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9
	z = (z ^ (z >> 27)) * 0x94d049bb133111eb
	return z ^ (z >> 31)
}

// uint64n returns a uniform value in [0, n), n > 0, drawn from p with
// Lemire's multiply-and-reject method. It is written out here, not taken
// from math/rand/v2's Rand, so that the streams are fixed by this file
// whatever the Go version.
func uint64n(p *rand.PCG, n uint64) uint64 {
	hi, lo := bits.Mul64(p.Uint64(), n)
	if lo < n {
		thresh := -n % n
		for lo < thresh {
			hi, lo = bits.Mul64(p.Uint64(), n)
		}
	}
	return hi
}

// DrawCropFlip returns the augmentation of a 32×32 image at position pos
// (0-based, counted over the whole epoch in its shuffled order) of epoch
// epoch for seed seed: DrawCropFlipPad(seed, epoch, pos, Pad).
func DrawCropFlip(seed uint64, epoch, pos int) CropFlip {
	return DrawCropFlipPad(seed, epoch, pos, Pad)
}

// DrawCropFlipPad returns the augmentation of the sample at position pos
// (0-based, counted over the whole epoch in its shuffled order) of epoch
// epoch for seed seed, for images padded by pad (PadFor of their size,
// Dataset.Pad). It depends on nothing else, so batch size, worker count
// and resuming do not change it.
//
// The draw, which fixes every run's results: a math/rand/v2 PCG seeded with
// (mix64(seed ^ "AUGMENT!"), mix64(epoch<<32 | pos)), where mix64 is
// splitmix64's finaliser; Top, then Left, are uniform in [0, 2·pad] by
// Lemire's method, in torchvision's order (row, then column); Flip is the
// top bit of the next output (probability 1/2). It panics unless
// 0 ≤ epoch < 2³¹, 0 ≤ pos < 2³² and pad ≥ 0.
func DrawCropFlipPad(seed uint64, epoch, pos, pad int) CropFlip {
	if epoch < 0 || epoch >= 1<<31 || pos < 0 || uint64(pos) >= 1<<32 || pad < 0 {
		panic(fmt.Sprintf("data: DrawCropFlip: epoch %d, position %d or padding %d out of range", epoch, pos, pad))
	}
	var p rand.PCG
	p.Seed(mix64(seed^tagAugment), mix64(uint64(epoch)<<32|uint64(pos)))
	top := uint64n(&p, 2*uint64(pad)+1)
	left := uint64n(&p, 2*uint64(pad)+1)
	flip := p.Uint64()>>63 == 1
	return CropFlip{Top: int(top), Left: int(left), Flip: flip}
}

// Permutation returns the sample order of epoch epoch for seed seed: a
// permutation of 0..n-1 drawn by Fisher–Yates (i from n-1 down to 1, swap
// i with j uniform in [0, i] by Lemire's method) from a math/rand/v2 PCG
// seeded with (mix64(seed ^ "SHUFFLE!"), mix64(epoch)). It does not depend
// on any batch size. It panics if n < 0 or epoch < 0.
func Permutation(n int, seed uint64, epoch int) []int {
	if n < 0 || epoch < 0 {
		panic(fmt.Sprintf("data: Permutation: n = %d, epoch = %d; want both ≥ 0", n, epoch))
	}
	perm := make([]int, n)
	permute(perm, seed, epoch)
	return perm
}

// permute fills perm with Permutation(len(perm), seed, epoch).
func permute(perm []int, seed uint64, epoch int) {
	for i := range perm {
		perm[i] = i
	}
	var p rand.PCG
	p.Seed(mix64(seed^tagShuffle), mix64(uint64(epoch)))
	for i := len(perm) - 1; i > 0; i-- {
		j := int(uint64n(&p, uint64(i)+1))
		perm[i], perm[j] = perm[j], perm[i]
	}
}

// normTable holds, per channel, the normalised value of each of the 256
// pixel values, computed with Normalize's exact formula.
type normTable [Channels][256]float32

func newNormTable(mean, std [3]float32) *normTable {
	t := new(normTable)
	for c := range Channels {
		for p := range 256 {
			t[c][p] = normPixel(uint8(p), mean[c], std[c])
		}
	}
	return t
}

// NormalizeCropFlip writes image i of d, augmented by cf and then
// normalised, into dst[:d.BytesPerImage()] as float32 CHW. With H×W
// images and pad = d.Pad(), pixel (y, x) of channel c is the normalised
// padded-image pixel (y+Top, W−1−x+Left) when Flip is set and
// (y+Top, x+Left) otherwise, where the padded image is the raw image
// shifted by pad in both directions with zero bytes around it; a padding
// pixel therefore becomes (0 − mean[c]) / std[c], exactly as torchvision's
// RandomCrop((H, W), padding=pad) (fill 0) on the PIL image,
// RandomHorizontalFlip, ToTensor and Normalize give. Values are bit for
// bit those of Normalize. It panics if i is out of range,
// len(dst) < d.BytesPerImage() or Top or Left is outside [0, 2·pad].
func (d *Dataset) NormalizeCropFlip(dst []float32, i int, cf CropFlip, mean, std [3]float32) {
	if i < 0 || i >= d.Len() {
		panic(fmt.Sprintf("data: NormalizeCropFlip: index %d out of range [0, %d)", i, d.Len()))
	}
	b := d.BytesPerImage()
	if len(dst) < b {
		panic(fmt.Sprintf("data: NormalizeCropFlip: len(dst) = %d, need %d", len(dst), b))
	}
	pad := d.Pad()
	if !cf.valid(pad) {
		panic(fmt.Sprintf("data: NormalizeCropFlip: %+v outside [0, %d]", cf, 2*pad))
	}
	h, w := d.Size()
	cropFlipImage(dst[:b], d.Images[i*b:(i+1)*b], h, w, pad, cf, newNormTable(mean, std))
}

func (cf CropFlip) valid(pad int) bool {
	return cf.Top >= 0 && cf.Top <= 2*pad && cf.Left >= 0 && cf.Left <= 2*pad
}

// cropFlipImage writes the augmented, normalised image src (3·H·W bytes,
// padded by pad for the crop) into dst (3·H·W values). cf must be valid.
func cropFlipImage(dst []float32, src []byte, H, W, pad int, cf CropFlip, t *normTable) {
	// Output column x reads source column x + dx (before flipping), which
	// is inside the image for x in [x0, x1).
	dx := cf.Left - pad
	x0, x1 := max(0, -dx), min(W, W-dx)
	dy := cf.Top - pad
	P := H * W
	for c := range Channels {
		tc := &t[c]
		zero := tc[0]
		plane := src[c*P : (c+1)*P]
		out := dst[c*P : (c+1)*P]
		for y := range H {
			o := out[y*W : (y+1)*W : (y+1)*W]
			sy := y + dy
			if sy < 0 || sy >= H {
				for x := range o {
					o[x] = zero
				}
				continue
			}
			row := plane[sy*W : (sy+1)*W : (sy+1)*W]
			if !cf.Flip {
				for x := 0; x < x0; x++ {
					o[x] = zero
				}
				s := row[x0+dx : x1+dx]
				m := o[x0:x1]
				m = m[:len(s)]
				for k, p := range s {
					m[k] = tc[p]
				}
				for x := x1; x < W; x++ {
					o[x] = zero
				}
				continue
			}
			// Flipped: output column x is unflipped column W-1-x.
			for x := 0; x < x0; x++ {
				o[W-1-x] = zero
			}
			// Output columns W-1-x for x in [x0, x1): m reversed.
			m := o[W-x1 : W-x0]
			s := row[x0+dx : x1+dx]
			s = s[:len(m)]
			for j := len(m) - 1; j >= 0; j-- {
				m[j] = tc[s[len(m)-1-j]]
			}
			for x := x1; x < W; x++ {
				o[W-1-x] = zero
			}
		}
	}
}
