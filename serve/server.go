package serve

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Defaults of Options.
const (
	DefaultMaxBatch    = 32
	DefaultMaxWait     = 2 * time.Millisecond
	DefaultQueue       = 256
	DefaultMaxBody     = 8 << 20
	DefaultMaxPixels   = 16 << 20
	DefaultReadTimeout = 10 * time.Second
	DefaultTop         = 5
)

// Options are the settings of a Server; a zero field takes its default.
type Options struct {
	MaxBatch    int           // most images per forward pass (at most the Classifier's MaxBatch)
	MaxWait     time.Duration // longest a request waits for others to share its batch
	Queue       int           // most requests admitted at once; more get 503
	MaxBody     int64         // largest request body, in bytes; larger get 413
	MaxPixels   int64         // largest image, in pixels (from its header); larger get 413
	ReadTimeout time.Duration // time allowed to receive a request's body; slower get 408
	Top         int           // classes answered when the request does not say
	// Log, when not nil, receives one line per request: client, method, path, status,
	// duration, the X-Request-Id header if any, and the top class or the error.
	Log io.Writer
}

func (o *Options) fill(c *classify.Classifier) error {
	def := func(v *int, d int) {
		if *v == 0 {
			*v = d
		}
	}
	def(&o.MaxBatch, min(DefaultMaxBatch, c.MaxBatch()))
	def(&o.Queue, DefaultQueue)
	def(&o.Top, DefaultTop)
	if o.MaxWait == 0 {
		o.MaxWait = DefaultMaxWait
	}
	if o.MaxBody == 0 {
		o.MaxBody = DefaultMaxBody
	}
	if o.MaxPixels == 0 {
		o.MaxPixels = DefaultMaxPixels
	}
	if o.ReadTimeout == 0 {
		o.ReadTimeout = DefaultReadTimeout
	}
	switch {
	case o.MaxBatch < 1 || o.MaxBatch > c.MaxBatch():
		return fmt.Errorf("serve: MaxBatch %d: want 1 to the classifier's %d", o.MaxBatch, c.MaxBatch())
	case o.MaxWait < 0:
		return fmt.Errorf("serve: MaxWait %v is negative", o.MaxWait)
	case o.Queue < 1, o.MaxBody < 1, o.MaxPixels < 1, o.ReadTimeout < 0, o.Top < 1:
		return fmt.Errorf("serve: Queue %d, MaxBody %d, MaxPixels %d, ReadTimeout %v and Top %d must be positive",
			o.Queue, o.MaxBody, o.MaxPixels, o.ReadTimeout, o.Top)
	}
	return nil
}

// Server is the classification service: an http.Handler and the batcher behind it.
type Server struct {
	c       *classify.Classifier
	o       Options
	mux     *http.ServeMux
	metrics *metrics
	inShape []int
	per     int // floats per preprocessed image

	inFlight atomic.Int64  // admitted requests not yet done with (see admit)
	waiting  atomic.Int64  // queued requests whose batch has not started
	queue    chan *job     // preprocessed requests waiting for a batch; never full (see admit)
	decoders chan struct{} // one token per image being decoded and preprocessed
	inputs   sync.Pool     // []float32 of per floats
	closing  atomic.Bool
	stop     chan struct{}
	done     chan struct{}
	logMu    sync.Mutex
}

// job is an admitted request waiting for, or in, a batch.
type job struct {
	x      []float32 // the preprocessed image (from Server.inputs)
	top    int
	queued time.Time
	gone   <-chan struct{} // closed when the client has gone
	reply  chan reply      // buffered: the batcher never blocks on it
}

type reply struct {
	pred []classify.Prediction
	err  *httpError
}

// New returns a Server for c and starts its batcher; call Close when done. c should be
// used by this Server only (its Runners are the batcher's).
func New(c *classify.Classifier, o Options) (*Server, error) {
	if err := o.fill(c); err != nil {
		return nil, err
	}
	s := &Server{
		c: c, o: o, metrics: newMetrics(o.MaxBatch), inShape: c.InputShape(),
		queue:    make(chan *job, o.Queue),
		decoders: make(chan struct{}, runtime.GOMAXPROCS(0)),
		stop:     make(chan struct{}), done: make(chan struct{}),
	}
	s.per = tensor.Numel(s.inShape)
	s.inputs.New = func() any { return make([]float32, s.per) }
	s.mux = http.NewServeMux()
	s.mux.HandleFunc("/v1/classify", s.serveClassify)
	s.mux.HandleFunc("/healthz", s.serveHealth)
	s.mux.HandleFunc("/metrics", s.serveMetrics)
	s.mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		s.fail(w, r, errorf(http.StatusNotFound, "no such endpoint %s: POST /v1/classify, GET /healthz, GET /metrics", r.URL.Path), time.Now())
	})
	go s.batcher()
	return s, nil
}

// ServeHTTP serves the API (see the package documentation).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.mux.ServeHTTP(w, r) }

// Shutting marks the server as shutting down: /healthz answers 503 from then on, so that
// load balancers stop sending requests. Requests are still served: call it before
// http.Server.Shutdown, which stops accepting them.
func (s *Server) Shutting() { s.closing.Store(true) }

// Close stops the batcher, after answering what is queued. Call it after
// http.Server.Shutdown has returned: requests that arrive later get 503.
func (s *Server) Close() {
	s.closing.Store(true)
	select {
	case <-s.stop:
	default:
		close(s.stop)
	}
	<-s.done
}

func (s *Server) serveHealth(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	if s.closing.Load() {
		w.WriteHeader(http.StatusServiceUnavailable)
		io.WriteString(w, `{"status":"shutting down"}`+"\n")
		return
	}
	io.WriteString(w, `{"status":"ok"}`+"\n")
}

// admit takes one of the Queue places, or reports that none is free. A place is given
// back by done, when the request is answered or dropped.
func (s *Server) admit() bool {
	if s.inFlight.Add(1) > int64(s.o.Queue) {
		s.inFlight.Add(-1)
		return false
	}
	return true
}

func (s *Server) leave() { s.inFlight.Add(-1) }

// classifyResponse is the body of a 200 answer.
type classifyResponse struct {
	Model       string                `json:"model"`
	Predictions []classify.Prediction `json:"predictions"`
}

func (s *Server) serveClassify(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	pred, herr := s.classify(w, r)
	switch {
	case herr == nil:
		s.answer(w, r, http.StatusOK, classifyResponse{Model: s.c.Arch(), Predictions: pred})
		s.logf(r, http.StatusOK, start, "%s %.4f", pred[0].Name, pred[0].Probability)
	case herr.status == statusClientGone:
		s.metrics.count(herr.status) // nobody to answer
		s.logf(r, herr.status, start, "%s", herr.msg)
	default:
		switch herr.status {
		case http.StatusServiceUnavailable:
			w.Header().Set("Retry-After", "1")
		case http.StatusRequestTimeout, http.StatusRequestEntityTooLarge:
			// The rest of the body is not read: close rather than wait for it.
			w.Header().Set("Connection", "close")
		}
		s.fail(w, r, herr, start)
	}
	s.metrics.latency.observe(time.Since(start).Seconds())
}

// statusClientGone is nginx's "client closed request": the client went away before its
// answer, which is not sent.
const statusClientGone = 499

// classify reads, decodes and queues the request, and waits for its answer.
func (s *Server) classify(w http.ResponseWriter, r *http.Request) ([]classify.Prediction, *httpError) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", "POST")
		return nil, errorf(http.StatusMethodNotAllowed, "use POST")
	}
	ct := r.Header.Get("Content-Type")
	if r.ContentLength > s.o.MaxBody {
		return nil, errorf(http.StatusRequestEntityTooLarge, "body of %d bytes, the limit is %d", r.ContentLength, s.o.MaxBody)
	}
	if !s.admit() {
		return nil, errorf(http.StatusServiceUnavailable, "the queue is full (%d requests): retry later", s.o.Queue)
	}
	queued := false
	defer func() {
		if !queued {
			s.leave()
		}
	}()
	body, herr := s.readBody(w, r)
	if herr != nil {
		return nil, herr
	}
	// Decode and preprocess, a few at a time (each holds a decoded image).
	s.decoders <- struct{}{}
	req, herr := decodeRequest(ct, r.URL.RawQuery, body, limits{maxPixels: s.o.MaxPixels, defaultTop: s.o.Top, classes: s.c.Classes()})
	var x []float32
	if herr == nil {
		x = s.inputs.Get().([]float32)
		if err := s.c.Preprocess(x, req.img); err != nil {
			s.inputs.Put(x)
			herr = errorf(http.StatusBadRequest, "%v", err)
		}
	}
	<-s.decoders
	if herr != nil {
		return nil, herr
	}
	j := &job{x: x, top: req.top, queued: time.Now(), gone: r.Context().Done(), reply: make(chan reply, 1)}
	select {
	case <-s.done: // closed: nobody would answer
		s.inputs.Put(x)
		return nil, errorf(http.StatusServiceUnavailable, "the server is shutting down")
	default:
	}
	s.waiting.Add(1)
	s.queue <- j // never blocks: at most Queue jobs are admitted
	queued = true
	select {
	case rep := <-j.reply:
		return rep.pred, rep.err
	case <-r.Context().Done():
		// The batcher drops the job if it has not run yet, and gives its place back.
		return nil, errorf(statusClientGone, "the client went away")
	}
}

// readBody reads the body within ReadTimeout and MaxBody.
func (s *Server) readBody(w http.ResponseWriter, r *http.Request) ([]byte, *httpError) {
	rc := http.NewResponseController(w)
	if s.o.ReadTimeout > 0 {
		rc.SetReadDeadline(time.Now().Add(s.o.ReadTimeout))
		// Lift it once read: the connection's reads that follow (the server watching for
		// the client going away, the next request) must not inherit it.
		defer rc.SetReadDeadline(time.Time{})
	}
	body, err := readAll(http.MaxBytesReader(w, r.Body, s.o.MaxBody), r.ContentLength)
	var tooLarge *http.MaxBytesError
	switch {
	case err == nil:
		return body, nil
	case errors.As(err, &tooLarge):
		return nil, errorf(http.StatusRequestEntityTooLarge, "body over the limit of %d bytes", s.o.MaxBody)
	case errors.Is(err, os.ErrDeadlineExceeded):
		return nil, errorf(http.StatusRequestTimeout, "the body did not arrive within %v (%d bytes received)", s.o.ReadTimeout, len(body))
	}
	return nil, errorf(http.StatusBadRequest, "reading the body: %v", err)
}

// readAll reads r to its end, in one buffer when the size is known (sizeHint ≥ 0) and at
// most 1 MiB: a larger declared size is not trusted with memory before its bytes arrive.
func readAll(r io.Reader, sizeHint int64) ([]byte, error) {
	b := make([]byte, 0, min(max(sizeHint+1, 512), 1<<20)) // +1: room to see the end without growing
	for {
		if len(b) == cap(b) {
			b = append(b, 0)[:len(b)]
		}
		n, err := r.Read(b[len(b):cap(b)])
		b = b[:len(b)+n]
		if err == io.EOF {
			return b, nil
		}
		if err != nil {
			return b, err
		}
	}
}

// batcher gathers queued jobs into batches and runs them until Close.
func (s *Server) batcher() {
	defer close(s.done)
	x := make([]float32, s.o.MaxBatch*s.per)
	batch := make([]*job, 0, s.o.MaxBatch)
	timer := time.NewTimer(time.Hour)
	timer.Stop()
	for {
		var first *job
		select {
		case first = <-s.queue:
		case <-s.stop:
			// Answer whatever is still queued (nothing, after http.Server.Shutdown).
			select {
			case first = <-s.queue:
			default:
				return
			}
		}
		batch = append(batch[:0], first)
		// Wait at most MaxWait from the first job's arrival, taking what is already queued
		// first (a select would pick a ready timer half the time).
		timer.Reset(max(0, time.Until(first.queued.Add(s.o.MaxWait))))
	gather:
		for len(batch) < s.o.MaxBatch {
			select {
			case j := <-s.queue:
				batch = append(batch, j)
				continue
			default:
			}
			select {
			case j := <-s.queue:
				batch = append(batch, j)
			case <-timer.C:
				break gather
			}
		}
		timer.Stop()
		s.run(batch, x)
	}
}

// run computes a batch and answers its jobs; a job whose client has gone is dropped.
func (s *Server) run(batch []*job, x []float32) {
	n, top := 0, 1
	live := batch[:0]
	s.waiting.Add(-int64(len(batch)))
	for _, j := range batch {
		select {
		case <-j.gone:
			s.metrics.canceled.Add(1)
			s.inputs.Put(j.x)
			s.leave()
			continue
		default:
		}
		copy(x[n*s.per:], j.x)
		s.inputs.Put(j.x)
		top = max(top, j.top)
		live = append(live, j)
		n++
	}
	if n == 0 {
		return
	}
	s.metrics.batches.Add(1)
	s.metrics.images.Add(uint64(n))
	s.metrics.batchSize.observe(float64(n))
	t0 := time.Now()
	preds, err := s.c.ClassifyTensor(tensor.FromSlice(x[:n*s.per], append([]int{n}, s.inShape...)...), top)
	s.metrics.batchTime.observe(time.Since(t0).Seconds())
	for i, j := range live {
		// The place is free once the answer is ready: a client that sends its next request
		// as soon as it has this answer finds it free.
		s.leave()
		if err != nil {
			j.reply <- reply{err: errorf(http.StatusInternalServerError, "%v", err)}
		} else {
			j.reply <- reply{pred: preds[i][:j.top]}
		}
	}
}

// errorBody is the body of every answer but 200.
type errorBody struct {
	Error string `json:"error"`
}

func (s *Server) fail(w http.ResponseWriter, r *http.Request, e *httpError, start time.Time) {
	s.answer(w, r, e.status, errorBody{e.msg})
	s.logf(r, e.status, start, "%s", e.msg)
}

func (s *Server) answer(w http.ResponseWriter, r *http.Request, status int, v any) {
	if r.URL.Path != "/healthz" && r.URL.Path != "/metrics" {
		s.metrics.count(status)
	}
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	json.NewEncoder(w).Encode(v)
}

// logf writes one line about a request to Options.Log.
func (s *Server) logf(r *http.Request, status int, start time.Time, format string, a ...any) {
	if s.o.Log == nil {
		return
	}
	dur := ""
	if !start.IsZero() {
		dur = fmt.Sprintf(" %.2fms", float64(time.Since(start).Microseconds())/1000)
	}
	id := ""
	if v := r.Header.Get("X-Request-Id"); v != "" {
		id = " id=" + strings.ReplaceAll(v, " ", "_")
	}
	line := fmt.Sprintf("%s %s %s %s %d%s%s %s\n", time.Now().Format("2006-01-02T15:04:05.000Z07:00"), r.RemoteAddr, r.Method, r.URL.Path, status, dur, id, fmt.Sprintf(format, a...))
	s.logMu.Lock()
	io.WriteString(s.o.Log, line)
	s.logMu.Unlock()
}
