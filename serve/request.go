package serve

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"image"
	"mime"
	"net/http"
	"net/url"
	"strconv"

	"github.com/bonsai-dl/bonsai/classify"
)

// httpError is an answer other than 200: its status and message.
type httpError struct {
	status int
	msg    string
}

func (e *httpError) Error() string { return e.msg }

func errorf(status int, format string, a ...any) *httpError {
	return &httpError{status: status, msg: fmt.Sprintf(format, a...)}
}

// jsonRequest is the JSON form of a classification request.
type jsonRequest struct {
	Image *string `json:"image"` // base64 (standard alphabet, padding optional) of a PNG or JPEG
	Top   *int    `json:"top"`
}

// Content types of a request body.
const (
	typePNG  = "image/png"
	typeJPEG = "image/jpeg"
	typeJSON = "application/json"
)

// request is a decoded classification request.
type request struct {
	img image.Image
	top int
}

// limits are the bounds decodeRequest enforces.
type limits struct {
	maxPixels  int64
	defaultTop int
	classes    int // the largest top
}

// decodeRequest decodes the body of a POST /v1/classify whose Content-Type header is
// contentType and whose query string is query. It never panics; its errors are
// *httpError with status 400, 413 or 415.
func decodeRequest(contentType, query string, body []byte, lim limits) (request, *httpError) {
	mt, _, err := mime.ParseMediaType(contentType)
	if err != nil && contentType != "" {
		return request{}, errorf(http.StatusUnsupportedMediaType, "bad Content-Type %q: %v", contentType, err)
	}
	req := request{top: lim.defaultTop}
	var data []byte
	switch mt {
	case typePNG, typeJPEG:
		q, err := url.ParseQuery(query)
		if err != nil {
			return request{}, errorf(http.StatusBadRequest, "bad query string: %v", err)
		}
		if s := q.Get("top"); s != "" {
			k, err := strconv.Atoi(s)
			if err != nil {
				return request{}, errorf(http.StatusBadRequest, "top=%q is not an integer", s)
			}
			req.top = k
		}
		data = body
	case typeJSON:
		var jr jsonRequest
		if err := json.Unmarshal(body, &jr); err != nil {
			return request{}, errorf(http.StatusBadRequest, "malformed JSON: %v", err)
		}
		if jr.Image == nil {
			return request{}, errorf(http.StatusBadRequest, `the JSON object has no "image" (base64 of a PNG or JPEG)`)
		}
		if jr.Top != nil {
			req.top = *jr.Top
		}
		enc := base64.StdEncoding
		if len(*jr.Image)%4 != 0 {
			enc = base64.RawStdEncoding
		}
		if data, err = enc.DecodeString(*jr.Image); err != nil {
			return request{}, errorf(http.StatusBadRequest, `"image" is not valid base64: %v`, err)
		}
	case "":
		return request{}, errorf(http.StatusUnsupportedMediaType, "no Content-Type: send %s, %s or %s", typePNG, typeJPEG, typeJSON)
	default:
		return request{}, errorf(http.StatusUnsupportedMediaType, "Content-Type %q: send %s, %s or %s", mt, typePNG, typeJPEG, typeJSON)
	}
	if req.top < 1 {
		return request{}, errorf(http.StatusBadRequest, "top %d: want at least 1", req.top)
	}
	req.top = min(req.top, lim.classes)
	if len(data) == 0 {
		return request{}, errorf(http.StatusBadRequest, "empty image")
	}
	// The header first: a format we do not serve, or too many pixels, is refused before
	// any pixel is decoded.
	cfg, format, err := image.DecodeConfig(bytes.NewReader(data))
	switch {
	case err != nil:
		return request{}, errorf(http.StatusBadRequest, "malformed image: %v", err)
	case format != "png" && format != "jpeg":
		return request{}, errorf(http.StatusUnsupportedMediaType, "%s image: send PNG or JPEG", format)
	case cfg.Width <= 0 || cfg.Height <= 0:
		return request{}, errorf(http.StatusBadRequest, "%s image of %d×%d pixels", format, cfg.Width, cfg.Height)
	}
	img, _, err := classify.DecodeImage(data, lim.maxPixels)
	switch {
	case errors.Is(err, classify.ErrTooLarge):
		return request{}, errorf(http.StatusRequestEntityTooLarge, "%v", err)
	case err != nil:
		return request{}, errorf(http.StatusBadRequest, "malformed image: %v", err)
	}
	req.img = img
	return req, nil
}
