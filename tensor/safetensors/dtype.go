package safetensors

// DType is the element type of a tensor, spelled as in a safetensors header.
type DType string

// The element types this package reads and writes. All are stored
// little-endian.
const (
	F64  DType = "F64"  // IEEE 754 binary64
	F32  DType = "F32"  // IEEE 754 binary32
	F16  DType = "F16"  // IEEE 754 binary16 (half precision)
	BF16 DType = "BF16" // bfloat16: the upper 16 bits of a binary32
	I64  DType = "I64"  // two's-complement signed 64-bit integer
	I32  DType = "I32"  // two's-complement signed 32-bit integer
	I16  DType = "I16"  // two's-complement signed 16-bit integer
	I8   DType = "I8"   // two's-complement signed 8-bit integer
	U8   DType = "U8"   // unsigned 8-bit integer
	BOOL DType = "BOOL" // one byte per element, 0 (false) or 1 (true)
)

// Size returns the number of bytes per element of d, or 0 if d is not one of
// the dtypes this package knows.
func (d DType) Size() int {
	switch d {
	case F64, I64:
		return 8
	case F32, I32:
		return 4
	case F16, BF16, I16:
		return 2
	case I8, U8, BOOL:
		return 1
	}
	return 0
}
