package tensor

import "math"

// ReluBackward adds dy where the ReLU's output y is positive into dx.
// dx, dy, y: same shape.
func ReluBackward(dx, dy, y *Tensor) {
	mustSameShape("ReluBackward", dx, dy, y)
	yd, gd, xd := y.Data, dy.Data[:len(y.Data)], dx.Data[:len(y.Data)]
	for i, v := range yd {
		// Branch-free select (a branch on the sign mispredicts half the
		// time): keep is all ones exactly when v > 0 (positive, not −0,
		// not NaN with the sign bit set; a positive NaN cannot come out of
		// a ReLU).
		b := int32(math.Float32bits(v))
		keep := uint32((-b)>>31) &^ uint32(b>>31)
		xd[i] += math.Float32frombits(math.Float32bits(gd[i]) & keep)
	}
}

// Accumulate adds src into dst element-wise (dst += src). Same size.
func Accumulate(dst, src *Tensor) {
	if dst.Numel() != src.Numel() {
		mustSameShape("Accumulate", dst, src)
	}
	for i, v := range src.Data {
		dst.Data[i] += v
	}
}
