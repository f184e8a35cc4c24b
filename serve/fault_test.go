package serve

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"hash/crc32"
	"image/gif"
	"image/jpeg"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/loadgen"
)

// pngBomb returns a small PNG whose header declares a w×h RGB image (a decompression
// bomb: its few bytes of data would inflate to w·h·3 bytes).
func pngBomb(w, h uint32) []byte {
	var b bytes.Buffer
	b.WriteString("\x89PNG\r\n\x1a\n")
	chunk := func(typ string, data []byte) {
		binary.Write(&b, binary.BigEndian, uint32(len(data)))
		b.WriteString(typ)
		b.Write(data)
		binary.Write(&b, binary.BigEndian, crc32.ChecksumIEEE(append([]byte(typ), data...)))
	}
	ihdr := make([]byte, 13)
	binary.BigEndian.PutUint32(ihdr[0:], w)
	binary.BigEndian.PutUint32(ihdr[4:], h)
	ihdr[8], ihdr[9] = 8, 2 // 8 bits, RGB
	chunk("IHDR", ihdr)
	// zlib stream of a few zero bytes (the rest of the rows would be more of the same).
	chunk("IDAT", []byte{0x78, 0x9c, 0x63, 0x60, 0x00, 0x00, 0x00, 0x02, 0x00, 0x01})
	chunk("IEND", nil)
	return b.Bytes()
}

// jpegBomb returns a small JPEG whose frame header declares a w×h image.
func jpegBomb(t testing.TB, w, h uint16) []byte {
	var b bytes.Buffer
	if err := jpeg.Encode(&b, picture(8, 8, 1), nil); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	i := bytes.Index(data, []byte{0xff, 0xc0})
	if i < 0 {
		t.Fatal("no SOF0 marker")
	}
	binary.BigEndian.PutUint16(data[i+5:], h)
	binary.BigEndian.PutUint16(data[i+7:], w)
	return data
}

// rawExchange sends head, then each part of the body after its delay, on a new
// connection, and returns the response (read with a deadline).
func rawExchange(t *testing.T, addr, head string, parts [][]byte, delays []time.Duration) (*http.Response, []byte) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(20 * time.Second))
	if _, err := io.WriteString(conn, head); err != nil {
		t.Fatal(err)
	}
	for i, p := range parts {
		time.Sleep(delays[i])
		if _, err := conn.Write(p); err != nil {
			break // the server may answer and close before the body is complete
		}
	}
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	return resp, body
}

// Each bad request gets its status and a JSON error while 16 good clients run alongside
// without a failure (Acceptance 4 of issue 15).
func TestServeBadRequests(t *testing.T) {
	c := testClassifier(t, exampleModel, 32)
	const maxBody = 256 << 10
	readTimeout := 400 * time.Millisecond
	base, srv := start(t, c, Options{MaxBody: maxBody, ReadTimeout: readTimeout})
	addr := strings.TrimPrefix(base, "http://")
	good := requests(t, c, 32, 32, 32, "png", 3)
	ctx, cancel := context.WithCancel(context.Background())
	var st *loadgen.Stats
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		st = loadgen.Run(ctx, loadgen.Config{URL: base + "/v1/classify", Clients: 16, Reqs: good})
	}()

	png := good[0].Body
	var gifBody bytes.Buffer
	gif.Encode(&gifBody, picture(8, 8, 2), nil)
	b64 := base64.StdEncoding.EncodeToString(png)
	jsonBody := func(s string) []byte { return []byte(s) }
	cases := []struct {
		name, method, path, ctype string
		body                      []byte
		status                    int
		want                      string // in the error message
	}{
		{"garbage PNG", "POST", "/v1/classify", "image/png", []byte("definitely not a PNG"), 400, "malformed image"},
		{"truncated PNG", "POST", "/v1/classify", "image/png", png[:len(png)*2/3], 400, "malformed image"},
		{"PNG as JPEG", "POST", "/v1/classify", "image/jpeg", []byte("\xff\xd8\xff garbage"), 400, "malformed image"},
		{"malformed JSON", "POST", "/v1/classify", "application/json", jsonBody(`{"image": "`), 400, "malformed JSON"},
		{"JSON without image", "POST", "/v1/classify", "application/json", jsonBody(`{"top": 3}`), 400, `no "image"`},
		{"bad base64", "POST", "/v1/classify", "application/json", jsonBody(`{"image": "!!not base64!!"}`), 400, "base64"},
		{"base64 of garbage", "POST", "/v1/classify", "application/json", jsonBody(`{"image": "aGVsbG8gd29ybGQ="}`), 400, "malformed image"},
		{"bad JSON top", "POST", "/v1/classify", "application/json", jsonBody(`{"image": "` + b64 + `", "top": 0}`), 400, "top 0"},
		{"bad query top", "POST", "/v1/classify?top=x", "image/png", png, 400, "top"},
		{"empty body", "POST", "/v1/classify", "image/png", nil, 400, "empty"},
		{"text", "POST", "/v1/classify", "text/plain", png, 415, "text/plain"},
		{"no content type", "POST", "/v1/classify", "", png, 415, "Content-Type"},
		{"GIF type", "POST", "/v1/classify", "image/gif", gifBody.Bytes(), 415, "image/gif"},
		{"GIF body", "POST", "/v1/classify", "image/png", gifBody.Bytes(), 415, "gif"},
		{"PNG bomb 30000×30000", "POST", "/v1/classify", "image/png", pngBomb(30000, 30000), 413, "30000×30000"},
		{"JPEG bomb 30000×30000", "POST", "/v1/classify", "image/jpeg", jpegBomb(t, 30000, 30000), 413, "30000×30000"},
		{"JSON PNG bomb", "POST", "/v1/classify", "application/json", jsonBody(`{"image": "` + base64.StdEncoding.EncodeToString(pngBomb(30000, 30000)) + `"}`), 413, "30000×30000"},
		{"body over the limit", "POST", "/v1/classify", "image/png", make([]byte, maxBody+1), 413, "limit"},
		{"GET classify", "GET", "/v1/classify", "", nil, 405, "POST"},
		{"unknown path", "GET", "/v2/nothing", "", nil, 404, "/v2/nothing"},
	}
	client := &http.Client{Timeout: 20 * time.Second}
	check := func(name string, resp *http.Response, body []byte, status int, want string) {
		t.Helper()
		var e struct{ Error string }
		if resp.StatusCode != status || json.Unmarshal(body, &e) != nil || !strings.Contains(e.Error, want) ||
			!strings.HasPrefix(resp.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: %s %q, want %d with an error containing %q", name, resp.Status, body, status, want)
		}
	}
	for _, tc := range cases {
		req, err := http.NewRequest(tc.method, base+tc.path, bytes.NewReader(tc.body))
		if err != nil {
			t.Fatal(err)
		}
		if tc.ctype != "" {
			req.Header.Set("Content-Type", tc.ctype)
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Errorf("%s: %v", tc.name, err)
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		check(tc.name, resp, body, tc.status, tc.want)
	}

	// A body over the limit without a Content-Length (chunked) is cut off at the limit.
	pr, pw := io.Pipe()
	go func() {
		for range 8 {
			pw.Write(make([]byte, maxBody/4))
		}
		pw.Close()
	}()
	resp, err := client.Post(base+"/v1/classify", "image/png", pr)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	check("chunked body over the limit", resp, body, 413, "limit")

	// Half a body, then a stall; and a body trickling in too slowly.
	head := fmt.Sprintf("POST /v1/classify HTTP/1.1\r\nHost: %s\r\nContent-Type: image/png\r\nContent-Length: %d\r\n\r\n", addr, len(png))
	resp, body = rawExchange(t, addr, head, [][]byte{png[:len(png)/2]}, []time.Duration{0})
	check("half a body, then a stall", resp, body, 408, "did not arrive")
	var parts [][]byte
	var delays []time.Duration
	for i := 0; i < len(png); i += len(png) / 20 {
		parts = append(parts, png[i:min(i+len(png)/20, len(png))])
		delays = append(delays, readTimeout/10)
	}
	resp, body = rawExchange(t, addr, head, parts, delays)
	check("slow upload", resp, body, 408, "did not arrive")

	cancel()
	wg.Wait()
	t.Logf("good clients alongside: %v", st)
	if st.Sent == 0 || st.ByStatus[200] != st.Sent || st.Wrong != 0 || st.Transport != 0 {
		t.Errorf("good clients: %v; first problems %q", st, st.Samples)
	}
	drained(t, srv)
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	m, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`code="400"} 10`, `code="408"} 2`, `code="413"} 5`, `code="415"} 4`, `code="404"} 1`, `code="405"} 1`} {
		if !bytes.Contains(m, []byte(want)) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
}

// A decompression bomb is refused from its header: decoding the request allocates
// nothing near its declared size.
func TestBombAllocatesNothing(t *testing.T) {
	lim := limits{maxPixels: DefaultMaxPixels, defaultTop: 5, classes: 10}
	for name, body := range map[string][]byte{"png": pngBomb(30000, 30000), "jpeg": jpegBomb(t, 30000, 30000)} {
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		_, herr := decodeRequest("image/"+name, "", body, lim)
		runtime.ReadMemStats(&after)
		if herr == nil || herr.status != http.StatusRequestEntityTooLarge {
			t.Errorf("%s bomb: %v, want 413", name, herr)
		}
		if got := after.TotalAlloc - before.TotalAlloc; got > 1<<20 {
			t.Errorf("%s bomb: %d bytes allocated", name, got)
		}
	}
}

// A body's declared size is not trusted with memory: a request that declares 8 MiB and
// sends 3 bytes gets a buffer of at most 1 MiB; bodies of any size are read whole.
func TestReadAllTrustsNoDeclaredSize(t *testing.T) {
	b, err := readAll(strings.NewReader("abc"), 8<<20)
	if err != nil || string(b) != "abc" || cap(b) > 1<<20 {
		t.Errorf("read %q (%v) into a buffer of %d bytes, want abc in at most 1 MiB", b, err, cap(b))
	}
	big := bytes.Repeat([]byte("0123456789"), 300_000)
	for _, hint := range []int64{-1, 0, int64(len(big)), int64(len(big)) + 5} {
		b, err := readAll(bytes.NewReader(big), hint)
		if err != nil || !bytes.Equal(b, big) {
			t.Errorf("size hint %d: read %d bytes (%v), want %d", hint, len(b), err, len(big))
		}
	}
}
