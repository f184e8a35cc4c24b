package serve

import (
	"bytes"
	"context"
	"fmt"
	"image"
	"image/color"
	"image/jpeg"
	"image/png"
	"net"
	"net/http"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/internal/loadgen"
)

// exampleModel is a CIFAR ResNet-8 with random weights and full metadata.
const exampleModel = "../classify/testdata/example/resnet8.safetensors"

func testClassifier(t testing.TB, path string, maxBatch int) *classify.Classifier {
	t.Helper()
	c, err := classify.Load(path, classify.Options{MaxBatch: maxBatch, Runners: 1})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// start serves c with o on 127.0.0.1 and an ephemeral port, and returns the base URL; the
// server is shut down (gracefully) when the test ends.
func start(t testing.TB, c *classify.Classifier, o Options) (string, *Server) {
	t.Helper()
	srv, err := New(c, o)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: srv, ReadHeaderTimeout: 10 * time.Second}
	go hs.Serve(ln)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		hs.Shutdown(ctx)
		srv.Close()
	})
	return "http://" + ln.Addr().String(), srv
}

// picture returns a w×h test picture, different for each seed.
func picture(w, h, seed int) image.Image {
	m := image.NewNRGBA(image.Rect(0, 0, w, h))
	for y := range h {
		for x := range w {
			m.SetNRGBA(x, y, color.NRGBA{uint8(x*7 + seed*29), uint8(y*5 + seed*13), uint8((x*y + seed) * 3), 255})
		}
	}
	return m
}

// requests encodes n pictures of w×h as format ("png" or "jpeg", quality 90) and returns
// them as requests with the answer c gives each (top k).
func requests(t testing.TB, c *classify.Classifier, n, w, h int, format string, k int) []loadgen.Request {
	t.Helper()
	var reqs []loadgen.Request
	for i := range n {
		var buf bytes.Buffer
		var err error
		ct := "image/png"
		if format == "jpeg" {
			ct = "image/jpeg"
			err = jpeg.Encode(&buf, picture(w, h, i), &jpeg.Options{Quality: 90})
		} else {
			err = png.Encode(&buf, picture(w, h, i))
		}
		if err != nil {
			t.Fatal(err)
		}
		img, _, err := classify.DecodeImage(buf.Bytes(), 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.Classify(img, k)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, loadgen.Request{Query: fmt.Sprintf("?top=%d", k), Body: buf.Bytes(), ContentType: ct, Want: want})
	}
	return reqs
}

// envInt returns the integer in the environment variable name, or def.
func envInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// loadSeconds is how long each load test runs: BONSAI_SERVE_SECONDS (the acceptance runs
// use 30), else 2.
func loadSeconds(t testing.TB) time.Duration {
	return time.Duration(envInt(t, "BONSAI_SERVE_SECONDS", 2)) * time.Second
}
