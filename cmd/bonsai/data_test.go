package main

import (
	"archive/tar"
	"compress/gzip"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// writeArchive packs the files of the CIFAR-10 directory dir as the official
// archive holds them (cifar-10-batches-bin/NAME, and a readme.html) into a
// .tar.gz file and returns its path.
func writeArchive(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "cifar-10-binary.tar.gz")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	zw, _ := gzip.NewWriterLevel(f, gzip.BestSpeed)
	tw := tar.NewWriter(zw)
	add := func(name string, r io.Reader, size int64) {
		if err := tw.WriteHeader(&tar.Header{Name: data.CIFAR10Folder + "/" + name, Mode: 0o644, Size: size, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := io.Copy(tw, r); err != nil {
			t.Fatal(err)
		}
	}
	add("readme.html", strings.NewReader("<html></html>"), 13)
	for _, name := range data.CIFAR10Files() {
		src, err := os.Open(filepath.Join(dir, name))
		if err != nil {
			t.Fatal(err)
		}
		fi, _ := src.Stat()
		add(name, src, fi.Size())
		src.Close()
	}
	for _, c := range []io.Closer{tw, zw, f} {
		if err := c.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return path
}

// mirror serves a file with Range support and counts the requests; the first
// one is cut after cut bytes when cut > 0.
type mirror struct {
	path string
	cut  int64
	mu   sync.Mutex
	reqs []string
}

func (m *mirror) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	m.mu.Lock()
	m.reqs = append(m.reqs, r.Header.Get("Range"))
	first := len(m.reqs) == 1
	m.mu.Unlock()
	f, err := os.Open(m.path)
	if err != nil {
		http.Error(w, err.Error(), 500)
		return
	}
	defer f.Close()
	if first && m.cut > 0 {
		fi, _ := f.Stat()
		w.Header().Set("Content-Length", fmt.Sprint(fi.Size()))
		io.CopyN(w, f, m.cut)
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler)
	}
	http.ServeContent(w, r, "cifar-10-binary.tar.gz", time.Time{}, f)
}

func (m *mirror) requests() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.reqs...)
}

// The commands of the README's "Get the data": bonsai data cifar10 into an
// empty directory from a local mirror of the official archive, interrupted
// once and resumed, then bonsai eval on the path it prints; a verified copy
// is not downloaded again; a corrupt file is named and replaced.
func TestDataCIFAR10(t *testing.T) {
	testenv.Short(t, "packs, serves and unpacks 176 MB of CIFAR-10")
	cifar := testenv.CIFAR10(t)
	m := &mirror{path: writeArchive(t, cifar), cut: 40 << 20}
	srv := httptest.NewServer(m)
	defer srv.Close()
	url := srv.URL + "/~kriz/cifar-10-binary.tar.gz"
	dir := filepath.Join(t.TempDir(), "data")

	code, _, errOut := bonsai("data", "cifar10", "-dir", dir, "-url", url)
	if code != 1 || !strings.Contains(errOut, "interrupted after 41943040 of") || !strings.Contains(errOut, "run again to resume") {
		t.Fatalf("interrupted download: exit %d, %q", code, errOut)
	}
	code, out, errOut := bonsai("data", "cifar10", "-dir", dir, "-url", url)
	if code != 0 {
		t.Fatalf("resumed download: exit %d: %s", code, errOut)
	}
	t.Logf("stderr: %s", errOut)
	path := strings.TrimSpace(out)
	if want := filepath.Join(dir, "cifar-10-batches-bin"); path != want {
		t.Fatalf("printed %q, want %q", path, want)
	}
	if r := m.requests(); len(r) != 2 || r[1] != "bytes=41943040-" {
		t.Errorf("requests with Range %q, want a resume from byte 41943040", r)
	}

	// eval on the downloaded copy equals eval on the original.
	evalJSON := func(d string) evalReport {
		t.Helper()
		code, out, errOut := bonsai("eval", "-weights", exampleModel, "-data", d, "-test-range", "0:1000", "-json")
		if code != 0 {
			t.Fatalf("eval -data %s: exit %d: %s", d, code, errOut)
		}
		var rep evalReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	got, want := evalJSON(path), evalJSON(cifar)
	if got.Correct != want.Correct || got.Total != 1000 || got.Loss != want.Loss {
		t.Errorf("eval on the download: %d/%d, loss %v; on the original: %d/%d, loss %v", got.Correct, got.Total, got.Loss, want.Correct, want.Total, want.Loss)
	}

	// A verified copy: no request.
	if code, out, errOut := bonsai("data", "cifar10", "-dir", dir, "-url", url); code != 0 || strings.TrimSpace(out) != path {
		t.Fatalf("second run: exit %d, %q, %s", code, out, errOut)
	}
	if n := len(m.requests()); n != 2 {
		t.Errorf("%d requests after a run on a verified copy, want 2", n)
	}

	// A corrupt file is named, then replaced.
	bad := filepath.Join(path, "data_batch_4.bin")
	f, err := os.OpenFile(bad, os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	f.WriteAt([]byte{0xff, 0xff, 0xff}, 12345)
	f.Close()
	code, _, errOut = bonsai("data", "cifar10", "-dir", dir, "-url", url)
	if code != 0 || !strings.Contains(errOut, bad+" is corrupt") {
		t.Fatalf("run on a corrupt copy: exit %d, stderr %q: want it to name %s", code, errOut, bad)
	}
	if err := data.VerifyCIFAR10(path); err != nil {
		t.Errorf("after the repair: %v", err)
	}
}

func TestDataUsage(t *testing.T) {
	for _, args := range [][]string{{"data"}, {"data", "mnist"}, {"data", "cifar10", "extra"}, {"data", "cifar10", "-nope"}} {
		if code, _, errOut := bonsai(args...); code != 2 {
			t.Errorf("%q: exit %d, want 2 (%s)", args, code, errOut)
		}
	}
}

// writeImageFolder writes images lo…hi-1 of CIFAR-10's test split as PNG files in
// root/SPLIT/CLASS/ for each split, and returns root.
func writeImageFolder(t *testing.T, cifar string, lo, hi int, splits ...string) string {
	t.Helper()
	test, err := data.Load(cifar, data.Test)
	if err != nil {
		t.Fatal(err)
	}
	names, err := data.ClassNames(cifar)
	if err != nil {
		t.Fatal(err)
	}
	root := t.TempDir()
	for _, split := range splits {
		for c := range names {
			if err := os.MkdirAll(filepath.Join(root, split, names[c]), 0o755); err != nil {
				t.Fatal(err)
			}
		}
		for i := lo; i < hi; i++ {
			dir := filepath.Join(root, split, names[test.Labels[i]])
			writePNGs(t, test, i, i+1, dir)
		}
	}
	return root
}

// The first 500 CIFAR-10 test images as PNG files in class folders give eval
// the count of the binary test set's first 500; train and prune read the same
// folders.
func TestImageFolder(t *testing.T) {
	testenv.Short(t, "writes 1000 PNG files, evaluates, trains and prunes on them")
	cifar, models := testenv.CIFAR10(t), testenv.Models(t)
	root := writeImageFolder(t, cifar, 0, 500, "train", "val")
	weights := filepath.Join(models, "resnet20-cifar10.safetensors")
	evalJSON := func(args ...string) evalReport {
		t.Helper()
		code, out, errOut := bonsai(append([]string{"eval", "-weights", weights, "-json"}, args...)...)
		if code != 0 {
			t.Fatalf("eval %q: exit %d: %s", args, code, errOut)
		}
		var rep evalReport
		if err := json.Unmarshal([]byte(out), &rep); err != nil {
			t.Fatal(err)
		}
		return rep
	}
	bin := evalJSON("-data", cifar, "-test-range", "0:500")
	folder := evalJSON("-data", "imagefolder:"+root)
	t.Logf("binary: %d/%d correct, loss %.6f; imagefolder: %d/%d, loss %.6f", bin.Correct, bin.Total, bin.Loss, folder.Correct, folder.Total, folder.Loss)
	if folder.Correct != bin.Correct || folder.Total != 500 || math.Abs(folder.Loss-bin.Loss) > 1e-6*bin.Loss {
		t.Errorf("imagefolder: %d/%d, loss %v; binary first 500: %d/%d, loss %v", folder.Correct, folder.Total, folder.Loss, bin.Correct, bin.Total, bin.Loss)
	}

	out := t.TempDir()
	code, stdout, errOut := bonsai("train", "-arch", "resnet8", "-data", "imagefolder:"+root, "-epochs", "1", "-batch", "100", "-out", out)
	if code != 0 || !strings.Contains(stdout, "done:") {
		t.Fatalf("train on an imagefolder: exit %d: %s\n%s", code, stdout, errOut)
	}
	pout := t.TempDir()
	code, stdout, errOut = bonsai("prune", "-weights", weights, "-data", "imagefolder:"+root, "-flops", "0.5", "-calib", "64",
		"-finetune-epochs", "1", "-batch", "100", "-out", pout)
	if code != 0 {
		t.Fatalf("prune on an imagefolder: exit %d: %s\n%s", code, stdout, errOut)
	}
	if _, err := os.Stat(filepath.Join(pout, "pruned.safetensors")); err != nil {
		t.Error(err)
	}

	// A folder with more classes than the model has outputs.
	os.MkdirAll(filepath.Join(root, "val", "zebra"), 0o755)
	test, _ := data.Load(cifar, data.Test)
	writePNGs(t, test, 0, 1, filepath.Join(root, "val", "zebra"))
	if code, _, errOut := bonsai("eval", "-weights", weights, "-data", "imagefolder:"+root); code != 1 || !strings.Contains(errOut, "11 class folders, but the model has 10 outputs") {
		t.Errorf("eval with 11 classes: exit %d, %s", code, errOut)
	}
	if code, _, errOut := bonsai("eval", "-weights", weights, "-data", "imagefolder:"+filepath.Join(root, "nope")); code != 1 || !strings.Contains(errOut, "no such file") {
		t.Errorf("eval of a missing folder: exit %d, %s", code, errOut)
	}
}
