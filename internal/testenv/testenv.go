// Package testenv holds helpers that tests use to find external test data
// (data sets, model weights) and to honour "go test -short".
//
// The data lives outside the repository. Its location comes from environment
// variables, which must hold absolute paths:
//
//	BONSAI_CIFAR10  directory with the CIFAR-10 binary version (data_batch_1.bin, ...)
//	BONSAI_MODELS   directory with model weights (*.safetensors)
//
// When such a variable is unset or empty, a test that needs it is skipped,
// except under continuous integration (CI set to a true value, such as
// CI=true), where the test fails instead, so that CI cannot pass by
// silently skipping everything.
package testenv

import (
	"os"
	"path/filepath"
	"strconv"
	"testing"
)

// CIFAR10 returns the CIFAR-10 directory named by BONSAI_CIFAR10.
//
// If the variable is unset or empty, CIFAR10 skips the test, or fails it
// (t.Fatal) when CI is true. If it is set but is not an absolute path to an
// existing directory, the test fails. In both failing cases and when skipping,
// CIFAR10 does not return.
func CIFAR10(t testing.TB) string {
	t.Helper()
	return dir(t, "BONSAI_CIFAR10", "the CIFAR-10 binary-version directory")
}

// Models returns the model-weights directory named by BONSAI_MODELS, with
// the same rules as CIFAR10: unset or empty skips the test (fails it when CI
// is true), and a value that is not an absolute path to an existing
// directory fails it.
func Models(t testing.TB) string {
	t.Helper()
	return dir(t, "BONSAI_MODELS", "the model-weights directory")
}

// Short skips the test when "go test -short" is in effect, giving why as
// the reason (for example "loads 180 MB of CIFAR-10").
func Short(t testing.TB, why string) {
	t.Helper()
	if testing.Short() {
		t.Skipf("skipping in -short mode: %s", why)
	}
}

// InCI reports whether the environment variable CI holds a true value as
// accepted by strconv.ParseBool ("true", "1", "TRUE", ...), as CI services
// set it.
func InCI() bool {
	ci, err := strconv.ParseBool(os.Getenv("CI"))
	return err == nil && ci
}

// dir applies the shared rules for a directory-valued environment variable.
func dir(t testing.TB, name, what string) string {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		if InCI() {
			t.Fatalf("environment variable %s is missing: it must be set (absolute path to %s) when CI=true", name, what)
			return ""
		}
		t.Skipf("environment variable %s not set (absolute path to %s); skipping", name, what)
		return "" // not reached with a real *testing.T
	}
	if !filepath.IsAbs(v) {
		t.Fatalf("environment variable %s=%q must be an absolute path (to %s)", name, v, what)
		return ""
	}
	fi, err := os.Stat(v)
	if err != nil {
		t.Fatalf("environment variable %s: %v", name, err)
		return ""
	}
	if !fi.IsDir() {
		t.Fatalf("environment variable %s=%q is not a directory", name, v)
		return ""
	}
	return v
}
