package data_test

import (
	"math"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
)

// sizedDataset returns n random h×w images (with some 0 and 255 bytes)
// with labels i mod classes.
func sizedDataset(n, h, w, classes int, seed uint64) *data.Dataset {
	r := rand.New(rand.NewPCG(seed, 7))
	d := &data.Dataset{Height: h, Width: w, Classes: classes, Images: make([]byte, n*3*h*w), Labels: make([]uint8, n)}
	for i := range d.Images {
		d.Images[i] = byte(r.Uint32())
	}
	for i := range d.Labels {
		d.Labels[i] = uint8(i % classes)
	}
	return d
}

// refCropFlipSized is torchvision's RandomCrop((h, w), padding=pad) (fill
// 0) at window (top, left), RandomHorizontalFlip, ToTensor and Normalize
// on image i of d, written out literally for any size.
func refCropFlipSized(d *data.Dataset, i, pad int, cf data.CropFlip, mean, std [3]float32) []float32 {
	h, w := d.Size()
	img := d.Images[i*3*h*w : (i+1)*3*h*w]
	out := make([]float32, 3*h*w)
	for c := range 3 {
		padded := make([][]byte, h+2*pad)
		for y := range padded {
			padded[y] = make([]byte, w+2*pad)
		}
		for y := range h {
			for x := range w {
				padded[y+pad][x+pad] = img[c*h*w+y*w+x]
			}
		}
		for y := range h {
			row := slices.Clone(padded[cf.Top+y][cf.Left : cf.Left+w])
			if cf.Flip {
				slices.Reverse(row)
			}
			for x, p := range row {
				out[c*h*w+y*w+x] = refNorm(p, mean[c], std[c])
			}
		}
	}
	return out
}

func TestPadFor(t *testing.T) {
	for _, tc := range []struct{ h, w, pad int }{
		{32, 32, data.Pad}, {64, 64, 8}, {224, 224, 28}, {48, 40, 5}, {7, 100, 0}, {8, 8, 1},
	} {
		if got := data.PadFor(tc.h, tc.w); got != tc.pad {
			t.Errorf("PadFor(%d, %d) = %d, want %d", tc.h, tc.w, got, tc.pad)
		}
	}
	if p := (&data.Dataset{}).Pad(); p != data.Pad {
		t.Errorf("the zero Dataset's Pad is %d, want %d", p, data.Pad)
	}
}

// TestNormalizeCropFlipSizes checks every window and flip of images of
// other sizes than 32×32 (square, not square, too small to crop) against
// the literal reference.
func TestNormalizeCropFlipSizes(t *testing.T) {
	for _, sz := range [][2]int{{64, 64}, {48, 40}, {6, 9}} {
		d := sizedDataset(2, sz[0], sz[1], 3, 5)
		pad := d.Pad()
		got := make([]float32, d.BytesPerImage())
		for i := range d.Len() {
			for top := range 2*pad + 1 {
				for left := range 2*pad + 1 {
					for _, flip := range []bool{false, true} {
						cf := data.CropFlip{Top: top, Left: left, Flip: flip}
						d.NormalizeCropFlip(got, i, cf, data.CIFAR10Mean, data.CIFAR10Std)
						want := refCropFlipSized(d, i, pad, cf, data.CIFAR10Mean, data.CIFAR10Std)
						if k := sameBits(got, want); k >= 0 {
							t.Fatalf("%v image %d, %+v: element %d = %v, want %v", sz, i, cf, k, got[k], want[k])
						}
					}
				}
			}
		}
		if msg := catch(func() { d.NormalizeCropFlip(got, 0, data.CropFlip{Top: 2*pad + 1}, imagenetMean, imagenetStd) }); !strings.Contains(msg, "outside") {
			t.Errorf("%v: window past 2·pad: panic %q", sz, msg)
		}
	}
}

// TestCropPadding64 is TestCropPadding at 64×64: on an all-255 image the
// padding pixels are exactly (0 − mean)/std, as many as the window's
// offset leaves out, and on the flipped crop they sit mirrored.
func TestCropPadding64(t *testing.T) {
	const S, pad = 64, 8
	d := &data.Dataset{Height: S, Width: S, Images: make([]byte, 3*S*S), Labels: []uint8{0}}
	for i := range d.Images {
		d.Images[i] = 255
	}
	mean, std := data.CIFAR10Mean, data.CIFAR10Std
	got := make([]float32, 3*S*S)
	for top := range 2*pad + 1 {
		for left := range 2*pad + 1 {
			for _, flip := range []bool{false, true} {
				cf := data.CropFlip{Top: top, Left: left, Flip: flip}
				d.NormalizeCropFlip(got, 0, cf, mean, std)
				dy, dx := abs(top-pad), abs(left-pad)
				for c := range 3 {
					pads := 0
					zero := (0 - mean[c]) / std[c]
					one := (1 - mean[c]) / std[c]
					for y := range S {
						for x := range S {
							px := x
							if flip {
								px = S - 1 - x
							}
							isPad := y+top < pad || y+top >= S+pad || px+left < pad || px+left >= S+pad
							want := one
							if isPad {
								want, pads = zero, pads+1
							}
							if v := got[c*S*S+y*S+x]; math.Float32bits(v) != math.Float32bits(want) {
								t.Fatalf("%+v c=%d y=%d x=%d: %v, want %v (padding %v)", cf, c, y, x, v, want, isPad)
							}
						}
					}
					if want := S*S - (S-dy)*(S-dx); pads != want {
						t.Fatalf("%+v c=%d: %d padding pixels, want %d", cf, c, pads, want)
					}
				}
			}
		}
	}
}

// TestFlip64 checks that the flip of the centred window mirrors each row
// of a 64×64 image: output (y, x) is input (y, 63 − x).
func TestFlip64(t *testing.T) {
	const S = 64
	d := sizedDataset(1, S, S, 1, 9)
	plain := make([]float32, 3*S*S)
	d.Normalize(plain, []int{0}, imagenetMean, imagenetStd)
	got := make([]float32, 3*S*S)
	d.NormalizeCropFlip(got, 0, data.CropFlip{Top: 8, Left: 8}, imagenetMean, imagenetStd)
	if k := sameBits(got, plain); k >= 0 {
		t.Fatalf("the centred window differs from Normalize at %d", k)
	}
	d.NormalizeCropFlip(got, 0, data.CropFlip{Top: 8, Left: 8, Flip: true}, imagenetMean, imagenetStd)
	for c := range 3 {
		for y := range S {
			for x := range S {
				if g, w := got[c*S*S+y*S+x], plain[c*S*S+y*S+S-1-x]; math.Float32bits(g) != math.Float32bits(w) {
					t.Fatalf("c=%d y=%d x=%d: %v, want input x=%d's %v", c, y, x, g, S-1-x, w)
				}
			}
		}
	}
}

func TestDrawCropFlipPad(t *testing.T) {
	// At Pad the draw is DrawCropFlip's: CIFAR runs repeat.
	for pos := range 2000 {
		if a, b := data.DrawCropFlip(3, 2, pos), data.DrawCropFlipPad(3, 2, pos, data.Pad); a != b {
			t.Fatalf("pos %d: DrawCropFlip %+v, DrawCropFlipPad at Pad %+v", pos, a, b)
		}
	}
	// At 8 every corner in [0, 16]² comes up, and nothing outside.
	var seen [17][17]bool
	for pos := range 17 * 17 * 40 {
		cf := data.DrawCropFlipPad(3, 2, pos, 8)
		if cf.Top < 0 || cf.Top > 16 || cf.Left < 0 || cf.Left > 16 {
			t.Fatalf("pos %d: %+v outside [0, 16]", pos, cf)
		}
		seen[cf.Top][cf.Left] = true
	}
	for top := range 17 {
		for left := range 17 {
			if !seen[top][left] {
				t.Errorf("corner (%d, %d) never drawn", top, left)
			}
		}
	}
	if cf := data.DrawCropFlipPad(3, 2, 5, 0); cf.Top != 0 || cf.Left != 0 {
		t.Errorf("pad 0 drew %+v", cf)
	}
	if catch(func() { data.DrawCropFlipPad(0, 0, 0, -1) }) == "" {
		t.Error("DrawCropFlipPad accepted a negative padding")
	}
}

// TestLoaderSized checks a Loader over 64×64 images of 12 classes against
// the documented definition: sample k of epoch e is image order[k]
// cropped and flipped by DrawCropFlipPad(seed, e, k, 8).
func TestLoaderSized(t *testing.T) {
	d := sizedDataset(11, 64, 64, 12, 3)
	c := trainConfig
	c.Batch, c.Workers = 4, 2
	l := newLoader(t, d, c)
	for e := range 2 {
		order := data.Permutation(d.Len(), c.Seed, e)
		it := l.Epoch(e, 0)
		n := 0
		for b, ok := it.Next(); ok; b, ok = it.Next() {
			if b.Height != 64 || b.Width != 64 || len(b.X) != b.N*d.BytesPerImage() {
				t.Fatalf("batch %d: %d×%d, %d values for %d images", b.Index, b.Height, b.Width, len(b.X), b.N)
			}
			for k := range b.N {
				pos := b.Index*c.Batch + k
				want := refCropFlipSized(d, order[pos], 8, data.DrawCropFlipPad(c.Seed, e, pos, 8), c.Mean, c.Std)
				if j := sameBits(b.X[k*len(want):(k+1)*len(want)], want); j >= 0 {
					t.Fatalf("epoch %d sample %d: element %d differs", e, pos, j)
				}
				if b.Labels[k] != int(d.Labels[order[pos]]) {
					t.Fatalf("epoch %d sample %d: label %d", e, pos, b.Labels[k])
				}
				n++
			}
		}
		it.Close()
		if n != d.Len() {
			t.Fatalf("epoch %d: %d samples", e, n)
		}
	}
}

func TestDatasetSizeErrors(t *testing.T) {
	many := sizedDataset(12, 16, 16, 12, 1) // labels 0..11: fine with Classes 12
	if _, err := data.NewLoader(many, trainConfig); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		mod  func(*data.Dataset)
		want string
	}{
		{"label ≥ Classes", func(d *data.Dataset) { d.Classes = 11 }, "image 11 has label 11, want 0..10"},
		{"negative height", func(d *data.Dataset) { d.Height = -1 }, "image size -1×16"},
		{"too many classes", func(d *data.Dataset) { d.Classes = 300 }, "300 classes"},
		{"size disagrees", func(d *data.Dataset) { d.Width = 15 }, "16×15 images"},
	} {
		d := *many
		tc.mod(&d)
		if _, err := data.NewLoader(&d, trainConfig); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.name, err, tc.want)
		}
	}
}

func TestSliceAndSubsetKeepSize(t *testing.T) {
	d := sizedDataset(5, 20, 12, 4, 2)
	b := d.BytesPerImage()
	if b != 3*20*12 {
		t.Fatalf("BytesPerImage %d", b)
	}
	s := d.Slice(1, 4)
	if s.Len() != 3 || s.Height != 20 || s.Width != 12 || s.Classes != 4 || &s.Images[0] != &d.Images[b] {
		t.Fatalf("Slice(1, 4): %d images %d×%d, %d classes", s.Len(), s.Height, s.Width, s.Classes)
	}
	u := d.Subset([]int{4, 0})
	if u.Height != 20 || u.Width != 12 || u.Classes != 4 || !slices.Equal(u.Images[:b], d.Images[4*b:5*b]) {
		t.Fatalf("Subset: %d×%d, %d classes, or wrong pixels", u.Height, u.Width, u.Classes)
	}
	if msg := catch(func() { d.Slice(2, 6) }); !strings.Contains(msg, "Slice(2, 6)") {
		t.Errorf("panic %q", msg)
	}
}
