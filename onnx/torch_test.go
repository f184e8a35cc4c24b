package onnx

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// python is the interpreter with PyTorch 1.13 (Debian's python3-torch and
// python3-torchvision) that exports the reference models.
const python = "/usr/bin/python3"

var (
	torchOnce sync.Once
	torchErr  error
	exportMu  sync.Mutex
	exportDir string
	exported  = map[string]string{}
)

// needTorch skips the test when PyTorch is missing, or fails it when CI is true.
func needTorch(t *testing.T) {
	t.Helper()
	torchOnce.Do(func() {
		out, err := exec.Command(python, "-c", "import torch, torchvision").CombinedOutput()
		if err != nil {
			torchErr = &exec.Error{Name: python + " with torch and torchvision", Err: err}
			_ = out
		}
	})
	if torchErr != nil {
		if testenv.InCI() {
			t.Fatalf("CI=true: %v (apt-get install python3-torch python3-torchvision)", torchErr)
		}
		t.Skipf("%v: skipping", torchErr)
	}
}

// torchExport exports the models of specs (testdata/export_torch.py's MODEL:OPSET:BN)
// once per test binary and returns their ONNX paths, in order.
func torchExport(t *testing.T, specs ...string) []string {
	t.Helper()
	needTorch(t)
	exportMu.Lock()
	defer exportMu.Unlock()
	if exportDir == "" {
		d, err := os.MkdirTemp("", "bonsai-onnx-test-")
		if err != nil {
			t.Fatal(err)
		}
		exportDir = d
	}
	var todo []string
	for _, s := range specs {
		if _, ok := exported[s]; !ok {
			todo = append(todo, s)
		}
	}
	if len(todo) > 0 {
		var stderr bytes.Buffer
		cmd := exec.Command(python, append([]string{"testdata/export_torch.py", exportDir}, todo...)...)
		cmd.Stderr = &stderr
		out, err := cmd.Output()
		if err != nil {
			t.Fatalf("export_torch.py %v: %v\n%s", todo, err, stderr.String())
		}
		paths := strings.Fields(string(out))
		if len(paths) != len(todo) {
			t.Fatalf("export_torch.py %v printed %q", todo, out)
		}
		for j, s := range todo {
			exported[s] = paths[j]
		}
	}
	var out []string
	for _, s := range specs {
		out = append(out, exported[s])
	}
	return out
}

func TestMain(m *testing.M) {
	code := m.Run()
	if exportDir != "" {
		os.RemoveAll(exportDir)
	}
	os.Exit(code)
}

// forms are the four exports of a model: opsets 13 and 17, BatchNorm kept and folded.
func forms(model string) []string {
	return []string{model + ":13:kept", model + ":13:folded", model + ":17:kept", model + ":17:folded"}
}

// TestImportTorchCIFAR imports a CIFAR ResNet-8 (random weights, option-A shortcuts)
// exported by PyTorch 1.13 in the four forms and compares the logits.
func TestImportTorchCIFAR(t *testing.T) {
	testenv.Short(t, "runs PyTorch")
	for _, p := range torchExport(t, forms("cifar-resnet8")...) {
		checkAgainstRef(t, p, 1e-4)
	}
}

// TestImportTorchOpsets covers the opsets the other tests leave out (11, 12 and 14–16):
// a CIFAR ResNet-8 in both BatchNorm forms at each, and MobileNetV2 at opset 11 (the
// oldest: Clip's bounds and Squeeze/Unsqueeze's axes change form between 11 and 13).
func TestImportTorchOpsets(t *testing.T) {
	testenv.Short(t, "runs PyTorch")
	var specs []string
	for _, o := range []string{"11", "12", "14", "15", "16"} {
		specs = append(specs, "cifar-resnet8:"+o+":kept", "cifar-resnet8:"+o+":folded")
	}
	specs = append(specs, "mobilenet_v2:11:kept")
	for _, p := range torchExport(t, specs...) {
		t.Run(filepath.Base(p), func(t *testing.T) { checkAgainstRef(t, p, 1e-4) })
	}
}

// TestImportTorchvision imports torchvision's ResNet-18, ResNet-50 and MobileNetV2 (random
// weights, BatchNorm statistics drawn too) exported by PyTorch 1.13 at opsets 13 and 17 in
// both BatchNorm forms, and compares the logits within 1e-4·max|y|.
func TestImportTorchvision(t *testing.T) {
	testenv.Short(t, "exports and runs three ImageNet models in twelve forms")
	var specs []string
	for _, m := range []string{"resnet18", "mobilenet_v2", "resnet50"} {
		specs = append(specs, forms(m)...)
	}
	for _, p := range torchExport(t, specs...) {
		t.Run(filepath.Base(p), func(t *testing.T) { checkAgainstRef(t, p, 1e-4) })
	}
}
