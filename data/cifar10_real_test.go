package data_test

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"path/filepath"
	"slices"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// TestRealCIFAR10 reads the official files from $BONSAI_CIFAR10 (about
// 180 MB; a second or less). Skipped when the variable is unset, except
// under CI=true, where it fails.
func TestRealCIFAR10(t *testing.T) {
	dir := testenv.CIFAR10(t)

	names, err := data.ClassNames(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantNames := []string{"airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck"}
	if !slices.Equal(names, wantNames) {
		t.Errorf("ClassNames = %q, want %q", names, wantNames)
	}

	for _, tc := range []struct {
		split     data.Split
		n         int
		perClass  int
		first10   []uint8
		sha256Hex string // of the split's files concatenated, from the data's README
	}{
		{data.Test, 10000, 1000, []uint8{3, 8, 8, 0, 6, 6, 1, 6, 3, 1},
			"8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"},
		{data.Train, 50000, 5000, []uint8{6, 9, 9, 4, 1, 1, 2, 7, 8, 3},
			"a0181da372c0d63a5920fdbea2ec3f83ecbc552d378218e1cb473cf634941a3b"},
	} {
		t.Run(tc.split.String(), func(t *testing.T) {
			d, err := data.Load(dir, tc.split)
			if err != nil {
				t.Fatal(err)
			}
			if d.Len() != tc.n || len(d.Images) != tc.n*data.ImageBytes {
				t.Fatalf("Len = %d, len(Images) = %d; want %d images", d.Len(), len(d.Images), tc.n)
			}
			if !bytes.Equal(d.Labels[:10], tc.first10) {
				t.Errorf("first 10 labels = %v, want %v", d.Labels[:10], tc.first10)
			}
			var count [data.NumClasses]int
			for _, l := range d.Labels {
				count[l]++
			}
			for c, n := range count {
				if n != tc.perClass {
					t.Errorf("class %d (%s) has %d images, want %d", c, wantNames[c], n, tc.perClass)
				}
			}
			// Re-encoding the records must reproduce the files exactly.
			h := sha256.New()
			for i := range d.Len() {
				h.Write(d.Labels[i : i+1])
				h.Write(d.Images[i*data.ImageBytes : (i+1)*data.ImageBytes])
			}
			if got := hex.EncodeToString(h.Sum(nil)); got != tc.sha256Hex {
				t.Errorf("re-encoded sha256 = %s, want %s", got, tc.sha256Hex)
			}
		})
	}

	// ReadFile agrees with Load on the first training file.
	b1, err := data.ReadFile(filepath.Join(dir, data.TrainFiles[0]))
	if err != nil {
		t.Fatal(err)
	}
	if b1.Len() != data.RecordsPerFile || !bytes.Equal(b1.Labels[:10], []uint8{6, 9, 9, 4, 1, 1, 2, 7, 8, 3}) {
		t.Errorf("ReadFile(%s): Len %d, first labels %v", data.TrainFiles[0], b1.Len(), b1.Labels[:10])
	}
}
