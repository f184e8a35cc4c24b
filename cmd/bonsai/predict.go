package main

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"image"
	_ "image/gif" // predict reads every format the standard library decodes
	"io"
	"strings"

	"github.com/bonsai-dl/bonsai/classify"
)

// predictResult is one line of "bonsai predict -json".
type predictResult struct {
	Path        string                `json:"path"`
	Predictions []classify.Prediction `json:"predictions,omitempty"`
	Error       string                `json:"error,omitempty"`
}

func runPredict(args []string, out, errOut io.Writer) error {
	fs := newFlags("predict", errOut)
	weights := fs.String("weights", "", "safetensors model file (required; its metadata gives the architecture, normalisation and class names)")
	arch := fs.String("arch", "", "architecture (optional when the file names one)")
	top := fs.Int("top", 5, "classes to print per image, most probable first")
	asJSON := fs.Bool("json", false, "print one JSON object per image: its path and predictions (or error)")
	fs.Usage = func() {
		fmt.Fprintln(errOut, "usage: bonsai predict -weights FILE [-top 5] [-json] IMAGE...")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return err
		}
		return usageError{err.Error()}
	}
	paths := fs.Args()
	switch {
	case *weights == "":
		return usagef("-weights is required")
	case *top < 1:
		return usagef("-top must be ≥ 1, got %d", *top)
	case len(paths) == 0:
		return usagef("name one or more image files")
	}
	if err := checkArch(*arch); err != nil {
		return err
	}
	c, err := classify.Load(*weights, classify.Options{Arch: *arch})
	if err != nil {
		return err
	}
	enc := json.NewEncoder(out)
	failed := 0
	report := func(r predictResult) {
		if r.Error != "" {
			failed++
			fmt.Fprintf(errOut, "bonsai predict: %s\n", r.Error)
		}
		if *asJSON {
			enc.Encode(r)
			return
		}
		if r.Error != "" {
			return
		}
		parts := make([]string, len(r.Predictions))
		for i, p := range r.Predictions {
			name := p.Name
			if name == "" {
				name = fmt.Sprintf("class %d", p.Class)
			}
			parts[i] = fmt.Sprintf("%s %.4f", name, p.Probability)
		}
		fmt.Fprintf(out, "%s: %s\n", r.Path, strings.Join(parts, ", "))
	}
	// Decode up to a batch of images, then classify them in one forward pass.
	for lo := 0; lo < len(paths); lo += c.MaxBatch() {
		batch := paths[lo:min(lo+c.MaxBatch(), len(paths))]
		var imgs []image.Image
		results := make([]predictResult, len(batch))
		for i, p := range batch {
			results[i].Path = p
			img, err := classify.ReadImage(p)
			if err != nil {
				results[i].Error = err.Error()
				continue
			}
			imgs = append(imgs, img)
		}
		var preds [][]classify.Prediction
		var batchErr error
		if len(imgs) > 0 {
			preds, batchErr = c.ClassifyBatch(imgs, *top)
		}
		j := 0
		for i := range results {
			r := &results[i]
			if r.Error != "" {
				report(*r)
				continue
			}
			if batchErr == nil {
				r.Predictions = preds[j]
			} else if p, err := c.Classify(imgs[j], *top); err != nil { // find the image at fault
				r.Error = fmt.Sprintf("%s: %v", r.Path, err)
			} else {
				r.Predictions = p
			}
			j++
			report(*r)
		}
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d images could not be classified", failed, len(paths))
	}
	return nil
}
