package main

import (
	"errors"
	"flag"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/train"
)

// checkArch returns a usage error when arch is given but unknown.
func checkArch(arch string) error {
	if arch == "" {
		return nil
	}
	if _, err := zoo.Lookup(arch); err != nil {
		return usagef("-arch: %v", err)
	}
	return nil
}

// trainFlags names the flag of each train.Config field that bonsai train
// sets from one.
var trainFlags = map[string]string{
	"Arch": "arch", "Epochs": "epochs", "Batch": "batch", "LR": "lr", "Momentum": "momentum",
	"WeightDecay": "wd", "LabelSmoothing": "label-smoothing", "TrainImages": "train-images",
	"TestImages": "test-images", "CheckpointEvery": "checkpoint-every", "DistillT": "distill-t",
	"DistillAlpha": "distill-alpha", "Mean": "mean", "Std": "std", "Optimizer": "optimizer",
	"Schedule": "schedule", "Init": "weights", "Teacher": "teacher",
}

// flagError turns a *train.ConfigError into a usage error naming the flag
// that fields maps its field to; other errors are returned as they are.
func flagError(err error, fields map[string]string) error {
	var ce *train.ConfigError
	if errors.As(err, &ce) {
		if name, ok := fields[ce.Field]; ok {
			return usagef("-%s %s", name, ce.Problem)
		}
	}
	return err
}

// parseTriple parses a -mean or -std value: three finite numbers, the
// std's positive; "" gives nil.
func parseTriple(name, val string) ([]float32, error) {
	if val == "" {
		return nil, nil
	}
	v, err := zoo.ParseFloats(val)
	switch {
	case err != nil:
		return nil, usagef("-%s: %v", name, err)
	case len(v) != 3:
		return nil, usagef("-%s %s: %d values, want 3 (R,G,B)", name, val, len(v))
	}
	for _, x := range v {
		if name == "std" && !(x > 0) {
			return nil, usagef("-std %s: a value ≤ 0", val)
		}
	}
	return v, nil
}

// checkOut checks before any work that the run directory of -out can be
// created and written and that no other process uses it.
func checkOut(dir string) error {
	if dir == "" {
		return usagef("-out is required")
	}
	if err := train.CheckDir(dir); err != nil {
		return fmt.Errorf("-out: %w", err)
	}
	return nil
}

// checkOutFile checks before any work that a file can be written at path:
// an existing file is opened for writing (not truncated), a new one is
// created and removed again.
func checkOutFile(flagName, path string) error {
	if path == "" {
		return nil
	}
	f, err := os.OpenFile(path, os.O_WRONLY, 0)
	if errors.Is(err, fs.ErrNotExist) {
		if f, err = os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644); err == nil {
			defer os.Remove(path)
		}
	}
	if err != nil {
		return fmt.Errorf("-%s: cannot write %s: %w", flagName, path, err)
	}
	return f.Close()
}

// checkInput checks that the file or directory a flag names exists.
func checkInput(flagName, path string) error {
	if path == "" {
		return nil
	}
	if _, err := os.Stat(dataPath(path)); err != nil {
		return fmt.Errorf("-%s: %w", flagName, err)
	}
	return nil
}

// absPath returns path made absolute (a resumed run may start in another
// directory); "" stays "".
func absPath(path string) (string, error) {
	if path == "" {
		return "", nil
	}
	return absData(path)
}

// samePath reports whether two paths name the same file: the same
// absolute path, or the same file on disk.
func samePath(a, b string) bool {
	aa, err1 := filepath.Abs(a)
	bb, err2 := filepath.Abs(b)
	if err1 == nil && err2 == nil && aa == bb {
		return true
	}
	fa, err1 := os.Stat(a)
	fb, err2 := os.Stat(b)
	return err1 == nil && err2 == nil && os.SameFile(fa, fb)
}

// givenFlags returns the flags set on the command line, with their values
// as parsed.
func givenFlags(fs *flag.FlagSet) map[string]string {
	given := map[string]string{}
	fs.Visit(func(f *flag.Flag) { given[f.Name] = f.Value.String() })
	return given
}

// resumeRules say how a -resume command line is compared with the run it
// continues.
type resumeRules struct {
	// changeable flags may differ from the run's values: the command
	// line's apply (e.g. -max-steps, or -data, the data's location).
	changeable []string
	// ignore lists flags that are no settings of the run (-out, -resume,
	// -json).
	ignore []string
	// same compares flags whose variable does not hold the run's value:
	// it reports whether given agrees with the run, and the run's value.
	same map[string]func(given string) (bool, string)
}

// resumeConflicts compares the flags given on a -resume command line with
// the run's settings. The flag set's variables must hold the run's values
// (the caller copied them in after parsing), except those that rules.same
// compares. Each flag that differs and is not changeable is listed in the
// returned usage error. The changeable flags that were given are then set
// again from the command line.
func resumeConflicts(fs *flag.FlagSet, given map[string]string, dir string, rules resumeRules) error {
	names := make([]string, 0, len(given))
	for n := range given {
		names = append(names, n)
	}
	sort.Strings(names)
	var diffs []string
	for _, n := range names {
		if slices.Contains(rules.ignore, n) || slices.Contains(rules.changeable, n) {
			continue
		}
		runs := fs.Lookup(n).Value.String()
		same := given[n] == runs
		if f, ok := rules.same[n]; ok {
			same, runs = f(given[n])
		}
		if runs == "" {
			runs = "none"
		}
		if !same {
			diffs = append(diffs, fmt.Sprintf("-%s %s (the run has %s)", n, given[n], runs))
		}
	}
	if len(diffs) > 0 {
		return usagef("-resume: the run in %s was made with other settings:\n\t%s\nleave these flags out to continue the run as it is, or start a new run in another -out",
			dir, strings.Join(diffs, "\n\t"))
	}
	for _, n := range rules.changeable {
		if v, ok := given[n]; ok {
			if err := fs.Set(n, v); err != nil {
				return usagef("-%s: %v", n, err)
			}
		}
	}
	return nil
}
