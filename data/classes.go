package data

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// MetaFile names the file with the class names, one per line.
const MetaFile = "batches.meta.txt"

// ClassNames reads MetaFile in dir and returns the NumClasses class names,
// indexed by label ("airplane", "automobile", …, "truck" for the official
// file). Surrounding white space is trimmed and blank lines are ignored;
// any other number of names than NumClasses is an error naming the file.
func ClassNames(dir string) ([]string, error) {
	path := filepath.Join(dir, MetaFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("data: %w", err)
	}
	names := make([]string, 0, NumClasses)
	for line := range strings.Lines(string(b)) {
		if s := strings.TrimSpace(line); s != "" {
			names = append(names, s)
		}
	}
	if len(names) != NumClasses {
		return nil, fmt.Errorf("data: %s: found %d class names, want %d", path, len(names), NumClasses)
	}
	return names, nil
}
