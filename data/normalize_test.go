package data_test

import (
	"math"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
)

var (
	imagenetMean = [3]float32{0.485, 0.456, 0.406}
	imagenetStd  = [3]float32{0.229, 0.224, 0.225}
)

// synthetic returns a Dataset of n images with the pixel pattern of
// record(…, i) for image i.
func synthetic(n int) *data.Dataset {
	labels := make([]byte, n)
	d, err := data.DecodeRecords(strings.NewReader(string(records(labels...))), "synthetic")
	if err != nil {
		panic(err)
	}
	return d
}

func TestNormalizeLayout(t *testing.T) {
	d := synthetic(4)
	mean := [3]float32{0.4914, 0.4822, 0.4465}
	std := [3]float32{0.2470, 0.2435, 0.2616}
	idx := []int{2, 0, 2, 3}
	const sentinel = -12345
	dst := make([]float32, len(idx)*data.ImageBytes+5)
	for i := range dst {
		dst[i] = sentinel
	}
	d.Normalize(dst, idx, mean, std)
	for n, i := range idx {
		for c := range 3 {
			for y := range 32 {
				for x := range 32 {
					p := pixel(i, c, y, x) // [i][c][y][x] of the source
					// Straightforward float32 formula, one step at a time.
					var want float32 = float32(p) / 255
					want -= mean[c]
					want /= std[c]
					got := dst[((n*3+c)*32+y)*32+x] // [n][c][y][x]
					if math.Float32bits(got) != math.Float32bits(want) {
						t.Fatalf("dst[%d][%d][%d][%d] = %v (%#x), want %v (%#x) from pixel %d",
							n, c, y, x, got, math.Float32bits(got), want, math.Float32bits(want), p)
					}
				}
			}
		}
	}
	for i := len(idx) * data.ImageBytes; i < len(dst); i++ {
		if dst[i] != sentinel {
			t.Fatalf("dst[%d] = %v was written; only the first %d elements may be", i, dst[i], len(idx)*data.ImageBytes)
		}
	}
}

// TestNormalizeGolden checks bit patterns computed independently (Python,
// each operation done in double and rounded to float32 with struct.pack('f'),
// which is exact for a single +, -, *, / of float32 operands):
//
//	f32(f32(f32(p/255) - f32(mean[c])) / f32(std[c]))
//
// with the ImageNet mean/std. p = 250 tells true division by 255 apart from
// multiplication by float32(1/255), which gives 0x400a7342 for c = 0.
func TestNormalizeGolden(t *testing.T) {
	golden := []struct {
		c    int
		p    byte
		bits uint32
	}{
		{0, 0, 0xc0078bbd}, {0, 1, 0xc006732b}, {0, 77, 0xbf4c9ec9}, {0, 128, 0x3d97af32},
		{0, 200, 0x3fa74d4f}, {0, 250, 0x400a7341}, {0, 255, 0x400fee1d},
		{1, 0, 0xc0024924}, {1, 1, 0xc0012a4f}, {1, 77, 0xbf300b78}, {1, 128, 0x3e521b48},
		{1, 200, 0x3fbb9b9c}, {1, 250, 0x4015d38a}, {1, 255, 0x401b6db7},
		{2, 0, 0xbfe6f809}, {2, 1, 0xbfe4bcea}, {2, 77, 0xbeecbf39}, {2, 128, 0x3eda5d3c},
		{2, 200, 0x3fd737ef}, {2, 250, 0x402361f7}, {2, 255, 0x4028f5c3},
	}
	// One image whose pixel j of plane c is golden value j's p.
	d := &data.Dataset{Images: make([]byte, data.ImageBytes), Labels: []uint8{0}}
	for j, g := range golden {
		d.Images[g.c*1024+j] = g.p
	}
	dst := make([]float32, data.ImageBytes)
	d.Normalize(dst, []int{0}, imagenetMean, imagenetStd)
	for j, g := range golden {
		if got := math.Float32bits(dst[g.c*1024+j]); got != g.bits {
			t.Errorf("c=%d p=%d: got %#x (%v), want %#x (%v)", g.c, g.p, got, dst[g.c*1024+j], g.bits, math.Float32frombits(g.bits))
		}
	}
}

func TestNormalizeEmpty(t *testing.T) {
	synthetic(1).Normalize(nil, nil, imagenetMean, imagenetStd) // must not panic
}

func TestNormalizePanics(t *testing.T) {
	d := synthetic(2)
	for _, tc := range []struct {
		name string
		dst  int
		idx  []int
		want string
	}{
		{"dst too small", 2*data.ImageBytes - 1, []int{0, 1}, "len(dst)"},
		{"nil dst", 0, []int{0}, "len(dst)"},
		{"negative index", data.ImageBytes, []int{-1}, "idx[0] = -1"},
		{"index = Len", 2 * data.ImageBytes, []int{1, 2}, "idx[1] = 2"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if r == nil {
					t.Fatal("no panic")
				}
				if msg, _ := r.(string); !strings.Contains(msg, tc.want) {
					t.Fatalf("panic %v does not mention %q", r, tc.want)
				}
			}()
			d.Normalize(make([]float32, tc.dst), tc.idx, imagenetMean, imagenetStd)
		})
	}
}
