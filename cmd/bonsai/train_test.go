package main

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// TestTrainKilledAndResumed kills a real training process mid-epoch after a
// -checkpoint-every checkpoint, resumes it, and checks that it ends
// bit-identical to an uninterrupted run.
func TestTrainKilledAndResumed(t *testing.T) {
	testenv.Short(t, "trains twice")
	cifar := testenv.CIFAR10(t)
	bin := filepath.Join(t.TempDir(), "bonsai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	args := func(out string) []string {
		return []string{"train", "-arch", "resnet8", "-data", cifar, "-out", out, "-epochs", "2", "-batch", "32",
			"-train-images", "1600", "-test-images", "200", "-lr", "0.05", "-schedule", "cosine", "-checkpoint-every", "4", "-seed", "7"}
	}
	whole, parts := t.TempDir(), t.TempDir()
	if out, err := exec.Command(bin, args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}

	cmd := exec.Command(bin, args(parts)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(parts, "checkpoint.safetensors")
	deadline := time.Now().Add(2 * time.Minute)
	killedAt := -1
	for time.Now().Before(deadline) {
		if f, err := safetensors.ReadFile(ckpt); err == nil {
			if step, _ := strconv.Atoi(f.Metadata["step"]); step >= 4 && f.Metadata["epoch"] == "0" {
				cmd.Process.Kill()
				killedAt = step
				break
			}
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Wait()
	if killedAt < 0 {
		t.Fatal("no mid-epoch checkpoint appeared before the deadline")
	}
	if _, err := os.Stat(filepath.Join(parts, "final.safetensors")); err == nil {
		t.Fatal("the run finished before it was killed")
	}
	t.Logf("killed after the checkpoint of step %d", killedAt)
	if out, err := exec.Command(bin, append(args(parts), "-resume")...).CombinedOutput(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(whole, "final.safetensors"))
	b, _ := os.ReadFile(filepath.Join(parts, "final.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("final.safetensors differs between the uninterrupted and the killed-and-resumed run")
	}
	if ma, mb := metricsWithoutTime(t, whole), metricsWithoutTime(t, parts); ma != mb {
		t.Errorf("metrics differ:\n%s\n%s", ma, mb)
	}
}

// metricsWithoutTime returns metrics.jsonl with the timing fields removed.
func metricsWithoutTime(t *testing.T, dir string) string {
	b, err := os.ReadFile(filepath.Join(dir, "metrics.jsonl"))
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, line := range bytes.Split(bytes.TrimSpace(b), []byte("\n")) {
		var m map[string]any
		if err := json.Unmarshal(line, &m); err != nil {
			t.Fatalf("metrics line %q: %v", line, err)
		}
		delete(m, "seconds")
		s, _ := json.Marshal(m)
		out = append(out, string(s))
	}
	if len(out) != 2 {
		t.Errorf("%d epochs in metrics, want 2", len(out))
	}
	return string(bytes.Join(func() [][]byte {
		var bs [][]byte
		for _, s := range out {
			bs = append(bs, []byte(s))
		}
		return bs
	}(), []byte("\n")))
}
