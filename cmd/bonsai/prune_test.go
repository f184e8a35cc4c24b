package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// TestPruneKilledAndResumed kills a real prune run during the fine-tuning
// of its first step, resumes it, and checks that the pruned model equals
// the one of an uninterrupted run bit for bit.
func TestPruneKilledAndResumed(t *testing.T) {
	testenv.Short(t, "prunes and fine-tunes twice")
	cifar := testenv.CIFAR10(t)
	bin := filepath.Join(t.TempDir(), "bonsai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	args := func(out string) []string {
		return []string{"prune", "-arch", "resnet8", "-init", "random", "-data", cifar, "-train-images", "1024", "-test-images", "500",
			"-flops", "0.4", "-steps", "2", "-calib", "256", "-finetune-epochs", "4", "-batch", "64", "-lr", "0.05", "-out", out}
	}
	whole, parts := t.TempDir(), t.TempDir()
	if out, err := exec.Command(bin, args(whole)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	cmd := exec.Command(bin, args(parts)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(parts, "finetune-1", "checkpoint.safetensors")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(ckpt); err != nil {
		t.Fatal("no fine-tuning checkpoint appeared before the deadline")
	}
	if _, err := os.Stat(filepath.Join(parts, "pruned.safetensors")); err == nil {
		t.Fatal("the run finished before it was killed")
	}
	if out, err := exec.Command(bin, "prune", "-resume", "-out", parts).CombinedOutput(); err != nil {
		t.Fatalf("resumed run: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(whole, "pruned.safetensors"))
	b, _ := os.ReadFile(filepath.Join(parts, "pruned.safetensors"))
	if len(a) == 0 || !bytes.Equal(a, b) {
		t.Error("pruned.safetensors differs between the uninterrupted and the killed-and-resumed run")
	}
}
