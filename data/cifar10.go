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
// Images has length N*ImageBytes and shape [N, 3, 32, 32]: image i is
// Images[i*ImageBytes : (i+1)*ImageBytes], channel c of it starts at offset
// c*1024, and pixel (y, x) of that plane is at y*32 + x. Labels has length N
// and holds values 0..NumClasses-1.
type Dataset struct {
	Images []byte  // [N, 3, 32, 32], CHW per image, R then G then B
	Labels []uint8 // [N], each in 0..9
}

// Len returns the number of images N.
func (d *Dataset) Len() int { return len(d.Labels) }

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
