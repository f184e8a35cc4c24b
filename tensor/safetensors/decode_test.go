package safetensors

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// handWritten is a safetensors file written out by hand, laid out as the
// reference implementation would lay it out: "__metadata__" first, fields
// in dtype, shape, data_offsets order, header padded with spaces to 152
// (0x98) bytes, and tensors in the buffer in an order other than the
// header's.
const handWritten = "\x98\x00\x00\x00\x00\x00\x00\x00" +
	`{"__metadata__":{"format":"pt"},` +
	`"weight":{"dtype":"F32","shape":[2],"data_offsets":[2,10]},` +
	`"step":{"dtype":"I16","shape":[],"data_offsets":[0,2]}}` +
	"      " +
	"\x07\x00" + // step: int16 7
	"\x00\x00\x80\x3f" + "\x00\x00\x20\xc0" // weight: float32 1, -2.5

func TestDecodeHandWritten(t *testing.T) {
	f, err := Decode([]byte(handWritten))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Metadata: map[string]string{"format": "pt"},
		Tensors: map[string]*Tensor{
			"weight": {DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0}},
			"step":   {DType: I16, Shape: []int{}, Data: []byte{7, 0}},
		},
	}
	if d := diffFiles(f, want); d != "" {
		t.Fatal(d)
	}
	w, err := f.Tensors["weight"].Float32s()
	if err != nil || !slices.Equal(w, []float32{1, -2.5}) {
		t.Errorf("weight.Float32s() = %v, %v; want [1 -2.5]", w, err)
	}
	s, err := f.Tensors["step"].Int64s()
	if err != nil || !slices.Equal(s, []int64{7}) {
		t.Errorf("step.Int64s() = %v, %v; want [7]", s, err)
	}
	if got := f.Names(); !slices.Equal(got, []string{"step", "weight"}) {
		t.Errorf("Names() = %q", got)
	}
}

// TestDecodeLenient covers valid inputs this package's encoder never
// writes: pretty-printed JSON, no padding, escaped names, empty tensors.
func TestDecodeLenient(t *testing.T) {
	header := "{\n  \"a\\u00e9\\n\": {\"shape\": [ 2, 0 ], \"data_offsets\": [1, 1], \"dtype\": \"BF16\"},\n" +
		"  \"b\": {\"dtype\": \"U8\", \"shape\": [1], \"data_offsets\": [0, 1]},\n" +
		"  \"c\": {\"dtype\": \"BOOL\", \"shape\": [0], \"data_offsets\": [0, 0]},\n" +
		"  \"__metadata__\": {}\n}\n"
	f, err := Decode(rawFile(header, []byte{42}))
	if err != nil {
		t.Fatal(err)
	}
	want := &File{
		Metadata: map[string]string{},
		Tensors: map[string]*Tensor{
			"aé\n": {DType: BF16, Shape: []int{2, 0}, Data: []byte{}},
			"b":    {DType: U8, Shape: []int{1}, Data: []byte{42}},
			"c":    {DType: BOOL, Shape: []int{0}, Data: []byte{}},
		},
	}
	if d := diffFiles(f, want); d != "" {
		t.Fatal(d)
	}
}

func TestDecodeEmpty(t *testing.T) {
	for _, data := range []string{"\x02\x00\x00\x00\x00\x00\x00\x00{}", "\x08\x00\x00\x00\x00\x00\x00\x00{}      "} {
		f, err := Decode([]byte(data))
		if err != nil {
			t.Fatalf("Decode(%q): %v", data, err)
		}
		if f.Metadata != nil || len(f.Tensors) != 0 || f.Tensors == nil {
			t.Errorf("Decode(%q) = %+v, want an empty File", data, f)
		}
	}
}

// TestDecodeDataCapacity checks that appending to one decoded tensor's Data
// cannot overwrite the next tensor's.
func TestDecodeDataCapacity(t *testing.T) {
	f, err := Decode([]byte(handWritten))
	if err != nil {
		t.Fatal(err)
	}
	step := f.Tensors["step"]
	if cap(step.Data) != len(step.Data) {
		t.Errorf("cap(step.Data) = %d, want %d", cap(step.Data), len(step.Data))
	}
}

// entryJSON is a valid tensor entry for a 4-byte data buffer.
const entryJSON = `{"dtype":"F32","shape":[1],"data_offsets":[0,4]}`

func TestDecodeErrors(t *testing.T) {
	buf4 := make([]byte, 4)
	tests := []struct {
		name string
		data []byte
		want []string // substrings of the error, after "safetensors: "
	}{
		{"empty file", nil, []string{"file is 0 bytes, shorter than the 8-byte header length"}},
		{"short file", []byte{2, 0, 0}, []string{"file is 3 bytes, shorter than"}},
		{"header past end", []byte("\x64\x00\x00\x00\x00\x00\x00\x00{}"), []string{"header length 100 is larger than the 2 bytes that follow it"}},
		{"header over limit", []byte("\x01\x00\x40\x06\x00\x00\x00\x00{}"), []string{"header length 104857601 exceeds the 100 MiB limit"}},
		{"header huge", []byte("\xff\xff\xff\xff\xff\xff\xff\xff{}"), []string{"header length 18446744073709551615 exceeds"}},
		{"not UTF-8", rawFile("{\"\xff\":{}}", nil), []string{"header is not valid UTF-8"}},
		{"not JSON", rawFile(`{"a":`, nil), []string{"header is not valid JSON", "unexpected end of JSON input"}},
		{"empty header", rawFile("", nil), []string{"header is not valid JSON"}},
		{"trailing garbage", rawFile(`{} x`, nil), []string{"header is not valid JSON", "invalid character 'x'", "at byte 4"}},
		{"two objects", rawFile(`{}{}`, nil), []string{"header is not valid JSON"}},
		{"NUL padding", rawFile("{}\x00\x00", nil), []string{"header is not valid JSON"}},
		{"array header", rawFile(`[1,2]`, nil), []string{"header is a JSON array, want an object"}},
		{"null header", rawFile(`null`, nil), []string{"header is a JSON null, want an object"}},
		{"duplicate tensor", rawFile(`{"a":`+entryJSON+`,"a":`+entryJSON+`}`, buf4), []string{`header has duplicate key "a"`}},
		{"duplicate escaped", rawFile(`{"a":`+entryJSON+`,"\u0061":`+entryJSON+`}`, buf4), []string{`duplicate key "a"`}},
		{"metadata array", rawFile(`{"__metadata__":["a"]}`, nil), []string{`"__metadata__" is a JSON array, want an object`}},
		{"metadata null", rawFile(`{"__metadata__":null}`, nil), []string{`"__metadata__" is a JSON null, want an object`}},
		{"metadata number value", rawFile(`{"__metadata__":{"epoch":3}}`, nil), []string{`"__metadata__": value of "epoch" is a JSON number, want a string`}},
		{"metadata object value", rawFile(`{"__metadata__":{"k":{}}}`, nil), []string{`value of "k" is a JSON object`}},
		{"metadata duplicate", rawFile(`{"__metadata__":{"k":"1","k":"2"}}`, nil), []string{`"__metadata__" has duplicate key "k"`}},
		{"empty name", rawFile(`{"":`+entryJSON+`}`, buf4), []string{"tensor with an empty name"}},
		{"entry array", rawFile(`{"x":[1]}`, nil), []string{`tensor "x": entry is a JSON array, want an object`}},
		{"entry null", rawFile(`{"x":null}`, nil), []string{`tensor "x": entry is a JSON null`}},
		{"entry duplicate field", rawFile(`{"x":{"dtype":"F32","dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": entry has duplicate key "dtype"`}},
		{"unknown field", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4],"stride":[1]}}`, buf4), []string{`tensor "x": unknown field "stride"`}},
		{"unknown dtype", rawFile(`{"x":{"dtype":"F8_E4M3","shape":[1],"data_offsets":[0,1]}}`, []byte{0}), []string{`tensor "x": unknown dtype "F8_E4M3"`}},
		{"lower-case dtype", rawFile(`{"x":{"dtype":"f32","shape":[1],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": unknown dtype "f32"`}},
		{"dtype number", rawFile(`{"x":{"dtype":4,"shape":[1],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": dtype is a JSON number, want a string`}},
		{"missing dtype", rawFile(`{"x":{"shape":[1],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": missing dtype`}},
		{"missing shape", rawFile(`{"x":{"dtype":"F32","data_offsets":[0,4]}}`, buf4), []string{`tensor "x": missing shape`}},
		{"missing data_offsets", rawFile(`{"x":{"dtype":"F32","shape":[1]}}`, buf4), []string{`tensor "x": missing data_offsets`}},
		{"shape number", rawFile(`{"x":{"dtype":"F32","shape":4,"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape is a JSON number, want an array of integers`}},
		{"shape null", rawFile(`{"x":{"dtype":"F32","shape":null,"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape is a JSON null`}},
		{"shape fraction", rawFile(`{"x":{"dtype":"F32","shape":[1.0],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape element 0 is 1.0, want an integer`}},
		{"shape exponent", rawFile(`{"x":{"dtype":"F32","shape":[1,1e0],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape element 1 is 1e0, want an integer`}},
		{"shape string", rawFile(`{"x":{"dtype":"F32","shape":["1"],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape element 0 is "1", want an integer`}},
		{"shape out of range", rawFile(`{"x":{"dtype":"F32","shape":[123456789012345678901234567890],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape element 0 is 123456789012345678901..., want an integer that fits in int`}},
		{"negative dim", rawFile(`{"x":{"dtype":"F32","shape":[2,-1],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape [2 -1] has a negative dimension`}},
		{"numel overflow", rawFile(`{"x":{"dtype":"U8","shape":[4294967296,4294967296],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": shape [4294967296 4294967296]: element count overflows int`}},
		{"byte length overflow", rawFile(`{"x":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": F64 [2305843009213693952]: byte length overflows int`}},
		{"offsets one", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4]}}`, buf4), []string{`tensor "x": data_offsets [4]: want exactly two values, [begin end]`}},
		{"offsets three", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4,8]}}`, buf4), []string{`tensor "x": data_offsets [0 4 8]: want exactly two values`}},
		{"offsets object", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":{"begin":0}}}`, buf4), []string{`tensor "x": data_offsets is a JSON object, want an array of integers`}},
		{"offsets strings", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":["0","4"]}}`, buf4), []string{`tensor "x": data_offsets element 0 is "0", want an integer`}},
		{"offsets negative", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[-4,0]}}`, buf4), []string{`tensor "x": data_offsets [-4 0] has a negative offset`}},
		{"offsets reversed", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[4,0]}}`, buf4), []string{`tensor "x": data_offsets [4 0] begin after they end`}},
		{"offsets past buffer", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,4]}}`, []byte{1, 2}), []string{`tensor "x": data_offsets [0 4] end beyond the 2-byte data buffer`}},
		{"offsets past int", rawFile(`{"x":{"dtype":"F32","shape":[1],"data_offsets":[0,18446744073709551616]}}`, buf4), []string{`tensor "x": data_offsets element 1 is 18446744073709551616, want an integer that fits in int`}},
		{"length mismatch", rawFile(`{"x":{"dtype":"I64","shape":[],"data_offsets":[0,4]}}`, buf4), []string{`tensor "x": data_offsets [0 4] hold 4 bytes, want 8 (I64 [])`}},
		{"overlap", rawFile(`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, make([]byte, 12)),
			[]string{`tensor "b": data_offsets [4 12] overlap tensor "a" at [0 8]`}},
		{"same range", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"I32","shape":[1],"data_offsets":[0,4]}}`, buf4),
			[]string{`tensor "b": data_offsets [0 4] overlap tensor "a" at [0 4]`}},
		{"empty inside another", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"e":{"dtype":"F32","shape":[0],"data_offsets":[2,2]}}`, buf4),
			[]string{`tensor "e": data_offsets [2 2] overlap tensor "a" at [0 4]`}},
		{"gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[0,4]},"b":{"dtype":"F32","shape":[1],"data_offsets":[8,12]}}`, make([]byte, 12)),
			[]string{`data buffer bytes [4, 8) before tensor "b" are a gap, not covered by any tensor`}},
		{"leading gap", rawFile(`{"a":{"dtype":"F32","shape":[1],"data_offsets":[4,8]}}`, make([]byte, 8)),
			[]string{`data buffer bytes [0, 4) before tensor "a" are a gap`}},
		{"trailing bytes", rawFile(`{"a":`+entryJSON+`}`, make([]byte, 9)), []string{`data buffer bytes [4, 9) at its end are not covered by any tensor`}},
		{"no tensors, some bytes", rawFile(`{}`, buf4), []string{`data buffer bytes [0, 4) at its end are not covered`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f, err := Decode(tt.data)
			if err == nil {
				t.Fatalf("Decode succeeded with %d tensors, want an error", len(f.Tensors))
			}
			if f != nil {
				t.Errorf("Decode returned a non-nil File with its error")
			}
			msg := err.Error()
			if !strings.HasPrefix(msg, "safetensors: ") {
				t.Errorf("error %q lacks the prefix %q", msg, "safetensors: ")
			}
			for _, w := range tt.want {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q does not mention %q", msg, w)
				}
			}
		})
	}
}

// TestDecodeErrorExample checks the exact text of a typical error.
func TestDecodeErrorExample(t *testing.T) {
	data := rawFile(`{"conv1.weight":{"dtype":"F32","shape":[3,3,3],"data_offsets":[0,100]}}`, make([]byte, 100))
	_, err := Decode(data)
	const want = `safetensors: tensor "conv1.weight": data_offsets [0 100] hold 100 bytes, want 108 (F32 [3 3 3])`
	if err == nil || err.Error() != want {
		t.Errorf("Decode error:\n got %v\nwant %s", err, want)
	}
}

func TestReadFile(t *testing.T) {
	dir := t.TempDir()
	good := filepath.Join(dir, "good.safetensors")
	if err := os.WriteFile(good, []byte(handWritten), 0o644); err != nil {
		t.Fatal(err)
	}
	f, err := ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != 2 || f.Metadata["format"] != "pt" {
		t.Errorf("ReadFile(good) = %+v", f)
	}

	bad := filepath.Join(dir, "bad.safetensors")
	if err := os.WriteFile(bad, []byte(handWritten[:20]), 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = ReadFile(bad)
	if want := "safetensors: " + bad + ": header length 152 is larger than the 12 bytes that follow it"; err == nil || err.Error() != want {
		t.Errorf("ReadFile(bad) error:\n got %v\nwant %s", err, want)
	}

	missing := filepath.Join(dir, "missing.safetensors")
	_, err = ReadFile(missing)
	if err == nil || !errors.Is(err, fs.ErrNotExist) || !strings.HasPrefix(err.Error(), "safetensors: "+missing+": ") ||
		strings.Count(err.Error(), missing) != 1 {
		t.Errorf("ReadFile(missing) error = %v, want a not-exist error naming the path once", err)
	}
}
