package safetensors

import (
	"bytes"
	"encoding/binary"
	"strings"
	"testing"
	"unicode/utf8"
)

// seedHeaders are header texts, valid and not, with the data buffer
// length each is paired with in the fuzz seeds.
var seedHeaders = []struct {
	header string
	bufLen int
}{
	{`{}`, 0},
	{`{"__metadata__":{"format":"pt"}}`, 0},
	{`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]}}`, 8},
	{`{"a":{"dtype":"F16","shape":[1,2],"data_offsets":[4,8]},"b":{"dtype":"BF16","shape":[2],"data_offsets":[0,4]}}`, 8},
	{`{"s":{"dtype":"I64","shape":[],"data_offsets":[0,8]},"e":{"dtype":"BOOL","shape":[0],"data_offsets":[8,8]}}`, 8},
	{`{"a":{"dtype":"U8","shape":[1],"data_offsets":[0,1]},"__metadata__":{"k":"v","":""}}`, 1},
	{`{"a":{"dtype":"F32","shape":[2],"data_offsets":[0,8]},"b":{"dtype":"F32","shape":[2],"data_offsets":[4,12]}}`, 12},
	{`{"a":{"dtype":"F64","shape":[2305843009213693952],"data_offsets":[0,8]}}`, 8},
	{`{"a":{"dtype":"I8","shape":[-1],"data_offsets":[0,1]}}`, 1},
	{`{"a":{"dtype":"I32","shape":[1],"data_offsets":[4,0]}}`, 4},
	{`{"a":{"dtype":"X","shape":[1],"data_offsets":[0,1]}}`, 1},
	{`{"__metadata__":{"k":1}}`, 0},
	{`{"a":null,"a":[]}`, 0},
	{"{\"\\u0000\":{\"dtype\":\"I16\",\"shape\":[1],\"data_offsets\":[0,2]}}", 2},
	{`[]`, 0},
	{`{"a":`, 0},
	{"", 0},
}

// FuzzParseHeader checks that parseHeader never panics and that whatever
// it accepts satisfies the format's invariants.
func FuzzParseHeader(f *testing.F) {
	for _, s := range seedHeaders {
		f.Add([]byte(s.header), uint16(s.bufLen))
	}
	f.Fuzz(func(t *testing.T, header []byte, bufLen16 uint16) {
		bufLen := int(bufLen16)
		entries, meta, err := parseHeader(header, bufLen)
		if err != nil {
			if entries != nil || meta != nil {
				t.Fatalf("parseHeader returned results with error %v", err)
			}
			return
		}
		for k, v := range meta {
			if !utf8.ValidString(k) || !utf8.ValidString(v) {
				t.Fatalf("metadata %q: %q is not valid UTF-8", k, v)
			}
		}
		pos := 0
		seen := make(map[string]bool)
		for _, e := range entries {
			if e.name == "" || e.name == metadataKey || seen[e.name] || !utf8.ValidString(e.name) {
				t.Fatalf("bad or repeated tensor name %q", e.name)
			}
			seen[e.name] = true
			if e.shape == nil {
				t.Fatalf("tensor %q: nil shape", e.name)
			}
			want, err := byteLen(e.dtype, e.shape)
			if err != nil {
				t.Fatalf("tensor %q: accepted although %v", e.name, err)
			}
			if e.begin != pos || e.end-e.begin != want {
				t.Fatalf("tensor %q at [%d %d] (%d bytes) does not continue the tiling at %d", e.name, e.begin, e.end, want, pos)
			}
			pos = e.end
		}
		if pos != bufLen {
			t.Fatalf("tensors cover [0, %d) of a %d-byte buffer", pos, bufLen)
		}
	})
}

// FuzzDecode checks that Decode never panics on any file, and that any file
// it accepts encodes, decodes back to the same contents, and then
// re-encodes to the same bytes.
func FuzzDecode(f *testing.F) {
	valid := [][]byte{[]byte(handWritten)}
	for _, s := range seedHeaders {
		valid = append(valid, rawFile(s.header, make([]byte, s.bufLen)))
	}
	golden := New()
	golden.Metadata = map[string]string{"format": "pt"}
	golden.Tensors["a"] = FromFloat32([]int{2}, []float32{1, -2.5})
	golden.Tensors["b"] = FromInt64(nil, []int64{7})
	var b bytes.Buffer
	if err := golden.Encode(&b); err != nil {
		f.Fatal(err)
	}
	valid = append(valid, b.Bytes())
	for _, v := range valid {
		f.Add(v)
		for _, n := range []int{0, 1, 7, 8, 9, len(v) / 2, len(v) - 1} { // truncated
			if n >= 0 && n < len(v) {
				f.Add(v[:n])
			}
		}
	}
	f.Add([]byte("garbage that is not a safetensors file"))
	f.Add(binary.LittleEndian.AppendUint64(nil, 1<<63))
	f.Add(append(binary.LittleEndian.AppendUint64(nil, 4), "\xff\xfe\x00{"...))

	f.Fuzz(func(t *testing.T, data []byte) {
		file, err := Decode(data)
		if err != nil {
			if file != nil {
				t.Fatal("Decode returned a File with its error")
			}
			if !strings.HasPrefix(err.Error(), "safetensors: ") {
				t.Fatalf("error %q lacks the package prefix", err)
			}
			return
		}
		for _, name := range file.Names() { // conversions must not panic either
			file.Tensors[name].Float32s()
			file.Tensors[name].Int64s()
		}
		var enc bytes.Buffer
		if err := file.Encode(&enc); err != nil {
			t.Fatalf("a decoded file does not encode: %v", err)
		}
		again, err := Decode(enc.Bytes())
		if err != nil {
			t.Fatalf("an encoded file does not decode: %v\n%q", err, enc.Bytes())
		}
		if d := diffFiles(file, again); d != "" {
			t.Fatalf("encode-decode changed the file: %s", d)
		}
		var enc2 bytes.Buffer
		if err := again.Encode(&enc2); err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(enc.Bytes(), enc2.Bytes()) {
			t.Fatalf("re-encoding is not byte-identical:\n%q\n%q", enc.Bytes(), enc2.Bytes())
		}
	})
}
