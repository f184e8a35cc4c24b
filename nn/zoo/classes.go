package zoo

import (
	_ "embed"
	"slices"
	"strings"
)

// MetaClasses is the metadata key of a model file's class names: a JSON list of strings,
// indexed by output class (["airplane","automobile",…]).
const MetaClasses = "classes"

// cifar10Classes are CIFAR-10's class names, indexed by label.
var cifar10Classes = []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}

//go:embed imagenet_classes.txt
var imagenetText string

// imagenetClasses are torchvision's 1000 ImageNet category names, indexed by class
// (torchvision.models._meta._IMAGENET_CATEGORIES; scripts/golden/gen_imagenet_classes.py
// writes imagenet_classes.txt).
var imagenetClasses = strings.Split(strings.TrimSuffix(imagenetText, "\n"), "\n")

// ClassNames returns the class names that the architecture's convention gives its outputs,
// indexed by class: CIFAR-10's ten names for the CIFAR architectures, torchvision's 1000
// ImageNet category names for the ImageNet ones. The slice is the caller's.
func (a Arch) ClassNames() []string {
	switch {
	case a.Classes == len(cifar10Classes) && slices.Equal(a.InputShape, []int{3, 32, 32}):
		return slices.Clone(cifar10Classes)
	case a.Classes == len(imagenetClasses):
		return slices.Clone(imagenetClasses)
	}
	return nil
}

// DefaultClasses returns the class names of the architecture called arch (see
// Arch.ClassNames), or nil when arch names no known architecture.
func DefaultClasses(arch string) []string {
	a, err := Lookup(arch)
	if err != nil {
		return nil
	}
	return a.ClassNames()
}
