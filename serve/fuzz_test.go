package serve

import (
	"bytes"
	"encoding/base64"
	"image/jpeg"
	"image/png"
	"net/http"
	"testing"

	"github.com/bonsai-dl/bonsai/classify"
)

// FuzzDecodeRequest: no request body, content type or query makes the decoding or the
// preprocessing panic; an error is a 400, 413 or 415, and a decoded request has an image
// and a top within 1…classes. Run with go test -fuzz FuzzDecodeRequest ./serve.
func FuzzDecodeRequest(f *testing.F) {
	var pngBody, jpegBody bytes.Buffer
	png.Encode(&pngBody, picture(13, 7, 1))
	jpeg.Encode(&jpegBody, picture(9, 17, 2), &jpeg.Options{Quality: 50})
	b64 := base64.StdEncoding.EncodeToString(pngBody.Bytes())
	f.Add("image/png", "top=3", pngBody.Bytes())
	f.Add("image/jpeg", "", jpegBody.Bytes())
	f.Add("application/json", "", []byte(`{"image": "`+b64+`", "top": 2}`))
	f.Add("application/json; charset=utf-8", "", []byte(`{"image": "`+b64[:len(b64)-2]+`"}`))
	f.Add("image/png", "", pngBomb(30000, 30000))
	f.Add("image/png", "top=-1", []byte("\x89PNG\r\n\x1a\n"))
	f.Add("text/plain", "", []byte("hello"))
	f.Add("", "%zz", []byte{})
	c, err := classify.Load(exampleModel, classify.Options{MaxBatch: 1, Runners: 1})
	if err != nil {
		f.Fatal(err)
	}
	// A small pixel limit keeps each input cheap; the limit's logic is the same.
	lim := limits{maxPixels: 1 << 16, defaultTop: 5, classes: c.Classes()}
	x := make([]float32, 3*32*32)
	f.Fuzz(func(t *testing.T, contentType, query string, body []byte) {
		req, herr := decodeRequest(contentType, query, body, lim)
		if herr != nil {
			switch herr.status {
			case http.StatusBadRequest, http.StatusRequestEntityTooLarge, http.StatusUnsupportedMediaType:
			default:
				t.Fatalf("status %d: %v", herr.status, herr)
			}
			return
		}
		if req.img == nil || req.top < 1 || req.top > c.Classes() {
			t.Fatalf("decoded request with image %v, top %d", req.img != nil, req.top)
		}
		if err := c.Preprocess(x, req.img); err != nil {
			t.Fatalf("preprocessing a decoded image: %v", err)
		}
	})
}
