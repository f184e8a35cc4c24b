package main

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/data/imagefolder"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
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

// isImageFolder reports whether a -data value names a folder of images.
func isImageFolder(spec string) bool { return strings.HasPrefix(spec, imageFolderScheme) }

// absData returns spec with its path made absolute, keeping the scheme.
func absData(spec string) (string, error) {
	if root, ok := strings.CutPrefix(spec, imageFolderScheme); ok {
		abs, err := filepath.Abs(root)
		return imageFolderScheme + abs, err
	}
	return filepath.Abs(spec)
}

// loadImageFolder returns DIR/train and DIR/val of imagefolder:DIR at the input size of
// the architecture arch (imageSize), and ok = false when spec does not start with
// imagefolder:. More class folders than the architecture has classes is an error.
func loadImageFolder(spec, arch string) (trainSet, testSet *data.Dataset, ok bool, err error) {
	root, ok := strings.CutPrefix(spec, imageFolderScheme)
	if !ok {
		return nil, nil, false, nil
	}
	h, w, err := imageSize(arch)
	if err != nil {
		return nil, nil, true, err
	}
	trainSet, testSet, names, err := imagefolder.LoadSplits(root, h, w)
	if err != nil {
		return nil, nil, true, err
	}
	if a, err := zoo.Lookup(arch); err == nil && len(names) > a.Classes {
		return nil, nil, true, fmt.Errorf("-data: %d class folders, but the model has %d outputs", len(names), a.Classes)
	}
	return trainSet, testSet, true, nil
}

// loadTestSet returns the evaluation images of -data: CIFAR-10's test split, or
// DIR/val of imagefolder:DIR at arch's input size (imageSize) with its class names.
func loadTestSet(spec, arch string) (*data.Dataset, []string, error) {
	if root, ok := strings.CutPrefix(spec, imageFolderScheme); ok {
		h, w, err := imageSize(arch)
		if err != nil {
			return nil, nil, err
		}
		return imagefolder.Load(filepath.Join(root, imagefolder.ValDir), h, w)
	}
	d, err := data.Load(spec, data.Test)
	return d, nil, err
}

// imageSize returns the height and width of the images the architecture arch takes
// (zoo.Arch.InputShape: 224×224 for the ImageNet models, 32×32 for the CIFAR ones, an
// imported ONNX model's recorded input size), the size an image folder is brought to.
func imageSize(arch string) (height, width int, err error) {
	a, err := zoo.Lookup(arch)
	if err != nil {
		return 0, 0, fmt.Errorf("-data %s: the images are brought to the model's input size: %w", imageFolderScheme+"DIR", err)
	}
	in := a.InputShape
	if len(in) != 3 || in[0] != data.Channels {
		return 0, 0, fmt.Errorf("-data %s: architecture %s takes inputs %v, not RGB images [3 H W]", imageFolderScheme+"DIR", a.Name, in)
	}
	return in[1], in[2], nil
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
