package main

import (
	"io"
	"os"
)

// progressTo returns w when it is a terminal and nil otherwise: the live
// progress line redraws itself with carriage returns, which a log file or a
// pipe would keep as one line of thousands of updates. The once-per-epoch
// lines go to the log either way.
func progressTo(w io.Writer) io.Writer {
	f, ok := w.(*os.File)
	if !ok {
		return nil
	}
	fi, err := f.Stat()
	if err != nil || fi.Mode()&os.ModeCharDevice == 0 {
		return nil
	}
	return w
}
