package data

import (
	"archive/tar"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// CIFAR10URL is the official archive of the CIFAR-10 binary version.
const CIFAR10URL = "https://www.cs.toronto.edu/~kriz/cifar-10-binary.tar.gz"

// CIFAR10Folder is the folder the archive unpacks to; FetchCIFAR10 creates it
// inside its directory.
const CIFAR10Folder = "cifar-10-batches-bin"

// partialArchive is the download in progress, kept between runs to resume.
const partialArchive = "cifar-10-binary.tar.gz.part"

// FetchOptions configures FetchCIFAR10. The zero value downloads CIFAR10URL
// with http.DefaultClient and reports nothing.
type FetchOptions struct {
	URL    string       // archive to download; "" means CIFAR10URL
	Client *http.Client // nil means http.DefaultClient
	// Progress, when not nil, is called as the download advances with the
	// bytes received so far and the archive's size (−1 when unknown).
	Progress func(done, total int64)
	// Log, when not nil, receives one line per event: a corrupt copy found,
	// a download started or resumed.
	Log io.Writer
}

// FetchCIFAR10 makes dir/CIFAR10Folder hold the verified files of the
// CIFAR-10 binary version and returns that folder's path, which is what
// -data takes. A folder that VerifyCIFAR10 accepts is used as it is, without
// any download. Otherwise the archive is downloaded to
// dir/cifar-10-binary.tar.gz.part (an interrupted download is resumed from
// where it stopped by an HTTP Range request), the files of CIFAR10Files are
// extracted from it, each checked against its SHA-256 before it replaces the
// one in the folder, and the archive is removed. Members of the archive
// outside CIFAR10Files (readme.html) are not extracted.
//
// An interrupted download returns an error and keeps the partial archive
// for the next call; an archive that cannot be read or holds a corrupt file
// is removed, and the error names the file.
func FetchCIFAR10(ctx context.Context, dir string, o FetchOptions) (string, error) {
	target := filepath.Join(dir, CIFAR10Folder)
	err := VerifyCIFAR10(target)
	if err == nil {
		return target, nil
	}
	var ve *VerifyError
	if errors.As(err, &ve) && ve.Corrupt() && o.Log != nil {
		fmt.Fprintf(o.Log, "%v: downloading the archive again\n", err)
	}
	if err := os.MkdirAll(target, 0o755); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	part := filepath.Join(dir, partialArchive)
	if err := download(ctx, part, o); err != nil {
		return "", err
	}
	if err := extractCIFAR10(part, target); err != nil {
		os.Remove(part)
		return "", fmt.Errorf("%w (the archive was removed: run again to download it anew)", err)
	}
	if err := os.Remove(part); err != nil {
		return "", fmt.Errorf("data: %w", err)
	}
	if err := VerifyCIFAR10(target); err != nil {
		return "", err
	}
	return target, nil
}

// download completes the file at part from o.URL: it asks for the bytes
// after those part already holds, and starts over when the server answers
// with the whole file.
func download(ctx context.Context, part string, o FetchOptions) error {
	url, client := o.URL, o.Client
	if url == "" {
		url = CIFAR10URL
	}
	if client == nil {
		client = http.DefaultClient
	}
	f, err := os.OpenFile(part, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	have, err := f.Seek(0, io.SeekEnd)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	// The archive is stored as sent: no transparent decompression by the transport.
	req.Header.Set("Accept-Encoding", "identity")
	if have > 0 {
		req.Header.Set("Range", fmt.Sprintf("bytes=%d-", have))
	}
	resp, err := client.Do(req)
	if err != nil {
		return fmt.Errorf("data: download: %w", err)
	}
	defer resp.Body.Close()
	total := int64(-1)
	switch resp.StatusCode {
	case http.StatusPartialContent:
		start, size, ok := parseContentRange(resp.Header.Get("Content-Range"))
		if !ok || start != have {
			return fmt.Errorf("data: GET %s: the server sent bytes from %q, want from %d", url, resp.Header.Get("Content-Range"), have)
		}
		total = size
		logf(o.Log, "resuming the download of %s at %d bytes\n", url, have)
	case http.StatusOK:
		if have > 0 {
			logf(o.Log, "the server does not resume downloads: starting %s again\n", url)
		} else {
			logf(o.Log, "downloading %s\n", url)
		}
		if err := f.Truncate(0); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return fmt.Errorf("data: %w", err)
		}
		have = 0
		total = resp.ContentLength
	case http.StatusRequestedRangeNotSatisfiable:
		if have > 0 {
			return nil // the partial file is complete
		}
		fallthrough
	default:
		return fmt.Errorf("data: GET %s: %s", url, resp.Status)
	}
	w := &progressWriter{w: f, done: have, total: total, fn: o.Progress}
	if w.fn != nil {
		w.fn(have, total)
	}
	n, err := io.Copy(w, resp.Body)
	if err == nil && total >= 0 && w.done != total {
		err = io.ErrUnexpectedEOF
	}
	if err != nil {
		return fmt.Errorf("data: download of %s interrupted after %d of %d bytes (%d this time): %w; run again to resume", url, w.done, total, n, err)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}

// parseContentRange reads "bytes START-END/SIZE" (SIZE may be "*": −1).
func parseContentRange(s string) (start, size int64, ok bool) {
	s, ok = strings.CutPrefix(s, "bytes ")
	if !ok {
		return 0, 0, false
	}
	rng, sz, ok := strings.Cut(s, "/")
	if !ok {
		return 0, 0, false
	}
	first, _, ok := strings.Cut(rng, "-")
	if !ok {
		return 0, 0, false
	}
	start, err := strconv.ParseInt(first, 10, 64)
	if err != nil {
		return 0, 0, false
	}
	if sz == "*" {
		return start, -1, true
	}
	size, err = strconv.ParseInt(sz, 10, 64)
	return start, size, err == nil
}

func logf(w io.Writer, format string, args ...any) {
	if w != nil {
		fmt.Fprintf(w, format, args...)
	}
}

// progressWriter counts the bytes written through it and reports them.
type progressWriter struct {
	w           io.Writer
	done, total int64
	fn          func(done, total int64)
}

func (p *progressWriter) Write(b []byte) (int, error) {
	n, err := p.w.Write(b)
	p.done += int64(n)
	if p.fn != nil {
		p.fn(p.done, p.total)
	}
	return n, err
}

// extractCIFAR10 writes the members cifar-10-batches-bin/NAME of the gzipped
// tar archive at archive, for each NAME of CIFAR10Files, into target; each
// goes to a temporary file first and replaces NAME only when its SHA-256 is
// right.
func extractCIFAR10(archive, target string) error {
	f, err := os.Open(archive)
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer f.Close()
	zr, err := gzip.NewReader(f)
	if err != nil {
		return fmt.Errorf("data: %s: %w", archive, err)
	}
	tr := tar.NewReader(zr)
	var done []string
	for {
		h, err := tr.Next()
		if err == io.EOF {
			break
		}
		if err != nil {
			return fmt.Errorf("data: %s: %w", archive, err)
		}
		dir, name := path.Split(path.Clean(strings.TrimPrefix(h.Name, "./")))
		if dir != CIFAR10Folder+"/" || cifar10SHA256[name] == nil || h.Typeflag != tar.TypeReg {
			continue
		}
		if err := extractFile(tr, filepath.Join(target, name), archive+": "+h.Name); err != nil {
			return err
		}
		done = append(done, name)
	}
	var missing []string
	for _, n := range CIFAR10Files() {
		if !slices.Contains(done, n) {
			missing = append(missing, n)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("data: %s has no %s", archive, strings.Join(missing, ", "))
	}
	return nil
}

// extractFile writes r to dst through a temporary file, if its SHA-256 is
// one of dst's accepted values; what names r in errors.
func extractFile(r io.Reader, dst, what string) error {
	tmp, err := os.CreateTemp(filepath.Dir(dst), filepath.Base(dst)+".tmp*")
	if err != nil {
		return fmt.Errorf("data: %w", err)
	}
	defer os.Remove(tmp.Name()) // after the rename, a no-op
	h := sha256.New()
	_, err = io.Copy(io.MultiWriter(tmp, h), r)
	if err == nil {
		err = tmp.Sync()
	}
	if cerr := tmp.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("data: %s: %w", what, err)
	}
	got := hex.EncodeToString(h.Sum(nil))
	if want := cifar10SHA256[filepath.Base(dst)]; !slices.Contains(want, got) {
		return fmt.Errorf("data: %s is corrupt: SHA-256 %s, want %s", what, got, want[0])
	}
	if err := os.Rename(tmp.Name(), dst); err != nil {
		return fmt.Errorf("data: %w", err)
	}
	return nil
}
