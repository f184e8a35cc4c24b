package main

// End-to-end tests of run safety (issue 13): each drives the real bonsai
// binary, built once by the first test that needs it, and checks the exit
// status, the message and the files left behind.

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

var (
	binOnce sync.Once
	binDir  string // holds the binary; removed by TestMain
	binErr  error
)

func TestMain(m *testing.M) {
	code := m.Run()
	if binDir != "" {
		os.RemoveAll(binDir)
	}
	os.Exit(code)
}

// bonsaiBin returns the path of the bonsai binary, building it on first use.
func bonsaiBin(t *testing.T) string {
	t.Helper()
	binOnce.Do(func() {
		if binDir, binErr = os.MkdirTemp("", "bonsai-bin-"); binErr != nil {
			return
		}
		if out, err := exec.Command("go", "build", "-o", filepath.Join(binDir, "bonsai"), ".").CombinedOutput(); err != nil {
			binErr = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if binErr != nil {
		t.Fatal(binErr)
	}
	return filepath.Join(binDir, "bonsai")
}

// result is what a finished bonsai process did.
type result struct {
	code           int
	stdout, stderr string
	took           time.Duration
}

func (r result) String() string {
	return fmt.Sprintf("exit %d after %v\nstdout: %s\nstderr: %s", r.code, r.took.Round(time.Millisecond), r.stdout, r.stderr)
}

// exitCode returns the exit status of a process that Wait or Run returned
// err for.
func exitCode(t *testing.T, err error) int {
	t.Helper()
	var ee *exec.ExitError
	switch {
	case err == nil:
		return 0
	case errors.As(err, &ee):
		return ee.ExitCode()
	}
	t.Fatal(err)
	return -1
}

// bonsaiRun runs the binary with args to its end.
func bonsaiRun(t *testing.T, args ...string) result {
	t.Helper()
	cmd := exec.Command(bonsaiBin(t), args...)
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	start := time.Now()
	err := cmd.Run()
	return result{code: exitCode(t, err), stdout: out.String(), stderr: errOut.String(), took: time.Since(start)}
}

// bonsaiStart starts the binary with args in the background.
func bonsaiStart(t *testing.T, args ...string) (cmd *exec.Cmd, stdout, stderr *bytes.Buffer) {
	t.Helper()
	cmd = exec.Command(bonsaiBin(t), args...)
	stdout, stderr = new(bytes.Buffer), new(bytes.Buffer)
	cmd.Stdout, cmd.Stderr = stdout, stderr
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, stdout, stderr
}

// waitFile waits until path exists (or cmd has ended, or a minute passed).
func waitFile(t *testing.T, cmd *exec.Cmd, path string) {
	t.Helper()
	for deadline := time.Now().Add(time.Minute); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
		if _, err := os.Stat(path); err == nil {
			return
		}
		if p, err := os.FindProcess(cmd.Process.Pid); err == nil && p.Signal(syscall.Signal(0)) != nil {
			break
		}
	}
	t.Fatalf("%s did not appear", path)
}

// listDir returns the names in dir, or nil when dir does not exist.
func listDir(t *testing.T, dir string) []string {
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

// snapshot returns every file under dir with its contents.
func snapshot(t *testing.T, dir string) map[string]string {
	t.Helper()
	files := map[string]string{}
	err := filepath.WalkDir(dir, func(path string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		b, err := os.ReadFile(path)
		files[strings.TrimPrefix(path, dir)] = string(b)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return files
}

func sameSnapshot(a, b map[string]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if w, ok := b[k]; !ok || v != w {
			return false
		}
	}
	return true
}

// modelFile saves a seeded arch model (metadata arch, mean, std), after
// edit changes its file, and returns the path.
func modelFile(t *testing.T, arch string, edit func(f *safetensors.File)) string {
	t.Helper()
	m, err := zoo.New(arch)
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 1)
	f := nn.SaveState(m, zoo.Meta{Arch: arch, Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}.Map())
	if edit != nil {
		edit(f)
	}
	path := filepath.Join(t.TempDir(), arch+".safetensors")
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	return path
}

// setValue sets element i of tensor key of f to v.
func setValue(t *testing.T, f *safetensors.File, key string, i int, v float32) {
	t.Helper()
	vals, err := f.Tensors[key].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	vals[i] = v
	f.Tensors[key] = safetensors.FromFloat32(f.Tensors[key].Shape, vals)
}

// TestNonFiniteWeights: a NaN or an infinity in a parameter or a buffer of
// a model file stops every command that loads it, naming the tensor and
// the first bad element, before a run directory is made.
func TestNonFiniteWeights(t *testing.T) {
	for _, tc := range []struct {
		name, key string
		i         int
		v         float32
		want      string
	}{
		{"NaN in a parameter", "conv1.weight", 40, float32(math.NaN()), `key "conv1.weight": NaN at index [1 1 1 1] (element 40 of 432)`},
		{"Inf in a parameter", "linear.weight", 130, float32(math.Inf(-1)), `key "linear.weight": -Inf at index [2 2] (element 130 of 640)`},
		{"Inf in a buffer", "bn1.running_var", 5, float32(math.Inf(1)), `key "bn1.running_var": +Inf at index [5] (element 5 of 16)`},
		{"NaN in a buffer", "layer1.0.bn2.running_mean", 0, float32(math.NaN()), `key "layer1.0.bn2.running_mean": NaN at index [0] (element 0 of 16)`},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := modelFile(t, "resnet8", func(f *safetensors.File) { setValue(t, f, tc.key, tc.i, tc.v) })
			dataDir, out := t.TempDir(), filepath.Join(t.TempDir(), "run")
			for _, args := range [][]string{
				{"info", "-weights", w},
				{"bench", "-weights", w, "-reps", "1"},
				{"eval", "-weights", w, "-data", dataDir},
				{"train", "-weights", w, "-data", dataDir, "-out", out},
				{"train", "-arch", "resnet20", "-data", dataDir, "-out", out, "-teacher", w, "-epochs", "1"},
				{"prune", "-weights", w, "-data", "synthetic:32", "-calib", "16", "-flops", "0.3", "-finetune-epochs", "0", "-out", out},
			} {
				r := bonsaiRun(t, args...)
				if r.code != 1 || !strings.Contains(r.stderr, tc.want) || !strings.Contains(r.stderr, w) {
					t.Errorf("bonsai %s: %v\nwant exit 1 and a message naming %s and %q", args[0], r, w, tc.want)
				}
				if _, err := os.Stat(out); err == nil {
					t.Errorf("bonsai %s left %s behind", args[0], out)
				}
			}
		})
	}
}

// TestOutUnderRegularFile: an -out that cannot be created is found at
// once, before data or models are read.
func TestOutUnderRegularFile(t *testing.T) {
	tmp := t.TempDir()
	file := filepath.Join(tmp, "file")
	if err := os.WriteFile(file, []byte("not a directory"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, out := range []string{file, filepath.Join(file, "run"), filepath.Join(file, "a", "b")} {
		for _, args := range [][]string{
			{"train", "-data", tmp, "-out", out},
			{"train", "-arch", "resnet56", "-data", tmp, "-out", out, "-epochs", "1"},
			{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-flops", "0.3", "-finetune-epochs", "0", "-out", out},
			{"prune", "-weights", modelFile(t, "resnet8", nil), "-data", tmp, "-flops", "0.3", "-out", out},
			{"bench", "-arch", "resnet8", "-cpuprofile", filepath.Join(out, "cpu.out")},
		} {
			r := bonsaiRun(t, args...)
			if r.code != 1 || !strings.Contains(r.stderr, "not a directory") || !strings.Contains(r.stderr, file) {
				t.Errorf("bonsai %s -out %s: %v\nwant exit 1 saying %s is not a directory", args[0], out, r, file)
			}
			if r.took > time.Second {
				t.Errorf("bonsai %s -out %s: the unwritable -out was found after %v, want under a second", args[0], out, r.took)
			}
		}
	}
	if b, _ := os.ReadFile(file); string(b) != "not a directory" || !slices.Equal(listDir(t, tmp), []string{"file"}) {
		t.Errorf("the file was changed or files were added: %q, %v", b, listDir(t, tmp))
	}
}

// TestDemoBadFlag: the demo rejects a bad flag before it trains anything.
func TestDemoBadFlag(t *testing.T) {
	for _, args := range [][]string{{"-flops", "0"}, {"-flops", "1"}, {"-flops", "-0.5"}, {"-flops", "NaN"}, {"-bogus"}} {
		r := bonsaiRun(t, append([]string{"demo"}, args...)...)
		if r.code != 2 || r.stdout != "" || !strings.Contains(r.stderr, strings.TrimPrefix(args[0], "-")) {
			t.Errorf("demo %v: %v\nwant exit 2, nothing trained (no output), a message naming the flag", args, r)
		}
		if r.took > 5*time.Second {
			t.Errorf("demo %v: rejected after %v: it did work first", args, r.took)
		}
	}
}

// TestExitCodes: one convention for every command: 2 for a mistake in the
// command line (an unknown flag or a bad value), 1 for a failure, 0 for
// success; no run directory is left behind by either.
func TestExitCodes(t *testing.T) {
	tmp := t.TempDir()
	out := filepath.Join(tmp, "run")
	missing := filepath.Join(tmp, "missing.safetensors")
	for _, tc := range []struct {
		code int
		args []string
		want string
	}{
		{0, []string{"help"}, "usage"},
		{2, []string{}, "usage"},
		{2, []string{"frobnicate"}, "unknown command"},
		{0, []string{"info", "-arch", "resnet8"}, ""},
		{2, []string{"info", "-arch", "resnet21"}, "-arch"},
		{2, []string{"info", "-bogus"}, "bogus"},
		{1, []string{"info", "-weights", missing}, missing},
		{2, []string{"eval", "-weights", missing, "-data", tmp, "-batch", "0"}, "-batch"},
		{2, []string{"eval", "-arch", "resnet21", "-weights", missing, "-data", tmp}, "-arch"},
		{2, []string{"eval", "-weights", missing}, "-data"},
		{1, []string{"eval", "-weights", missing, "-data", tmp}, missing},
		{2, []string{"bench", "-arch", "resnet8", "-batch", "0"}, "-batch"},
		{2, []string{"bench", "-arch", "resnet21"}, "-arch"},
		{2, []string{"train", "-data", tmp}, "-out"},
		{2, []string{"train", "-out", out}, "-data"},
		{2, []string{"train", "-data", tmp, "-out", out, "-epochs", "0"}, "-epochs must be positive"},
		{2, []string{"train", "-data", tmp, "-out", out, "-lr", "-1"}, "-lr must be positive"},
		{2, []string{"train", "-data", tmp, "-out", out, "-batch", "-3"}, "-batch"},
		{2, []string{"train", "-data", tmp, "-out", out, "-schedule", "bogus"}, "-schedule"},
		{2, []string{"train", "-data", tmp, "-out", out, "-optimizer", "adam"}, "-optimizer"},
		{2, []string{"train", "-data", tmp, "-out", out, "-std", "1,0,1"}, "-std"},
		{2, []string{"train", "-data", tmp, "-out", out, "-arch", "resnet21"}, "-arch"},
		{2, []string{"train", "-data", tmp, "-out", out, "-max-steps", "-1"}, "-max-steps"},
		{2, []string{"train", "-data", tmp, "-out", out, "-teacher", missing, "-distill-alpha", "2"}, "-distill-alpha"},
		{1, []string{"train", "-data", tmp, "-out", out, "-weights", missing}, missing},
		{1, []string{"train", "-resume", "-out", out}, "no run to resume"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "1.5"}, "-flops"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "0.5", "-finetune-epochs", "0", "-criterion", "best"}, "-criterion"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "0.5", "-finetune-epochs", "0", "-scope", "some"}, "-scope"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "0.5", "-finetune-epochs", "0", "-ranking", "best"}, "ranking"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", tmp, "-out", out, "-flops", "0.5", "-finetune-epochs", "2", "-schedule", "bogus"}, "-schedule"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", tmp, "-out", out, "-flops", "0.5", "-finetune-epochs", "2", "-lr", "0"}, "-lr"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "sometimes", "-data", "synthetic:32", "-out", out, "-flops", "0.5"}, "-init"},
		{2, []string{"prune", "-arch", "resnet21", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "0.5"}, "-arch"},
		{2, []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-out", out, "-flops", "0.5", "-mean", "1,2"}, "-mean"},
		{1, []string{"prune", "-resume", "-out", out}, "no prune run to resume"},
		{2, []string{"demo", "-flops", "0"}, "-flops"},
	} {
		r := bonsaiRun(t, tc.args...)
		if r.code != tc.code || !strings.Contains(r.stderr+r.stdout, tc.want) {
			t.Errorf("bonsai %s: %v\nwant exit %d and %q", strings.Join(tc.args, " "), r, tc.code, tc.want)
		}
		if _, err := os.Stat(out); err == nil {
			t.Fatalf("bonsai %s left %s behind", strings.Join(tc.args, " "), out)
		}
	}
}

// TestPruneFailedPlanThenSameCommand: a prune run whose plan fails leaves
// nothing that stops the same command (which fails the same way).
func TestPruneFailedPlanThenSameCommand(t *testing.T) {
	existing := t.TempDir()
	for _, out := range []string{filepath.Join(t.TempDir(), "run"), existing} {
		args := []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-calib", "32",
			"-flops", "0.999", "-finetune-epochs", "0", "-out", out}
		for try := 1; try <= 2; try++ {
			r := bonsaiRun(t, args...)
			if r.code != 1 || !strings.Contains(r.stderr, "plan: cannot bring the MACs") {
				t.Errorf("try %d: %v\nwant exit 1 and the plan's message", try, r)
			}
			if got := listDir(t, out); out == existing && len(got) != 0 || out != existing && got != nil {
				t.Errorf("try %d: the failed run left %v in %s", try, got, out)
			}
		}
		if r := bonsaiRun(t, "prune", "-resume", "-out", out, "-flops", "0.3"); r.code != 1 || !strings.Contains(r.stderr, "no prune run to resume") {
			t.Errorf("-resume after the failed run: %v", r)
		}
	}
}

// stopRun starts bonsai with args, waits for waitFor, freezes the process
// (SIGSTOP) so that it stops where it is, checks that it has not finished
// (unfinished does not exist), calls during (when not nil) with its PID,
// sends sig, lets it go on and returns how it ended.
func stopRun(t *testing.T, args []string, waitFor, unfinished string, sig syscall.Signal, during func(pid int)) result {
	t.Helper()
	cmd, stdout, stderr := bonsaiStart(t, args...)
	start := time.Now()
	waitFile(t, cmd, waitFor)
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	waitStopped(t, cmd.Process.Pid)
	if _, err := os.Stat(unfinished); err == nil {
		t.Fatalf("the run finished before it could be stopped (%s exists)", unfinished)
	}
	if during != nil {
		during(cmd.Process.Pid)
	}
	cmd.Process.Signal(sig)
	cmd.Process.Signal(syscall.SIGCONT)
	err := cmd.Wait()
	return result{code: exitCode(t, err), stdout: stdout.String(), stderr: stderr.String(), took: time.Since(start)}
}

// runPrinted runs the command that a stopped run printed after "continue
// with", through the shell, with the binary first in PATH.
func runPrinted(t *testing.T, stdout string) result {
	t.Helper()
	_, after, ok := strings.Cut(stdout, "continue with\n")
	line, _, _ := strings.Cut(strings.TrimSpace(after), "\n")
	if !ok || !strings.HasPrefix(line, "bonsai ") {
		t.Fatalf("no command to continue in %q", stdout)
	}
	cmd := exec.Command("/bin/sh", "-c", line)
	cmd.Env = append(os.Environ(), "PATH="+filepath.Dir(bonsaiBin(t))+string(os.PathListSeparator)+os.Getenv("PATH"))
	var out, errOut bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errOut
	err := cmd.Run()
	t.Logf("ran %s", line)
	return result{code: exitCode(t, err), stdout: out.String(), stderr: errOut.String()}
}

// TestPruneStopped: SIGINT and SIGTERM stop a prune run with status 130
// and 143 after its state is saved, and the command it prints continues
// the run to its end.
func TestPruneStopped(t *testing.T) {
	testenv.Short(t, "prunes and times the models twice")
	for _, sig := range []syscall.Signal{syscall.SIGINT, syscall.SIGTERM} {
		t.Run(sig.String(), func(t *testing.T) {
			out := filepath.Join(t.TempDir(), "my run")
			args := []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-calib", "64",
				"-flops", "0.5", "-steps", "5", "-finetune-epochs", "0", "-out", out}
			// While the run holds its directory, a second run there and a
			// -resume fail at once, naming it, and change nothing.
			during := func(pid int) {
				before := snapshot(t, out)
				for _, second := range [][]string{args, {"prune", "-resume", "-out", out}} {
					r := bonsaiRun(t, second...)
					if holder := fmt.Sprintf("in use by process %d", pid); r.code != 1 || !strings.Contains(r.stderr, holder) {
						t.Errorf("bonsai %s during the run: %v\nwant exit 1 and %q", strings.Join(second, " "), r, holder)
					}
				}
				if !sameSnapshot(before, snapshot(t, out)) {
					t.Error("the refused runs changed the run directory")
				}
			}
			r := stopRun(t, args, filepath.Join(out, "pruned-step-1.safetensors"), filepath.Join(out, "pruned.safetensors"), sig, during)
			want := fmt.Sprintf("continue with\n  bonsai prune -resume -out '%s' -data synthetic:32\n", out)
			if r.code != 128+int(sig) || !strings.Contains(r.stdout, want) {
				t.Fatalf("%v\nwant exit %d and %q", r, 128+int(sig), want)
			}
			if got := listDir(t, out); slices.Contains(got, "lock") || !slices.Contains(got, "state.json") {
				t.Errorf("the stopped run left %v", got)
			}
			if r := runPrinted(t, r.stdout); r.code != 0 {
				t.Fatalf("the printed command: %v", r)
			}
			var st pruneState
			b, _ := os.ReadFile(filepath.Join(out, "state.json"))
			if err := json.Unmarshal(b, &st); err != nil || st.Completed != 5 {
				t.Errorf("after the printed command: state %s (%v), want 5 steps completed", b, err)
			}
			if _, err := os.Stat(filepath.Join(out, "pruned.safetensors")); err != nil {
				t.Error(err)
			}
		})
	}
}

// TestPruneResumeConflicts: -resume with a flag whose value differs from
// the run's is refused, naming each difference, and changes nothing; flags
// that agree, and -resume -out alone, continue the run.
func TestPruneResumeConflicts(t *testing.T) {
	testenv.Short(t, "prunes and times the models twice")
	out := t.TempDir()
	r := bonsaiRun(t, "prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-calib", "32",
		"-flops", "0.4", "-finetune-epochs", "0", "-out", out)
	if r.code != 0 {
		t.Fatal(r)
	}
	before := snapshot(t, out)
	w := modelFile(t, "resnet8", nil)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-flops", "0.2", "-criterion", "l1"}, []string{"-flops 0.2 (the run has 0.4)", "-criterion l1 (the run has sensitivity)"}},
		{[]string{"-ratio", "0.3"}, []string{"-ratio 0.3 (the run has 0)"}},
		{[]string{"-steps", "2"}, []string{"-steps 2 (the run has 1)"}},
		{[]string{"-arch", "resnet14"}, []string{"-arch resnet14 (the run has resnet8)"}},
		{[]string{"-prune-residual"}, []string{"-prune-residual true (the run has false)"}},
		{[]string{"-ranking", "uniform", "-seed", "2"}, []string{"-ranking uniform (the run has global-flops)", "-seed 2 (the run has 1)"}},
		{[]string{"-data", "synthetic:64"}, []string{"-data synthetic:64 (the run has synthetic:32)"}},
		{[]string{"-data", t.TempDir()}, []string{"(the run has synthetic:32)"}},
		{[]string{"-weights", w, "-init", ""}, []string{"-weights " + w + " (the run has none)", "-init  (the run has random)"}},
		{[]string{"-mean", "0.5,0.5,0.5"}, []string{"-mean 0.5,0.5,0.5 (the run has 0.4914,0.4822,0.4465)"}},
	} {
		r := bonsaiRun(t, append([]string{"prune", "-resume", "-out", out}, tc.args...)...)
		if r.code != 2 {
			t.Errorf("-resume %v: %v\nwant exit 2", tc.args, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w+"\n") {
				t.Errorf("-resume %v: stderr %q does not list %q", tc.args, r.stderr, w)
			}
		}
		if !sameSnapshot(before, snapshot(t, out)) {
			t.Fatalf("-resume %v changed the run directory", tc.args)
		}
	}
	// Flags that agree with the run (spelt otherwise), with the others
	// taken from the run.
	r = bonsaiRun(t, "prune", "-resume", "-out", out, "-arch", "RESNET8", "-flops", "0.40", "-seed", "1", "-data", "synthetic:32", "-json")
	if r.code != 0 || !strings.Contains(r.stdout, `"macs_after"`) {
		t.Errorf("-resume with agreeing flags: %v", r)
	}
}

// trainArgs are the settings of a small training run on CIFAR-10.
func trainArgs(cifar, out string, more ...string) []string {
	return append([]string{"train", "-arch", "resnet8", "-data", cifar, "-out", out, "-epochs", "2", "-batch", "32",
		"-train-images", "640", "-test-images", "100", "-lr", "0.05", "-schedule", "cosine"}, more...)
}

// TestTrainDirLocked: while a training run uses its directory, a second
// run and a -resume in that directory fail at once, naming the holder's
// PID, and change nothing; SIGTERM then stops the run with status 143
// after a checkpoint, and the printed command continues it to its end.
func TestTrainDirLocked(t *testing.T) {
	testenv.Short(t, "trains on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	out := t.TempDir()
	args := trainArgs(cifar, out, "-checkpoint-every", "2")
	cmd, stdout, stderr := bonsaiStart(t, args...)
	waitFile(t, cmd, filepath.Join(out, "checkpoint.safetensors"))
	if err := cmd.Process.Signal(syscall.SIGSTOP); err != nil { // it keeps its lock
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(out, "final.safetensors")); err == nil {
		t.Fatal("the run finished before it could be stopped")
	}
	if b, _ := os.ReadFile(filepath.Join(out, "lock")); string(b) != strconv.Itoa(cmd.Process.Pid)+"\n" {
		t.Errorf("lock file holds %q, want the PID %d", b, cmd.Process.Pid)
	}
	before := snapshot(t, out)
	holder := fmt.Sprintf("in use by process %d", cmd.Process.Pid)
	for _, second := range [][]string{args, {"train", "-resume", "-out", out}, {"train", "-resume", "-out", out, "-data", cifar}} {
		r := bonsaiRun(t, second...)
		if r.code != 1 || !strings.Contains(r.stderr, holder) {
			t.Errorf("bonsai %s while a run holds %s: %v\nwant exit 1 and %q", strings.Join(second, " "), out, r, holder)
		}
		if r.took > 5*time.Second {
			t.Errorf("the second run failed after %v: it did work first", r.took)
		}
	}
	if !sameSnapshot(before, snapshot(t, out)) {
		t.Error("the refused runs changed the run directory")
	}
	cmd.Process.Signal(syscall.SIGTERM)
	cmd.Process.Signal(syscall.SIGCONT)
	r := result{code: exitCode(t, cmd.Wait()), stdout: stdout.String(), stderr: stderr.String()}
	want := "continue with\n  bonsai train -resume -out " + out + " -data " + cifar + "\n"
	if r.code != 143 || !strings.Contains(r.stdout, "terminated (SIGTERM) at step") || !strings.Contains(r.stdout, want) {
		t.Fatalf("after SIGTERM: %v\nwant exit 143 and %q", r, want)
	}
	if got := listDir(t, out); slices.Contains(got, "lock") || slices.Contains(got, "final.safetensors") {
		t.Errorf("the stopped run left %v", got)
	}
	if r := runPrinted(t, r.stdout); r.code != 0 || !strings.Contains(r.stdout, "done:") {
		t.Fatalf("the printed command: %v", r)
	}
	if len(metricsWithoutTime(t, out)) == 0 {
		t.Error("no metrics")
	}
}

// TestTrainInterrupted: SIGINT stops a training run with status 130 after
// a checkpoint; the printed command continues it to its end.
func TestTrainInterrupted(t *testing.T) {
	testenv.Short(t, "trains on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	out := filepath.Join(t.TempDir(), "run")
	r := stopRun(t, trainArgs(cifar, out, "-checkpoint-every", "2"), filepath.Join(out, "checkpoint.safetensors"),
		filepath.Join(out, "final.safetensors"), syscall.SIGINT, nil)
	if r.code != 130 || !strings.Contains(r.stdout, "interrupted (SIGINT) at step") {
		t.Fatalf("%v\nwant exit 130", r)
	}
	f, err := safetensors.ReadFile(filepath.Join(out, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if step := f.Metadata["step"]; !strings.Contains(r.stdout, "at step "+step+":") {
		t.Errorf("the checkpoint is of step %s, the message says %q", step, r.stdout)
	}
	if r := runPrinted(t, r.stdout); r.code != 0 || !strings.Contains(r.stdout, "done:") {
		t.Fatalf("the printed command: %v", r)
	}
}

// TestTrainResumeConflicts: train -resume refuses each kind of flag whose
// value differs from the run's (numbers, names, switches, files), listing
// each; the changeable ones (-max-steps, -data, -checkpoint-every) and
// flags that agree are taken; -resume -out alone continues to the end.
func TestTrainResumeConflicts(t *testing.T) {
	testenv.Short(t, "trains on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	out := t.TempDir()
	if r := bonsaiRun(t, trainArgs(cifar, out, "-max-steps", "2")...); r.code != 0 {
		t.Fatal(r)
	}
	before := snapshot(t, out)
	w := modelFile(t, "resnet8", nil)
	for _, tc := range []struct {
		args []string
		want []string
	}{
		{[]string{"-lr", "0.5", "-epochs", "3", "-batch", "64"}, []string{"-lr 0.5 (the run has 0.05)", "-epochs 3 (the run has 2)", "-batch 64 (the run has 32)"}},
		{[]string{"-arch", "resnet14"}, []string{"-arch resnet14 (the run has resnet8)"}},
		{[]string{"-schedule", "constant", "-optimizer", "adamw"}, []string{"-schedule constant (the run has cosine)", "-optimizer adamw (the run has sgd)"}},
		{[]string{"-no-augment", "-nesterov"}, []string{"-no-augment true (the run has false)", "-nesterov true (the run has false)"}},
		{[]string{"-label-smoothing", "0.1", "-wd", "0"}, []string{"-label-smoothing 0.1 (the run has 0)", "-wd 0 (the run has 0.0001)"}},
		{[]string{"-weights", w}, []string{"-weights " + w + " (the run has none)"}},
		{[]string{"-teacher", w}, []string{"-teacher " + w + " (the run has none)"}},
		{[]string{"-std", "0.25,0.25,0.25", "-seed", "9"}, []string{"-std 0.25,0.25,0.25 (the run has 0.247,0.2435,0.2616)", "-seed 9 (the run has 1)"}},
		{[]string{"-train-images", "64"}, []string{"-train-images 64 (the run has 640)"}},
	} {
		r := bonsaiRun(t, append([]string{"train", "-resume", "-out", out}, tc.args...)...)
		if r.code != 2 {
			t.Errorf("-resume %v: %v\nwant exit 2", tc.args, r)
		}
		for _, w := range tc.want {
			if !strings.Contains(r.stderr, w+"\n") {
				t.Errorf("-resume %v: stderr %q does not list %q", tc.args, r.stderr, w)
			}
		}
		if !sameSnapshot(before, snapshot(t, out)) {
			t.Fatalf("-resume %v changed the run directory", tc.args)
		}
	}
	// Agreeing and changeable flags.
	r := bonsaiRun(t, "train", "-resume", "-out", out, "-arch", "ResNet8", "-lr", "0.050", "-epochs", "2",
		"-data", cifar+string(filepath.Separator), "-max-steps", "4", "-checkpoint-every", "1")
	if r.code != 0 || !strings.Contains(r.stdout, "stopped after 4 steps") {
		t.Fatalf("-resume with agreeing and changeable flags: %v", r)
	}
	r = bonsaiRun(t, "train", "-resume", "-out", out)
	if r.code != 0 || !strings.Contains(r.stdout, "done:") {
		t.Fatalf("-resume -out alone: %v", r)
	}
	f, err := safetensors.ReadFile(filepath.Join(out, "final.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	if f.Metadata["epoch"] != "2" || f.Metadata["step"] != "40" {
		t.Errorf("final model after epoch %s, step %s; want 2 and 40", f.Metadata["epoch"], f.Metadata["step"])
	}
	// Nothing to resume.
	empty := filepath.Join(t.TempDir(), "empty")
	if r := bonsaiRun(t, "train", "-resume", "-out", empty, "-data", cifar); r.code != 1 || !strings.Contains(r.stderr, "no run to resume") {
		t.Errorf("-resume of a directory without a run: %v", r)
	}
	if _, err := os.Stat(empty); err == nil {
		t.Error("-resume of a missing directory created it")
	}
}

// TestTrainWeightsWithoutArch: train -weights takes the file's
// architecture when -arch is left out.
func TestTrainWeightsWithoutArch(t *testing.T) {
	testenv.Short(t, "trains on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	out := t.TempDir()
	w := modelFile(t, "resnet14", nil)
	r := bonsaiRun(t, "train", "-weights", w, "-data", cifar, "-out", out, "-epochs", "1", "-batch", "32",
		"-train-images", "64", "-test-images", "50", "-max-steps", "1")
	if r.code != 0 {
		t.Fatal(r)
	}
	f, err := safetensors.ReadFile(filepath.Join(out, "checkpoint.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	var cfg struct {
		Arch string `json:"arch"`
		Init string `json:"init"`
	}
	json.Unmarshal([]byte(f.Metadata["train_config"]), &cfg)
	if f.Metadata["arch"] != "resnet14" || cfg.Arch != "resnet14" || cfg.Init != w {
		t.Errorf("checkpoint of arch %q, config %+v; want resnet14 from %s", f.Metadata["arch"], cfg, w)
	}
	if r := bonsaiRun(t, "train", "-weights", w, "-arch", "resnet20", "-data", cifar, "-out", t.TempDir()); r.code != 1 ||
		!strings.Contains(r.stderr, `the file is a "resnet14" model, but "resnet20" was asked for`) {
		t.Errorf("-weights with a different -arch: %v", r)
	}
}

// TestTrainDivergedLeavesNothing: a run whose loss becomes non-finite
// before its first checkpoint says so without naming a checkpoint, and
// leaves nothing that stops the same command.
func TestTrainDivergedLeavesNothing(t *testing.T) {
	testenv.Short(t, "trains on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	out := filepath.Join(t.TempDir(), "run")
	for try := 1; try <= 2; try++ {
		r := bonsaiRun(t, "train", "-arch", "resnet8", "-data", cifar, "-out", out, "-epochs", "1", "-batch", "32",
			"-train-images", "320", "-test-images", "50", "-lr", "1e30")
		if r.code != 1 || !strings.Contains(r.stderr, "the loss is not finite") || !strings.Contains(r.stderr, "no checkpoint was written") {
			t.Errorf("try %d: %v\nwant exit 1, a non-finite loss and no checkpoint named", try, r)
		}
		if _, err := os.Stat(out); err == nil {
			t.Errorf("try %d: the diverged run left %v", try, listDir(t, out))
		}
	}
}

// waitStopped waits (up to 10 s) until every thread of process pid is stopped: SIGSTOP is
// delivered asynchronously, and a thread still running could write into the run directory
// after the caller has looked at it.
func waitStopped(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		tasks, err := os.ReadDir(fmt.Sprintf("/proc/%d/task", pid))
		if err != nil {
			return // no /proc: nothing to wait for
		}
		stopped := true
		for _, task := range tasks {
			b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%s/stat", pid, task.Name()))
			if err != nil {
				continue // the thread ended
			}
			if i := strings.LastIndexByte(string(b), ')'); i < 0 || i+2 >= len(b) || b[i+2] != 'T' && b[i+2] != 't' {
				stopped = false
				break
			}
		}
		if stopped {
			return
		}
		time.Sleep(time.Millisecond)
	}
	t.Fatalf("process %d did not stop within 10 s of SIGSTOP", pid)
}
