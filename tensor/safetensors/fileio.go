package safetensors

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
)

// ReadFile reads and decodes the safetensors file at path, as Decode does.
// Errors are prefixed "safetensors: <path>: "; they wrap those of the file
// system, so errors.Is(err, fs.ErrNotExist) works.
func ReadFile(path string) (*File, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) && pe.Path == path {
			err = pe.Err // the path is in our prefix already
		}
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return f, nil
}

// WriteFile encodes f, as Encode does, to the file at path, replacing it
// atomically: it writes a temporary file in the same directory, syncs it to
// stable storage, closes it and renames it over path, so readers see either
// the old file or the complete new one, never a partial write. On any
// error the temporary file is removed and path is untouched. The new file
// keeps the permissions of the regular file it replaces, or gets 0644.
// Errors are prefixed "safetensors: <path>: ".
func (f *File) WriteFile(path string) error {
	if err := f.writeFile(path); err != nil {
		return fmt.Errorf("safetensors: %s: %w", path, err)
	}
	return nil
}

// writeFile is WriteFile without the error prefix.
func (f *File) writeFile(path string) (err error) {
	head, data, err := f.layout() // validate before touching the disk
	if err != nil {
		return err
	}
	perm := fs.FileMode(0o644)
	if fi, err := os.Stat(path); err == nil && fi.Mode().IsRegular() {
		perm = fi.Mode().Perm()
	}

	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, "."+filepath.Base(path)+".*.tmp")
	if err != nil {
		return err
	}
	closed := false
	defer func() {
		if err != nil {
			if !closed {
				tmp.Close()
			}
			os.Remove(tmp.Name())
		}
	}()

	w := bufio.NewWriterSize(tmp, 1<<20)
	if err = writeParts(w, head, data); err != nil {
		return err
	}
	if err = w.Flush(); err != nil {
		return err
	}
	if err = tmp.Chmod(perm); err != nil {
		return err
	}
	if err = tmp.Sync(); err != nil {
		return err
	}
	closed = true
	if err = tmp.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return err
	}
	syncDir(dir)
	return nil
}

// syncDir makes a rename in dir durable where the operating system allows
// it. It is best effort: some systems cannot sync a directory, and the
// rename has already succeeded.
func syncDir(dir string) {
	d, err := os.Open(dir)
	if err != nil {
		return
	}
	d.Sync()
	d.Close()
}
