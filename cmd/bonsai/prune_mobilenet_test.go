package main

import (
	"encoding/json"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// TestPruneMobileNetV2 is issue 14's acceptance 3 from the command line:
// both MobileNetV2 variants, randomly initialised, pruned by half their
// MACs on synthetic images; the pruned files load in info and bench with
// no -arch, and the CIFAR one in eval (with BONSAI_CIFAR10).
func TestPruneMobileNetV2(t *testing.T) {
	testenv.Short(t, "calibrates MobileNetV2 at 32×32 and 224×224")
	for _, tc := range []struct {
		arch, data, calib string
		size, classes     int
	}{
		{"mobilenet_v2_cifar", "synthetic:32", "64", 32, 10},
		{"mobilenet_v2", "synthetic:224", "16", 224, 1000},
	} {
		t.Run(tc.arch, func(t *testing.T) {
			dir := t.TempDir()
			code, out, errOut := bonsai("prune", "-arch", tc.arch, "-init", "random", "-data", tc.data, "-calib", tc.calib,
				"-flops", "0.5", "-finetune-epochs", "0", "-out", dir, "-json")
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, out, errOut)
			}
			file := filepath.Join(dir, "pruned.safetensors")
			m, _, err := zoo.Load(file, "")
			if err != nil {
				t.Fatal(err)
			}
			s := nn.Summarize(m, 3, tc.size, tc.size)
			orig, _ := zoo.New(tc.arch)
			if ratio := float64(s.MACs) / float64(nn.Summarize(orig, 3, tc.size, tc.size).MACs); ratio > 0.5 || ratio < 0.4 {
				t.Errorf("pruned model keeps %.2f %% of the MACs, want 40–50 %%", 100*ratio)
			}
			if last := s.Layers[len(s.Layers)-1].OutShape; len(last) != 2 || last[1] != tc.classes {
				t.Errorf("output shape %v, want [N %d]", last, tc.classes)
			}
			// The expansions shrank: some depthwise layer has fewer channels than its unpruned twin.
			if !strings.Contains(nn.Format(m), "groups=") || nn.Format(m) == nn.Format(orig) {
				t.Errorf("the pruned model prints as the original:\n%s", nn.Format(m))
			}
			code, info, _ := bonsai("info", "-weights", file)
			if code != 0 || !strings.Contains(info, group(s.MACs)) {
				t.Errorf("bonsai info of the pruned file (exit %d) does not show %s MACs:\n%s", code, group(s.MACs), info)
			}
			code, bench, errOut := bonsai("bench", "-weights", file, "-batch", "4", "-reps", "3", "-json")
			var rep struct {
				MACs int64 `json:"macs"`
			}
			if code != 0 || json.Unmarshal([]byte(bench), &rep) != nil {
				t.Errorf("bonsai bench of the pruned file: exit %d: %s\n%s", code, bench, errOut)
			} else if rep.MACs != s.MACs {
				t.Errorf("bonsai bench reports %d MACs, want %d", rep.MACs, s.MACs)
			}
			if tc.classes != 10 {
				return
			}
			t.Run("eval", func(t *testing.T) {
				cifar := testenv.CIFAR10(t)
				code, out, errOut := bonsai("eval", "-weights", file, "-data", cifar, "-test-range", "0:256", "-json")
				var rep evalReport
				if code != 0 || json.Unmarshal([]byte(out), &rep) != nil {
					t.Fatalf("bonsai eval: exit %d: %s\n%s", code, out, errOut)
				}
				if rep.Total != 256 || rep.Arch != "mobilenet_v2_cifar" {
					t.Errorf("eval: %+v", rep)
				}
			})
		})
	}
}
