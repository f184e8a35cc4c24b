package tensor

// ReluBackward adds dy where the ReLU's output y is positive into dx.
// dx, dy, y: same shape. (A branch-free select, SIMD and in parallel for large
// tensors: see asm.ReluBackward.)
func ReluBackward(dx, dy, y *Tensor) {
	mustSameShape("ReluBackward", dx, dy, y)
	reluBackward(dx.Data[:len(y.Data)], dy.Data[:len(y.Data)], y.Data)
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
