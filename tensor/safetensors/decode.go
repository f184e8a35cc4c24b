package safetensors

import (
	"encoding/binary"
	"fmt"
)

// maxHeaderLen is the largest header length Decode accepts, 100 MiB. It
// stops a corrupt length from making Decode parse or allocate absurd
// amounts.
const maxHeaderLen = 100 << 20

// Decode parses a whole safetensors file held in memory, validating it as
// the package documentation describes. The returned tensors' Data slices
// alias data (with capacity capped at their length, so appending to one
// does not overwrite its neighbour); copy them if data will be modified or
// reused. Errors are prefixed "safetensors: ".
func Decode(data []byte) (*File, error) {
	f, err := decode(data)
	if err != nil {
		return nil, fmt.Errorf("safetensors: %w", err)
	}
	return f, nil
}

// decode is Decode without the error prefix.
func decode(data []byte) (*File, error) {
	if len(data) < 8 {
		return nil, fmt.Errorf("file is %d bytes, shorter than the 8-byte header length", len(data))
	}
	n := binary.LittleEndian.Uint64(data)
	if n > maxHeaderLen {
		return nil, fmt.Errorf("header length %d exceeds the 100 MiB limit", n)
	}
	if rest := uint64(len(data) - 8); n > rest {
		return nil, fmt.Errorf("header length %d is larger than the %d bytes that follow it", n, rest)
	}
	header, buf := data[8:8+n], data[8+n:]
	entries, meta, err := parseHeader(header, len(buf))
	if err != nil {
		return nil, err
	}
	f := &File{Metadata: meta, Tensors: make(map[string]*Tensor, len(entries))}
	for _, e := range entries {
		f.Tensors[e.name] = &Tensor{DType: e.dtype, Shape: e.shape, Data: buf[e.begin:e.end:e.end]}
	}
	return f, nil
}
