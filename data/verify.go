package data

import (
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
)

// cifar10SHA256 holds the accepted SHA-256 values of each file of the official
// binary version. The six .bin values are the published per-file hashes of the
// official files. batches.meta.txt is accepted with one newline after "truck"
// or with one more (a blank last line, as the official file is reported to
// have): both list the same classes.
var cifar10SHA256 = map[string][]string{
	"data_batch_1.bin": {"cee916563c9f80d84e3cc88e17fdc0941787f1244f00a67874d45b261883ada5"},
	"data_batch_2.bin": {"a591ca11fa1708a91ee40f54b3da4784ccd871ecf2137de63f51ada8b3fa57ed"},
	"data_batch_3.bin": {"bbe8596564c0f86427f876058170b84dac6670ddf06d79402899d93ceea26f67"},
	"data_batch_4.bin": {"014e562d6e23c72197cc727519169a60359f5eccd8945ad5a09d710285ff4e48"},
	"data_batch_5.bin": {"755304fc0b379caeae8c14f0dac912fbc7d6cd469eb67a1029a08a39453a9add"},
	"test_batch.bin":   {"8e2eb146ae340b09e24670f29cabc6326dba54da8789dab6768acf480273f65b"},
	MetaFile: {
		"2ce042b1e0b48db4bb214408e6414ba18b2731c24af244f2d6c112fddf31af00",
		"558e74b5e208382e186da55784b4bac2cd52e558448e1b5800990fdb28ed8033",
	},
}

// CIFAR10Files lists the files of the binary version that VerifyCIFAR10
// checks and FetchCIFAR10 extracts, sorted.
func CIFAR10Files() []string {
	var names []string
	for n := range cifar10SHA256 {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// FileProblem is one file of a CIFAR-10 directory that failed verification.
type FileProblem struct {
	Path string // the file
	Got  string // its SHA-256 in hex, "" when it is missing or unreadable
	Err  error  // why it could not be read, nil when it was read
}

// VerifyError lists the files of a CIFAR-10 directory that are missing,
// unreadable or corrupt (a SHA-256 that is not the official file's).
type VerifyError struct {
	Problems []FileProblem
}

func (e *VerifyError) Error() string {
	var s []string
	for _, p := range e.Problems {
		switch {
		case errors.Is(p.Err, fs.ErrNotExist):
			s = append(s, fmt.Sprintf("%s is missing", p.Path))
		case p.Err != nil:
			s = append(s, p.Err.Error())
		default:
			s = append(s, fmt.Sprintf("%s is corrupt: SHA-256 %s, want %s", p.Path, p.Got, cifar10SHA256[filepath.Base(p.Path)][0]))
		}
	}
	return "data: " + strings.Join(s, "; ")
}

// Corrupt reports whether some file exists but is not the official one (as
// opposed to every problem being a missing file).
func (e *VerifyError) Corrupt() bool {
	for _, p := range e.Problems {
		if !errors.Is(p.Err, fs.ErrNotExist) {
			return true
		}
	}
	return false
}

// VerifyCIFAR10 checks that dir holds every file of CIFAR10Files with the
// official content (its SHA-256). It returns nil or a *VerifyError naming
// each missing, unreadable or corrupt file.
func VerifyCIFAR10(dir string) error {
	var e VerifyError
	for _, name := range CIFAR10Files() {
		p := filepath.Join(dir, name)
		got, err := fileSHA256(p)
		switch {
		case err != nil:
			e.Problems = append(e.Problems, FileProblem{Path: p, Err: err})
		case !slices.Contains(cifar10SHA256[name], got):
			e.Problems = append(e.Problems, FileProblem{Path: p, Got: got})
		}
	}
	if len(e.Problems) > 0 {
		return &e
	}
	return nil
}

// fileSHA256 returns the SHA-256 of the file at path in hex.
func fileSHA256(path string) (string, error) {
	f, err := os.Open(path)
	if err != nil {
		return "", err
	}
	defer f.Close()
	h := sha256.New()
	if _, err := io.Copy(h, f); err != nil {
		return "", err
	}
	return hex.EncodeToString(h.Sum(nil)), nil
}
