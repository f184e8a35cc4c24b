package data_test

import (
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// fakeTB records whether a helper skipped or failed, stopping its goroutine
// the way testing.T does.
type fakeTB struct {
	testing.TB
	skipped, failed bool
	msg             string
}

func (f *fakeTB) Helper() {}
func (f *fakeTB) Skipf(format string, args ...any) {
	f.skipped, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}
func (f *fakeTB) Fatalf(format string, args ...any) {
	f.failed, f.msg = true, fmt.Sprintf(format, args...)
	runtime.Goexit()
}

func runHelper(get func(testing.TB) string) (f *fakeTB, got string) {
	f = new(fakeTB)
	done := make(chan struct{})
	go func() {
		defer close(done)
		got = get(f)
	}()
	<-done
	return f, got
}

// TestTestenvRules checks internal/testenv's rule that a missing data
// directory skips a test, except under CI=true, where it fails.
func TestTestenvRules(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, h := range []struct {
		env string
		get func(testing.TB) string
	}{
		{"BONSAI_CIFAR10", testenv.CIFAR10},
		{"BONSAI_MODELS", testenv.Models},
	} {
		for _, tc := range []struct {
			name, val, ci string
			skip, fail    bool
			msg           string
		}{
			{name: "unset", val: "", ci: "", skip: true, msg: h.env},
			{name: "unset CI=false", val: "", ci: "false", skip: true, msg: h.env},
			{name: "unset CI=true", val: "", ci: "true", fail: true, msg: h.env + " is missing"},
			{name: "relative", val: "some/dir", ci: "", fail: true, msg: "absolute"},
			{name: "not there", val: filepath.Join(tmp, "nope"), ci: "", fail: true, msg: h.env},
			{name: "a file", val: file, ci: "", fail: true, msg: "not a directory"},
			{name: "set", val: tmp, ci: "true"},
		} {
			t.Run(h.env+"/"+tc.name, func(t *testing.T) {
				t.Setenv(h.env, tc.val)
				t.Setenv("CI", tc.ci)
				f, got := runHelper(h.get)
				if f.skipped != tc.skip || f.failed != tc.fail {
					t.Fatalf("skipped=%v failed=%v (%q); want skipped=%v failed=%v", f.skipped, f.failed, f.msg, tc.skip, tc.fail)
				}
				if !strings.Contains(f.msg, tc.msg) {
					t.Errorf("message %q does not contain %q", f.msg, tc.msg)
				}
				if !tc.skip && !tc.fail && got != tc.val {
					t.Errorf("returned %q, want %q", got, tc.val)
				}
			})
		}
	}
}
