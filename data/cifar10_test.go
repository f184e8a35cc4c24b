package data_test

import (
	"bytes"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bonsai-dl/bonsai/data"
)

// pixel is the synthetic value of pixel (c, y, x) of image seed: distinct
// enough across channels, rows and columns to catch layout mistakes.
func pixel(seed, c, y, x int) byte {
	return byte(seed*31 + c*101 + y*7 + x*3)
}

// record builds one 3073-byte record with the given label and the pixel
// pattern for seed, written plane by plane, row-major.
func record(label byte, seed int) []byte {
	r := make([]byte, 0, data.RecordBytes)
	r = append(r, label)
	for c := range data.Channels {
		for y := range data.ImageSize {
			for x := range data.ImageSize {
				r = append(r, pixel(seed, c, y, x))
			}
		}
	}
	return r
}

// records concatenates records with the given labels; record i uses seed i.
func records(labels ...byte) []byte {
	var b []byte
	for i, l := range labels {
		b = append(b, record(l, i)...)
	}
	return b
}

func TestSizes(t *testing.T) {
	if data.ImageBytes != 3072 || data.RecordBytes != 3073 ||
		data.ImageSize*data.ImageSize*data.Channels != data.ImageBytes {
		t.Fatalf("sizes: ImageBytes=%d RecordBytes=%d", data.ImageBytes, data.RecordBytes)
	}
	if len(data.TrainFiles) != 5 || data.TrainFiles[0] != "data_batch_1.bin" || data.TrainFiles[4] != "data_batch_5.bin" {
		t.Fatalf("TrainFiles = %q", data.TrainFiles)
	}
}

func TestSplitString(t *testing.T) {
	for _, tc := range []struct {
		s    data.Split
		want string
	}{
		{data.Train, "train"},
		{data.Test, "test"},
		{data.Split(7), "Split(7)"},
	} {
		if got := tc.s.String(); got != tc.want {
			t.Errorf("Split(%d).String() = %q, want %q", int(tc.s), got, tc.want)
		}
	}
}

func TestDecodeRecords(t *testing.T) {
	for _, tc := range []struct {
		name    string
		in      []byte
		labels  []uint8  // on success
		errWant []string // substrings of the error; nil means success
	}{
		{name: "empty", in: nil, labels: []uint8{}},
		{name: "one", in: records(0), labels: []uint8{0}},
		{name: "three", in: records(9, 0, 5), labels: []uint8{9, 0, 5}},
		{name: "all labels", in: records(0, 1, 2, 3, 4, 5, 6, 7, 8, 9), labels: []uint8{0, 1, 2, 3, 4, 5, 6, 7, 8, 9}},
		{
			name:    "truncated after one",
			in:      append(records(3), record(4, 1)[:100]...),
			errWant: []string{"in.bin", "record 1", "truncated", "100 of 3073 bytes"},
		},
		{
			name:    "lone byte",
			in:      []byte{1},
			errWant: []string{"in.bin", "record 0", "1 of 3073 bytes"},
		},
		{
			name:    "image without label",
			in:      make([]byte, data.ImageBytes),
			errWant: []string{"in.bin", "record 0", "3072 of 3073 bytes"},
		},
		{
			name:    "label 10",
			in:      records(1, 10, 2),
			errWant: []string{"in.bin", "record 1", "label 10"},
		},
		{
			name:    "label 255",
			in:      records(255),
			errWant: []string{"in.bin", "record 0", "label 255"},
		},
		{
			name:    "bad label before truncation",
			in:      append(records(0, 0, 200), 7, 7),
			errWant: []string{"in.bin", "record 2", "label 200"},
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			check := func(t *testing.T, d *data.Dataset, err error) {
				t.Helper()
				if tc.errWant != nil {
					if err == nil {
						t.Fatalf("no error; want one containing %q", tc.errWant)
					}
					if d != nil {
						t.Errorf("Dataset = %v on error, want nil", d)
					}
					for _, s := range tc.errWant {
						if !strings.Contains(err.Error(), s) {
							t.Errorf("error %q does not contain %q", err, s)
						}
					}
					return
				}
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				if d.Len() != len(tc.labels) || !bytes.Equal(d.Labels, tc.labels) {
					t.Fatalf("labels = %v (Len %d), want %v", d.Labels, d.Len(), tc.labels)
				}
				if len(d.Images) != d.Len()*data.ImageBytes {
					t.Fatalf("len(Images) = %d, want %d", len(d.Images), d.Len()*data.ImageBytes)
				}
				for i := range d.Len() {
					for c := range data.Channels {
						for y := range data.ImageSize {
							for x := range data.ImageSize {
								got := d.Images[i*3072+c*1024+y*32+x]
								if want := pixel(i, c, y, x); got != want {
									t.Fatalf("image %d pixel (c=%d,y=%d,x=%d) = %d, want %d", i, c, y, x, got, want)
								}
							}
						}
					}
				}
			}
			// The result must not depend on how the reader splits its data
			// or whether it returns io.EOF together with the last bytes.
			d, err := data.DecodeRecords(bytes.NewReader(tc.in), "in.bin")
			check(t, d, err)
			d, err = data.DecodeRecords(iotest.OneByteReader(bytes.NewReader(tc.in)), "in.bin")
			check(t, d, err)
			d, err = data.DecodeRecords(iotest.DataErrReader(bytes.NewReader(tc.in)), "in.bin")
			check(t, d, err)
		})
	}
}

func TestDecodeRecordsReadError(t *testing.T) {
	boom := errors.New("boom")
	r := io.MultiReader(bytes.NewReader(records(1, 2)), iotest.ErrReader(boom))
	d, err := data.DecodeRecords(r, "in.bin")
	if !errors.Is(err, boom) || d != nil {
		t.Fatalf("DecodeRecords = %v, %v; want nil, error wrapping %v", d, err, boom)
	}
	if !strings.Contains(err.Error(), "in.bin") || !strings.Contains(err.Error(), "record 2") {
		t.Errorf("error %q should name in.bin and record 2", err)
	}
}

func writeFile(t *testing.T, path string, b []byte) {
	t.Helper()
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		name    string
		content []byte
		labels  []uint8
		errWant []string
	}{
		{name: "two.bin", content: records(7, 3), labels: []uint8{7, 3}},
		{name: "empty.bin", content: nil, errWant: []string{"empty.bin", "size 0", "3073"}},
		{name: "short.bin", content: make([]byte, 3072), errWant: []string{"short.bin", "size 3072", "3073"}},
		{name: "long.bin", content: append(records(1, 2), 0, 0, 0, 0, 0), errWant: []string{"long.bin", "size 6151", "3073"}},
		{name: "label.bin", content: records(1, 2, 11), errWant: []string{"label.bin", "record 2", "label 11"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path := filepath.Join(dir, tc.name)
			writeFile(t, path, tc.content)
			d, err := data.ReadFile(path)
			if tc.errWant != nil {
				if err == nil {
					t.Fatalf("no error; want one containing %q", tc.errWant)
				}
				for _, s := range tc.errWant {
					if !strings.Contains(err.Error(), s) {
						t.Errorf("error %q does not contain %q", err, s)
					}
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(d.Labels, tc.labels) || len(d.Images) != len(tc.labels)*data.ImageBytes {
				t.Fatalf("got labels %v, %d image bytes", d.Labels, len(d.Images))
			}
			for i := range tc.labels {
				if !bytes.Equal(d.Images[i*3072:(i+1)*3072], tc.content[i*3073+1:(i+1)*3073]) {
					t.Errorf("image %d differs from the file's pixels", i)
				}
			}
		})
	}
	t.Run("missing", func(t *testing.T) {
		path := filepath.Join(dir, "nope.bin")
		_, err := data.ReadFile(path)
		if !errors.Is(err, fs.ErrNotExist) || !strings.Contains(err.Error(), path) {
			t.Fatalf("error = %v; want not-exist naming %s", err, path)
		}
	})
}

// fullFile creates a file of RecordsPerFile records at path. It is sparse
// (all-zero records: label 0, black image) except for record 0, which gets
// the given label and the pixel pattern of seed, and the last record, which
// gets label 9.
func fullFile(t *testing.T, path string, label byte, seed int) {
	t.Helper()
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(data.RecordsPerFile * data.RecordBytes); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt(record(label, seed), 0); err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteAt([]byte{9}, (data.RecordsPerFile-1)*data.RecordBytes); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestLoadSynthetic(t *testing.T) {
	dir := t.TempDir()
	for k, name := range data.TrainFiles {
		fullFile(t, filepath.Join(dir, name), byte(k+1), k)
	}
	fullFile(t, filepath.Join(dir, data.TestFile), 8, 42)

	for _, tc := range []struct {
		split  data.Split
		firsts []byte // label of record 0 of each file, in order
		seeds  []int
	}{
		{data.Train, []byte{1, 2, 3, 4, 5}, []int{0, 1, 2, 3, 4}},
		{data.Test, []byte{8}, []int{42}},
	} {
		t.Run(tc.split.String(), func(t *testing.T) {
			d, err := data.Load(dir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			n := len(tc.firsts) * data.RecordsPerFile
			if d.Len() != n || len(d.Images) != n*data.ImageBytes {
				t.Fatalf("Len = %d, len(Images) = %d; want %d images", d.Len(), len(d.Images), n)
			}
			for k, first := range tc.firsts {
				base := k * data.RecordsPerFile
				if d.Labels[base] != first || d.Labels[base+1] != 0 || d.Labels[base+data.RecordsPerFile-1] != 9 {
					t.Errorf("file %d: labels at start %d, %d, at end %d; want %d, 0, 9",
						k, d.Labels[base], d.Labels[base+1], d.Labels[base+data.RecordsPerFile-1], first)
				}
				img := d.Images[base*data.ImageBytes : (base+1)*data.ImageBytes]
				if !bytes.Equal(img, record(first, tc.seeds[k])[1:]) {
					t.Errorf("file %d: first image differs", k)
				}
			}
		})
	}
}

func TestLoadErrors(t *testing.T) {
	// good fills dir with valid full files except those named in skip.
	good := func(t *testing.T, skip ...string) string {
		dir := t.TempDir()
		for _, name := range append(append([]string{}, data.TrainFiles...), data.TestFile) {
			if !slices.Contains(skip, name) {
				fullFile(t, filepath.Join(dir, name), 0, 0)
			}
		}
		return dir
	}
	for _, tc := range []struct {
		name    string
		split   data.Split
		file    string // file to replace with content, or to leave out if remove
		content []byte
		remove  bool
		errWant []string
	}{
		{name: "test short", split: data.Test, file: data.TestFile, content: records(1, 2),
			errWant: []string{"test_batch.bin", "holds 2 records", "want 10000"}},
		{name: "test wrong size", split: data.Test, file: data.TestFile, content: append(records(1, 2), 0),
			errWant: []string{"test_batch.bin", "size 6147", "3073"}},
		{name: "test empty", split: data.Test, file: data.TestFile, content: []byte{},
			errWant: []string{"test_batch.bin", "size 0"}},
		{name: "test missing", split: data.Test, file: data.TestFile, remove: true,
			errWant: []string{"test_batch.bin"}},
		{name: "train short", split: data.Train, file: "data_batch_4.bin", content: records(1, 2),
			errWant: []string{"data_batch_4.bin", "holds 2 records"}},
		{name: "train wrong size", split: data.Train, file: "data_batch_2.bin", content: make([]byte, 100),
			errWant: []string{"data_batch_2.bin", "size 100", "3073"}},
		{name: "train missing", split: data.Train, file: "data_batch_3.bin", remove: true,
			errWant: []string{"data_batch_3.bin"}},
		{name: "train bad label", split: data.Train, file: "data_batch_5.bin", content: badLabelFile(),
			errWant: []string{"data_batch_5.bin", "record 9999", "label 10"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := good(t, tc.file)
			if !tc.remove {
				writeFile(t, filepath.Join(dir, tc.file), tc.content)
			}
			d, err := data.Load(dir, tc.split)
			if err == nil || d != nil {
				t.Fatalf("Load = %v, %v; want an error", d, err)
			}
			if tc.remove && !errors.Is(err, fs.ErrNotExist) {
				t.Errorf("error %v is not fs.ErrNotExist", err)
			}
			for _, s := range tc.errWant {
				if !strings.Contains(err.Error(), s) {
					t.Errorf("error %q does not contain %q", err, s)
				}
			}
		})
	}
	t.Run("unknown split", func(t *testing.T) {
		if _, err := data.Load(t.TempDir(), data.Split(2)); err == nil || !strings.Contains(err.Error(), "Split(2)") {
			t.Fatalf("error = %v; want one naming Split(2)", err)
		}
	})
}

// badLabelFile is a full-size file whose last record has label 10.
func badLabelFile() []byte {
	b := make([]byte, data.RecordsPerFile*data.RecordBytes)
	b[(data.RecordsPerFile-1)*data.RecordBytes] = 10
	return b
}

func TestClassNames(t *testing.T) {
	official := "airplane\nautomobile\nbird\ncat\ndeer\ndog\nfrog\nhorse\nship\ntruck\n"
	want := strings.Fields(official)
	for _, tc := range []struct {
		name    string
		content *string
		errWant string
	}{
		{name: "official", content: ptr(official)},
		{name: "extra blank line", content: ptr(official + "\n")},
		{name: "crlf, spaces, blank lines", content: ptr("\r\n" + strings.ReplaceAll(official, "\n", " \r\n\r\n"))},
		{name: "no final newline", content: ptr(strings.TrimSuffix(official, "\n"))},
		{name: "nine", content: ptr(strings.Join(want[:9], "\n")), errWant: "found 9 class names"},
		{name: "eleven", content: ptr(official + "extra\n"), errWant: "found 11 class names"},
		{name: "empty", content: ptr(""), errWant: "found 0 class names"},
		{name: "missing", content: nil, errWant: "batches.meta.txt"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			if tc.content != nil {
				writeFile(t, filepath.Join(dir, data.MetaFile), []byte(*tc.content))
			}
			got, err := data.ClassNames(dir)
			if tc.errWant != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errWant) || !strings.Contains(err.Error(), data.MetaFile) {
					t.Fatalf("error = %v; want one containing %q and naming the file", err, tc.errWant)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if strings.Join(got, ",") != strings.Join(want, ",") {
				t.Fatalf("ClassNames = %q, want %q", got, want)
			}
		})
	}
}

func ptr(s string) *string { return &s }
