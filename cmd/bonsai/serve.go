package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/serve"
)

func runServe(args []string, out, errOut io.Writer) error {
	fs := newFlags("serve", errOut)
	weights := fs.String("weights", "", "safetensors model file (required; its metadata gives the architecture, normalisation and class names)")
	arch := fs.String("arch", "", "architecture (optional when the file names one)")
	addr := fs.String("addr", "127.0.0.1:8080", "address to listen on (host:port; port 0 picks a free one)")
	maxBatch := fs.Int("max-batch", serve.DefaultMaxBatch, "most images per forward pass")
	maxWait := fs.Duration("max-wait", serve.DefaultMaxWait, "longest a request waits for others to share its batch")
	queue := fs.Int("queue", serve.DefaultQueue, "most requests admitted at once (being received, decoded, queued or computed); more are answered 503 at once")
	maxBody := fs.Int64("max-body", serve.DefaultMaxBody, "largest request body in bytes (413 above)")
	maxPixels := fs.Int64("max-pixels", serve.DefaultMaxPixels, "largest image in pixels, from its header before decoding (413 above)")
	readTimeout := fs.Duration("read-timeout", serve.DefaultReadTimeout, "time allowed to receive a request (408 for a slower or stalled upload)")
	top := fs.Int("top", serve.DefaultTop, "classes answered when a request does not say")
	verbose := fs.Bool("v", false, "log one line per request to stderr")
	if err := parse(fs, args); err != nil {
		return err
	}
	switch {
	case *weights == "":
		return usagef("-weights is required")
	case *maxBatch < 1:
		return usagef("-max-batch must be ≥ 1, got %d", *maxBatch)
	case *maxWait < 0:
		return usagef("-max-wait must be ≥ 0, got %v", *maxWait)
	case *queue < 1:
		return usagef("-queue must be ≥ 1, got %d", *queue)
	case *maxBody < 1 || *maxPixels < 1:
		return usagef("-max-body and -max-pixels must be ≥ 1")
	case *readTimeout <= 0:
		return usagef("-read-timeout must be positive, got %v", *readTimeout)
	case *top < 1:
		return usagef("-top must be ≥ 1, got %d", *top)
	}
	if _, _, err := net.SplitHostPort(*addr); err != nil {
		return usagef("-addr %q: %v", *addr, err)
	}
	if err := checkArch(*arch); err != nil {
		return err
	}
	// One batch runs at a time, on every core (the kernels' worker pool): one Runner.
	c, err := classify.Load(*weights, classify.Options{Arch: *arch, MaxBatch: *maxBatch, Runners: 1})
	if err != nil {
		return err
	}
	o := serve.Options{MaxBatch: *maxBatch, MaxWait: *maxWait, Queue: *queue, MaxBody: *maxBody,
		MaxPixels: *maxPixels, ReadTimeout: *readTimeout, Top: *top}
	if *verbose {
		o.Log = errOut
	}
	if o.MaxWait == 0 {
		o.MaxWait = time.Nanosecond // "no waiting" (0 would mean the default)
	}
	srv, err := serve.New(c, o)
	if err != nil {
		return err
	}
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		srv.Close()
		return err
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: *readTimeout, IdleTimeout: 2 * time.Minute}
	ctx, caught, stop := signalContext()
	defer stop()
	fmt.Fprintf(out, "bonsai serve: %s (%s MACs per image, %d classes) on http://%s (max batch %d, max wait %v, queue %d)\n",
		c.Arch(), si(c.MACs()), c.Classes(), ln.Addr(), *maxBatch, *maxWait, *queue)
	served := make(chan error, 1)
	go func() { served <- hs.Serve(ln) }()
	select {
	case err := <-served:
		srv.Close()
		return err
	case <-ctx.Done():
	}
	// Stop accepting, answer every request already received, then stop the batcher.
	fmt.Fprintf(out, "bonsai serve: %s: answering the requests received, then exiting\n", stopReason(caught()))
	srv.Shutting()
	sctx, cancel := context.WithTimeout(context.Background(), *readTimeout+time.Minute)
	defer cancel()
	err = hs.Shutdown(sctx)
	srv.Close()
	if err != nil {
		return fmt.Errorf("shutting down: %w", err)
	}
	if err := <-served; !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	fmt.Fprintln(out, "bonsai serve: stopped")
	return nil
}
