package safetensors

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"slices"
	"unicode/utf8"
)

// Encode writes f to w in the safetensors format. The output is
// deterministic: compact JSON with sorted keys, tensor data laid out in
// sorted-name order, and the header padded with spaces so the data buffer
// starts at a multiple of 8 bytes. f is validated before anything is
// written: every tensor must be non-nil and have a valid name, a known
// dtype, a shape with non-negative dimensions, and exactly Numel*Size bytes
// of Data; names and metadata must be valid UTF-8. Errors are prefixed
// "safetensors: ".
func (f *File) Encode(w io.Writer) error {
	if err := f.encode(w); err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	return nil
}

// encode is Encode without the error prefix.
func (f *File) encode(w io.Writer) error {
	head, data, err := f.layout()
	if err != nil {
		return err
	}
	return writeParts(w, head, data)
}

// writeParts writes head and then each of data to w.
func writeParts(w io.Writer, head []byte, data [][]byte) error {
	if _, err := w.Write(head); err != nil {
		return err
	}
	for _, d := range data {
		if _, err := w.Write(d); err != nil {
			return err
		}
	}
	return nil
}

// headerEntry is a tensor's entry in an encoded header. Its fields are in
// sorted key order, so the JSON encoder writes them sorted.
type headerEntry struct {
	DataOffsets [2]int `json:"data_offsets"`
	DType       DType  `json:"dtype"`
	Shape       []int  `json:"shape"`
}

// layout validates f and returns the start of its encoding, the 8-byte
// header length followed by the padded header, and the tensors' data, in
// the order they follow it.
func (f *File) layout() (head []byte, data [][]byte, err error) {
	header := make(map[string]any, len(f.Tensors)+1)
	if f.Metadata != nil {
		for _, k := range slices.Sorted(maps.Keys(f.Metadata)) {
			v := f.Metadata[k]
			if !utf8.ValidString(k) {
				return nil, nil, fmt.Errorf("metadata key %q is not valid UTF-8", k)
			}
			if !utf8.ValidString(v) {
				return nil, nil, fmt.Errorf("metadata value of %q is not valid UTF-8", k)
			}
		}
		header[metadataKey] = f.Metadata
	}
	names := f.Names()
	data = make([][]byte, 0, len(names))
	off := 0
	for _, name := range names {
		t := f.Tensors[name]
		if err := checkTensor(name, t); err != nil {
			return nil, nil, err
		}
		n := len(t.Data)
		if off > math.MaxInt-n {
			return nil, nil, fmt.Errorf("tensor %q: data buffer size overflows int", name)
		}
		shape := t.Shape
		if shape == nil {
			shape = []int{} // a 0-d tensor has "shape":[], not null
		}
		header[name] = headerEntry{DataOffsets: [2]int{off, off + n}, DType: t.DType, Shape: shape}
		data = append(data, t.Data)
		off += n
	}

	var b bytes.Buffer
	b.Write(make([]byte, 8)) // room for the header length
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(header); err != nil {
		return nil, nil, err
	}
	b.Truncate(b.Len() - 1) // the newline json.Encoder appends
	for b.Len()%8 != 0 {
		b.WriteByte(' ')
	}
	head = b.Bytes()
	binary.LittleEndian.PutUint64(head, uint64(len(head)-8))
	return head, data, nil
}

// checkTensor reports whether t can be written under name.
func checkTensor(name string, t *Tensor) error {
	switch {
	case name == "":
		return errors.New("tensor name is empty")
	case name == metadataKey:
		return fmt.Errorf("tensor name %q is reserved for metadata", name)
	case !utf8.ValidString(name):
		return fmt.Errorf("tensor name %q is not valid UTF-8", name)
	case t == nil:
		return fmt.Errorf("tensor %q is nil", name)
	}
	want, err := byteLen(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("tensor %q: %w", name, err)
	}
	if len(t.Data) != want {
		return fmt.Errorf("tensor %q: Data holds %d bytes, want %d (%s %v)", name, len(t.Data), want, t.DType, t.Shape)
	}
	return nil
}
