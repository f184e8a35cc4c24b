package classify

import (
	"bytes"
	"errors"
	"fmt"
	"image"
	_ "image/jpeg" // the formats the package reads
	_ "image/png"
	"os"
)

// ErrTooLarge is returned (wrapped) by DecodeImage for an image whose header declares more
// pixels than allowed.
var ErrTooLarge = errors.New("image too large")

// DecodeImage decodes a PNG or JPEG image (or any format registered with package image).
// With maxPixels > 0 it first reads the size from the header (image.DecodeConfig) and
// refuses an image of more pixels with ErrTooLarge, before any pixel is allocated: a
// small file that declares a huge image (a decompression bomb) costs nothing. It returns
// the image's format ("png", "jpeg") too.
func DecodeImage(data []byte, maxPixels int64) (image.Image, string, error) {
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	if err != nil {
		return nil, "", fmt.Errorf("not an image of a known format (PNG, JPEG): %w", err)
	}
	if cfg.Width <= 0 || cfg.Height <= 0 {
		return nil, format, fmt.Errorf("%s image of %d×%d pixels", format, cfg.Width, cfg.Height)
	}
	if maxPixels > 0 && int64(cfg.Width)*int64(cfg.Height) > maxPixels {
		return nil, format, fmt.Errorf("%w: %s of %d×%d pixels, the limit is %d pixels", ErrTooLarge, format, cfg.Width, cfg.Height, maxPixels)
	}
	img, format, err := image.Decode(bytes.NewReader(data))
	if err != nil {
		return nil, format, fmt.Errorf("bad %s image: %w", format, err)
	}
	return img, format, nil
}

// ReadImage reads and decodes an image file (PNG or JPEG).
func ReadImage(path string) (image.Image, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	img, _, err := DecodeImage(data, 0)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", path, err)
	}
	return img, nil
}

// ClassifyFile reads the image file at path (see ReadImage) and returns its k most
// probable classes.
func (c *Classifier) ClassifyFile(path string, k int) ([]Prediction, error) {
	img, err := ReadImage(path)
	if err != nil {
		return nil, err
	}
	return c.Classify(img, k)
}
