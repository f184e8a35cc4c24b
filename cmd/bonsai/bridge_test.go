package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"image"
	"image/png"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// bridge is the PyTorch bridge, python/bonsai_torch.py.
var bridge, _ = filepath.Abs("../../python/bonsai_torch.py")

// torchPython returns a Python interpreter that imports torch and torchvision:
// $BONSAI_PYTHON, /usr/bin/python3 (Debian's python3-torch) or python3 on the PATH.
// Without one the test is skipped, or fails when CI=true.
func torchPython(t *testing.T) string {
	t.Helper()
	cands := []string{os.Getenv("BONSAI_PYTHON"), "/usr/bin/python3", "python3"}
	for _, c := range cands {
		if c == "" {
			continue
		}
		if err := exec.Command(c, "-c", "import torch, torchvision").Run(); err == nil {
			return c
		}
	}
	if testenv.InCI() {
		t.Fatal("no python3 with torch and torchvision (install python3-torch python3-torchvision, or set BONSAI_PYTHON): required when CI=true")
	}
	t.Skip("no python3 with torch and torchvision (set BONSAI_PYTHON); skipping")
	return ""
}

// torchrun returns the command that starts torchrun: the torchrun program
// beside python, on the PATH, or python -m torch.distributed.run.
func torchrun(python string) []string {
	if p := filepath.Join(filepath.Dir(python), "torchrun"); python != "python3" {
		if _, err := os.Stat(p); err == nil {
			return []string{p}
		}
	}
	if p, err := exec.LookPath("torchrun"); err == nil {
		return []string{p}
	}
	return []string{python, "-m", "torch.distributed.run"}
}

// runPy runs a Python command with one thread per process and returns its output.
func runPy(t *testing.T, env []string, name string, args ...string) string {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.Env = append(append(os.Environ(), "OMP_NUM_THREADS=1", "PYTHONDONTWRITEBYTECODE=1"), env...)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s %s: %v\n%s", name, strings.Join(args, " "), err, out)
	}
	return string(out)
}

// prunedResNet56 prunes the pretrained ResNet-56 to half its MACs on CIFAR-10
// (64 calibration images, 200 test images), without fine-tuning, and returns the
// pruned file. The criterion is l1: the bridge needs odd widths, not the default
// criterion's ten backward passes per calibration image.
func prunedResNet56(t *testing.T, cifar string) string {
	t.Helper()
	dir := t.TempDir()
	code, _, errOut := bonsai("prune", "-weights", filepath.Join(testenv.Models(t), "resnet56-cifar10.safetensors"),
		"-data", cifar, "-criterion", "l1", "-flops", "0.5", "-calib", "64", "-test-images", "200", "-finetune-epochs", "0", "-out", dir)
	if code != 0 {
		t.Fatalf("prune: exit %d: %s", code, errOut)
	}
	return filepath.Join(dir, "pruned.safetensors")
}

// The bridge builds a pruned ResNet-56 whose logits are Bonsai's; two processes
// fine-tune it for one step with DistributedDataParallel over loopback; the file
// the bridge writes back loads in bonsai eval.
func TestTorchBridge(t *testing.T) {
	testenv.Short(t, "prunes a ResNet-56 and starts PyTorch three times")
	python := torchPython(t)
	cifar := testenv.CIFAR10(t)
	pruned := prunedResNet56(t, cifar)
	dir := t.TempDir()

	// Bonsai's logits on random normalised inputs, for the pruned file and for the
	// original (which has no widths record: option-A shortcuts as published).
	original := filepath.Join(testenv.Models(t), "resnet56-cifar10.safetensors")
	m, meta, err := zoo.Load(pruned, "")
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := meta.Extra[zoo.MetaWidths]; !ok {
		t.Fatal("the pruned file has no widths record")
	}
	const n = 4
	rng := rand.New(rand.NewPCG(1, 2))
	x := tensor.New(n, 3, 32, 32)
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	in := safetensors.New()
	in.Tensors["input"] = safetensors.FromFloat32(x.Shape, x.Data)
	inPath := filepath.Join(dir, "input.safetensors")
	if err := in.WriteFile(inPath); err != nil {
		t.Fatal(err)
	}
	files := []struct{ name, path string }{{"pruned", pruned}, {"original", original}}
	var pyArgs []string
	for _, f := range files {
		pyArgs = append(pyArgs, f.path, inPath, filepath.Join(dir, f.name+".logits.safetensors"))
	}
	runPy(t, nil, python, append([]string{bridge, "logits"}, pyArgs...)...)
	for _, file := range files {
		bm := m
		if file.name != "pruned" {
			if bm, _, err = zoo.Load(file.path, ""); err != nil {
				t.Fatal(err)
			}
		}
		y := bm.Forward(nn.NewCtx(), autograd.NewVar(x)).Value
		f, err := safetensors.ReadFile(filepath.Join(dir, file.name+".logits.safetensors"))
		if err != nil {
			t.Fatal(err)
		}
		got, err := f.Tensors["logits"].Float32s()
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(y.Data) {
			t.Fatalf("%s: PyTorch gave %d logits, Bonsai %d", file.name, len(got), len(y.Data))
		}
		var maxY, maxD float64
		for i, v := range y.Data {
			maxY = math.Max(maxY, math.Abs(float64(v)))
			maxD = math.Max(maxD, math.Abs(float64(v-got[i])))
		}
		t.Logf("logits of the %s ResNet-56: max |Bonsai − PyTorch| = %.3g, max |y| = %.3g", file.name, maxD, maxY)
		if !(maxD <= 1e-4*maxY) {
			t.Errorf("%s: max |Bonsai − PyTorch| = %.3g > 1e-4·max|y| = %.3g", file.name, maxD, 1e-4*maxY)
		}
	}

	// One step of two-process DDP on the CPU, over loopback only.
	tuned := filepath.Join(dir, "tuned.safetensors")
	// --redirects 1 --tee 1 (stdout to a log file and the console): with the
	// defaults, "0", Debian's torchrun 1.13 fails under Python 3.11, whose
	// enum.IntFlag no longer iterates over the zero flag Std.NONE.
	args := append(torchrun(python)[1:], "--standalone", "--nproc_per_node=2", "--redirects", "1", "--tee", "1", bridge, "finetune",
		"--weights", pruned, "--data", cifar, "--max-steps", "1", "--batch", "8", "--workers", "0", "--no-eval", "--out", tuned)
	out := runPy(t, []string{"GLOO_SOCKET_IFNAME=lo"}, torchrun(python)[0], args...)
	t.Logf("torchrun:\n%s", out)
	if !strings.Contains(out, "(1 steps on 2 processes)") {
		t.Errorf("torchrun did not report one step on two processes")
	}

	// The fine-tuned file: same widths and metadata, other weights, and bonsai eval reads it.
	tm, tmeta, err := zoo.Load(tuned, "")
	if err != nil {
		t.Fatalf("the bridge's file does not load: %v", err)
	}
	if zoo.Widths(tm) != zoo.Widths(m) {
		t.Errorf("widths changed in the round trip")
	}
	if tmeta.Arch != "resnet56" || !equalFloats(tmeta.Mean, meta.Mean) || !equalFloats(tmeta.Std, meta.Std) || strings.Join(tmeta.Classes, ",") != strings.Join(meta.Classes, ",") {
		t.Errorf("metadata %+v, want %+v", tmeta, meta)
	}
	if sameState(t, tm, m) {
		t.Errorf("one step of fine-tuning left every weight as it was")
	}
	code, evalOut, errOut := bonsai("eval", "-weights", tuned, "-data", cifar, "-test-range", "0:200", "-json")
	if code != 0 {
		t.Fatalf("eval of the bridge's file: exit %d: %s", code, errOut)
	}
	var rep evalReport
	if err := json.Unmarshal([]byte(evalOut), &rep); err != nil || rep.Total != 200 {
		t.Fatalf("eval: %q (%v)", evalOut, err)
	}
	t.Logf("eval of the fine-tuned file: %s", evalOut)
}

func equalFloats(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

// sameState reports whether a and b hold equal float parameters.
func sameState(t *testing.T, a, b nn.Module) bool {
	t.Helper()
	pa, pb := nn.Parameters(a), nn.Parameters(b)
	if len(pa) != len(pb) {
		return false
	}
	for i := range pa {
		if !equalFloats(pa[i].Var.Value.Data, pb[i].Var.Value.Data) {
			return false
		}
	}
	return true
}

// writeRandomImageFolder writes n random w×h PNG images per class into
// root/SPLIT/CLASS/ for each split and returns root.
func writeRandomImageFolder(t *testing.T, classes []string, n, w, h int, splits ...string) string {
	t.Helper()
	root := t.TempDir()
	rng := rand.New(rand.NewPCG(3, 4))
	for _, split := range splits {
		for _, c := range classes {
			dir := filepath.Join(root, split, c)
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			for i := range n {
				img := image.NewNRGBA(image.Rect(0, 0, w, h))
				for j := range img.Pix {
					img.Pix[j] = uint8(rng.IntN(256))
				}
				var buf bytes.Buffer
				if err := png.Encode(&buf, img); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("%03d.png", i)), buf.Bytes(), 0o644); err != nil {
					t.Fatal(err)
				}
			}
		}
	}
	return root
}

// The README's ImageNet round trip at a small scale: torchvision's ResNet-18 into
// a Bonsai file, pruned by Bonsai, one DDP step in PyTorch on an image folder,
// and back: the file loads in Bonsai with the pruned MACs.
func TestTorchBridgeImageNetRoundTrip(t *testing.T) {
	testenv.Short(t, "prunes a ResNet-18 and runs PyTorch")
	python := torchPython(t)
	dir := t.TempDir()
	r18 := filepath.Join(dir, "resnet18.safetensors")
	out := runPy(t, nil, python, bridge, "from-torchvision", "resnet18", "--out", r18)
	t.Logf("%s", out)
	pruneDir := filepath.Join(dir, "r18-pruned")
	// At 64×64 rather than the README's 224×224, to save time: l1 needs no statistics.
	code, _, errOut := bonsai("prune", "-weights", r18, "-data", "synthetic:64", "-criterion", "l1", "-flops", "0.5",
		"-finetune-epochs", "0", "-out", pruneDir)
	if code != 0 {
		t.Fatalf("prune: exit %d: %s", code, errOut)
	}
	pruned := filepath.Join(pruneDir, "pruned.safetensors")
	images := writeRandomImageFolder(t, []string{"a", "b", "c"}, 2, 80, 64, "train", "val")
	tuned := filepath.Join(dir, "r18-tuned.safetensors")
	args := append(torchrun(python)[1:], "--standalone", "--nproc_per_node=2", "--redirects", "1", "--tee", "1", bridge, "finetune",
		"--weights", pruned, "--data", "imagefolder:"+images, "--size", "64", "--epochs", "1", "--batch", "2", "--workers", "0", "--out", tuned)
	out = runPy(t, []string{"GLOO_SOCKET_IFNAME=lo"}, torchrun(python)[0], args...)
	t.Logf("torchrun:\n%s", out)
	if !strings.Contains(out, "(1 steps on 2 processes)") || !strings.Contains(out, "validation: ") {
		t.Errorf("torchrun did not report one step on two processes and a validation")
	}
	macs := func(path string) string {
		t.Helper()
		code, out, errOut := bonsai("info", "-weights", path)
		if code != 0 {
			t.Fatalf("info %s: exit %d: %s", path, code, errOut)
		}
		for _, l := range strings.Split(out, "\n") {
			if strings.HasPrefix(l, "MACs") {
				return l
			}
		}
		t.Fatalf("info %s printed no MACs line:\n%s", path, out)
		return ""
	}
	if a, b := macs(pruned), macs(tuned); a != b {
		t.Errorf("MACs of the pruned file %q, of the fine-tuned one %q", a, b)
	}
	if a, b := macs(r18), macs(tuned); a == b {
		t.Errorf("the fine-tuned file has the unpruned MACs %q", a)
	}
}
