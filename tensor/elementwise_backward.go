package tensor

// ReluBackward adds dy where the ReLU's output y is positive into dx.
// dx, dy, y: same shape.
func ReluBackward(dx, dy, y *Tensor) {
	mustSameShape("ReluBackward", dx, dy, y)
	for i, v := range y.Data {
		if v > 0 {
			dx.Data[i] += dy.Data[i]
		}
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
