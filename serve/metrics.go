package serve

import (
	"fmt"
	"io"
	"math"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// statuses are the answers the service gives, in the order /metrics lists them.
var statuses = [...]int{200, 400, 404, 405, 408, 413, 415, 499, 500, 503}

// histogram is a Prometheus histogram: cumulative counts per upper bound.
type histogram struct {
	mu     sync.Mutex
	bounds []float64
	counts []uint64 // per bucket (not cumulative); the last is +Inf
	sum    float64
	n      uint64
}

func newHistogram(bounds ...float64) *histogram {
	return &histogram{bounds: bounds, counts: make([]uint64, len(bounds)+1)}
}

func (h *histogram) observe(v float64) {
	i := 0
	for i < len(h.bounds) && v > h.bounds[i] {
		i++
	}
	h.mu.Lock()
	h.counts[i]++
	h.sum += v
	h.n++
	h.mu.Unlock()
}

// write writes the histogram name in the text exposition format.
func (h *histogram) write(w io.Writer, name, help string) {
	h.mu.Lock()
	counts := append([]uint64(nil), h.counts...)
	sum, n := h.sum, h.n
	h.mu.Unlock()
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s histogram\n", name, help, name)
	var cum uint64
	for i, c := range counts {
		cum += c
		le := "+Inf"
		if i < len(h.bounds) {
			le = formatFloat(h.bounds[i])
		}
		fmt.Fprintf(w, "%s_bucket{le=%q} %d\n", name, le, cum)
	}
	fmt.Fprintf(w, "%s_sum %s\n%s_count %d\n", name, formatFloat(sum), name, n)
}

func formatFloat(v float64) string {
	if math.IsInf(v, 1) {
		return "+Inf"
	}
	return strconv.FormatFloat(v, 'g', -1, 64)
}

// metrics are the service's counters, exported at /metrics.
type metrics struct {
	requests  [len(statuses)]atomic.Uint64
	other     atomic.Uint64 // statuses not in statuses (none expected)
	canceled  atomic.Uint64 // requests dropped from a batch because their client had gone
	batches   atomic.Uint64
	images    atomic.Uint64
	batchSize *histogram
	batchTime *histogram // seconds of each forward pass, top-k included
	latency   *histogram
}

// statusIndex maps a status to its counter (read-only after init).
var statusIndex = func() map[int]int {
	m := map[int]int{}
	for i, s := range statuses {
		m[s] = i
	}
	return m
}()

func newMetrics(maxBatch int) *metrics {
	var b []float64
	for s := 1; s < maxBatch; s *= 2 {
		b = append(b, float64(s))
	}
	b = append(b, float64(maxBatch))
	return &metrics{
		batchSize: newHistogram(b...),
		batchTime: newHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5),
		latency:   newHistogram(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10),
	}
}

func (m *metrics) count(status int) {
	if i, ok := statusIndex[status]; ok {
		m.requests[i].Add(1)
		return
	}
	m.other.Add(1)
}

// write writes every metric in the Prometheus text format (version 0.0.4).
func (m *metrics) write(w io.Writer, queued, inFlight int) {
	fmt.Fprintf(w, "# HELP bonsai_requests_total Requests answered (all but /healthz and /metrics), by HTTP status; 499: the client went away first.\n# TYPE bonsai_requests_total counter\n")
	for _, s := range statuses {
		fmt.Fprintf(w, "bonsai_requests_total{code=\"%d\"} %d\n", s, m.requests[statusIndex[s]].Load())
	}
	fmt.Fprintf(w, "bonsai_requests_total{code=\"other\"} %d\n", m.other.Load())
	fmt.Fprintf(w, "# HELP bonsai_canceled_total Requests dropped from their batch because the client had gone.\n# TYPE bonsai_canceled_total counter\nbonsai_canceled_total %d\n", m.canceled.Load())
	fmt.Fprintf(w, "# HELP bonsai_batches_total Forward passes run.\n# TYPE bonsai_batches_total counter\nbonsai_batches_total %d\n", m.batches.Load())
	fmt.Fprintf(w, "# HELP bonsai_images_total Images classified.\n# TYPE bonsai_images_total counter\nbonsai_images_total %d\n", m.images.Load())
	fmt.Fprintf(w, "# HELP bonsai_queue_depth Requests preprocessed and waiting for a batch.\n# TYPE bonsai_queue_depth gauge\nbonsai_queue_depth %d\n", queued)
	fmt.Fprintf(w, "# HELP bonsai_requests_in_flight Requests admitted and not yet answered (bounded by -queue).\n# TYPE bonsai_requests_in_flight gauge\nbonsai_requests_in_flight %d\n", inFlight)
	m.batchSize.write(w, "bonsai_batch_size", "Images per forward pass.")
	m.batchTime.write(w, "bonsai_batch_duration_seconds", "Time of each forward pass (with the top-k of its images).")
	m.latency.write(w, "bonsai_request_duration_seconds", "Time from a classification request's arrival to its answer.")
}

// serveMetrics is the /metrics handler.
func (s *Server) serveMetrics(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		s.fail(w, r, errorf(http.StatusMethodNotAllowed, "use GET"), time.Now())
		return
	}
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	s.metrics.write(w, int(s.waiting.Load()), int(s.inFlight.Load()))
}
