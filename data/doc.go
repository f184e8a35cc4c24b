// Package data reads the CIFAR-10 data set in its official "binary version"
// (https://www.cs.toronto.edu/~kriz/cifar.html) and prepares images for a
// network.
//
// # File format
//
// The data set is six files, data_batch_1.bin … data_batch_5.bin (training)
// and test_batch.bin (test), plus batches.meta.txt with the ten class names,
// one per line. Each .bin file is 10,000 records of RecordBytes = 3073 bytes:
//
//	byte  0            label, 0..9 (an index into the class names)
//	bytes 1..1024      red plane,   32×32, row-major
//	bytes 1025..2048   green plane, 32×32, row-major
//	bytes 2049..3072   blue plane,  32×32, row-major
//
// so the 3072 pixel bytes of a record are already in CHW order.
//
// # Reading
//
// Load reads a whole split from the directory holding the files;
// ReadFile reads one file of any positive number of records; DecodeRecords
// decodes records from any io.Reader. All of them return a *Dataset whose
// Images hold N×3×32×32 bytes (image i is Images[i*ImageBytes:(i+1)*ImageBytes])
// and whose Labels hold N labels.
//
// A Dataset may hold images of another size (Height, Width; package
// data/imagefolder brings a folder of photos to a model's input size) and
// up to 256 classes (Classes); the zero values mean CIFAR-10's 32×32 and
// 10, and everything below works at any size.
//
// # Normalising
//
// Dataset.Normalize turns a batch of images into float32 CHW tensors,
// v = (p/255 − mean[c]) / std[c], bit for bit as torchvision's ToTensor
// followed by Normalize. CIFAR10Mean and CIFAR10Std are the training set's
// per-channel statistics, the usual choice for training.
//
// # Augmentation
//
// PyTorch's CIFAR recipe, RandomCrop(32, padding=4) then
// RandomHorizontalFlip(0.5) then ToTensor and Normalize: a CropFlip names
// the crop window in the zero-padded 40×40 image and whether to flip, and
// Dataset.NormalizeCropFlip applies it. Padding pixels are raw zeros, so
// they become (0 − mean)/std after normalisation, as in torchvision.
// Images of another size H×W get the same recipe with the padding scaled:
// RandomCrop((H, W), padding=min(H, W)/8) (PadFor; 8 at 64×64, 28 at
// 224×224).
//
// # Training batches
//
// A Loader (NewLoader, LoaderConfig) cuts a Dataset into batches of float32
// images and int labels. Loader.Epoch(e, from) returns an EpochIter whose
// background goroutines prepare the batches one or two ahead of the
// caller, in three buffers reused from batch to batch and epoch to epoch;
// EpochIter.Next hands out each Batch, valid until the next call, and
// EpochIter.Close stops early:
//
//	it := l.Epoch(epoch, 0)
//	defer it.Close()
//	for b, ok := it.Next(); ok; b, ok = it.Next() {
//		// b.X is [b.N, 3, b.Height, b.Width], b.Labels is [b.N]
//	}
//
// # Reproducibility
//
// All randomness is a pure function of the seed: epoch e visits the images
// in the order Permutation(n, seed, e), and the sample at position k of
// that order is augmented by DrawCropFlipPad(seed, e, k, d.Pad())
// (DrawCropFlip(seed, e, k) at 32×32). A batch therefore
// depends only on the Dataset, the configuration, the epoch and its index
// — not on goroutine timing or the number of workers — the sample stream
// of an epoch is the same for every batch size, and Epoch(e, k) resumes an
// interrupted epoch exactly at batch k. Both draws use math/rand/v2's PCG
// (PCG-DXSM, whose output Go's own tests pin), with bounded values and
// shuffling written out in this package rather than taken from rand.Rand,
// so runs also repeat across Go versions; TestStreamsPinned guards this.
//
// Dataset.Subset copies chosen images into a new Dataset, for example to
// hold out a validation set.
//
// # Getting the files
//
// FetchCIFAR10 downloads the official archive (CIFAR10URL), resuming an
// interrupted download, extracts the files and checks each one's SHA-256;
// VerifyCIFAR10 checks a directory and names every missing or corrupt file.
// Package data/imagefolder reads folders of images into a Dataset.
package data
