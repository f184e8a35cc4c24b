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
	// With -baseline: that model's figures, measured alternately with this one's.
	Baseline                string  `json:"baseline,omitempty"`
	BaselineImagesPerSecond float64 `json:"baseline_images_per_second,omitempty"`
	Speedup                 float64 `json:"speedup,omitempty"` // ImagesPerSecond / BaselineImagesPerSecond
}

func runBench(args []string, out, errOut io.Writer) error {
	fs := newFlags("bench", errOut)
	arch := fs.String("arch", "", "architecture (optional when the file names one)")
	weights := fs.String("weights", "", "safetensors model file (without it: the architecture with random weights)")
	batch := fs.Int("batch", 128, "batch size of the throughput measurement")
	reps := fs.Int("reps", 0, "timed repetitions of each measurement (0: as many as fit in about 5 s, at least 5)")
	asJSON := fs.Bool("json", false, "print one JSON object")
	baseline := fs.String("baseline", "", "also time this model file, alternating batches with -weights in one process, and report the speedup over it")
	cpuProfile := fs.String("cpuprofile", "", "write a CPU profile of the throughput measurement to this file (see go tool pprof)")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *batch <= 0 || *reps < 0 {
		return usagef("-batch must be positive and -reps ≥ 0")
	}
	if err := checkOutFile("cpuprofile", *cpuProfile); err != nil {
		return err
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
	models := []nn.Module{m}
	if *baseline != "" {
		bm, ba, err := modelFromFlags("", *baseline)
		if err != nil {
			return err
		}
		if !slices.Equal(ba.InputShape, a.InputShape) {
			return fmt.Errorf("-baseline %s takes inputs %v, -weights %v", *baseline, ba.InputShape, a.InputShape)
		}
		models = append(models, bm)
	}
	ms := timeForwards(models, *batch, a.InputShape, *reps)
	rep.BatchMS = ms[0]
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rep.ImagesPerSecond = float64(*batch) / (rep.BatchMS / 1000)
	if len(ms) > 1 {
		rep.Baseline = *baseline
		rep.BaselineImagesPerSecond = float64(*batch) / (ms[1] / 1000)
		rep.Speedup = rep.ImagesPerSecond / rep.BaselineImagesPerSecond
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	fmt.Fprintf(out, "%s on %d threads: latency %.2f ms (batch 1), throughput %.0f images/s (batch %d, %.1f ms per batch); %.2f M MACs per image\n",
		rep.Arch, rep.Threads, rep.LatencyMS, rep.ImagesPerSecond, rep.Batch, rep.BatchMS, float64(rep.MACs)/1e6)
	if rep.Baseline != "" {
		fmt.Fprintf(out, "baseline %s: throughput %.0f images/s, measured alternately: speedup %.2f×\n",
			rep.Baseline, rep.BaselineImagesPerSecond, rep.Speedup)
	}
	return nil
}

// timeForward returns the median time in milliseconds of evaluation-mode
// forward passes of m on random inputs of shape [batch, inShape...], after
// two warm-up passes.
func timeForward(m nn.Module, batch int, inShape []int, reps int) float64 {
	return timeForwards([]nn.Module{m}, batch, inShape, reps)[0]
}

// timeForwards returns, for each model, the median time in milliseconds of
// its evaluation-mode forward passes on the same random inputs of shape
// [batch, inShape...]: the models take turns, one pass each per round, so
// that drift of the machine's speed affects them alike; reps rounds (0: as
// many as fit in about 5 s, at least 5) after two warm-up rounds.
func timeForwards(models []nn.Module, batch int, inShape []int, reps int) []float64 {
	x := tensor.New(append([]int{batch}, inShape...)...)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	ctxs := make([]*nn.Ctx, len(models))
	for i := range ctxs {
		ctxs[i] = nn.NewCtx()
	}
	round := func() []time.Duration {
		ts := make([]time.Duration, len(models))
		for i, m := range models {
			start := time.Now()
			ctxs[i].Reset()
			m.Forward(ctxs[i], autograd.NewVar(x))
			ts[i] = time.Since(start)
		}
		return ts
	}
	round()
	var first time.Duration
	for _, t := range round() {
		first += t
	}
	if reps == 0 {
		reps = max(5, min(200, int(5*time.Second/max(first, time.Microsecond))))
	}
	times := make([][]time.Duration, len(models))
	for range reps {
		for i, t := range round() {
			times[i] = append(times[i], t)
		}
	}
	ms := make([]float64, len(models))
	for i, ts := range times {
		slices.Sort(ts)
		ms[i] = float64(ts[reps/2].Microseconds()) / 1000
	}
	return ms
}
