package main

import (
	"bufio"
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os/exec"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/classify"
	"github.com/bonsai-dl/bonsai/internal/loadgen"
)

// startServe starts bonsai serve with args on an ephemeral loopback port and returns the
// process, its base URL and its stderr (to read after Wait), and a channel that yields
// stdout's later lines.
func startServe(t *testing.T, args ...string) (*exec.Cmd, string, *bytes.Buffer, <-chan string) {
	t.Helper()
	cmd := exec.Command(bonsaiBin(t), append([]string{"serve", "-addr", "127.0.0.1:0"}, args...)...)
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	lines := make(chan string, 16)
	sc := bufio.NewScanner(out)
	if !sc.Scan() {
		cmd.Wait()
		t.Fatalf("bonsai serve printed nothing; stderr: %s", stderr.String())
	}
	first := sc.Text()
	go func() {
		for sc.Scan() {
			lines <- sc.Text()
		}
		close(lines)
	}()
	url := regexp.MustCompile(`http://127\.0\.0\.1:[0-9]+`).FindString(first)
	if url == "" || !strings.Contains(first, "MACs") || !strings.Contains(first, "resnet8") {
		t.Fatalf("first line %q: want the model, its MACs and the address", first)
	}
	return cmd, url, &stderr, lines
}

// pngRequests returns n 32×32 PNG requests with the answers Classify gives them.
func pngRequests(t *testing.T, c *classify.Classifier, n, top int) []loadgen.Request {
	t.Helper()
	var reqs []loadgen.Request
	for i := range n {
		img := image.NewNRGBA(image.Rect(0, 0, 32, 32))
		for p := range 32 * 32 {
			img.SetNRGBA(p%32, p/32, color.NRGBA{uint8(p*7 + i*31), uint8(p/32*9 + i), uint8(p * i), 255})
		}
		var b bytes.Buffer
		png.Encode(&b, img)
		dec, _, err := classify.DecodeImage(b.Bytes(), 0)
		if err != nil {
			t.Fatal(err)
		}
		want, err := c.Classify(dec, top)
		if err != nil {
			t.Fatal(err)
		}
		reqs = append(reqs, loadgen.Request{Body: b.Bytes(), ContentType: "image/png", Want: want})
	}
	return reqs
}

// SIGTERM under load: the server stops accepting, answers every request it has received
// (each answer correct), prints that it stopped and exits with 0 (Acceptance 4 of issue
// 15). Requests are matched by X-Request-Id between the clients and the server's -v log.
func TestServeSIGTERMUnderLoad(t *testing.T) {
	for _, sig := range []syscall.Signal{syscall.SIGTERM, syscall.SIGINT} {
		t.Run(sig.String(), func(t *testing.T) {
			cmd, url, stderr, lines := startServe(t, "-weights", exampleModel, "-v", "-max-wait", "5ms")
			c, err := classify.Load(exampleModel, classify.Options{})
			if err != nil {
				t.Fatal(err)
			}
			reqs := pngRequests(t, c, 32, 5)
			ctx, cancel := context.WithCancel(context.Background())
			defer cancel()
			done := make(chan *loadgen.Stats)
			go func() {
				done <- loadgen.Run(ctx, loadgen.Config{URL: url + "/v1/classify", Clients: 16, Reqs: reqs, IDs: true})
			}()
			time.Sleep(700 * time.Millisecond)
			if err := cmd.Process.Signal(sig); err != nil {
				t.Fatal(err)
			}
			waited := make(chan error, 1)
			go func() { waited <- cmd.Wait() }()
			var werr error
			select {
			case werr = <-waited:
			case <-time.After(30 * time.Second):
				t.Fatal("bonsai serve did not exit within 30 s of the signal")
			}
			time.Sleep(100 * time.Millisecond) // the clients meet the closed port
			cancel()
			st := <-done
			if code := exitCode(t, werr); code != 0 {
				t.Errorf("exit %d, want 0; stderr tail: %s", code, tail(stderr.String()))
			}
			var rest []string
			for l := range lines {
				rest = append(rest, l)
			}
			if len(rest) == 0 || !strings.Contains(strings.Join(rest, "\n"), "stopped") {
				t.Errorf("stdout after the first line: %q", rest)
			}
			// Every request the server logged was answered to its client, with 200 and the
			// right classes; the clients' failures are requests the server never received.
			logged := 0
			for _, line := range strings.Split(stderr.String(), "\n") {
				m := regexp.MustCompile(`POST /v1/classify (\d+) .* id=(\S+)`).FindStringSubmatch(line)
				if m == nil {
					continue
				}
				logged++
				if m[1] != "200" {
					t.Errorf("server answered %s: %s", m[1], line)
				}
				if st.ByID[m[2]] != 200 {
					t.Errorf("request %s: the server answered it (%s) but its client got %d (error %q)", m[2], m[1], st.ByID[m[2]], st.FailedIDs[m[2]])
				}
			}
			t.Logf("%v; %d requests in the server's log; %d client requests without an answer (after the port closed)", st, logged, len(st.FailedIDs))
			if logged != st.ByStatus[200] || st.Wrong != 0 || logged < 16 {
				t.Errorf("%d logged, %d answers 200 to clients, %d wrong", logged, st.ByStatus[200], st.Wrong)
			}
		})
	}
}

func tail(s string) string {
	if len(s) > 2000 {
		return "…" + s[len(s)-2000:]
	}
	return s
}

func TestServeFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"serve"}, 2, "-weights"},
		{[]string{"serve", "-weights", exampleModel, "-max-batch", "0"}, 2, "-max-batch"},
		{[]string{"serve", "-weights", exampleModel, "-queue", "0"}, 2, "-queue"},
		{[]string{"serve", "-weights", exampleModel, "-addr", "nonsense"}, 2, "-addr"},
		{[]string{"serve", "-weights", exampleModel, "-read-timeout", "0s"}, 2, "-read-timeout"},
		{[]string{"serve", "-weights", exampleModel, "extra"}, 2, "extra"},
		{[]string{"serve", "-weights", "/nonexistent/m.safetensors"}, 1, "/nonexistent/m.safetensors"},
	} {
		code, _, errOut := bonsai(tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d (want %d), stderr %q (want %q)", tc.args, code, tc.code, errOut, tc.want)
		}
	}
}
