package classify

import (
	"testing"

	"github.com/bonsai-dl/bonsai/data"
)

// Pixels normalised as data.Dataset normalises CIFAR-10 are Preprocess's values bit
// for bit, for every golden source image (PNG and JPEG, of several sizes).
func TestPixelsNormalisedArePreprocess(t *testing.T) {
	c, err := Load("testdata/example/resnet8.safetensors", Options{})
	if err != nil {
		t.Fatal(err)
	}
	mean, std, err := c.Meta().Normalization(false)
	if err != nil {
		t.Fatal(err)
	}
	for _, src := range goldenSources(t) {
		img := readImage(t, src)
		want := make([]float32, data.ImageBytes)
		if err := c.Preprocess(want, img); err != nil {
			t.Fatal(err)
		}
		prefix := []uint8{7, 7}
		px, err := Pixels(prefix, img, data.ImageSize, data.ImageSize)
		if err != nil {
			t.Fatal(err)
		}
		if len(px) != 2+data.ImageBytes || px[0] != 7 || px[1] != 7 {
			t.Fatalf("%s: Pixels returned %d bytes (prefix %v), want the 2-byte prefix and %d", src, len(px), px[:2], data.ImageBytes)
		}
		d := &data.Dataset{Images: px[2:], Labels: []uint8{0}}
		got := make([]float32, data.ImageBytes)
		d.Normalize(got, []int{0}, mean, std)
		for i := range got {
			if got[i] != want[i] {
				t.Fatalf("%s: value %d is %v, Preprocess gives %v", src, i, got[i], want[i])
			}
		}
	}
}
