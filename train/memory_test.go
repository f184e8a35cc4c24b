package train

import (
	"context"
	"os"
	"runtime"
	"runtime/debug"
	"strconv"
	"strings"
	"testing"
)

// rssBytes returns the resident set size of this process (Linux), or 0.
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}

// TestMemorySteady checks that training reuses its memory: the Go heap
// grows by less than 2 % between step 100 and step 500, and so does the RSS
// at the configuration of the training issue (BONSAI_MEMTEST=resnet20:128
// go test -run MemorySteady ./train); at the default small configuration
// (resnet8, batch 16, a 40 MB heap) the process's fixed overheads weigh
// more, and the RSS bound is 10 %. Epochs are 50 steps long, so that both
// measurements come after evaluations, whose first pass fills caches of its
// own (the Winograd kernels' transformed weights): growth between them is
// growth per step or per evaluation, not a first use.
func TestMemorySteady(t *testing.T) {
	if testing.Short() {
		t.Skip("500 training steps")
	}
	cfg := testConfig()
	rssBound := 1.10
	if spec := os.Getenv("BONSAI_MEMTEST"); spec != "" {
		arch, batch, ok := strings.Cut(spec, ":")
		b, err := strconv.Atoi(batch)
		if !ok || err != nil {
			t.Fatalf("BONSAI_MEMTEST=%q, want ARCH:BATCH", spec)
		}
		cfg.Arch, cfg.Batch, rssBound = arch, b, 1.02
	}
	trainSet, testSet := synthetic(50*cfg.Batch, 8), synthetic(1000, 9)
	cfg.Epochs = 10
	r, err := New(cfg, t.TempDir(), trainSet, testSet)
	if err != nil {
		t.Fatal(err)
	}
	measure := func(steps int) (heap uint64, rss int64) {
		r.MaxSteps = steps
		if err := r.Train(context.Background()); err != nil {
			t.Fatal(err)
		}
		// Return the free heap pages to the OS first, so that RSS measures what the run
		// holds, not what the scavenger has not released yet.
		debug.FreeOSMemory()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		runtime.KeepAlive(r)
		return ms.HeapAlloc, rssBytes()
	}
	h100, r100 := measure(100)
	h500, r500 := measure(500)
	t.Logf("step 100: heap %d B, RSS %d B; step 500: heap %d B, RSS %d B", h100, r100, h500, r500)
	if float64(h500) > 1.02*float64(h100) {
		t.Errorf("Go heap grew from %d to %d bytes between step 100 and 500", h100, h500)
	}
	if r100 > 0 && float64(r500) > rssBound*float64(r100) {
		t.Errorf("RSS grew from %d to %d bytes between step 100 and 500", r100, r500)
	}
}
