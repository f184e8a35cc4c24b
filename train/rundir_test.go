package train

import (
	"context"
	"errors"
	"math"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// entries lists dir's files, or nil when dir does not exist.
func entries(t *testing.T, dir string) []string {
	t.Helper()
	es, err := os.ReadDir(dir)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	} else if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range es {
		names = append(names, e.Name())
	}
	return names
}

func TestLockDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "a", "run")
	l, err := LockDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if !l.Created() {
		t.Error("Created() = false for a new directory")
	}
	b, _ := os.ReadFile(filepath.Join(dir, LockFile))
	if want := []byte(strconv.Itoa(os.Getpid()) + "\n"); string(b) != string(want) {
		t.Errorf("lock file holds %q, want %q", b, want)
	}
	// A second holder fails at once, in this process as in another
	// (flock locks belong to the open file).
	_, err = LockDir(dir)
	var inUse *InUseError
	if !errors.As(err, &inUse) || inUse.PID != os.Getpid() || !strings.Contains(err.Error(), "in use by process "+strconv.Itoa(os.Getpid())) {
		t.Errorf("second LockDir: %v, want an InUseError naming PID %d", err, os.Getpid())
	}
	if err := CheckDir(dir); !errors.As(err, &inUse) {
		t.Errorf("CheckDir of a held directory: %v, want an InUseError", err)
	}
	if err := l.Unlock(); err != nil {
		t.Fatal(err)
	}
	if got := entries(t, dir); len(got) != 0 {
		t.Errorf("after Unlock the directory holds %v", got)
	}
	l2, err := LockDir(dir)
	if err != nil {
		t.Fatalf("LockDir after Unlock: %v", err)
	}
	if l2.Created() {
		t.Error("Created() = true for an existing directory")
	}
	l2.Unlock()
	l2.Unlock() // a second Unlock is harmless
}

func TestCheckDir(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		dir  string
		want string // "" for no error
	}{
		{filepath.Join(tmp, "new", "deeper"), ""},
		{tmp, ""},
		{file, "is not a directory"},
		{filepath.Join(file, "run"), file + " is not a directory"},
		{filepath.Join(file, "a", "b"), file + " is not a directory"},
	} {
		err := CheckDir(tc.dir)
		if (err == nil) != (tc.want == "") || err != nil && !strings.Contains(err.Error(), tc.want) {
			t.Errorf("CheckDir(%s) = %v, want %q", tc.dir, err, tc.want)
		}
	}
	if got := entries(t, tmp); len(got) != 1 || got[0] != "file" {
		t.Errorf("CheckDir left %v behind", got)
	}
}

func TestNewRefusesHeldAndUsedDirs(t *testing.T) {
	trainSet, testSet := synthetic(32, 1), synthetic(16, 2)
	dir := t.TempDir()
	r, err := New(testConfig(), dir, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	var inUse *InUseError
	if _, err := New(testConfig(), dir, trainSet, testSet); !errors.As(err, &inUse) {
		t.Errorf("New in a held directory: %v, want an InUseError", err)
	}
	r.MaxSteps = 1
	if err := r.Train(context.Background()); err != nil {
		t.Fatal(err)
	}
	if _, err := New(testConfig(), dir, trainSet, testSet); !errors.Is(err, ErrRunExists) {
		t.Errorf("New in a directory with a checkpoint: %v, want ErrRunExists", err)
	}
	r, err = Resume(dir, trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(dir, trainSet, testSet); !errors.As(err, &inUse) {
		t.Errorf("Resume of a held run: %v, want an InUseError", err)
	}
	if err := r.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := Resume(dir, trainSet, testSet); err != nil {
		t.Errorf("Resume after Close: %v", err)
	}

	empty := filepath.Join(t.TempDir(), "none")
	if _, err := Resume(empty, trainSet, testSet); !errors.Is(err, ErrNoRun) {
		t.Errorf("Resume of a missing directory: %v, want ErrNoRun", err)
	}
	if _, err := ReadConfig(empty); !errors.Is(err, ErrNoRun) {
		t.Errorf("ReadConfig of a missing directory: %v, want ErrNoRun", err)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Error("Resume created the directory it found no run in")
	}
}

// TestFailureBeforeCheckpointLeavesNothing makes a run diverge at its first
// step: the error says that there is no checkpoint, and the directory is
// left as it was (removed when New created it), so that the same run can
// start again.
func TestFailureBeforeCheckpointLeavesNothing(t *testing.T) {
	trainSet, testSet := synthetic(64, 6), synthetic(16, 7)
	cfg := testConfig()
	cfg.LR = 1e30
	for _, dir := range []string{t.TempDir(), filepath.Join(t.TempDir(), "new")} {
		for range 2 {
			r, err := New(cfg, dir, trainSet, testSet)
			if err != nil {
				t.Fatal(err)
			}
			err = r.Train(context.Background())
			if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "no checkpoint was written") {
				t.Errorf("Train = %v, want ErrNonFinite saying there is no checkpoint", err)
			}
		}
		if got := entries(t, dir); len(got) != 0 {
			t.Errorf("the failed run left %v in %s", got, dir)
		}
	}
	// With a checkpoint, the error names it.
	cfg.CheckpointEvery = 1
	cfg.LR = 1e12
	r, err := New(cfg, t.TempDir(), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	err = r.Train(context.Background())
	if !errors.Is(err, ErrNonFinite) || !strings.Contains(err.Error(), "the last good checkpoint is "+filepath.Join(r.Dir, CheckpointFile)) {
		t.Errorf("Train = %v, want ErrNonFinite naming the checkpoint", err)
	}
}

func TestConfigErrors(t *testing.T) {
	for _, tc := range []struct {
		edit  func(*Config)
		field string
	}{
		{func(c *Config) { c.Arch = "" }, "Arch"},
		{func(c *Config) { c.Epochs = 0 }, "Epochs"},
		{func(c *Config) { c.LR = math.Inf(1) }, "LR"},
		{func(c *Config) { c.Momentum = math.NaN() }, "Momentum"},
		{func(c *Config) { c.Std[1] = 0 }, "Std"},
		{func(c *Config) { c.Optimizer = "adam" }, "Optimizer"},
		{func(c *Config) { c.Schedule = "warmup:2+cosine" }, "Schedule"}, // as long as the run
		{func(c *Config) { c.Schedule = "bogus" }, "Schedule"},
	} {
		cfg := testConfig()
		tc.edit(&cfg)
		var ce *ConfigError
		if err := cfg.Validate(); !errors.As(err, &ce) || ce.Field != tc.field || strings.Contains(err.Error(), " -") {
			t.Errorf("%s: Validate = %v, want a ConfigError of %s naming no flag", tc.field, err, tc.field)
		}
	}
	cfg := testConfig()
	cfg.Arch, cfg.Init = "", "model.safetensors"
	if err := cfg.Validate(); err != nil {
		t.Errorf("no Arch with an Init file: %v", err)
	}
}

func TestNewWithModelRefusesNonFinite(t *testing.T) {
	m, _ := zoo.New("resnet8")
	zoo.InitWeights(m, 1)
	nn.State(m)[0].Var.Value.Data[0] = float32(math.NaN())
	dir := filepath.Join(t.TempDir(), "run")
	if _, err := NewWithModel(testConfig(), dir, m, synthetic(16, 1), synthetic(16, 2)); err == nil || !strings.Contains(err.Error(), "NaN at index") {
		t.Errorf("NewWithModel of a model with a NaN: %v", err)
	}
	if _, err := os.Stat(dir); err == nil {
		t.Error("the refused run created its directory")
	}
}
