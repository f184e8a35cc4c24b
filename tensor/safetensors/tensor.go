package safetensors

import (
	"encoding/binary"
	"fmt"
	"math"
)

// Tensor is one array stored in a safetensors file.
type Tensor struct {
	// DType is the element type.
	DType DType
	// Shape lists the dimensions, outermost first. An empty Shape is a 0-d
	// (scalar) tensor holding one element.
	Shape []int
	// Data holds the elements as raw little-endian bytes in row-major
	// order; len(Data) == Numel()*DType.Size().
	Data []byte
}

// Numel returns the number of elements of t: the product of its Shape, which
// is 1 for a 0-d tensor. It returns -1 if a dimension is negative or the
// product overflows int.
func (t *Tensor) Numel() int {
	n, err := numel(t.Shape)
	if err != nil {
		return -1
	}
	return n
}

// Float32s returns the elements of t as float32 values. F32 elements are
// returned as stored. F16 and BF16 elements are converted exactly, including
// subnormals, infinities and NaNs. F64 and integer elements are rounded to
// the nearest float32 (F64 values beyond the float32 range become
// infinities). It returns an error for BOOL and unknown dtypes, and if Data
// does not hold exactly Numel elements.
func (t *Tensor) Float32s() ([]float32, error) {
	switch t.DType {
	case F64, F32, F16, BF16, I64, I32, I16, I8, U8:
	default:
		return nil, fmt.Errorf("safetensors: cannot convert %s tensor to float32", t.DType)
	}
	if err := t.checkData(); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	b := t.Data
	out := make([]float32, len(b)/t.DType.Size())
	for i := range out {
		switch t.DType {
		case F64:
			out[i] = float32(math.Float64frombits(le.Uint64(b[8*i:])))
		case F32:
			out[i] = math.Float32frombits(le.Uint32(b[4*i:]))
		case F16:
			out[i] = halfToFloat32(le.Uint16(b[2*i:]))
		case BF16:
			out[i] = bfloat16ToFloat32(le.Uint16(b[2*i:]))
		case I64:
			out[i] = float32(int64(le.Uint64(b[8*i:])))
		case I32:
			out[i] = float32(int32(le.Uint32(b[4*i:])))
		case I16:
			out[i] = float32(int16(le.Uint16(b[2*i:])))
		case I8:
			out[i] = float32(int8(b[i]))
		case U8:
			out[i] = float32(b[i])
		}
	}
	return out, nil
}

// Int64s returns the elements of t as int64 values. It accepts the integer
// dtypes I64, I32, I16, I8 and U8, and BOOL, whose elements must each be
// 0 or 1. It returns an error for any other dtype, for a BOOL byte other than
// 0 or 1, and if Data does not hold exactly Numel elements.
func (t *Tensor) Int64s() ([]int64, error) {
	switch t.DType {
	case I64, I32, I16, I8, U8, BOOL:
	default:
		return nil, fmt.Errorf("safetensors: cannot convert %s tensor to int64", t.DType)
	}
	if err := t.checkData(); err != nil {
		return nil, err
	}
	le := binary.LittleEndian
	b := t.Data
	out := make([]int64, len(b)/t.DType.Size())
	for i := range out {
		switch t.DType {
		case I64:
			out[i] = int64(le.Uint64(b[8*i:]))
		case I32:
			out[i] = int64(int32(le.Uint32(b[4*i:])))
		case I16:
			out[i] = int64(int16(le.Uint16(b[2*i:])))
		case I8:
			out[i] = int64(int8(b[i]))
		case U8:
			out[i] = int64(b[i])
		case BOOL:
			if b[i] > 1 {
				return nil, fmt.Errorf("safetensors: BOOL element %d is byte 0x%02x, want 0 or 1", i, b[i])
			}
			out[i] = int64(b[i])
		}
	}
	return out, nil
}

// FromFloat32 returns an F32 tensor of the given shape holding v, which is
// in row-major order. The shape is copied; an empty or nil shape makes a 0-d
// tensor. It panics if shape is invalid (a negative dimension, or an element
// count that overflows int) or len(v) is not its number of elements: these
// are programming errors.
func FromFloat32(shape []int, v []float32) *Tensor {
	mustHoldAll("FromFloat32", shape, len(v))
	data := make([]byte, 4*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint32(data[4*i:], math.Float32bits(x))
	}
	return &Tensor{DType: F32, Shape: append([]int{}, shape...), Data: data}
}

// FromInt64 returns an I64 tensor of the given shape holding v, which is in
// row-major order. The shape is copied; an empty or nil shape makes a 0-d
// tensor, as PyTorch writes for BatchNorm's num_batches_tracked. It panics
// if shape is invalid (a negative dimension, or an element count that
// overflows int) or len(v) is not its number of elements: these are
// programming errors.
func FromInt64(shape []int, v []int64) *Tensor {
	mustHoldAll("FromInt64", shape, len(v))
	data := make([]byte, 8*len(v))
	for i, x := range v {
		binary.LittleEndian.PutUint64(data[8*i:], uint64(x))
	}
	return &Tensor{DType: I64, Shape: append([]int{}, shape...), Data: data}
}

// mustHoldAll panics unless shape is valid and has exactly n elements.
func mustHoldAll(fn string, shape []int, n int) {
	want, err := numel(shape)
	if err != nil {
		panic(fmt.Sprintf("safetensors: %s: %v", fn, err))
	}
	if n != want {
		panic(fmt.Sprintf("safetensors: %s: %d values for shape %v, which has %d elements", fn, n, shape, want))
	}
}

// checkData reports whether t's dtype is known and its Data holds exactly
// the bytes its Shape calls for. Its errors are prefixed "safetensors: ".
func (t *Tensor) checkData() error {
	want, err := byteLen(t.DType, t.Shape)
	if err != nil {
		return fmt.Errorf("safetensors: %w", err)
	}
	if len(t.Data) != want {
		return fmt.Errorf("safetensors: %s %v tensor holds %d bytes of data, want %d", t.DType, t.Shape, len(t.Data), want)
	}
	return nil
}

// numel returns the product of shape, checking for negative dimensions and
// overflow. A shape with a zero dimension has no elements, however large
// its other dimensions.
func numel(shape []int) (int, error) {
	for _, d := range shape {
		if d < 0 {
			return 0, fmt.Errorf("shape %v has a negative dimension", shape)
		}
	}
	for _, d := range shape {
		if d == 0 {
			return 0, nil
		}
	}
	n := 1
	for _, d := range shape {
		if n > math.MaxInt/d {
			return 0, fmt.Errorf("shape %v: element count overflows int", shape)
		}
		n *= d
	}
	return n, nil
}

// byteLen returns the number of data bytes of a tensor with the given dtype
// and shape, checking that the dtype is known and that nothing overflows.
func byteLen(dtype DType, shape []int) (int, error) {
	size := dtype.Size()
	if size == 0 {
		return 0, fmt.Errorf("unknown dtype %q", string(dtype))
	}
	n, err := numel(shape)
	if err != nil {
		return 0, err
	}
	if n > math.MaxInt/size {
		return 0, fmt.Errorf("%s %v: byte length overflows int", dtype, shape)
	}
	return n * size, nil
}
