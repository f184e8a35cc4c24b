package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestProgressOnlyToTerminals(t *testing.T) {
	f, err := os.Create(filepath.Join(t.TempDir(), "log"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if progressTo(f) != nil {
		t.Error("a regular file gets the live progress line")
	}
	if progressTo(&bytes.Buffer{}) != nil {
		t.Error("a buffer gets the live progress line")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	if progressTo(w) != nil {
		t.Error("a pipe gets the live progress line")
	}
	if tty, err := os.OpenFile("/dev/tty", os.O_WRONLY, 0); err == nil {
		defer tty.Close()
		if progressTo(tty) == nil {
			t.Error("a terminal gets no progress line")
		}
	}
}
