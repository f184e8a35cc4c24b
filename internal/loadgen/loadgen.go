// Package loadgen fires concurrent keep-alive clients at a classification service (package
// serve, bonsai serve) and checks every answer: the load and fault tests' and
// BenchmarkServe's client.
package loadgen

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sort"
	"sync"
	"time"

	"github.com/bonsai-dl/bonsai/classify"
)

// Request is a request a client sends and the answer expected for it.
type Request struct {
	Query       string // appended to the URL ("?top=3")
	Body        []byte
	ContentType string
	Want        []classify.Prediction // the predictions of a 200 answer, exactly
}

// Config describes a run.
type Config struct {
	URL      string // of POST /v1/classify
	Clients  int    // concurrent clients, each sending one request at a time
	Requests int    // requests in all; 0: until the context is done
	// Reqs are the requests: client i sends Reqs[i], Reqs[i+Clients], … cyclically.
	Reqs []Request
	// IDs sets the header X-Request-Id to "c<client>-<n>" and keeps every answer's status
	// (Stats.ByID) and every transport error (Stats.FailedIDs) by id.
	IDs bool
}

// Stats are the outcome of a run.
type Stats struct {
	Sent      int
	ByStatus  map[int]int
	Wrong     int      // 200 answers whose predictions differ from the Request's
	BadErrors int      // non-200 answers without a JSON {"error": …} body, or 503 without Retry-After
	Transport int      // requests that got no answer (connection refused, reset, …)
	Samples   []string // the first few problems, for the test log
	Latencies []time.Duration
	Elapsed   time.Duration
	ByID      map[string]int    // with Config.IDs: status of each answered request
	FailedIDs map[string]string // with Config.IDs: transport error of each unanswered one
}

// Percentile returns the p-th percentile (0 < p ≤ 100) of the latencies of the answered
// requests.
func (s *Stats) Percentile(p float64) time.Duration {
	if len(s.Latencies) == 0 {
		return 0
	}
	l := slices.Clone(s.Latencies)
	sort.Slice(l, func(i, j int) bool { return l[i] < l[j] })
	i := int(float64(len(l))*p/100+0.5) - 1
	return l[min(max(i, 0), len(l)-1)]
}

// PerSecond returns the 200 answers per second.
func (s *Stats) PerSecond() float64 { return float64(s.ByStatus[200]) / s.Elapsed.Seconds() }

// String summarises the run.
func (s *Stats) String() string {
	return fmt.Sprintf("%d requests in %v (%.0f answers 200/s): statuses %v, %d wrong, %d malformed errors, %d without answer; latency p50 %v p99 %v",
		s.Sent, s.Elapsed.Round(time.Millisecond), s.PerSecond(), s.ByStatus, s.Wrong, s.BadErrors, s.Transport,
		s.Percentile(50).Round(10*time.Microsecond), s.Percentile(99).Round(10*time.Microsecond))
}

// NewClient returns an HTTP client that keeps a connection per concurrent client alive.
func NewClient(clients int) *http.Client {
	return &http.Client{Transport: &http.Transport{MaxIdleConns: clients, MaxIdleConnsPerHost: clients, DisableCompression: true}}
}

// Run fires the requests until cfg.Requests are done or ctx is done.
func Run(ctx context.Context, cfg Config) *Stats {
	client := NewClient(cfg.Clients)
	defer client.CloseIdleConnections()
	var mu sync.Mutex
	st := &Stats{ByStatus: map[int]int{}}
	if cfg.IDs {
		st.ByID, st.FailedIDs = map[string]int{}, map[string]string{}
	}
	note := func(format string, a ...any) {
		if len(st.Samples) < 8 {
			st.Samples = append(st.Samples, fmt.Sprintf(format, a...))
		}
	}
	var left chan struct{} // one token per request still to send
	if cfg.Requests > 0 {
		left = make(chan struct{}, cfg.Requests)
		for range cfg.Requests {
			left <- struct{}{}
		}
		close(left)
	}
	start := time.Now()
	var wg sync.WaitGroup
	for c := range cfg.Clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			var lat []time.Duration
			defer func() {
				mu.Lock()
				st.Latencies = append(st.Latencies, lat...)
				mu.Unlock()
			}()
			for n := 0; ; n++ {
				if left != nil {
					if _, ok := <-left; !ok {
						return
					}
				}
				if ctx.Err() != nil {
					return
				}
				rq := cfg.Reqs[(c+n*cfg.Clients)%len(cfg.Reqs)]
				id := fmt.Sprintf("c%d-%d", c, n)
				hr, err := http.NewRequestWithContext(ctx, http.MethodPost, cfg.URL+rq.Query, bytes.NewReader(rq.Body))
				if err != nil {
					panic(err)
				}
				hr.Header.Set("Content-Type", rq.ContentType)
				if cfg.IDs {
					hr.Header.Set("X-Request-Id", id)
				}
				t0 := time.Now()
				resp, err := client.Do(hr)
				var body []byte
				if err == nil {
					body, err = io.ReadAll(resp.Body)
					resp.Body.Close()
				}
				d := time.Since(t0)
				if ctx.Err() != nil && err != nil {
					return // the run's end interrupted this request
				}
				mu.Lock()
				st.Sent++
				if err != nil {
					st.Transport++
					note("%s: %v", id, err)
					if cfg.IDs {
						st.FailedIDs[id] = err.Error()
					}
					mu.Unlock()
					continue
				}
				st.ByStatus[resp.StatusCode]++
				if cfg.IDs {
					st.ByID[id] = resp.StatusCode
				}
				if problem := check(resp, body, rq); problem != "" {
					if resp.StatusCode == http.StatusOK {
						st.Wrong++
					} else {
						st.BadErrors++
					}
					note("%s: %s", id, problem)
				}
				mu.Unlock()
				if resp.StatusCode == http.StatusOK {
					lat = append(lat, d)
				}
			}
		}()
	}
	wg.Wait()
	st.Elapsed = time.Since(start)
	return st
}

// check returns what is wrong with an answer, or "".
func check(resp *http.Response, body []byte, rq Request) string {
	if resp.StatusCode != http.StatusOK {
		var e struct {
			Error *string `json:"error"`
		}
		if json.Unmarshal(body, &e) != nil || e.Error == nil || *e.Error == "" {
			return fmt.Sprintf("status %d with body %.80q", resp.StatusCode, body)
		}
		if resp.StatusCode == http.StatusServiceUnavailable && resp.Header.Get("Retry-After") == "" {
			return "503 without Retry-After"
		}
		return ""
	}
	var got struct {
		Predictions []classify.Prediction `json:"predictions"`
	}
	if err := json.Unmarshal(body, &got); err != nil {
		return fmt.Sprintf("200 with body %.80q: %v", body, err)
	}
	if rq.Want != nil && !slices.Equal(got.Predictions, rq.Want) {
		return fmt.Sprintf("answer %v, want %v", got.Predictions, rq.Want)
	}
	return ""
}
