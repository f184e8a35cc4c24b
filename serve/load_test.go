package serve

import (
	"bufio"
	"context"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/loadgen"
)

// Concurrent keep-alive clients: every answer is 200 and exactly what Classify answers for
// the same image (so what bonsai predict prints), and requests share batches.
func TestServeLoad(t *testing.T) {
	c := testClassifier(t, exampleModel, 32)
	base, srv := start(t, c, Options{})
	reqs := requests(t, c, 48, 32, 32, "png", 3)
	reqs = append(reqs, requests(t, c, 16, 57, 41, "jpeg", 5)...) // resized to 32×32
	clients := envInt(t, "BONSAI_SERVE_CLIENTS", 16)
	ctx, cancel := context.WithTimeout(context.Background(), loadSeconds(t))
	defer cancel()
	st := loadgen.Run(ctx, loadgen.Config{URL: base + "/v1/classify", Clients: clients, Reqs: reqs})
	t.Logf("%d clients: %v", clients, st)
	if st.ByStatus[200] != st.Sent || st.Wrong != 0 || st.Transport != 0 || st.Sent == 0 {
		t.Errorf("%v; first problems: %q", st, st.Samples)
	}
	drained(t, srv)
	// The requests cut short by the end of the run may have been computed too.
	batches, images := srv.metrics.batches.Load(), int(srv.metrics.images.Load())
	t.Logf("%d images in %d batches (%.1f per batch)", images, batches, float64(images)/float64(batches))
	if images < st.Sent || images > st.Sent+clients || int(batches) >= images {
		t.Errorf("%d images in %d batches for %d requests", images, batches, st.Sent)
	}
}

// drained waits until no request is in flight (the handlers of requests cut short by the
// end of a run finish soon after it).
func drained(t *testing.T, srv *Server) {
	t.Helper()
	// A request a cancelled client had already sent may reach the server after the run
	// returned: wait until nothing has been in flight for 200 ms, so that such stragglers
	// cannot take queue places from the next run's clients.
	quiet := time.Time{}
	for deadline := time.Now().Add(10 * time.Second); ; time.Sleep(5 * time.Millisecond) {
		switch {
		case srv.inFlight.Load() != 0:
			quiet = time.Time{}
		case quiet.IsZero():
			quiet = time.Now()
		case time.Since(quiet) > 200*time.Millisecond:
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d requests still in flight 10 s after the run", srv.inFlight.Load())
		}
	}
}

// rss returns the process's resident memory (VmRSS) in bytes.
func rss(t testing.TB) int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		t.Skipf("no /proc/self/status: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				t.Fatal(err)
			}
			return kb << 10
		}
	}
	t.Skip("no VmRSS in /proc/self/status")
	return 0
}

// runSampled runs cfg for d and returns its stats and the largest VmRSS sampled every
// 100 ms meanwhile.
func runSampled(t *testing.T, cfg loadgen.Config, d time.Duration) (*loadgen.Stats, int64) {
	ctx, cancel := context.WithTimeout(context.Background(), d)
	defer cancel()
	var peak int64
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for {
			peak = max(peak, rss(t))
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
			}
		}
	}()
	st := loadgen.Run(ctx, cfg)
	wg.Wait()
	return st, peak
}

// Overload, 4× more clients than the queue holds: only 200 and 503 (with Retry-After and
// a JSON error) answers, every 200 correct, and the resident memory stays within 1.5× of
// a normal-load run's of the same length (Acceptance 3 of issue 15).
func TestServeOverload(t *testing.T) {
	const queue = 16
	c := testClassifier(t, exampleModel, 32)
	base, srv := start(t, c, Options{Queue: queue})
	reqs := requests(t, c, 64, 32, 32, "png", 3)
	d := loadSeconds(t)
	cfg := loadgen.Config{URL: base + "/v1/classify", Clients: queue, Reqs: reqs}
	runSampled(t, cfg, d/4) // warm up
	drained(t, srv)         // the requests the end of the run cut short
	normal, normalRSS := runSampled(t, cfg, d)
	drained(t, srv)
	t.Logf("normal load, %d clients: %v; peak VmRSS %.1f MB", cfg.Clients, normal, float64(normalRSS)/1e6)
	cfg.Clients = 4 * queue
	over, overRSS := runSampled(t, cfg, d)
	t.Logf("overload, %d clients: %v; peak VmRSS %.1f MB (%.2f× normal)", cfg.Clients, over, float64(overRSS)/1e6, float64(overRSS)/float64(normalRSS))
	for _, st := range []*loadgen.Stats{normal, over} {
		if st.ByStatus[200]+st.ByStatus[503] != st.Sent || st.Wrong != 0 || st.BadErrors != 0 || st.Transport != 0 {
			t.Errorf("%v; first problems: %q", st, st.Samples)
		}
	}
	if normal.ByStatus[503] != 0 {
		t.Errorf("normal load (%d clients, queue %d) got %d answers 503", queue, queue, normal.ByStatus[503])
	}
	if over.ByStatus[503] == 0 || over.ByStatus[200] == 0 {
		t.Errorf("overload: %d answers 200 and %d 503: want both", over.ByStatus[200], over.ByStatus[503])
	}
	if float64(overRSS) > 1.5*float64(normalRSS) {
		t.Errorf("peak VmRSS under overload %.1f MB, over 1.5× normal load's %.1f MB", float64(overRSS)/1e6, float64(normalRSS)/1e6)
	}
	drained(t, srv)
}

// A request whose client goes away while it waits for its batch is dropped: it is never
// computed, and its place in the queue is given back.
func TestServeClientGone(t *testing.T) {
	c := testClassifier(t, exampleModel, 32)
	base, srv := start(t, c, Options{MaxWait: 700 * time.Millisecond})
	req := requests(t, c, 1, 32, 32, "png", 1)[0]
	ctx, cancel := context.WithCancel(context.Background())
	hr, _ := http.NewRequestWithContext(ctx, http.MethodPost, base+"/v1/classify", strings.NewReader(string(req.Body)))
	hr.Header.Set("Content-Type", req.ContentType)
	done := make(chan error, 1)
	go func() {
		resp, err := http.DefaultClient.Do(hr)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	for srv.waiting.Load() == 0 { // queued, waiting for others to share its batch
		time.Sleep(time.Millisecond)
	}
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	drained(t, srv)
	if n := srv.metrics.canceled.Load(); n != 1 {
		t.Errorf("%d requests dropped, want 1", n)
	}
	if n := srv.metrics.batches.Load(); n != 0 {
		t.Errorf("%d batches ran for a request whose client had gone", n)
	}
	// The service goes on.
	st := loadgen.Run(context.Background(), loadgen.Config{URL: base + "/v1/classify", Clients: 1, Requests: 2, Reqs: []loadgen.Request{req}})
	if st.ByStatus[200] != 2 || st.Wrong != 0 {
		t.Errorf("after the drop: %v %q", st, st.Samples)
	}
}

// /metrics is valid Prometheus text: HELP and TYPE before each family, cumulative
// histogram buckets ending in +Inf equal to the count, and the counts agree with the
// requests made.
func TestMetricsFormat(t *testing.T) {
	c := testClassifier(t, exampleModel, 32)
	base, _ := start(t, c, Options{})
	reqs := requests(t, c, 8, 32, 32, "png", 2)
	loadgen.Run(context.Background(), loadgen.Config{URL: base + "/v1/classify", Clients: 4, Requests: 20, Reqs: reqs})
	resp, err := http.Post(base+"/v1/classify", "text/plain", strings.NewReader("x"))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); !strings.HasPrefix(ct, "text/plain; version=0.0.4") {
		t.Errorf("Content-Type %q", ct)
	}
	values := map[string]float64{}
	typed := map[string]string{}
	var lastBucket float64
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		if f, ok := strings.CutPrefix(line, "# TYPE "); ok {
			p := strings.Fields(f)
			typed[p[0]] = p[1]
			lastBucket = 0
			continue
		}
		if strings.HasPrefix(line, "# HELP ") {
			continue
		}
		name, val, ok := strings.Cut(line, " ")
		v, err := strconv.ParseFloat(val, 64)
		if !ok || err != nil {
			t.Fatalf("bad line %q", line)
		}
		family, _, _ := strings.Cut(name, "{")
		family = strings.TrimSuffix(strings.TrimSuffix(strings.TrimSuffix(family, "_bucket"), "_sum"), "_count")
		if typed[family] == "" {
			t.Errorf("%q before its # TYPE", line)
		}
		if strings.Contains(name, "_bucket{") {
			if v < lastBucket {
				t.Errorf("%s: buckets not cumulative", name)
			}
			lastBucket = v
		}
		values[name] = v
	}
	for _, h := range []string{"bonsai_batch_size", "bonsai_batch_duration_seconds", "bonsai_request_duration_seconds"} {
		if typed[h] != "histogram" || values[h+`_bucket{le="+Inf"}`] != values[h+"_count"] {
			t.Errorf("%s: type %q, +Inf bucket %v, count %v", h, typed[h], values[h+`_bucket{le="+Inf"}`], values[h+"_count"])
		}
	}
	if values[`bonsai_requests_total{code="200"}`] != 20 || values[`bonsai_requests_total{code="415"}`] != 1 ||
		values["bonsai_images_total"] != 20 || values["bonsai_batch_size_sum"] != 20 || values["bonsai_request_duration_seconds_count"] != 21 ||
		values["bonsai_batch_duration_seconds_count"] != values["bonsai_batches_total"] || !(values["bonsai_batch_duration_seconds_sum"] > 0) {
		t.Errorf("counts: %v", values)
	}
	for _, g := range []string{"bonsai_queue_depth", "bonsai_requests_in_flight"} {
		if typed[g] != "gauge" {
			t.Errorf("%s: type %q", g, typed[g])
		}
	}
	resp, err = http.Get(base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Errorf("healthz: %v %v", resp.Status, err)
	}
}
