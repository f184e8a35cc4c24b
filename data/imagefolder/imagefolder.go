// Package imagefolder reads a data set laid out as torchvision's ImageFolder: one
// sub-folder per class, named for it, holding that class's PNG and JPEG files (in
// sub-folders of any depth). A data set directory holds two such trees, train/ and
// val/.
//
// Classes are the sub-folder names sorted, so label i is the i-th name, and the
// images of a class are taken in the lexical order of their paths, as torchvision
// orders them. Each image is decoded and brought to the model's input size, given as
// height and width, by the embedding API's preprocessing (classify.Pixels: converted to
// RGB; for 32×32 resized to 32×32, for other sizes the shorter side resized to 256/224
// of the input's and the centre cropped, as torchvision's Resize(256) + CenterCrop(224))
// and kept as 8-bit CHW pixels in a data.Dataset of that size, so that normalisation,
// the training crop and flip (RandomCrop with min(height, width)/8 pixels of zero
// padding — 4 at 32×32 — and RandomHorizontalFlip, see data.PadFor) and batching are
// the same as for CIFAR-10.
package imagefolder

import (
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/data"
)

// Names of the two trees of a data set directory.
const (
	TrainDir = "train"
	ValDir   = "val"
)

// MaxClasses is the most classes a data.Dataset's 8-bit labels hold.
const MaxClasses = 256

// extensions are the file name endings read as images (case-insensitive); other files
// are skipped.
var extensions = []string{".png", ".jpg", ".jpeg"}

// Sample is one image file and its label.
type Sample struct {
	Path  string
	Label int
}

// Scan lists the classes (sorted sub-folder names of root) and the image files under
// each, in torchvision's order. It is an error when root has no sub-folder, a class
// has no image, or there are more than MaxClasses classes.
func Scan(root string) (classes []string, samples []Sample, err error) {
	entries, err := os.ReadDir(root)
	if err != nil {
		return nil, nil, fmt.Errorf("imagefolder: %w", err)
	}
	for _, e := range entries {
		if e.IsDir() || e.Type()&fs.ModeSymlink != 0 && isDir(filepath.Join(root, e.Name())) {
			classes = append(classes, e.Name())
		}
	}
	slices.Sort(classes)
	switch {
	case len(classes) == 0:
		return nil, nil, fmt.Errorf("imagefolder: %s has no class folders (want one sub-folder per class)", root)
	case len(classes) > MaxClasses:
		return nil, nil, fmt.Errorf("imagefolder: %s has %d class folders, at most %d are supported", root, len(classes), MaxClasses)
	}
	for label, c := range classes {
		n := len(samples)
		err := filepath.WalkDir(filepath.Join(root, c), func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return err
			}
			if !d.IsDir() && slices.Contains(extensions, strings.ToLower(filepath.Ext(p))) {
				samples = append(samples, Sample{Path: p, Label: label})
			}
			return nil
		})
		if err != nil {
			return nil, nil, fmt.Errorf("imagefolder: %w", err)
		}
		if len(samples) == n {
			return nil, nil, fmt.Errorf("imagefolder: class folder %s holds no PNG or JPEG file", filepath.Join(root, c))
		}
	}
	return classes, samples, nil
}

func isDir(p string) bool {
	fi, err := os.Stat(p)
	return err == nil && fi.IsDir()
}

// Load reads the tree at root (see Scan) into a Dataset of height×width images
// preprocessed by classify.Pixels, with the sorted class names (Dataset.Classes is
// their number). Images are decoded in parallel; an unreadable or undecodable file is
// an error naming it, and so is a size that is not positive.
func Load(root string, height, width int) (*data.Dataset, []string, error) {
	if height <= 0 || width <= 0 {
		return nil, nil, fmt.Errorf("imagefolder: %s: image size %d×%d, want positive values", root, height, width)
	}
	classes, samples, err := Scan(root)
	if err != nil {
		return nil, nil, err
	}
	d := &data.Dataset{Height: height, Width: width, Classes: len(classes), Labels: make([]uint8, len(samples))}
	per := d.BytesPerImage()
	d.Images = make([]byte, len(samples)*per)
	var (
		wg       sync.WaitGroup
		next     = make(chan int)
		mu       sync.Mutex
		firstErr error
		firstAt  = len(samples)
	)
	for range runtime.GOMAXPROCS(0) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var buf []uint8
			for i := range next {
				img, err := classify.ReadImage(samples[i].Path)
				if err == nil {
					buf, err = classify.Pixels(buf[:0], img, height, width)
					if err != nil {
						err = fmt.Errorf("%s: %w", samples[i].Path, err)
					}
				}
				if err != nil {
					mu.Lock()
					if i < firstAt {
						firstErr, firstAt = err, i
					}
					mu.Unlock()
					continue
				}
				copy(d.Images[i*per:], buf)
				d.Labels[i] = uint8(samples[i].Label)
			}
		}()
	}
	for i := range samples {
		next <- i
	}
	close(next)
	wg.Wait()
	if firstErr != nil {
		return nil, nil, fmt.Errorf("imagefolder: %w", firstErr)
	}
	return d, classes, nil
}

// LoadSplits reads dir/train and dir/val at height×width (see Load). Both must have
// the same classes.
func LoadSplits(dir string, height, width int) (train, val *data.Dataset, classes []string, err error) {
	train, classes, err = Load(filepath.Join(dir, TrainDir), height, width)
	if err != nil {
		return nil, nil, nil, err
	}
	val, vc, err := Load(filepath.Join(dir, ValDir), height, width)
	if err != nil {
		return nil, nil, nil, err
	}
	if !slices.Equal(classes, vc) {
		return nil, nil, nil, fmt.Errorf("imagefolder: %s and %s have different class folders (%d and %d)",
			filepath.Join(dir, TrainDir), filepath.Join(dir, ValDir), len(classes), len(vc))
	}
	return train, val, classes, nil
}
