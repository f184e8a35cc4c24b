package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// TestONNXCommands runs the commands of the README's "Bring your own model (ONNX)" on a
// ResNet-20 exported by bonsai export: info, eval (which needs -mean and -std for a file
// without them), prune (which writes pruned.onnx, whose MACs bonsai info agrees with) and
// export of the pruned file.
func TestONNXCommands(t *testing.T) {
	dir := t.TempDir()
	src := writeModel(t, map[string]string{zoo.MetaArch: "resnet20"}, nil)
	model := filepath.Join(dir, "model.onnx")
	if code, out, errOut := bonsai("export", "-weights", src, "-o", model); code != 0 || !strings.Contains(out, "opset 13") {
		t.Fatalf("export: exit %d: %s%s", code, out, errOut)
	}
	code, info, errOut := bonsai("info", "-weights", model, "-json")
	if code != 0 {
		t.Fatalf("info: exit %d: %s", code, errOut)
	}
	var rep struct {
		MACs int64 `json:"macs"`
	}
	if err := json.Unmarshal([]byte(info), &rep); err != nil {
		t.Fatal(err)
	}
	orig, _ := zoo.New("resnet20")
	if want := nn.Summarize(orig, 3, 32, 32).MACs; rep.MACs != want {
		t.Errorf("info of model.onnx: %d MACs, want ResNet-20's %d", rep.MACs, want)
	}
	cifar := writeCIFAR(t, make([]byte, 20*3073))
	if code, _, errOut := bonsai("eval", "-weights", model, "-data", cifar); code != 1 || !strings.Contains(errOut, "-mean") {
		t.Errorf("eval without -mean/-std of a file with no mean: exit %d, %q: want 1 and a word on -mean", code, errOut)
	}
	if os.Getenv("BONSAI_CIFAR10") != "" || testenv.InCI() {
		cifar := testenv.CIFAR10(t)
		if code, out, errOut := bonsai("eval", "-weights", model, "-data", cifar, "-test-range", "0:200",
			"-mean", "0.485,0.456,0.406", "-std", "0.229,0.224,0.225"); code != 0 || !strings.Contains(out, "/200 correct") {
			t.Errorf("eval: exit %d: %s%s", code, out, errOut)
		}
	}
	if testing.Short() {
		return
	}
	run := filepath.Join(dir, "run")
	code, out, errOut := bonsai("prune", "-weights", model, "-data", "synthetic:32", "-flops", "0.5", "-calib", "32",
		"-finetune-epochs", "0", "-out", run, "-json")
	if code != 0 {
		t.Fatalf("prune: exit %d: %s%s", code, out, errOut)
	}
	var sum struct {
		MACsAfter int64 `json:"macs_after"`
	}
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil || sum.MACsAfter == 0 {
		t.Fatalf("prune -json: %v: %s", err, out)
	}
	code, info, errOut = bonsai("info", "-weights", filepath.Join(run, "pruned.onnx"), "-json")
	if code != 0 {
		t.Fatalf("info of pruned.onnx: exit %d: %s", code, errOut)
	}
	if err := json.Unmarshal([]byte(info), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.MACs != sum.MACsAfter {
		t.Errorf("info of pruned.onnx: %d MACs, the prune report %d", rep.MACs, sum.MACsAfter)
	}
	if code, out, errOut := bonsai("export", "-weights", filepath.Join(run, "pruned.safetensors"), "-o", filepath.Join(dir, "pruned.onnx")); code != 0 {
		t.Errorf("export of pruned.safetensors: exit %d: %s%s", code, out, errOut)
	}
}
