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

// ReluBackwardSet sets dx to the gradient ReluBackward would add into a
// zeroed dx: dy where y is positive, +0 elsewhere. dx need not be
// initialised. dx, dy, y: same shape.
func ReluBackwardSet(dx, dy, y *Tensor) {
	mustSameShape("ReluBackwardSet", dx, dy, y)
	n := len(y.Data)
	runEW(ewReluBackwardSet, dx.Data[:n], dy.Data[:n], y.Data, nil)
}

// ReluBackwardSet2 sets both da and db as ReluBackwardSet sets dx, in one
// pass over dy and y: the gradients of the two inputs of AddRelu when
// neither has one yet. da, db, dy, y: same shape.
func ReluBackwardSet2(da, db, dy, y *Tensor) {
	mustSameShape("ReluBackwardSet2", da, db, dy, y)
	n := len(y.Data)
	runEW(ewReluBackwardSet2, da.Data[:n], dy.Data[:n], y.Data, db.Data[:n])
}

// Clear sets every element of t to zero (in parallel for large tensors).
func Clear(t *Tensor) { runEW(ewClear, t.Data, nil, nil, nil) }
