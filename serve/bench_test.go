package serve

import (
	"context"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/internal/loadgen"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/tensor"
)

// BenchmarkServe measures the service end to end on loopback: the server in-process on
// 127.0.0.1 with an ephemeral port, BONSAI_SERVE_CLIENTS (default 64) concurrent
// keep-alive clients, one request per op, every answer checked against Classify's. It
// reports the answers per second (img/s), their p50 and p99 latency, the errors, and the
// compiled model's own throughput at batch 32 timed in the same process as bonsai bench
// -batch 32 times it (model_img/s: the mean of its medians of batches just before and just
// after the load, whose ratio is model_drift), with their ratio (served/model). The acceptance
// runs of issue 15 use -benchtime 30s:
//
//	BONSAI_MODELS=/path/to/models go test -run - -bench Serve -benchtime 30s ./serve
//
// resnet20-png serves CIFAR ResNet-20 (BONSAI_MODELS' resnet20-cifar10.safetensors, else
// random weights) with 32×32 PNGs; resnet18-jpeg serves ImageNet ResNet-18 (random
// weights: the speed does not depend on them) with 224×224 JPEGs of quality 90.
func BenchmarkServe(b *testing.B) {
	b.Run("resnet20-png", func(b *testing.B) {
		path := ""
		if dir := os.Getenv("BONSAI_MODELS"); dir != "" {
			path = filepath.Join(dir, "resnet20-cifar10.safetensors")
		}
		benchServe(b, modelFile(b, "resnet20", path), "png", 32)
	})
	b.Run("resnet18-jpeg", func(b *testing.B) {
		benchServe(b, modelFile(b, "resnet18", ""), "jpeg", 224)
	})
}

// TestMain removes the model files the benchmarks wrote.
func TestMain(m *testing.M) {
	code := m.Run()
	for _, p := range benchFiles {
		os.RemoveAll(filepath.Dir(p))
	}
	os.Exit(code)
}

var (
	benchMu      sync.Mutex
	benchFiles   = map[string]string{}       // arch → model file written for the benchmark
	benchRunners = map[string]*timedRunner{} // model file → its compiled form at batch 32
)

// timedRunner is a model compiled for batch 32 with inputs to time it on.
type timedRunner struct {
	r  *infer.Runner
	xs []*tensor.Tensor
}

// modelFile returns path if given, else a file of arch with seeded random weights and
// ImageNet's normalisation, written once per process.
func modelFile(b *testing.B, arch, path string) string {
	if path != "" {
		return path
	}
	benchMu.Lock()
	defer benchMu.Unlock()
	if p, ok := benchFiles[arch]; ok {
		return p
	}
	m, err := zoo.New(arch)
	if err != nil {
		b.Fatal(err)
	}
	zoo.InitWeights(m, 1)
	dir, err := os.MkdirTemp("", "bonsai-bench-serve-")
	if err != nil {
		b.Fatal(err)
	}
	p := filepath.Join(dir, arch+".safetensors")
	meta := zoo.Meta{Arch: arch, Mean: []float32{0.485, 0.456, 0.406}, Std: []float32{0.229, 0.224, 0.225}}
	if err := nn.SaveState(m, meta.Map()).WriteFile(p); err != nil {
		b.Fatal(err)
	}
	benchFiles[arch] = p
	return p
}

// modelThroughput times the compiled model alone at batch 32 as bonsai bench -batch 32
// does (a plan for batch 32, varied inputs, the median of batches, here about 3 s of
// them) and returns images per second. The model is compiled once per file; each call
// times it again, so that the service's throughput is compared with the model's at the
// same time (the machine's speed drifts).
func modelThroughput(b *testing.B, path string) float64 {
	benchMu.Lock()
	defer benchMu.Unlock()
	const batch = 32
	tr := benchRunners[path]
	if tr == nil {
		m, meta, err := zoo.Load(path, "")
		if err != nil {
			b.Fatal(err)
		}
		a, err := zoo.Lookup(meta.Arch)
		if err != nil {
			b.Fatal(err)
		}
		cm, err := infer.Compile(m, a.InputShape, infer.Options{Batch: batch})
		if err != nil {
			b.Fatal(err)
		}
		tr = &timedRunner{r: cm.NewRunner(batch)}
		rng := rand.New(rand.NewPCG(1, 2))
		for range 4 {
			x := tensor.New(append([]int{batch}, a.InputShape...)...)
			for j := range x.Data {
				x.Data[j] = float32(rng.NormFloat64())
			}
			tr.xs = append(tr.xs, x)
		}
		benchRunners[path] = tr
	}
	run := func(i int) time.Duration {
		t0 := time.Now()
		if _, err := tr.r.Run(tr.xs[i%len(tr.xs)]); err != nil {
			b.Fatal(err)
		}
		return time.Since(t0)
	}
	run(0)
	first := run(1)
	reps := max(5, min(200, int(3*time.Second/max(first, time.Microsecond))))
	ts := make([]time.Duration, reps)
	for i := range ts {
		ts[i] = run(i)
	}
	slices.Sort(ts)
	return batch / ts[reps/2].Seconds()
}

// cpuTime returns the user and system CPU time the process has used.
func cpuTime(b *testing.B) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// machineBusy and machineTotal return the busy and all jiffies of /proc/stat's cpu line
// (0 when it cannot be read).
func machineBusy() int64 { u, _ := procStat(); return u }

func machineTotal() int64 { _, t := procStat(); return t }

func procStat() (busy, total int64) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line)
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		total += n
		if i != 3 && i != 4 { // idle, iowait
			busy += n
		}
	}
	return busy, total
}

func benchServe(b *testing.B, path, format string, size int) {
	clients := envInt(b, "BONSAI_SERVE_CLIENTS", 64)
	c := testClassifier(b, path, DefaultMaxBatch)
	base, srv := start(b, c, Options{Queue: max(DefaultQueue, 2*clients)})
	reqs := requests(b, c, 64, size, size, format, 5)
	before := modelThroughput(b, path)
	b.ResetTimer()
	cpu0, busy0, total0 := cpuTime(b), machineBusy(), machineTotal()
	st := loadgen.Run(context.Background(), loadgen.Config{URL: base + "/v1/classify", Clients: clients, Requests: b.N, Reqs: reqs})
	cores := (cpuTime(b) - cpu0).Seconds() / st.Elapsed.Seconds()
	// The machine's busy cores meanwhile, from /proc/stat: beyond ours, other processes'.
	busy := float64(machineBusy()-busy0) / float64(max(machineTotal()-total0, 1)) * float64(runtime.NumCPU())
	b.StopTimer()
	after := modelThroughput(b, path)
	model := (before + after) / 2
	errs := st.Sent - st.ByStatus[200] + st.Wrong + st.Transport
	b.ReportMetric(st.PerSecond(), "img/s")
	b.ReportMetric(float64(st.Percentile(50).Microseconds())/1000, "p50_ms")
	b.ReportMetric(float64(st.Percentile(99).Microseconds())/1000, "p99_ms")
	b.ReportMetric(float64(errs), "errors")
	b.ReportMetric(model, "model_img/s")
	b.ReportMetric(after/before, "model_drift") // the model's speed after the load over before
	b.ReportMetric(st.PerSecond()/model, "served/model")
	// Diagnostics: the cores the process (server and clients) kept busy, and the mean batch.
	b.ReportMetric(cores, "cores")
	b.ReportMetric(max(busy-cores, 0), "other_cores")
	b.ReportMetric(float64(srv.metrics.images.Load())/float64(max(srv.metrics.batches.Load(), 1)), "batch")
	// The forward passes: the share of the time one ran, and their images per second while
	// running (against model_img/s: how much the concurrent decoding slowed them).
	bt := srv.metrics.batchTime
	bt.mu.Lock()
	busy, images := bt.sum, srv.metrics.images.Load()
	bt.mu.Unlock()
	b.ReportMetric(busy/st.Elapsed.Seconds(), "model_busy")
	b.ReportMetric(float64(images)/max(busy, 1e-9), "batch_img/s")
	if errs != 0 {
		b.Errorf("%v; first problems %q", st, st.Samples)
	}
}
