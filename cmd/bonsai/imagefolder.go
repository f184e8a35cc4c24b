package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/data/imagefolder"
	"github.com/bonsai-dl/bonsai/nn"
)

// imageFolderScheme starts a -data value naming a folder of images:
// imagefolder:DIR, with DIR/train and DIR/val holding one sub-folder per class
// (see package imagefolder).
const imageFolderScheme = "imagefolder:"

// dataPath returns the path a -data value names: DIR for imagefolder:DIR, the value
// itself for a CIFAR-10 directory.
func dataPath(spec string) string {
	if root, ok := strings.CutPrefix(spec, imageFolderScheme); ok {
		return root
	}
	return spec
}

// absData returns spec with its path made absolute, keeping the scheme.
func absData(spec string) (string, error) {
	if root, ok := strings.CutPrefix(spec, imageFolderScheme); ok {
		abs, err := filepath.Abs(root)
		return imageFolderScheme + abs, err
	}
	return filepath.Abs(spec)
}

// loadImageFolder returns DIR/train and DIR/val of imagefolder:DIR, and ok = false
// when spec does not start with imagefolder:.
func loadImageFolder(spec string) (trainSet, testSet *data.Dataset, ok bool, err error) {
	root, ok := strings.CutPrefix(spec, imageFolderScheme)
	if !ok {
		return nil, nil, false, nil
	}
	trainSet, testSet, _, err = imagefolder.LoadSplits(root)
	return trainSet, testSet, true, err
}

// loadTestSet returns the evaluation images of -data: CIFAR-10's test split, or
// DIR/val of imagefolder:DIR with its class names.
func loadTestSet(spec string) (*data.Dataset, []string, error) {
	if root, ok := strings.CutPrefix(spec, imageFolderScheme); ok {
		return imagefolder.Load(filepath.Join(root, imagefolder.ValDir))
	}
	d, err := data.Load(spec, data.Test)
	return d, nil, err
}

// checkClasses checks that a model with the metadata's class names has an output
// for each of the data's classes (names, nil for CIFAR-10's binary files), and
// returns a warning when the names differ from the model's.
func checkClasses(m nn.Module, modelClasses, names []string) (warning string, err error) {
	if names == nil {
		return "", nil
	}
	out := -1
	nn.Walk(m, func(_ string, l nn.Module) {
		if lin, ok := l.(*nn.Linear); ok {
			out = lin.Out
		}
	})
	if out >= 0 && len(names) > out {
		return "", fmt.Errorf("-data: %d class folders, but the model has %d outputs", len(names), out)
	}
	if modelClasses != nil && strings.Join(modelClasses, "\x00") != strings.Join(names, "\x00") {
		return fmt.Sprintf("warning: the class folders (%s) are not the model's classes (%s): label i is the i-th folder in sorted order",
			strings.Join(names, ", "), strings.Join(modelClasses, ", ")), nil
	}
	return "", nil
}
