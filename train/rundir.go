package train

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// LockFile is the name of a run directory's lock file. While a process
// uses the directory it holds an OS lock (flock) on this file, which
// holds its process ID; the kernel drops the lock when the process ends,
// however it ends, so a killed run leaves no stale lock. The file is
// removed when the lock is released normally.
const LockFile = "lock"

// Errors about run directories; the errors returned wrap them (errors.Is).
var (
	// ErrRunExists: a new run was asked for in a directory that holds one.
	ErrRunExists = errors.New("the directory holds a run already")
	// ErrNoRun: a run was to be resumed from a directory without one.
	ErrNoRun = errors.New("no run to resume")
)

// InUseError is returned when another process holds a run directory.
type InUseError struct {
	Dir string
	PID int // the holder's process ID, 0 when it could not be read
}

func (e *InUseError) Error() string {
	holder := "another process"
	if e.PID > 0 {
		holder = "process " + strconv.Itoa(e.PID)
	}
	return fmt.Sprintf("train: %s is in use by %s (it holds %s); wait for it to end or use another directory",
		e.Dir, holder, filepath.Join(e.Dir, LockFile))
}

// DirLock is a run directory locked by this process (see LockFile).
type DirLock struct {
	dir     string
	f       *os.File
	created bool // LockDir created dir
}

// LockDir creates dir (and its parents) if needed and locks it for this
// process: a second LockDir of the same directory, in this process or
// another, fails at once with an *InUseError naming the holder until
// Unlock. Creating the lock file checks that files can be created in dir.
// On platforms without flock the lock file is written but excludes
// nothing.
func LockDir(dir string) (*DirLock, error) {
	_, statErr := os.Stat(dir)
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("train: run directory: %w", err)
	}
	l := &DirLock{dir: dir, created: errors.Is(statErr, fs.ErrNotExist)}
	path := filepath.Join(dir, LockFile)
	for {
		f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
		if err != nil {
			l.removeCreated()
			return nil, fmt.Errorf("train: run directory %s is not writable: %w", dir, err)
		}
		held, err := flock(f)
		if err != nil {
			f.Close()
			l.removeCreated()
			return nil, fmt.Errorf("train: locking %s: %w", path, err)
		}
		if !held {
			pid := readPID(f)
			f.Close()
			return nil, &InUseError{Dir: dir, PID: pid}
		}
		// The holder before us may have removed the file between our open
		// and our lock (Unlock removes it): then we locked a file nobody
		// else will see, and must lock the one at path instead.
		fi, err1 := f.Stat()
		pi, err2 := os.Stat(path)
		if err1 == nil && err2 == nil && os.SameFile(fi, pi) {
			l.f = f
			break
		}
		f.Close()
	}
	pid := []byte(strconv.Itoa(os.Getpid()) + "\n")
	if err := l.f.Truncate(0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("train: run directory %s is not writable: %w", dir, err)
	}
	if _, err := l.f.WriteAt(pid, 0); err != nil {
		l.Unlock()
		return nil, fmt.Errorf("train: run directory %s is not writable: %w", dir, err)
	}
	return l, nil
}

// readPID returns the process ID written in a lock file, waiting briefly
// for a holder that has locked the file but not yet written it.
func readPID(f *os.File) int {
	for try := 0; ; try++ {
		b := make([]byte, 32)
		n, _ := f.ReadAt(b, 0)
		if pid, err := strconv.Atoi(strings.TrimSpace(string(b[:n]))); err == nil {
			return pid
		}
		if try == 5 {
			return 0
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Dir returns the locked directory.
func (l *DirLock) Dir() string { return l.dir }

// Created reports whether LockDir created the directory.
func (l *DirLock) Created() bool { return l.created }

// Unlock removes the lock file and releases the lock. It may be called
// more than once.
func (l *DirLock) Unlock() error {
	if l == nil || l.f == nil {
		return nil
	}
	err := os.Remove(filepath.Join(l.dir, LockFile)) // before the lock goes: see LockDir
	if errors.Is(err, fs.ErrNotExist) {
		err = nil // removed by hand: the lock is ours all the same
	}
	err = errors.Join(err, l.f.Close())
	l.f = nil
	return err
}

// removeCreated removes the directory if LockDir created it and it is
// empty.
func (l *DirLock) removeCreated() {
	if l.created {
		os.Remove(l.dir)
	}
}

// CheckDir checks, without leaving anything behind, that a run could use
// dir: that dir, or the nearest of its parents that exists, is a
// directory in which files can be created, and that no process holds dir
// (an *InUseError otherwise). It lets a program find these mistakes
// before it starts work; LockDir checks them again.
func CheckDir(dir string) error {
	// The nearest existing one of dir and its parents (a path under a
	// regular file fails to stat with "not a directory": go up past it).
	near := filepath.Clean(dir)
	fi, err := os.Stat(near)
	for err != nil {
		up := filepath.Dir(near)
		if up == near {
			return fmt.Errorf("train: run directory %s cannot be created: %w", dir, err)
		}
		near = up
		fi, err = os.Stat(near)
	}
	switch {
	case !fi.IsDir() && near == filepath.Clean(dir):
		return fmt.Errorf("train: run directory %s is not a directory", dir)
	case !fi.IsDir():
		return fmt.Errorf("train: run directory %s cannot be created: %s is not a directory", dir, near)
	case near == filepath.Clean(dir):
		l, err := LockDir(dir)
		if err != nil {
			return err
		}
		return l.Unlock()
	}
	f, err := os.CreateTemp(near, ".bonsai-probe-*")
	if err != nil {
		return fmt.Errorf("train: run directory %s cannot be created: %w", dir, err)
	}
	return errors.Join(f.Close(), os.Remove(f.Name()))
}
