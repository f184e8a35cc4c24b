package data_test

import (
	"bytes"
	"fmt"
	"io"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/bonsai-dl/bonsai/data"
)

// FuzzDecodeRecords decodes arbitrary bytes and checks the result against
// an independent description of the format: either every full record has a
// label 0..9 and no partial record trails, and the Dataset holds exactly the
// input's labels and pixels, or the error names the first problem.
func FuzzDecodeRecords(f *testing.F) {
	f.Add([]byte{})
	f.Add(records(0))
	f.Add(records(9, 4, 1))
	f.Add(append(records(3), record(5, 1)[:17]...)) // truncated
	f.Add(records(2, 10))                           // bad label
	f.Add(records(255))
	f.Add([]byte{7})
	f.Add(make([]byte, data.ImageBytes))
	f.Fuzz(func(t *testing.T, in []byte) {
		d, err := data.DecodeRecords(bytes.NewReader(in), "fuzz.bin")

		// What the format says should happen.
		full := len(in) / data.RecordBytes
		var wantErr []string
		for i := range full {
			if l := in[i*data.RecordBytes]; l >= data.NumClasses {
				wantErr = []string{"fuzz.bin", fmt.Sprintf("record %d:", i), fmt.Sprintf("label %d ", l)}
				break
			}
		}
		if rest := len(in) % data.RecordBytes; wantErr == nil && rest != 0 {
			wantErr = []string{"fuzz.bin", fmt.Sprintf("record %d ", full), fmt.Sprintf("%d of %d bytes", rest, data.RecordBytes)}
		}

		if wantErr != nil {
			if err == nil {
				t.Fatalf("no error, want one containing %q", wantErr)
			}
			if d != nil {
				t.Fatalf("non-nil Dataset with error %v", err)
			}
			for _, s := range wantErr {
				if !strings.Contains(err.Error(), s) {
					t.Fatalf("error %q does not contain %q", err, s)
				}
			}
		} else {
			if err != nil {
				t.Fatalf("unexpected error: %v", err)
			}
			if d.Len()*data.ImageBytes != len(d.Images) || len(d.Labels) != d.Len() {
				t.Fatalf("inconsistent: Len %d, %d labels, %d image bytes", d.Len(), len(d.Labels), len(d.Images))
			}
			if d.Len() != full {
				t.Fatalf("Len = %d, want %d", d.Len(), full)
			}
			for i := range full {
				rec := in[i*data.RecordBytes : (i+1)*data.RecordBytes]
				if d.Labels[i] != rec[0] || !bytes.Equal(d.Images[i*data.ImageBytes:(i+1)*data.ImageBytes], rec[1:]) {
					t.Fatalf("record %d decoded wrongly", i)
				}
			}
		}

		// Same outcome when the reader hands out data in small pieces: one
		// byte at a time for small inputs, half of each request for larger
		// ones (one byte at a time would make minimising big inputs crawl).
		var r io.Reader = iotest.OneByteReader(bytes.NewReader(in))
		if len(in) > 4*data.RecordBytes {
			r = iotest.HalfReader(bytes.NewReader(in))
		}
		d2, err2 := data.DecodeRecords(r, "fuzz.bin")
		if (err == nil) != (err2 == nil) || (err != nil && err.Error() != err2.Error()) {
			t.Fatalf("piecewise reader: error %v, whole reader: error %v", err2, err)
		}
		if err == nil && (!bytes.Equal(d.Labels, d2.Labels) || !bytes.Equal(d.Images, d2.Images)) {
			t.Fatal("piecewise reader decoded differently")
		}
	})
}
