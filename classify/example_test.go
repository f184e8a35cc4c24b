package classify_test

import (
	"fmt"
	"log"

	"github.com/bonsai-dl/bonsai/classify"
)

// A model file written by bonsai train or bonsai prune, and a PNG or JPEG picture. (The
// ResNet-8 in testdata has random weights, so its answer means nothing.)
const (
	modelFile = "testdata/example/resnet8.safetensors"
	imageFile = "testdata/preprocess/small_48x40.png"
)

// Classify a picture: load the model once, then ask for the three most probable classes.
func Example() {
	c, err := classify.Load(modelFile, classify.Options{})
	if err != nil {
		log.Fatal(err)
	}
	top, err := c.ClassifyFile(imageFile, 3)
	if err != nil {
		log.Fatal(err)
	}
	for _, p := range top {
		fmt.Printf("%-10s %.3f\n", p.Name, p.Probability)
	}
	// Output:
	// frog       0.321
	// ship       0.170
	// automobile 0.159
}
