package imagefolder

import (
	"bytes"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/classify"
)

// writeImage writes a w×h image whose pixels depend on seed, as PNG or JPEG by
// the file name.
func writeImage(t *testing.T, path string, w, h, seed int) image.Image {
	t.Helper()
	img := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			img.Set(x, y, color.NRGBA{uint8(x*7 + seed), uint8(y*11 + 3*seed), uint8(x*y + seed), 255})
		}
	}
	var buf bytes.Buffer
	var err error
	if strings.HasSuffix(strings.ToLower(path), ".png") {
		err = png.Encode(&buf, img)
	} else {
		err = jpeg.Encode(&buf, img, &jpeg.Options{Quality: 90})
	}
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return img
}

func TestScanOrderAndLoad(t *testing.T) {
	root := t.TempDir()
	files := []struct {
		path  string
		label int
	}{
		// sorted as torchvision sorts: classes by name, then paths
		{"apple/1.png", 0},
		{"apple/2.JPG", 0},
		{"banana/a/x.jpeg", 1},
		{"banana/b.png", 1},
		{"cherry/0.png", 2},
	}
	for i, f := range files {
		writeImage(t, filepath.Join(root, f.path), 40+i, 30+2*i, i)
	}
	os.WriteFile(filepath.Join(root, "apple", "notes.txt"), []byte("skip me"), 0o644)
	os.WriteFile(filepath.Join(root, "README"), []byte("not a class"), 0o644)

	classes, samples, err := Scan(root)
	if err != nil {
		t.Fatal(err)
	}
	if strings.Join(classes, ",") != "apple,banana,cherry" {
		t.Errorf("classes %v", classes)
	}
	if len(samples) != len(files) {
		t.Fatalf("%d samples, want %d: %v", len(samples), len(files), samples)
	}
	for i, f := range files {
		if samples[i].Path != filepath.Join(root, f.path) || samples[i].Label != f.label {
			t.Errorf("sample %d: %+v, want %s label %d", i, samples[i], f.path, f.label)
		}
	}

	for _, sz := range [][2]int{{32, 32}, {64, 64}, {40, 48}} {
		h, w := sz[0], sz[1]
		d, names, err := Load(root, h, w)
		if err != nil {
			t.Fatal(err)
		}
		if d.Len() != len(files) || d.Height != h || d.Width != w || d.Classes != 3 || len(names) != 3 {
			t.Fatalf("%d×%d: %d images of %d×%d, %d classes; want %d of %d×%d, 3", h, w, d.Len(), d.Height, d.Width, d.Classes, len(files), h, w)
		}
		per := 3 * h * w
		for i, f := range files {
			img, err := classify.ReadImage(filepath.Join(root, f.path))
			if err != nil {
				t.Fatal(err)
			}
			want, err := classify.Pixels(nil, img, h, w)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Images[i*per:(i+1)*per], want) || int(d.Labels[i]) != f.label {
				t.Errorf("%d×%d image %d (%s): not classify.Pixels of the file, or label %d", h, w, i, f.path, d.Labels[i])
			}
		}
	}
}

func TestErrors(t *testing.T) {
	mk := func(t *testing.T, paths ...string) string {
		root := t.TempDir()
		for _, p := range paths {
			if strings.HasSuffix(p, "/") {
				os.MkdirAll(filepath.Join(root, p), 0o755)
				continue
			}
			writeImage(t, filepath.Join(root, p), 8, 8, 1)
		}
		return root
	}
	for _, tc := range []struct {
		name string
		root func(t *testing.T) string
		want string
	}{
		{"missing", func(t *testing.T) string { return filepath.Join(t.TempDir(), "nope") }, "no such file"},
		{"no classes", func(t *testing.T) string { return mk(t) }, "has no class folders"},
		{"empty class", func(t *testing.T) string { return mk(t, "a/1.png", "b/") }, "b holds no PNG or JPEG file"},
		{"bad image", func(t *testing.T) string {
			root := mk(t, "a/1.png")
			os.WriteFile(filepath.Join(root, "a", "2.png"), []byte("not a png"), 0o644)
			return root
		}, "2.png: not an image"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, _, err := Load(tc.root(t), 32, 32)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("got %v, want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("size", func(t *testing.T) {
		if _, _, err := Load(mk(t, "a/1.png"), 0, 32); err == nil || !strings.Contains(err.Error(), "image size 0×32") {
			t.Errorf("got %v", err)
		}
	})
	t.Run("train and val differ", func(t *testing.T) {
		root := mk(t, "train/a/1.png", "train/b/1.png", "val/a/1.png")
		if _, _, _, err := LoadSplits(root, 32, 32); err == nil || !strings.Contains(err.Error(), "different class folders") {
			t.Errorf("got %v", err)
		}
	})
}
