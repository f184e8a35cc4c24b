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
// # Normalising
//
// Dataset.Normalize turns a batch of images into float32 CHW tensors,
// v = (p/255 − mean[c]) / std[c], bit for bit as torchvision's ToTensor
// followed by Normalize.
package data
