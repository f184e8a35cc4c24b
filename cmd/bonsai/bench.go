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
	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// benchReport is the output of "bonsai bench -json".
type benchReport struct {
	Arch         string  `json:"arch"`
	Weights      string  `json:"weights,omitempty"`
	Threads      int     `json:"threads"`
	Path         string  `json:"path"`           // "compiled" (infer) or "eager" (the training-path forward)
	LatencyMS    float64 `json:"latency_ms"`     // median of batch-1 forward passes
	LatencyP90MS float64 `json:"latency_p90_ms"` // their 90th percentile
	Batch        int     `json:"batch"`          // throughput batch size
	BatchMS      float64 `json:"batch_ms"`       // median of batch forward passes
	BatchP90MS   float64 `json:"batch_p90_ms"`
	// ImagesPerSecond is Batch / median batch time.
	ImagesPerSecond float64 `json:"images_per_second"`
	MACs            int64   `json:"macs"`
	PeakRSSBytes    int64   `json:"peak_rss_bytes,omitempty"` // the process's VmHWM at the end
	// Busy is set when the machine was busy just before timing (another process used more
	// than a few percent of a core): the figures are then not to be trusted.
	Busy    bool   `json:"busy,omitempty"`
	Warning string `json:"warning,omitempty"`
	// With -baseline: that model's figures, measured alternately with this one's.
	Baseline                string  `json:"baseline,omitempty"`
	BaselineLatencyMS       float64 `json:"baseline_latency_ms,omitempty"`
	BaselineImagesPerSecond float64 `json:"baseline_images_per_second,omitempty"`
	Speedup                 float64 `json:"speedup,omitempty"`         // ImagesPerSecond / BaselineImagesPerSecond
	LatencySpeedup          float64 `json:"latency_speedup,omitempty"` // BaselineLatencyMS / LatencyMS
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
	eager := fs.Bool("eager", false, "time the training-path forward pass (nn.Module.Forward) instead of the compiled form")
	layers := fs.Bool("layers", false, "also print the time of each step of the compiled form at batch 1 and at -batch")
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
	rep := benchReport{Arch: a.Name, Weights: *weights, Threads: runtime.GOMAXPROCS(0), Batch: *batch, Path: "compiled"}
	if *eager {
		rep.Path = "eager"
	}
	// A plan for single images times the latency, one for the batch the throughput (see
	// infer.Options.Batch).
	latRuns := make([]forwarder, len(models))
	runs := make([]forwarder, len(models))
	for i, bm := range models {
		var macs int64
		if latRuns[i], macs, err = newForwarder(bm, a.InputShape, 1, *eager); err != nil {
			return err
		}
		if i == 0 {
			rep.MACs = macs
		}
		runs[i] = latRuns[i]
		if *batch > 1 {
			if runs[i], _, err = newForwarder(bm, a.InputShape, *batch, *eager); err != nil {
				return err
			}
		}
	}
	if busy := machineBusy(); busy > 0.05 {
		rep.Busy = true
		rep.Warning = fmt.Sprintf("the machine was busy before timing (%.0f %% of a core used by other processes): figures are unreliable", 100*busy)
	}
	lat := timeRuns(latRuns, 1, a.InputShape, *reps)
	rep.LatencyMS, rep.LatencyP90MS = lat[0].median, lat[0].p90
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
	ms := timeRuns(runs, *batch, a.InputShape, *reps)
	rep.BatchMS, rep.BatchP90MS = ms[0].median, ms[0].p90
	if *cpuProfile != "" {
		pprof.StopCPUProfile()
	}
	rep.ImagesPerSecond = float64(*batch) / (rep.BatchMS / 1000)
	if len(ms) > 1 {
		rep.Baseline = *baseline
		rep.BaselineLatencyMS = lat[1].median
		rep.BaselineImagesPerSecond = float64(*batch) / (ms[1].median / 1000)
		rep.Speedup = rep.ImagesPerSecond / rep.BaselineImagesPerSecond
		rep.LatencySpeedup = rep.BaselineLatencyMS / rep.LatencyMS
	}
	rep.PeakRSSBytes = peakRSS()
	if *layers && !*asJSON {
		if err := printLayerTimes(out, m, a.InputShape, []int{1, *batch}); err != nil {
			return err
		}
	}
	if *asJSON {
		return json.NewEncoder(out).Encode(rep)
	}
	if rep.Warning != "" {
		fmt.Fprintf(errOut, "bonsai bench: warning: %s\n", rep.Warning)
	}
	fmt.Fprintf(out, "%s on %d threads (%s): latency %.2f ms (batch 1; p90 %.2f), throughput %.0f images/s (batch %d, %.1f ms per batch); %.2f M MACs per image\n",
		rep.Arch, rep.Threads, rep.Path, rep.LatencyMS, rep.LatencyP90MS, rep.ImagesPerSecond, rep.Batch, rep.BatchMS, float64(rep.MACs)/1e6)
	if rep.Baseline != "" {
		fmt.Fprintf(out, "baseline %s: latency %.2f ms, throughput %.0f images/s, measured alternately: speedup %.2f× (batch %d), %.2f× (batch 1)\n",
			rep.Baseline, rep.BaselineLatencyMS, rep.BaselineImagesPerSecond, rep.Speedup, rep.Batch, rep.LatencySpeedup)
	}
	return nil
}

// forwarder computes a model's evaluation-mode forward pass on a batch.
type forwarder func(x *tensor.Tensor)

// newForwarder returns the compiled form of m, with a plan tuned for batches of maxBatch
// images, or, with eager, its training-path forward pass in evaluation mode; and the
// multiply-accumulates of one image through its convolutions and linear layers.
func newForwarder(m nn.Module, inShape []int, maxBatch int, eager bool) (forwarder, int64, error) {
	if eager {
		nn.SetTraining(m, false)
		c := nn.NewCtx()
		return func(x *tensor.Tensor) {
			c.Reset()
			m.Forward(c, autograd.NewVar(x))
		}, nn.Summarize(m, inShape...).MACs, nil
	}
	cm, err := infer.Compile(m, inShape, infer.Options{Batch: maxBatch})
	if err != nil {
		return nil, 0, err
	}
	var macs int64
	for _, l := range cm.Layers() {
		macs += l.MACs
	}
	r := cm.NewRunner(maxBatch)
	return func(x *tensor.Tensor) {
		if _, err := r.Run(x); err != nil {
			panic(err) // shapes are the caller's: a programmer error
		}
	}, macs, nil
}

// timing is the median and 90th percentile of repeated timings, in milliseconds.
type timing struct{ median, p90 float64 }

// benchInputs is the number of random batches the timed passes take in turn, so that
// repeated passes do not see the very same input.
const benchInputs = 4

// timeForward returns the median time in milliseconds of evaluation-mode
// forward passes of m (compiled) on random inputs of shape [batch, inShape...].
func timeForward(m nn.Module, batch int, inShape []int, reps int) float64 {
	return timeForwards([]nn.Module{m}, batch, inShape, reps)[0]
}

// timeForwards returns, for each model, the median time in milliseconds of its compiled
// forward passes on the same random inputs of shape [batch, inShape...] (see timeRuns).
func timeForwards(models []nn.Module, batch int, inShape []int, reps int) []float64 {
	runs := make([]forwarder, len(models))
	for i, m := range models {
		f, _, err := newForwarder(m, inShape, batch, false)
		if err != nil {
			panic(fmt.Sprintf("bonsai: compiling %s: %v", m, err))
		}
		runs[i] = f
	}
	ts := timeRuns(runs, batch, inShape, reps)
	ms := make([]float64, len(ts))
	for i, t := range ts {
		ms[i] = t.median
	}
	return ms
}

// timeRuns times each forwarder on batches of shape [batch, inShape...], benchInputs random
// batches in turn: the forwarders take turns, one pass each per round, so that drift of the
// machine's speed affects them alike; reps rounds (0: as many as fit in about 5 s, at least
// 5) after two warm-up rounds.
func timeRuns(runs []forwarder, batch int, inShape []int, reps int) []timing {
	rng := rand.New(rand.NewPCG(1, 2))
	xs := make([]*tensor.Tensor, benchInputs)
	for i := range xs {
		xs[i] = tensor.New(append([]int{batch}, inShape...)...)
		for j := range xs[i].Data {
			xs[i].Data[j] = float32(rng.NormFloat64())
		}
	}
	r := 0
	round := func() []time.Duration {
		ts := make([]time.Duration, len(runs))
		x := xs[r%len(xs)]
		r++
		for i, f := range runs {
			start := time.Now()
			f(x)
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
	times := make([][]time.Duration, len(runs))
	for range reps {
		for i, t := range round() {
			times[i] = append(times[i], t)
		}
	}
	out := make([]timing, len(runs))
	for i, ts := range times {
		slices.Sort(ts)
		out[i] = timing{median: ms(ts[reps/2]), p90: ms(ts[min(reps-1, (9*reps)/10)])}
	}
	return out
}

func ms(d time.Duration) float64 { return float64(d.Nanoseconds()) / 1e6 }

// printLayerTimes prints the time of each step of m's compiled form, at each batch size
// (each with its plan; the steps are listed with the algorithms of the first).
func printLayerTimes(out io.Writer, m nn.Module, inShape []int, batches []int) error {
	var layers []infer.Layer
	times := make([][]time.Duration, len(batches))
	for bi, b := range batches {
		cm, err := infer.Compile(m, inShape, infer.Options{Batch: b})
		if err != nil {
			return err
		}
		if layers == nil {
			layers = cm.Layers()
		}
		r := cm.NewRunner(b)
		x := tensor.New(append([]int{b}, inShape...)...)
		rng := rand.New(rand.NewPCG(3, 4))
		for i := range x.Data {
			x.Data[i] = float32(rng.NormFloat64())
		}
		r.Run(x)
		r.SetTiming(true)
		reps := 0
		for start := time.Now(); reps < 3 || time.Since(start) < time.Second; reps++ {
			r.Run(x)
		}
		times[bi] = r.StepTimes()
		for i := range times[bi] {
			times[bi][i] /= time.Duration(reps)
		}
	}
	fmt.Fprintf(out, "%-52s %-10s %-16s %-16s %9s", "step", "algorithm", "in", "out", "MMACs")
	for _, b := range batches {
		fmt.Fprintf(out, " %10s", fmt.Sprintf("ms b%d", b))
	}
	fmt.Fprintln(out)
	totals := make([]time.Duration, len(batches))
	for i, l := range layers {
		algo := l.Algo
		if algo == "" {
			algo = l.Op
		}
		fmt.Fprintf(out, "%-52s %-10s %-16s %-16s %9.2f", l.Name, algo, fmt.Sprint(l.In), fmt.Sprint(l.Out), float64(l.MACs)/1e6)
		for bi := range batches {
			fmt.Fprintf(out, " %10.3f", ms(times[bi][i]))
			totals[bi] += times[bi][i]
		}
		fmt.Fprintln(out)
	}
	fmt.Fprintf(out, "%-52s %-10s %-16s %-16s %9s", "total", "", "", "", "")
	for bi := range batches {
		fmt.Fprintf(out, " %10.3f", ms(totals[bi]))
	}
	fmt.Fprintln(out)
	return nil
}
