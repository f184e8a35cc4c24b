package safetensors

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"maps"
	"slices"
)

// rawFile returns a safetensors file made of the given header text, used as
// is (no padding), and data buffer.
func rawFile(header string, buf []byte) []byte {
	b := binary.LittleEndian.AppendUint64(nil, uint64(len(header)))
	b = append(b, header...)
	return append(b, buf...)
}

// diffFiles describes the first difference between a and b, or returns ""
// if they have the same contents. A nil and an empty Metadata differ.
func diffFiles(a, b *File) string {
	if (a.Metadata == nil) != (b.Metadata == nil) {
		return fmt.Sprintf("metadata %#v vs %#v", a.Metadata, b.Metadata)
	}
	if !maps.Equal(a.Metadata, b.Metadata) {
		return fmt.Sprintf("metadata %v vs %v", a.Metadata, b.Metadata)
	}
	if an, bn := a.Names(), b.Names(); !slices.Equal(an, bn) {
		return fmt.Sprintf("names %q vs %q", an, bn)
	}
	for _, name := range a.Names() {
		ta, tb := a.Tensors[name], b.Tensors[name]
		switch {
		case ta.DType != tb.DType:
			return fmt.Sprintf("tensor %q: dtype %s vs %s", name, ta.DType, tb.DType)
		case !slices.Equal(ta.Shape, tb.Shape) || (ta.Shape == nil) != (tb.Shape == nil):
			return fmt.Sprintf("tensor %q: shape %#v vs %#v", name, ta.Shape, tb.Shape)
		case !bytes.Equal(ta.Data, tb.Data):
			return fmt.Sprintf("tensor %q: data % x vs % x", name, ta.Data, tb.Data)
		}
	}
	return ""
}

// le returns the little-endian bytes of the given values, each of which
// must be a fixed-size value or slice as binary.Write accepts.
func le(values ...any) []byte {
	var b bytes.Buffer
	for _, v := range values {
		if err := binary.Write(&b, binary.LittleEndian, v); err != nil {
			panic(err)
		}
	}
	return b.Bytes()
}
