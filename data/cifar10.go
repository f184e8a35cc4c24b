package data

import (
	"bufio"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
)

// Sizes of the CIFAR-10 binary format.
const (
	ImageSize      = 32                               // image height and width in pixels
	Channels       = 3                                // colour planes per image: R, G, B
	ImageBytes     = Channels * ImageSize * ImageSize // 3072 pixel bytes per image, CHW
	RecordBytes    = 1 + ImageBytes                   // 3073 bytes per record: label, then pixels
	NumClasses     = 10                               // labels are 0..NumClasses-1
	RecordsPerFile = 10000                            // records in each official .bin file
)

// TrainFiles names the five training files, in the order Load concatenates
// them. Load uses its own copy, so changing this slice does not affect Load.
var TrainFiles = []string{
	"data_batch_1.bin",
	"data_batch_2.bin",
	"data_batch_3.bin",
	"data_batch_4.bin",
	"data_batch_5.bin",
}

// trainFiles is Load's private copy of TrainFiles.
var trainFiles = [...]string{
	"data_batch_1.bin",
	"data_batch_2.bin",
	"data_batch_3.bin",
	"data_batch_4.bin",
	"data_batch_5.bin",
}

// TestFile names the test file.
const TestFile = "test_batch.bin"

// Split selects the training or the test part of CIFAR-10.
type Split int

// The two splits.
const (
	Train Split = iota // the five training files, 50,000 images
	Test               // test_batch.bin, 10,000 images
)

// String returns "train", "test", or "Split(n)" for other values.
func (s Split) String() string {
	switch s {
	case Train:
		return "train"
	case Test:
		return "test"
	}
	return fmt.Sprintf("Split(%d)", int(s))
}

// Dataset holds N images as uint8 CHW planes and their labels.
//
// Every image is Height×Width pixels (zero values mean ImageSize, so the
// zero Dataset is CIFAR-10's 32×32). Images has length N*BytesPerImage()
// and shape [N, 3, Height, Width]: image i is
// Images[i*BytesPerImage() : (i+1)*BytesPerImage()], channel c of it
// starts at offset c*Height*Width, and pixel (y, x) of that plane is at
// y*Width + x. Labels has length N and holds values 0..ClassCount()-1.
type Dataset struct {
	Images []byte  // [N, 3, Height, Width], CHW per image, R then G then B
	Labels []uint8 // [N], each in 0..ClassCount()-1
	// Height and Width are the size of every image in pixels; 0 means
	// ImageSize (32, CIFAR-10's).
	Height, Width int
	// Classes is the number of classes the labels index; 0 means
	// NumClasses (10, CIFAR-10's).
	Classes int
}

// Len returns the number of images N.
func (d *Dataset) Len() int { return len(d.Labels) }

// Size returns the height and width of the images in pixels: Height and
// Width, with 0 read as ImageSize.
func (d *Dataset) Size() (height, width int) {
	height, width = d.Height, d.Width
	if height == 0 {
		height = ImageSize
	}
	if width == 0 {
		width = ImageSize
	}
	return height, width
}

// BytesPerImage returns the bytes of one image, Channels·height·width
// (ImageBytes for 32×32 images).
func (d *Dataset) BytesPerImage() int {
	h, w := d.Size()
	return Channels * h * w
}

// ClassCount returns the number of classes: Classes, or NumClasses when
// it is 0.
func (d *Dataset) ClassCount() int {
	if d.Classes == 0 {
		return NumClasses
	}
	return d.Classes
}

// Slice returns images lo … hi−1 of d as a Dataset that shares d's
// storage and has its size and classes. It panics unless
// 0 ≤ lo ≤ hi ≤ d.Len().
func (d *Dataset) Slice(lo, hi int) *Dataset {
	if lo < 0 || lo > hi || hi > d.Len() {
		panic(fmt.Sprintf("data: Slice(%d, %d) of %d images", lo, hi, d.Len()))
	}
	b := d.BytesPerImage()
	s := d.like()
	s.Images, s.Labels = d.Images[lo*b:hi*b:hi*b], d.Labels[lo:hi:hi]
	return s
}

// like returns an empty Dataset with d's size and classes.
func (d *Dataset) like() *Dataset {
	return &Dataset{Height: d.Height, Width: d.Width, Classes: d.Classes}
}

// check reports a Dataset whose fields disagree: a negative size or class
// count, more than 256 classes, an Images length that is not Len()
// images, or a label out of range. op names the caller in the error.
func (d *Dataset) check(op string) error {
	if d.Height < 0 || d.Width < 0 {
		return fmt.Errorf("data: %s: image size %d×%d, want positive values (or 0 for %d)", op, d.Height, d.Width, ImageSize)
	}
	if d.Classes < 0 || d.Classes > 256 {
		return fmt.Errorf("data: %s: %d classes, want 1..256 (or 0 for %d)", op, d.Classes, NumClasses)
	}
	n := d.Len()
	if want := n * d.BytesPerImage(); len(d.Images) != want {
		h, w := d.Size()
		return fmt.Errorf("data: %s: Dataset has %d labels but %d image bytes, want %d (%d×%d images)", op, n, len(d.Images), want, h, w)
	}
	k := d.ClassCount()
	for i, l := range d.Labels {
		if int(l) >= k {
			return fmt.Errorf("data: %s: image %d has label %d, want 0..%d", op, i, l, k-1)
		}
	}
	return nil
}

// DecodeRecords reads RecordBytes-byte records from r until EOF and returns
// them as a Dataset. name identifies the input in error messages (usually a
// file name).
//
// Empty input gives a Dataset with no records and no error. A trailing
// partial record is an error that names the record index and how many bytes
// it had; a label outside 0..9 is an error that names the record index and
// the label. Errors from r are returned wrapped. On error the Dataset is nil.
func DecodeRecords(r io.Reader, name string) (*Dataset, error) {
	d := new(Dataset)
	if _, err := decodeInto(d, r, name); err != nil {
		return nil, err
	}
	return d, nil
}

// decodeInto appends the records read from r until EOF to d and returns how
// many it appended. Record indices in errors count from the start of r.
func decodeInto(d *Dataset, r io.Reader, name string) (int, error) {
	br := bufio.NewReaderSize(r, 64<<10)
	var rec [RecordBytes]byte
	for i := 0; ; i++ {
		n, err := io.ReadFull(br, rec[:])
		switch {
		case err == io.EOF: // clean end: no byte of a new record
			return i, nil
		case err == io.ErrUnexpectedEOF:
			return i, fmt.Errorf("data: %s: record %d is truncated: it has %d of %d bytes", name, i, n, RecordBytes)
		case err != nil:
			return i, fmt.Errorf("data: %s: reading record %d: %w", name, i, err)
		}
		if label := rec[0]; label >= NumClasses {
			return i, fmt.Errorf("data: %s: record %d: label %d is out of range 0..%d", name, i, label, NumClasses-1)
		}
		d.Labels = append(d.Labels, rec[0])
		d.Images = append(d.Images, rec[1:]...)
	}
}

// ReadFile reads a file of CIFAR-10 records, of any positive number of
// records. It checks the file size before reading: a size that is not a
// positive multiple of RecordBytes is an error naming the path and the size.
// Other errors are as for DecodeRecords, with the path as the name.
func ReadFile(path string) (*Dataset, error) {
	d := new(Dataset)
	if err := readFile(d, path, -1); err != nil {
		return nil, err
	}
	return d, nil
}

// Load reads one split from dir, the directory holding the official files.
// Train gives the five TrainFiles concatenated in order (50,000 images);
// Test gives TestFile (10,000 images). Each file must hold exactly
// RecordsPerFile records; otherwise, or if a file is missing or unreadable,
// the error names the file.
func Load(dir string, split Split) (*Dataset, error) {
	var files []string
	switch split {
	case Train:
		files = trainFiles[:]
	case Test:
		files = []string{TestFile}
	default:
		return nil, fmt.Errorf("data: Load: unknown split %v", split)
	}
	n := len(files) * RecordsPerFile
	d := &Dataset{
		Images: make([]byte, 0, n*ImageBytes),
		Labels: make([]uint8, 0, n),
	}
	for _, f := range files {
		if err := readFile(d, filepath.Join(dir, f), RecordsPerFile); err != nil {
			return nil, err
		}
	}
	return d, nil
}

// readFile appends the records of the file at path to d. If want >= 0 the
// file must hold exactly want records. The size is checked with Stat before
// anything is read, and only that many bytes are read, so a file that grows
// meanwhile is read as it was; one that shrinks gives an error.
func readFile(d *Dataset, path string, want int) error {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("data: %w", err) // *PathError names the path
	}
	defer f.Close()
	fi, err := f.Stat()
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	size := fi.Size()
	if size <= 0 || size%RecordBytes != 0 {
		return fmt.Errorf("data: %s: size %d bytes is not a positive multiple of the record size %d", path, size, RecordBytes)
	}
	n := size / RecordBytes
	if want >= 0 && n != int64(want) {
		return fmt.Errorf("data: %s holds %d records, want %d", path, n, want)
	}
	if want < 0 && len(d.Labels) == 0 {
		// Lone file: allocate exactly once.
		d.Images = make([]byte, 0, n*ImageBytes)
		d.Labels = make([]uint8, 0, n)
	}
	got, err := decodeInto(d, io.LimitReader(f, size), path)
	if err != nil {
		return err
	}
	if int64(got) != n {
		return fmt.Errorf("data: %s: read %d records but its size said %d: %w", path, got, n, errChanged)
	}
	return nil
}

// errChanged reports a file that shrank between Stat and reading.
var errChanged = errors.New("file changed while being read")
