package data

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"maps"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// The shipped hashes are those of the official files, as the shared copy of
// CIFAR-10 holds them.
func TestCIFAR10HashesMatchSharedCopy(t *testing.T) {
	dir := testenv.CIFAR10(t)
	if err := VerifyCIFAR10(dir); err != nil {
		t.Fatal(err)
	}
}

// fakeFiles returns small stand-ins for the files of the binary version and
// makes the package accept their hashes until the test ends.
func fakeFiles(t *testing.T) map[string][]byte {
	t.Helper()
	files := map[string][]byte{}
	hashes := map[string][]string{}
	for i, name := range CIFAR10Files() {
		b := bytes.Repeat([]byte{byte(i + 1)}, 1000+i*317)
		files[name] = b
		sum := sha256.Sum256(b)
		hashes[name] = []string{hex.EncodeToString(sum[:])}
	}
	saved := cifar10SHA256
	cifar10SHA256 = hashes
	t.Cleanup(func() { cifar10SHA256 = saved })
	return files
}

// tarGz packs files as the official archive does, under cifar-10-batches-bin/,
// with a readme.html that is not extracted.
func tarGz(t *testing.T, files map[string][]byte) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	add := func(name string, b []byte) {
		if err := tw.WriteHeader(&tar.Header{Name: CIFAR10Folder + "/" + name, Mode: 0o644, Size: int64(len(b)), Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.WriteHeader(&tar.Header{Name: CIFAR10Folder + "/", Mode: 0o755, Typeflag: tar.TypeDir}); err != nil {
		t.Fatal(err)
	}
	add("readme.html", []byte("<html></html>"))
	for _, n := range slices.Sorted(maps.Keys(files)) {
		add(n, files[n])
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// archiveServer serves archive with Range support. The first cutAfter > 0
// bytes of the first request are sent, then the connection is dropped. It
// records each request's Range header.
type archiveServer struct {
	archive  []byte
	cutAfter int
	mu       sync.Mutex
	ranges   []string
}

func (s *archiveServer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	s.mu.Lock()
	s.ranges = append(s.ranges, r.Header.Get("Range"))
	first := len(s.ranges) == 1
	s.mu.Unlock()
	if first && s.cutAfter > 0 {
		w.Header().Set("Content-Length", fmt.Sprint(len(s.archive)))
		w.WriteHeader(http.StatusOK)
		w.Write(s.archive[:s.cutAfter])
		w.(http.Flusher).Flush()
		panic(http.ErrAbortHandler) // drop the connection mid-body
	}
	http.ServeContent(w, r, "cifar-10-binary.tar.gz", time.Time{}, bytes.NewReader(s.archive))
}

func (s *archiveServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.ranges...)
}

func checkFiles(t *testing.T, dir string, files map[string][]byte) {
	t.Helper()
	for name, want := range files {
		got, err := os.ReadFile(filepath.Join(dir, name))
		if err != nil || !bytes.Equal(got, want) {
			t.Errorf("%s: %d bytes (%v), want the archive's %d", name, len(got), err, len(want))
		}
	}
	if _, err := os.Stat(filepath.Join(dir, "readme.html")); err == nil {
		t.Errorf("readme.html was extracted")
	}
}

func TestFetchCIFAR10(t *testing.T) {
	files := fakeFiles(t)
	srv := &archiveServer{archive: tarGz(t, files)}
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	var log bytes.Buffer
	var last, total int64
	o := FetchOptions{URL: ts.URL + "/cifar-10-binary.tar.gz", Log: &log, Progress: func(d, n int64) { last, total = d, n }}
	got, err := FetchCIFAR10(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(dir, CIFAR10Folder); got != want {
		t.Errorf("path %q, want %q", got, want)
	}
	checkFiles(t, got, files)
	if last != int64(len(srv.archive)) || total != last {
		t.Errorf("progress ended at %d of %d bytes, want %d of %d", last, total, len(srv.archive), len(srv.archive))
	}
	if _, err := os.Stat(filepath.Join(dir, partialArchive)); !os.IsNotExist(err) {
		t.Errorf("the archive was kept: %v", err)
	}

	// A verified copy is not downloaded again.
	if _, err := FetchCIFAR10(context.Background(), dir, o); err != nil {
		t.Fatal(err)
	}
	if n := len(srv.requests()); n != 1 {
		t.Errorf("%d requests, want 1: the verified copy was downloaded again", n)
	}

	// A corrupt file is named, and downloaded again.
	bad := filepath.Join(got, "data_batch_3.bin")
	b := bytes.Clone(files["data_batch_3.bin"])
	b[500] ^= 1
	if err := os.WriteFile(bad, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = VerifyCIFAR10(got)
	var ve *VerifyError
	if !errors.As(err, &ve) || len(ve.Problems) != 1 || ve.Problems[0].Path != bad || !ve.Corrupt() || !strings.Contains(err.Error(), bad+" is corrupt") {
		t.Fatalf("VerifyCIFAR10 of a copy with a flipped bit: %v, want an error naming %s only", err, bad)
	}
	log.Reset()
	if _, err := FetchCIFAR10(context.Background(), dir, o); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(log.String(), bad+" is corrupt") {
		t.Errorf("log %q does not name the corrupt file", log.String())
	}
	checkFiles(t, got, files)
	if n := len(srv.requests()); n != 2 {
		t.Errorf("%d requests, want 2", n)
	}

	// A missing file is named too.
	os.Remove(filepath.Join(got, "test_batch.bin"))
	if err := VerifyCIFAR10(got); err == nil || !strings.Contains(err.Error(), "test_batch.bin is missing") {
		t.Errorf("VerifyCIFAR10 without test_batch.bin: %v", err)
	}
}

// An interrupted download keeps what it received and the next run asks only
// for the rest.
func TestFetchCIFAR10Resumes(t *testing.T) {
	files := fakeFiles(t)
	srv := &archiveServer{archive: tarGz(t, files)}
	srv.cutAfter = len(srv.archive) / 3
	ts := httptest.NewServer(srv)
	defer ts.Close()
	dir := t.TempDir()
	o := FetchOptions{URL: ts.URL}
	_, err := FetchCIFAR10(context.Background(), dir, o)
	if err == nil || !strings.Contains(err.Error(), "run again to resume") {
		t.Fatalf("interrupted download: %v, want an error that says to run again", err)
	}
	fi, err := os.Stat(filepath.Join(dir, partialArchive))
	if err != nil || fi.Size() != int64(srv.cutAfter) {
		t.Fatalf("partial archive: %v (%v), want %d bytes", fi, err, srv.cutAfter)
	}
	got, err := FetchCIFAR10(context.Background(), dir, o)
	if err != nil {
		t.Fatal(err)
	}
	checkFiles(t, got, files)
	if r := srv.requests(); len(r) != 2 || r[0] != "" || r[1] != fmt.Sprintf("bytes=%d-", srv.cutAfter) {
		t.Errorf("Range headers %q, want none then bytes=%d-", r, srv.cutAfter)
	}
}

// An archive with a corrupt member fails naming it, is removed, and leaves
// the files already in place alone.
func TestFetchCIFAR10CorruptArchive(t *testing.T) {
	files := fakeFiles(t)
	bad := maps.Clone(files)
	bad["data_batch_2.bin"] = append([]byte{0}, files["data_batch_2.bin"][1:]...)
	for _, tc := range []struct {
		name    string
		archive []byte
		want    string
	}{
		{"corrupt member", tarGz(t, bad), CIFAR10Folder + "/data_batch_2.bin is corrupt"},
		{"not gzip", []byte("<html>moved</html>"), "gzip: invalid header"},
		{"member missing", func() []byte {
			m := maps.Clone(files)
			delete(m, "test_batch.bin")
			return tarGz(t, m)
		}(), "has no test_batch.bin"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ts := httptest.NewServer(&archiveServer{archive: tc.archive})
			defer ts.Close()
			dir := t.TempDir()
			_, err := FetchCIFAR10(context.Background(), dir, FetchOptions{URL: ts.URL})
			if err == nil || !strings.Contains(err.Error(), tc.want) || !strings.Contains(err.Error(), "removed") {
				t.Fatalf("got %v, want an error with %q", err, tc.want)
			}
			if _, err := os.Stat(filepath.Join(dir, partialArchive)); !os.IsNotExist(err) {
				t.Errorf("the bad archive was kept")
			}
		})
	}
}
