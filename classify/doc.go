// Package classify classifies images with a Bonsai model file: one import to load a
// (pruned) model and get each image's most probable classes with their probabilities and
// names.
//
//	c, err := classify.Load("resnet20.safetensors", classify.Options{})
//	top, err := c.ClassifyFile("cat.png", 3) // []Prediction{{Class: 3, Name: "cat", Probability: 0.93}, …}
//
// # Model files
//
// Load reads a safetensors file written by Bonsai (train, prune) or converted from
// PyTorch with Bonsai's metadata: "arch" (the architecture, see zoo.Lookup; Options.Arch
// may give it instead), "mean" and "std" (the input normalisation, three values each:
// required, a file without them is an error) and optionally "classes" (the class names, a
// JSON list). Without "classes", CIFAR architectures are named with CIFAR-10's classes and
// ImageNet architectures with torchvision's 1000 ImageNet categories.
//
// # Preprocessing
//
// An image (any image.Image; DecodeImage and ReadImage read PNG and JPEG with the standard
// library) becomes the model's input as torchvision's evaluation transform makes it of the
// PIL image (Image.open(f).convert("RGB")):
//
//   - converted to 8-bit RGB: alpha dropped, grey copied to R, G and B, a JPEG's chroma
//     upsampled and converted as libjpeg does it for PIL;
//   - for ImageNet models (224×224 inputs): the shorter side resized to 256 (Resize(256):
//     PIL's bilinear filter with antialiasing, computed here in PIL's fixed-point
//     arithmetic), then the centre 224×224 (CenterCrop(224));
//   - for CIFAR models (32×32 inputs): a 32×32 image as it is, any other size resized to
//     32×32 the same way;
//   - normalised per channel, (p/255 − mean)/std in float32 (ToTensor, Normalize).
//
// The result matches torchvision's to within one level in a few pixels (the JPEG inverse
// DCT differs); PNG images match exactly.
//
// # Concurrency
//
// A Classifier is safe for concurrent use by any number of goroutines. The compiled model
// (infer.Model) is shared and read-only; each forward pass borrows one of a pool of
// infer.Runners (Options.Runners, GOMAXPROCS by default), each with the buffers of up to
// Options.MaxBatch images, created when first needed; callers beyond that wait. An image's
// result is bit-identical whatever the batch it is computed in and whichever goroutine
// asks, and results are new slices owned by the caller.
package classify
