package tensor

import "github.com/bonsai-dl/bonsai/internal/asm"

// ReluBackward computes the gradient of a ReLU, dx = beta·dx + g with g = dy
// where the ReLU's output y is positive, +0 elsewhere. beta 0 sets dx (which
// need not be initialised), beta 1 adds into it, any other beta scales dx
// first. dx, dy, y: same shape. (A branch-free select, SIMD and in parallel for
// large tensors: see asm.ReluBackward.)
func ReluBackward(dx, dy, y *Tensor, beta float32) {
	mustSameShape("ReluBackward", dx, dy, y)
	n := len(y.Data)
	if !betaAdds(dx, beta) {
		runEW(ewReluBackwardSet, dx.Data[:n], dy.Data[:n], y.Data, nil)
		return
	}
	reluBackward(dx.Data[:n], dy.Data[:n], y.Data)
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

// ReluBackwardSet2 sets both da and db as ReluBackward with beta 0 sets dx, in one
// pass over dy and y: the gradients of the two inputs of AddRelu when
// neither has one yet. da, db, dy, y: same shape.
func ReluBackwardSet2(da, db, dy, y *Tensor) {
	mustSameShape("ReluBackwardSet2", da, db, dy, y)
	n := len(y.Data)
	runEW(ewReluBackwardSet2, da.Data[:n], dy.Data[:n], y.Data, db.Data[:n])
}

// Clear sets every element of t to zero (in parallel for large tensors).
func Clear(t *Tensor) { runEW(ewClear, t.Data, nil, nil, nil) }

// betaAdds prepares dx for a gradient computed as dx = beta·dx + g: it reports
// whether g is to be added into dx (beta ≠ 0) and, for a beta other than 0 and
// 1, first scales dx by beta.
func betaAdds(dx *Tensor, beta float32) bool {
	switch beta {
	case 0:
		return false
	case 1:
		return true
	}
	asm.Scale(beta, dx.Data)
	return true
}
