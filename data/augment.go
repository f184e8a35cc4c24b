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

// Pad is the zero padding of RandomCrop on each side of the image, in
// pixels: the crop window's top-left corner is drawn from [0, 2·Pad]².
const Pad = 4

// CropFlip is the augmentation of one image: torchvision's
// RandomCrop(32, padding=Pad) with the window at (Top, Left) of the image
// zero-padded to 40×40, then a horizontal flip when Flip is set.
// CropFlip{Top: Pad, Left: Pad} is the identity.
type CropFlip struct {
	Top, Left int  // window corner in the padded image, each in [0, 2·Pad]
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

// DrawCropFlip returns the augmentation of the sample at position pos
// (0-based, counted over the whole epoch in its shuffled order) of epoch
// epoch for seed seed. It depends on nothing else, so batch size, worker
// count and resuming do not change it.
//
// The draw, which fixes every run's results: a math/rand/v2 PCG seeded with
// (mix64(seed ^ "AUGMENT!"), mix64(epoch<<32 | pos)), where mix64 is
// splitmix64's finaliser; Top, then Left, are uniform in [0, 2·Pad] by
// Lemire's method, in torchvision's order (row, then column); Flip is the
// top bit of the next output (probability 1/2). It panics unless
// 0 ≤ epoch < 2³¹ and 0 ≤ pos < 2³².
func DrawCropFlip(seed uint64, epoch, pos int) CropFlip {
	if epoch < 0 || epoch >= 1<<31 || pos < 0 || uint64(pos) >= 1<<32 {
		panic(fmt.Sprintf("data: DrawCropFlip: epoch %d or position %d out of range", epoch, pos))
	}
	var p rand.PCG
	p.Seed(mix64(seed^tagAugment), mix64(uint64(epoch)<<32|uint64(pos)))
	top := uint64n(&p, 2*Pad+1)
	left := uint64n(&p, 2*Pad+1)
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
// normalised, into dst[:ImageBytes] as float32 CHW. Pixel (y, x) of
// channel c is the normalised padded-image pixel (y+Top, 31−x+Left) when
// Flip is set and (y+Top, x+Left) otherwise, where the padded image is the
// raw image shifted by Pad in both directions with zero bytes around it; a
// padding pixel therefore becomes (0 − mean[c]) / std[c], exactly as
// torchvision's RandomCrop(32, padding=4) (fill 0) on the PIL image,
// RandomHorizontalFlip, ToTensor and Normalize give. Values are bit for bit
// those of Normalize. It panics if i is out of range, len(dst) < ImageBytes
// or Top or Left is outside [0, 2·Pad].
func (d *Dataset) NormalizeCropFlip(dst []float32, i int, cf CropFlip, mean, std [3]float32) {
	if i < 0 || i >= d.Len() {
		panic(fmt.Sprintf("data: NormalizeCropFlip: index %d out of range [0, %d)", i, d.Len()))
	}
	if len(dst) < ImageBytes {
		panic(fmt.Sprintf("data: NormalizeCropFlip: len(dst) = %d, need %d", len(dst), ImageBytes))
	}
	if !cf.valid() {
		panic(fmt.Sprintf("data: NormalizeCropFlip: %+v outside [0, %d]", cf, 2*Pad))
	}
	cropFlipImage(dst[:ImageBytes], d.Images[i*ImageBytes:(i+1)*ImageBytes], cf, newNormTable(mean, std))
}

func (cf CropFlip) valid() bool {
	return cf.Top >= 0 && cf.Top <= 2*Pad && cf.Left >= 0 && cf.Left <= 2*Pad
}

// cropFlipImage writes the augmented, normalised image src (ImageBytes
// bytes) into dst (ImageBytes values). cf must be valid.
func cropFlipImage(dst []float32, src []byte, cf CropFlip, t *normTable) {
	const S = ImageSize
	// Output column x reads source column x + dx (before flipping), which
	// is inside the image for x in [x0, x1).
	dx := cf.Left - Pad
	x0, x1 := max(0, -dx), min(S, S-dx)
	dy := cf.Top - Pad
	for c := range Channels {
		tc := &t[c]
		zero := tc[0]
		plane := src[c*S*S : (c+1)*S*S]
		out := dst[c*S*S : (c+1)*S*S]
		for y := range S {
			o := out[y*S : (y+1)*S : (y+1)*S]
			sy := y + dy
			if sy < 0 || sy >= S {
				for x := range o {
					o[x] = zero
				}
				continue
			}
			row := plane[sy*S : (sy+1)*S : (sy+1)*S]
			if !cf.Flip {
				for x := 0; x < x0; x++ {
					o[x] = zero
				}
				s := row[x0+dx : x1+dx]
				m := o[x0:x1]
				for k, p := range s {
					m[k] = tc[p]
				}
				for x := x1; x < S; x++ {
					o[x] = zero
				}
				continue
			}
			// Flipped: output column x is unflipped column S-1-x.
			for x := 0; x < x0; x++ {
				o[S-1-x] = zero
			}
			for x := x0; x < x1; x++ {
				o[S-1-x] = tc[row[x+dx]]
			}
			for x := x1; x < S; x++ {
				o[S-1-x] = zero
			}
		}
	}
}
