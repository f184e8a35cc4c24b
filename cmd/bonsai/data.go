package main

import (
	"context"
	"fmt"
	"io"
	"path/filepath"
	"strings"
	"time"

	"github.com/bonsai-dl/bonsai/data"
)

func init() {
	commands["data"] = command{"download and verify a data set (cifar10)", runData}
}

// runData is "bonsai data cifar10 [-dir DIR]": it makes DIR/cifar-10-batches-bin
// hold the verified CIFAR-10 binary version, downloading it when needed, and
// prints that folder, the -data value of the other commands.
func runData(args []string, out, errOut io.Writer) error {
	if len(args) == 0 || strings.HasPrefix(args[0], "-") {
		if len(args) > 0 && (args[0] == "-h" || args[0] == "-help" || args[0] == "--help") {
			fmt.Fprintln(errOut, "usage: bonsai data cifar10 [-dir DIR] [-url URL]")
			return nil
		}
		return usagef("name the data set: bonsai data cifar10 [-dir DIR]")
	}
	if args[0] != "cifar10" {
		return usagef("unknown data set %q: the one known is cifar10", args[0])
	}
	fs := newFlags("data cifar10", errOut)
	dir := fs.String("dir", ".", "directory to put cifar-10-batches-bin in")
	url := fs.String("url", data.CIFAR10URL, "archive to download (a mirror of the official one)")
	if err := parse(fs, args[1:]); err != nil {
		return err
	}
	abs, err := filepath.Abs(*dir)
	if err != nil {
		return err
	}
	o := data.FetchOptions{URL: *url, Log: errOut}
	var bar *progressBar
	if w := progressTo(errOut); w != nil {
		bar = &progressBar{w: w, start: time.Now()}
		o.Progress = bar.update
	}
	path, err := data.FetchCIFAR10(context.Background(), abs, o)
	if bar != nil {
		bar.finish()
	}
	if err != nil {
		return err
	}
	fmt.Fprintf(errOut, "CIFAR-10 verified (SHA-256 of every file) in %s; use it with -data %s\n", path, path)
	fmt.Fprintln(out, path)
	return nil
}

// progressBar draws a download's progress on one terminal line, at most ten
// times a second.
type progressBar struct {
	w           io.Writer
	start, last time.Time
	drawn       bool
}

func (b *progressBar) update(done, total int64) {
	now := time.Now()
	if now.Sub(b.last) < 100*time.Millisecond && done != total {
		return
	}
	b.last, b.drawn = now, true
	const mib = 1 << 20
	rate := float64(done) / mib / max(now.Sub(b.start).Seconds(), 1e-3)
	if total <= 0 {
		fmt.Fprintf(b.w, "\r%7.1f MiB  %5.1f MiB/s ", float64(done)/mib, rate)
		return
	}
	const width = 30
	n := int(width * done / total)
	fmt.Fprintf(b.w, "\r[%s%s] %3d%%  %.1f/%.1f MiB  %.1f MiB/s ", strings.Repeat("=", n), strings.Repeat(" ", width-n),
		100*done/total, float64(done)/mib, float64(total)/mib, rate)
}

func (b *progressBar) finish() {
	if b.drawn {
		fmt.Fprintln(b.w)
	}
}
