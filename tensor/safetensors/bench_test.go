package safetensors

import (
	"bytes"
	"fmt"
	"testing"
)

// manyTensors returns a file shaped like a large checkpoint's header: n
// small tensors with long dotted names.
func manyTensors(n int) *File {
	f := New()
	f.Metadata = map[string]string{"format": "pt"}
	for i := range n {
		name := fmt.Sprintf("model.layers.%d.self_attn.q_proj.weight", i)
		f.Tensors[name] = FromFloat32([]int{2, 2}, []float32{1, 2, 3, 4})
	}
	return f
}

func BenchmarkDecode(b *testing.B) {
	var buf bytes.Buffer
	if err := manyTensors(10000).Encode(&buf); err != nil {
		b.Fatal(err)
	}
	b.SetBytes(int64(buf.Len()))
	for b.Loop() {
		if _, err := Decode(buf.Bytes()); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkEncode(b *testing.B) {
	f := manyTensors(10000)
	var buf bytes.Buffer
	for b.Loop() {
		buf.Reset()
		if err := f.Encode(&buf); err != nil {
			b.Fatal(err)
		}
	}
}
