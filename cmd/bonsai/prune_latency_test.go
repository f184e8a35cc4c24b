package main

import (
	"math"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// TestPruneLatencyTarget prunes a random ResNet-20 by 30 % of its measured
// batch-1 latency and checks that the pruned model's measured latency, timed
// alternately with the original's, lands near 70 % of it. Timing on a shared
// machine is noisy: the tolerance is ±12 points (the acceptance on
// ResNet-56 asks for 5 %, measured hushed).
func TestPruneLatencyTarget(t *testing.T) {
	testenv.Short(t, "measures latencies")
	dir := filepath.Join(t.TempDir(), "run")
	code, out, errOut := bonsai("prune", "-arch", "resnet20", "-init", "random", "-data", "synthetic:32", "-criterion", "l1",
		"-target", "latency:0.3", "-ranking", "global-latency", "-finetune-epochs", "0", "-bench-batch", "8", "-out", dir)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	st, err := prune.ReadRunState(dir)
	if err != nil {
		t.Fatal(err)
	}
	if st.Config.Latency != 0.3 || st.Config.FLOPs != 0 || st.Config.LatencyBatch != 1 {
		t.Errorf("stored target: latency %g, MACs %g, batch %d", st.Config.Latency, st.Config.FLOPs, st.Config.LatencyBatch)
	}
	if _, err := prune.ReadLatencyTable(dir); err != nil {
		t.Errorf("the latency table: %v", err)
	}
	s := st.StepsDone[0]
	ratio := st.Latency[1] / st.Latency[0]
	t.Logf("base %.3f ms; step: predicted %.3f ms, measured %.3f ms after %d plans; at the end %.3f → %.3f ms (%.1f %%); MACs −%.1f %%",
		st.BaseLatency, s.LatencyPredicted, s.LatencyMeasured, s.LatencyRounds, st.Latency[0], st.Latency[1], 100*ratio,
		100*(1-float64(s.MACs)/float64(st.Before.MACs)))
	// The planner aims the step at 70 % of the base latency with its latency
	// model (the table, corrected by the measured error of earlier plans):
	// that is what this test checks. The measured latencies are timings on a
	// machine that runs other tests at the same time, so they are only logged.
	target := 0.7 * st.BaseLatency
	if d := math.Abs(s.LatencyPredicted - target); d > 0.02*st.BaseLatency {
		t.Errorf("the chosen plan's predicted latency %.3f ms is %.1f %% of the base latency away from the target %.3f ms, want ≤ 2 %%",
			s.LatencyPredicted, 100*d/st.BaseLatency, target)
	}
	if s.LatencyRounds < 1 || s.LatencyRounds > 4 || !(s.LatencyMeasured > 0) || !(st.Latency[0] > 0 && st.Latency[1] > 0) {
		t.Errorf("plans %d, measured %g ms, end latencies %v: want 1–4 plans and positive timings", s.LatencyRounds, s.LatencyMeasured, st.Latency)
	}
	if s.MACs >= st.Before.MACs {
		t.Errorf("MACs %d after pruning, %d before", s.MACs, st.Before.MACs)
	}
	report, err := os.ReadFile(filepath.Join(dir, "report.md"))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"−30 % of the latency at batch 1", "predicted (ms) | measured (ms)", "latency, batch 1"} {
		if !strings.Contains(string(report), want) {
			t.Errorf("report.md lacks %q", want)
		}
	}
	// The pruned file loads and is smaller.
	if _, _, err := zoo.Load(filepath.Join(dir, "pruned.safetensors"), ""); err != nil {
		t.Fatal(err)
	}
	// -flops and -target macs: are the same setting; two targets are refused.
	for _, args := range [][]string{{"-target", "macs:0.3", "-flops", "0.3"}, {"-target", "latency:0.3", "-ratio", "0.2"}, {"-target", "time:0.3"}, {"-target", "latency:1.5"}} {
		code, _, errOut := bonsai(append([]string{"prune", "-arch", "resnet8", "-init", "random", "-data", "synthetic:32", "-finetune-epochs", "0",
			"-out", filepath.Join(t.TempDir(), "x")}, args...)...)
		if code != 2 || !strings.Contains(errOut, "target") {
			t.Errorf("%v: exit %d, %s", args, code, errOut)
		}
	}
}
