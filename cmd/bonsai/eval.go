package main

import (
	"encoding/json"
	"fmt"
	"io"
	"time"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/train"
)

// evalReport is the output of "bonsai eval -json".
type evalReport struct {
	Arch            string  `json:"arch"`
	Weights         string  `json:"weights"`
	Correct         int     `json:"correct"`
	Total           int     `json:"total"`
	Accuracy        float64 `json:"accuracy"`
	Loss            float64 `json:"loss"`
	Seconds         float64 `json:"seconds"`
	ImagesPerSecond float64 `json:"images_per_second"`
}

func runEval(args []string, out, errOut io.Writer) error {
	fs := newFlags("eval", errOut)
	arch := fs.String("arch", "", "architecture (optional when the file names one)")
	weights := fs.String("weights", "", "safetensors model file (required)")
	dir := fs.String("data", "", "CIFAR-10 binary directory, or imagefolder:DIR (DIR/val: one folder of PNG/JPEG files per class, brought to the model's input size) (required)")
	batch := fs.Int("batch", 200, "images per forward pass")
	meanFlag := fs.String("mean", "", "input mean per channel, e.g. 0.4914,0.4822,0.4465 (overrides the file)")
	stdFlag := fs.String("std", "", "input std per channel (overrides the file)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	rangeFlag := fs.String("test-range", "", "evaluate test images FIRST:END only, e.g. 0:5000 or 5000:10000")
	predictions := fs.String("predictions", "", "write each test image's index, label and predicted class to this file, one JSON object a line (the figures are then the compiled form's, as predict and serve compute them)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *weights == "" || *dir == "" {
		return usagef("-weights and -data are required")
	}
	if err := checkOutFile("predictions", *predictions); err != nil {
		return err
	}
	if *batch <= 0 {
		return usagef("-batch must be positive, got %d", *batch)
	}
	if err := checkArch(*arch); err != nil {
		return err
	}
	m, meta, err := zoo.Load(*weights, *arch)
	if err != nil {
		return err
	}
	mean, std, err := normalisation(meta, *meanFlag, *stdFlag, false)
	if err != nil {
		return fmt.Errorf("%s: %w", *weights, err)
	}
	test, names, err := loadTestSet(*dir, meta.Arch)
	if err != nil {
		return err
	}
	if warn, err := checkClasses(m, meta.Classes, names); err != nil {
		return err
	} else if warn != "" {
		fmt.Fprintln(errOut, warn)
	}
	if test, err = testRange(test, *rangeFlag); err != nil {
		return err
	}
	start := time.Now()
	var res train.Result
	if *predictions != "" {
		if res, err = evalPredictions(m, meta, mean, std, test, *batch, *predictions); err != nil {
			return err
		}
	} else {
		res = train.NewEvaluator(*batch, mean, std).Run(m, test)
	}
	secs := time.Since(start).Seconds()
	rep := evalReport{
		Arch: meta.Arch, Weights: *weights, Correct: res.Correct, Total: res.Total,
		Accuracy: res.Accuracy(), Loss: res.Loss,
		Seconds: secs, ImagesPerSecond: float64(res.Total) / secs,
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	fmt.Fprintf(out, "%s: %d/%d correct, accuracy %.2f %%, mean cross-entropy %.5f, %.1f s (%.0f images/s)\n",
		rep.Arch, rep.Correct, rep.Total, 100*rep.Accuracy, rep.Loss, rep.Seconds, rep.ImagesPerSecond)
	return nil
}

// normalisation returns the input mean and std: the flags when given,
// else the file's metadata (zoo.Meta.Normalization), else, withDefaults,
// zoo's defaults.
func normalisation(meta zoo.Meta, meanFlag, stdFlag string, withDefaults bool) (mean, std [3]float32, err error) {
	for _, f := range []struct {
		name, val string
		dst       *[]float32
	}{{"mean", meanFlag, &meta.Mean}, {"std", stdFlag, &meta.Std}} {
		if f.val != "" {
			if *f.dst, err = zoo.ParseFloats(f.val); err != nil {
				return mean, std, usagef("-%s: %v", f.name, err)
			}
		}
	}
	mean, std, err = meta.Normalization(withDefaults)
	if err != nil && (meta.Mean == nil || meta.Std == nil) {
		err = fmt.Errorf("%v, and neither -mean nor -std was given", err)
	}
	return mean, std, err
}
