package safetensors

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
)

// encode returns f's encoding, failing t on error.
func encode(t testing.TB, f *File) []byte {
	t.Helper()
	var b bytes.Buffer
	if err := f.Encode(&b); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name string
		file *File
	}{
		{"empty", New()},
		{"F32 matrix", &File{Tensors: map[string]*Tensor{
			"w": FromFloat32([]int{2, 3}, []float32{1, -2, 3.5, 0, float32(math.Inf(-1)), 1e-40}),
		}}},
		{"I64 0-d", &File{Tensors: map[string]*Tensor{
			"bn.num_batches_tracked": FromInt64([]int{}, []int64{123456789012}),
		}}},
		{"I32", &File{Tensors: map[string]*Tensor{
			"idx": {DType: I32, Shape: []int{3}, Data: le([]int32{-1, 0, math.MaxInt32})},
		}}},
		{"U8 and empty U8", &File{Tensors: map[string]*Tensor{
			"pixels": {DType: U8, Shape: []int{2, 2}, Data: []byte{0, 1, 254, 255}},
			"none":   {DType: U8, Shape: []int{0, 5}, Data: []byte{}},
		}}},
		{"every dtype", &File{Tensors: map[string]*Tensor{
			"f64":  {DType: F64, Shape: []int{1}, Data: le(2.5)},
			"f32":  FromFloat32([]int{1}, []float32{2.5}),
			"f16":  {DType: F16, Shape: []int{2}, Data: le([]uint16{0x3c00, 0x0001})},
			"bf16": {DType: BF16, Shape: []int{1, 1}, Data: le(uint16(0x3f80))},
			"i64":  FromInt64([]int{2}, []int64{math.MinInt64, math.MaxInt64}),
			"i16":  {DType: I16, Shape: []int{1}, Data: le(int16(-7))},
			"i8":   {DType: I8, Shape: []int{1}, Data: le(int8(-7))},
			"bool": {DType: BOOL, Shape: []int{3}, Data: []byte{1, 0, 1}},
		}}},
		{"empty metadata", &File{Metadata: map[string]string{}, Tensors: map[string]*Tensor{}}},
		{"metadata", &File{
			Metadata: map[string]string{"format": "pt", "": "empty key", "quote\"<&>\n": "ünïcödé \u2028 \x00", "z": ""},
			Tensors:  map[string]*Tensor{"x": FromFloat32(nil, []float32{1})},
		}},
		{"odd names", &File{Tensors: map[string]*Tensor{
			"a.b/c<d>&\"e\"": FromInt64(nil, []int64{1}),
			"é\t\x01":        FromInt64(nil, []int64{2}),
			"_metadata_":     FromInt64(nil, []int64{3}),
		}}},
		{"nil Tensors map", &File{Metadata: map[string]string{"k": "v"}}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			enc := encode(t, tt.file)
			got, err := Decode(enc)
			if err != nil {
				t.Fatalf("Decode(Encode(f)): %v\n%q", err, enc)
			}
			want := tt.file
			if want.Tensors == nil {
				want = &File{Metadata: want.Metadata, Tensors: map[string]*Tensor{}}
			}
			if d := diffFiles(got, want); d != "" {
				t.Fatalf("round trip changed the file: %s", d)
			}
			if again := encode(t, got); !bytes.Equal(again, enc) {
				t.Errorf("re-encoding differs:\n%q\n%q", enc, again)
			}
		})
	}
}

// TestEncodeGolden pins the exact bytes the encoder writes.
func TestEncodeGolden(t *testing.T) {
	f := New()
	f.Metadata = map[string]string{"format": "pt"}
	f.Tensors["b"] = FromInt64(nil, []int64{7})
	f.Tensors["a"] = FromFloat32([]int{2}, []float32{1, -2.5})
	const want = "\x90\x00\x00\x00\x00\x00\x00\x00" +
		`{"__metadata__":{"format":"pt"},` +
		`"a":{"data_offsets":[0,8],"dtype":"F32","shape":[2]},` +
		`"b":{"data_offsets":[8,16],"dtype":"I64","shape":[]}}` +
		"      " +
		"\x00\x00\x80\x3f\x00\x00\x20\xc0" +
		"\x07\x00\x00\x00\x00\x00\x00\x00"
	if got := encode(t, f); string(got) != want {
		t.Errorf("Encode:\n got %q\nwant %q", got, want)
	}
}

// TestEncodeDeterministic builds equal files in different ways and checks
// they encode identically, and that a decoded file laid out differently
// (the hand-written one) re-encodes to a fixed point.
func TestEncodeDeterministic(t *testing.T) {
	build := func(order []string) *File {
		f := New()
		f.Metadata = map[string]string{}
		for _, name := range order {
			f.Tensors[name] = FromFloat32([]int{1}, []float32{float32(len(name))})
			f.Metadata[name] = strings.ToUpper(name)
		}
		return f
	}
	names := []string{"layer.10", "layer.2", "Layer.1", "__a", "b", "a", "zz", "layer.1"}
	first := encode(t, build(names))
	for i := range 20 {
		rot := append(append([]string{}, names[i%len(names):]...), names[:i%len(names)]...)
		if got := encode(t, build(rot)); !bytes.Equal(got, first) {
			t.Fatalf("insertion order %q changed the encoding", rot)
		}
	}

	f, err := Decode([]byte(handWritten))
	if err != nil {
		t.Fatal(err)
	}
	enc := encode(t, f)
	if bytes.Equal(enc, []byte(handWritten)) {
		t.Fatal("hand-written file unexpectedly in canonical form")
	}
	g, err := Decode(enc)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(f, g); d != "" {
		t.Fatal(d)
	}
	if again := encode(t, g); !bytes.Equal(again, enc) {
		t.Error("re-encoding a decoded canonical file changed it")
	}
}

// TestEncodeAlignment checks that for every header length modulo 8 the
// header is padded with spaces so the data buffer starts 8-byte aligned.
func TestEncodeAlignment(t *testing.T) {
	seen := make(map[int]bool)
	for n := 1; n <= 16; n++ {
		f := New()
		f.Tensors[strings.Repeat("x", n)] = FromFloat32([]int{1}, []float32{1})
		enc := encode(t, f)
		hlen := binary.LittleEndian.Uint64(enc)
		if (8+hlen)%8 != 0 {
			t.Errorf("name length %d: 8+N = %d, not a multiple of 8", n, 8+hlen)
		}
		header := enc[8 : 8+hlen]
		trimmed := bytes.TrimRight(header, " ")
		if len(header)-len(trimmed) >= 8 || trimmed[len(trimmed)-1] != '}' {
			t.Errorf("name length %d: header %q is not JSON padded with fewer than 8 spaces", n, header)
		}
		seen[len(trimmed)%8] = true
		if data := enc[8+hlen:]; !bytes.Equal(data, f.Tensors[strings.Repeat("x", n)].Data) {
			t.Errorf("name length %d: data buffer is % x", n, data)
		}
	}
	if len(seen) != 8 {
		t.Errorf("unpadded header lengths covered only %d of the 8 residues", len(seen))
	}
}

func TestEncodeErrors(t *testing.T) {
	ok := FromFloat32([]int{1}, []float32{1})
	tests := []struct {
		name string
		file *File
		want string
	}{
		{"nil tensor", &File{Tensors: map[string]*Tensor{"a": ok, "n": nil}}, `tensor "n" is nil`},
		{"empty name", &File{Tensors: map[string]*Tensor{"": ok}}, "tensor name is empty"},
		{"reserved name", &File{Tensors: map[string]*Tensor{"__metadata__": ok}}, `tensor name "__metadata__" is reserved`},
		{"invalid UTF-8 name", &File{Tensors: map[string]*Tensor{"\xff": ok}}, `tensor name "\xff" is not valid UTF-8`},
		{"invalid UTF-8 metadata key", &File{Metadata: map[string]string{"\xfe": "v"}}, `metadata key "\xfe" is not valid UTF-8`},
		{"invalid UTF-8 metadata value", &File{Metadata: map[string]string{"k": "\xfe"}}, `metadata value of "k" is not valid UTF-8`},
		{"unknown dtype", &File{Tensors: map[string]*Tensor{"u": {DType: "U32", Shape: []int{1}, Data: make([]byte, 4)}}}, `tensor "u": unknown dtype "U32"`},
		{"negative dim", &File{Tensors: map[string]*Tensor{"neg": {DType: F32, Shape: []int{-1}}}}, `tensor "neg": shape [-1] has a negative dimension`},
		{"short data", &File{Tensors: map[string]*Tensor{"s": {DType: F32, Shape: []int{2, 2}, Data: make([]byte, 15)}}}, `tensor "s": Data holds 15 bytes, want 16 (F32 [2 2])`},
		{"data for 0-d", &File{Tensors: map[string]*Tensor{"z": {DType: I64}}}, `tensor "z": Data holds 0 bytes, want 8 (I64 [])`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var b bytes.Buffer
			err := tt.file.Encode(&b)
			if err == nil || !strings.HasPrefix(err.Error(), "safetensors: ") || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("Encode error %v, want one containing %q", err, tt.want)
			}
			if b.Len() != 0 {
				t.Errorf("Encode wrote %d bytes before failing", b.Len())
			}
		})
	}
}

// dirNames lists the names in dir.
func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}

func TestWriteFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "model.safetensors")
	f := New()
	f.Metadata = map[string]string{"format": "pt"}
	f.Tensors["w"] = FromFloat32([]int{2}, []float32{1, 2})
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "model.safetensors" {
		t.Errorf("after WriteFile the directory holds %q, want only model.safetensors", names)
	}
	got, err := ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if d := diffFiles(got, f); d != "" {
		t.Error(d)
	}
	if disk, _ := os.ReadFile(path); !bytes.Equal(disk, encode(t, f)) {
		t.Error("the file differs from Encode's output")
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o644 {
			t.Errorf("new file mode %v, %v; want 0644", fi.Mode(), err)
		}
		if err := os.Chmod(path, 0o600); err != nil {
			t.Fatal(err)
		}
	}

	// Overwrite the existing file.
	f.Tensors["b"] = FromInt64(nil, []int64{9})
	if err := f.WriteFile(path); err != nil {
		t.Fatal(err)
	}
	if names := dirNames(t, dir); len(names) != 1 {
		t.Errorf("after overwriting, the directory holds %q", names)
	}
	if got, err := ReadFile(path); err != nil || len(got.Tensors) != 2 {
		t.Errorf("after overwriting, ReadFile = %v, %v", got, err)
	}
	if runtime.GOOS != "windows" {
		if fi, err := os.Stat(path); err != nil || fi.Mode().Perm() != 0o600 {
			t.Errorf("overwritten file mode %v, %v; want the old 0600", fi.Mode(), err)
		}
	}
}

func TestWriteFileErrors(t *testing.T) {
	dir := t.TempDir()
	good := New()
	good.Tensors["w"] = FromFloat32([]int{1}, []float32{1})

	missing := filepath.Join(dir, "no", "such", "dir", "m.safetensors")
	if err := good.WriteFile(missing); err == nil || !strings.HasPrefix(err.Error(), "safetensors: "+missing+": ") {
		t.Errorf("WriteFile into a missing directory: error %v", err)
	}

	// An invalid file must leave neither the target nor a temporary file.
	bad := New()
	bad.Tensors["w"] = &Tensor{DType: F32, Shape: []int{2}, Data: make([]byte, 4)}
	path := filepath.Join(dir, "bad.safetensors")
	if err := bad.WriteFile(path); err == nil || !strings.Contains(err.Error(), `tensor "w": Data holds 4 bytes`) {
		t.Errorf("WriteFile of an invalid file: error %v", err)
	}

	// A failing rename (the target is a non-empty directory) must remove
	// the temporary file and leave the target as it was.
	target := filepath.Join(dir, "taken")
	if err := os.MkdirAll(filepath.Join(target, "child"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := good.WriteFile(target); err == nil {
		t.Error("WriteFile over a non-empty directory succeeded")
	}
	if names := dirNames(t, dir); len(names) != 1 || names[0] != "taken" {
		t.Errorf("after failed writes the directory holds %q, want only taken", names)
	}
	if names := dirNames(t, target); len(names) != 1 || names[0] != "child" {
		t.Errorf("the directory written over now holds %q", names)
	}
}
