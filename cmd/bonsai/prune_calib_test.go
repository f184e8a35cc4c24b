package main

import (
	"bytes"
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/internal/testenv"
)

// Each -fisher kind prunes (synthetic calibration images, no fine-tuning),
// and the report and the stored options say which one was used.
func TestPruneFisherKinds(t *testing.T) {
	for _, tc := range []struct {
		args []string
		note string
	}{
		{[]string{"-fisher", "empirical"}, "empirical Fisher"},
		{[]string{"-fisher", "sampled", "-fisher-samples", "2"}, "sampled Fisher (2 label(s) per image)"},
		{[]string{"-fisher", "exact", "-fisher-classes", "3"}, "exact Fisher (≤ 3 classes per image)"},
		{[]string{"-fisher", "exact", "-fisher-classes", "3", "-scope", "channel"}, "exact Fisher (≤ 3 classes per image)"},
	} {
		t.Run(tc.args[1], func(t *testing.T) {
			dir := t.TempDir()
			args := append([]string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:16", "-calib", "24", "-calib-batch", "8",
				"-flops", "0.3", "-finetune-epochs", "0", "-bench-batch", "2", "-out", dir}, tc.args...)
			code, out, errOut := bonsai(args...)
			if code != 0 {
				t.Fatalf("exit %d: %s\n%s", code, out, errOut)
			}
			if !strings.Contains(out, "calibrating on 24 images, "+tc.note) {
				t.Errorf("log does not say %q:\n%s", tc.note, out)
			}
			report, _ := os.ReadFile(filepath.Join(dir, "report.md"))
			if !strings.Contains(string(report), "24 calibration images, "+tc.note) {
				t.Errorf("report.md does not say %q", tc.note)
			}
			var st pruneState
			b, _ := os.ReadFile(filepath.Join(dir, "state.json"))
			if err := json.Unmarshal(b, &st); err != nil || st.Config.Fisher != tc.args[1] {
				t.Errorf("state.json: Fisher %q (%v), want %q", st.Config.Fisher, err, tc.args[1])
			}
		})
	}
}

func TestCalibFlagErrors(t *testing.T) {
	record := make([]byte, data.RecordBytes)
	cifar := writeCIFAR(t, bytes.Repeat(record, data.RecordsPerFile))
	model := writeModel(t, map[string]string{"arch": "resnet20", "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25"}, nil)
	synth := []string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:16", "-flops", "0.3", "-finetune-epochs", "0", "-out", t.TempDir()}
	for _, tc := range []struct {
		name string
		args []string
		want string
	}{
		{"unknown kind", append(synth, "-fisher", "true"), `unknown Fisher kind "true"`},
		{"no samples", append(synth, "-fisher", "sampled", "-fisher-samples", "-1"), "-1 Fisher samples"},
		{"fisher with l1", append(synth, "-criterion", "l1", "-fisher", "exact"), "-fisher exact is for -criterion sensitivity"},
		{"channel scope with taylor", append(synth, "-criterion", "taylor", "-scope", "channel"), "-scope channel is for -criterion sensitivity"},
		{"channel scope, residual", append(synth, "-scope", "channel", "-prune-residual"), "without -prune-residual"},
		{"range and images", append(synth, "-test-range", "0:10", "-test-images", "5"), "-test-range or -test-images"},
		{"reversed range", []string{"eval", "-weights", model, "-data", cifar, "-test-range", "500:100"}, "0 ≤ FIRST < END ≤ 10000"},
		{"range too long", []string{"eval", "-weights", model, "-data", cifar, "-test-range", "0:10001"}, "0 ≤ FIRST < END ≤ 10000"},
		{"not a range", []string{"eval", "-weights", model, "-data", cifar, "-test-range", "5000"}, "want FIRST:END"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			code, _, errOut := bonsai(tc.args...)
			if code != 2 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, stderr %q; want 2 and %q", code, errOut, tc.want)
			}
		})
	}
	code, out, errOut := bonsai("eval", "-weights", model, "-data", cifar, "-test-range", "100:350", "-json")
	var rep evalReport
	if code != 0 || json.Unmarshal([]byte(out), &rep) != nil || rep.Total != 250 {
		t.Errorf("eval -test-range 100:350: exit %d, %s %s; want 250 images", code, out, errOut)
	}
}

// On CIFAR-10: a prune run's accuracies are those of its -test-range (bonsai
// eval of the pruned file on the same range agrees), augmented sampled
// calibration runs, and -calib may be the whole training split but not
// more.
func TestPruneTestRange(t *testing.T) {
	testenv.Short(t, "prunes on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	dir := t.TempDir()
	args := []string{"prune", "-arch", "resnet8", "-init", "random", "-data", cifar, "-train-images", "512", "-test-range", "1000:1300",
		"-flops", "0.3", "-calib", "512", "-calib-augment", "-fisher", "sampled", "-finetune-epochs", "0", "-bench-batch", "2", "-json"}
	code, out, errOut := bonsai(append(args, "-out", dir)...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	var sum pruneSummary
	lines := strings.Split(strings.TrimSpace(out), "\n")
	if err := json.Unmarshal([]byte(lines[len(lines)-1]), &sum); err != nil {
		t.Fatal(err)
	}
	code, evalOut, errOut := bonsai("eval", "-weights", filepath.Join(dir, "pruned.safetensors"), "-data", cifar, "-test-range", "1000:1300", "-json")
	var rep evalReport
	if code != 0 || json.Unmarshal([]byte(evalOut), &rep) != nil {
		t.Fatalf("eval: exit %d: %s", code, errOut)
	}
	if rep.Total != 300 || rep.Accuracy != sum.AccPruned {
		t.Errorf("eval of images 1000:1300: %d images, accuracy %v; the prune run: %v", rep.Total, rep.Accuracy, sum.AccPruned)
	}
	code, _, errOut = bonsai(append(args[:len(args)-1], "-calib", "513", "-out", t.TempDir())...)
	if code != 2 || !strings.Contains(errOut, "-calib 513: the training split has 512 images") {
		t.Errorf("-calib 513 of 512: exit %d, %s", code, errOut)
	}
}
