package main

import (
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"runtime"
	"runtime/pprof"
	"slices"
	"time"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// benchReport is the output of "bonsai bench -json".
type benchReport struct {
	Arch            string  `json:"arch"`
	Weights         string  `json:"weights,omitempty"`
	Threads         int     `json:"threads"`
	LatencyMS       float64 `json:"latency_ms"`        // median of batch-1 forward passes
	Batch           int     `json:"batch"`             // throughput batch size
	BatchMS         float64 `json:"batch_ms"`          // median of batch forward passes
	ImagesPerSecond float64 `json:"images_per_second"` // Batch / median batch time
	MACs            int64   `json:"macs"`
}

func runBench(args []string, out, errOut io.Writer) error {
	fs := newFlags("bench", errOut)
	arch := fs.String("arch", "", "architecture (optional when the file names one)")
	weights := fs.String("weights", "", "safetensors model file (without it: the architecture with random weights)")
	batch := fs.Int("batch", 128, "batch size of the throughput measurement")
	reps := fs.Int("reps", 0, "timed repetitions of each measurement (0: as many as fit in about 5 s, at least 5)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the throughput measurement to this file (see go tool pprof)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *batch <= 0 || *reps < 0 {
		return usagef("-batch must be positive and -reps ≥ 0")
	}
	m, a, err := modelFromFlags(*arch, *weights)
	if err != nil {
		return err
	}
	rep := benchReport{Arch: a.Name, Weights: *weights, Threads: runtime.GOMAXPROCS(0), Batch: *batch,
		MACs: nn.Summarize(m, a.InputShape...).MACs}
	rep.LatencyMS = timeForward(m, 1, a.InputShape, *reps)
	if *cpuProfile != "" {
		f, err := os.Create(*cpuProfile)
		if err != nil {
			return err
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			return fmt.Errorf("-cpuprofile: %w", err)
		}
	}
	rep.BatchMS = timeForward(m, *batch, a.InputShape, *reps)
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rep.ImagesPerSecond = float64(*batch) / (rep.BatchMS / 1000)
	if *asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	fmt.Fprintf(out, "%s on %d threads: latency %.2f ms (batch 1), throughput %.0f images/s (batch %d, %.1f ms per batch); %.2f M MACs per image\n",
		rep.Arch, rep.Threads, rep.LatencyMS, rep.ImagesPerSecond, rep.Batch, rep.BatchMS, float64(rep.MACs)/1e6)
	return nil
}

// timeForward returns the median time in milliseconds of evaluation-mode
// forward passes of m on random inputs of shape [batch, inShape...], after
// two warm-up passes.
func timeForward(m nn.Module, batch int, inShape []int, reps int) float64 {
	x := tensor.New(append([]int{batch}, inShape...)...)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	c := nn.NewCtx()
	pass := func() time.Duration {
		start := time.Now()
		c.Reset()
		m.Forward(c, autograd.NewVar(x))
		return time.Since(start)
	}
	pass()
	first := pass()
	if reps == 0 {
		reps = max(5, min(200, int(5*time.Second/max(first, time.Microsecond))))
	}
	times := make([]time.Duration, reps)
	for i := range times {
		times[i] = pass()
	}
	slices.Sort(times)
	return float64(times[reps/2].Microseconds()) / 1000
}
