package onnx

import (
	"encoding/binary"
	"fmt"
	"math"
	"slices"

	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// konst is a tensor whose value is known at import: an initializer, a Constant, or the
// result of shape arithmetic folded at import. Integer tensors hold i, float ones f.
// In shapes computed from a value of the graph, batchDim stands for the batch size.
type konst struct {
	shape   []int
	isFloat bool
	i       []int64
	f       []float32
}

// batchDim stands for the (unknown) batch size in folded shape tensors.
const batchDim = math.MinInt64 / 4

func (k *konst) size() int { return prod(k.shape) }

func prod(s []int) int {
	n := 1
	for _, d := range s {
		n *= d
	}
	return n
}

// ints returns k's values as integers (float values truncated).
func (k *konst) ints() []int64 {
	if !k.isFloat {
		return k.i
	}
	out := make([]int64, len(k.f))
	for j, v := range k.f {
		out[j] = int64(v)
	}
	return out
}

// floats returns k's values as float32.
func (k *konst) floats() []float32 {
	if k.isFloat {
		return k.f
	}
	out := make([]float32, len(k.i))
	for j, v := range k.i {
		out[j] = float32(v)
	}
	return out
}

func intKonst(shape []int, v []int64) *konst { return &konst{shape: shape, i: v} }

func floatKonst(shape []int, v []float32) *konst { return &konst{shape: shape, isFloat: true, f: v} }

// maxElems bounds a tensor's element count, so that a corrupt shape cannot ask for more
// memory than any CNN's weights need.
const maxElems = 1 << 31

// decodeTensor reads a TensorProto's value. Float, double and float16 tensors become
// float32; int64, int32, int8, uint8 and bool tensors integers. A tensor whose data size
// disagrees with its shape is an error saying both.
func decodeTensor(t *onnxpb.TensorProto) (*konst, error) {
	shape := make([]int, len(t.GetDims()))
	n := 1
	for j, d := range t.GetDims() {
		if d < 0 || d > maxElems || (d > 0 && n > maxElems/int(d)) {
			return nil, fmt.Errorf("tensor %q: shape %v is invalid or too large", t.GetName(), t.GetDims())
		}
		shape[j] = int(d)
		n *= int(d)
	}
	if t.GetDataLocation() == onnxpb.TensorProto_EXTERNAL {
		return nil, fmt.Errorf("tensor %q: data stored outside the file (external data) is not supported", t.GetName())
	}
	if t.GetSegment() != nil {
		return nil, fmt.Errorf("tensor %q: segmented tensors are not supported", t.GetName())
	}
	raw := t.GetRawData()
	dt := onnxpb.TensorProto_DataType(t.GetDataType())
	width := map[onnxpb.TensorProto_DataType]int{
		onnxpb.TensorProto_FLOAT: 4, onnxpb.TensorProto_DOUBLE: 8, onnxpb.TensorProto_FLOAT16: 2,
		onnxpb.TensorProto_INT64: 8, onnxpb.TensorProto_INT32: 4, onnxpb.TensorProto_INT8: 1,
		onnxpb.TensorProto_UINT8: 1, onnxpb.TensorProto_BOOL: 1,
	}[dt]
	if width == 0 {
		return nil, fmt.Errorf("tensor %q: data type %v is not supported", t.GetName(), dt)
	}
	mismatch := func(have int) error {
		return fmt.Errorf("tensor %q: shape %v needs %d values of %v, the file holds %d", t.GetName(), shape, n, dt, have)
	}
	k := &konst{shape: shape}
	switch dt {
	case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16:
		k.isFloat = true
		k.f = make([]float32, 0, min(n, 1<<20))
	default:
		k.i = make([]int64, 0, min(n, 1<<20))
	}
	if len(raw) > 0 {
		if len(raw) != n*width {
			return nil, mismatch(len(raw) / width)
		}
		k.f, k.i = k.f[:0], k.i[:0]
		for j := 0; j < n; j++ {
			b := raw[j*width:]
			switch dt {
			case onnxpb.TensorProto_FLOAT:
				k.f = append(k.f, math.Float32frombits(binary.LittleEndian.Uint32(b)))
			case onnxpb.TensorProto_DOUBLE:
				k.f = append(k.f, float32(math.Float64frombits(binary.LittleEndian.Uint64(b))))
			case onnxpb.TensorProto_FLOAT16:
				k.f = append(k.f, half(binary.LittleEndian.Uint16(b)))
			case onnxpb.TensorProto_INT64:
				k.i = append(k.i, int64(binary.LittleEndian.Uint64(b)))
			case onnxpb.TensorProto_INT32:
				k.i = append(k.i, int64(int32(binary.LittleEndian.Uint32(b))))
			case onnxpb.TensorProto_INT8:
				k.i = append(k.i, int64(int8(b[0])))
			default:
				k.i = append(k.i, int64(b[0]))
			}
		}
		return k, nil
	}
	switch dt {
	case onnxpb.TensorProto_FLOAT:
		k.f = slices.Clone(t.GetFloatData())
	case onnxpb.TensorProto_DOUBLE:
		k.f = k.f[:0]
		for _, v := range t.GetDoubleData() {
			k.f = append(k.f, float32(v))
		}
	case onnxpb.TensorProto_FLOAT16:
		k.f = k.f[:0]
		for _, v := range t.GetInt32Data() {
			k.f = append(k.f, half(uint16(v)))
		}
	case onnxpb.TensorProto_INT64:
		k.i = slices.Clone(t.GetInt64Data())
	default:
		k.i = k.i[:0]
		for _, v := range t.GetInt32Data() {
			k.i = append(k.i, int64(v))
		}
	}
	if have := max(len(k.f), len(k.i)); have != n {
		return nil, mismatch(have)
	}
	if k.f == nil && k.isFloat {
		k.f = []float32{}
	}
	return k, nil
}

// half converts an IEEE 754 binary16 value to float32.
func half(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := int(h>>10) & 0x1f
	frac := uint32(h & 0x3ff)
	switch {
	case exp == 0x1f:
		return math.Float32frombits(sign | 0x7f800000 | frac<<13)
	case exp == 0:
		v := float32(frac) / 1024 / 16384
		if sign != 0 {
			v = -v
		}
		return v
	}
	return math.Float32frombits(sign | uint32(exp-15+127)<<23 | frac<<13)
}

// floatTensor returns a TensorProto holding v (float32, raw little-endian data).
func floatTensor(name string, shape []int, v []float32) *onnxpb.TensorProto {
	raw := make([]byte, 4*len(v))
	for j, x := range v {
		binary.LittleEndian.PutUint32(raw[4*j:], math.Float32bits(x))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: dims(shape), DataType: ptr(int32(onnxpb.TensorProto_FLOAT)), RawData: raw}
}

// intTensor returns a TensorProto holding v (int64).
func intTensor(name string, shape []int, v []int64) *onnxpb.TensorProto {
	raw := make([]byte, 8*len(v))
	for j, x := range v {
		binary.LittleEndian.PutUint64(raw[8*j:], uint64(x))
	}
	return &onnxpb.TensorProto{Name: &name, Dims: dims(shape), DataType: ptr(int32(onnxpb.TensorProto_INT64)), RawData: raw}
}

func dims(shape []int) []int64 {
	d := make([]int64, len(shape))
	for j, v := range shape {
		d[j] = int64(v)
	}
	return d
}

func ptr[T any](v T) *T { return &v }
