package safetensors

import "math"

// halfToFloat32 converts an IEEE 754 binary16 value, given by its bits, to
// float32. Every binary16 value, subnormals included, is exactly
// representable as a float32, so the conversion is exact; infinities keep
// their sign and NaNs stay NaN with their payload.
func halfToFloat32(h uint16) float32 {
	sign := uint32(h>>15) << 31
	exp := uint32(h>>10) & 0x1f
	mant := uint32(h) & 0x3ff
	switch {
	case exp == 0x1f: // infinity or NaN
		return math.Float32frombits(sign | 0xff<<23 | mant<<13)
	case exp != 0: // normal: rebias the exponent from 15 to 127
		return math.Float32frombits(sign | (exp+127-15)<<23 | mant<<13)
	case mant == 0: // signed zero
		return math.Float32frombits(sign)
	}
	// Subnormal: mant × 2^-24. Shift the leading one into the implicit-bit
	// position, lowering the exponent from -14 once per shift.
	e := uint32(127 - 14)
	for mant&0x400 == 0 {
		mant <<= 1
		e--
	}
	return math.Float32frombits(sign | e<<23 | (mant&0x3ff)<<13)
}

// bfloat16ToFloat32 converts a bfloat16 value, given by its bits, to
// float32. A bfloat16 is the upper half of a float32, so this is exact.
func bfloat16ToFloat32(b uint16) float32 {
	return math.Float32frombits(uint32(b) << 16)
}
