package asm

import (
	"fmt"
	"math"
)

// Kernels of fused training-step operations: batch normalisation whose output feeds a ReLU
// (the ReLU's gradient mask applied on the fly, so that its gradient is never stored), and
// gradients written into fresh buffers. A "set" kernel writes +0 + v where its accumulating
// twin adds v: bit for bit what the accumulating kernel leaves in a zeroed buffer (−0
// becomes +0), so that a gradient computed either way is the same.

// reluKeep returns g where the ReLU output y is positive as an int32 (a positive float, not
// ±0, not a NaN with the sign bit set), +0 elsewhere: what ReluBackward passes on.
func reluKeep(g, y float32) float32 {
	b := int32(math.Float32bits(y))
	keep := uint32((-b)>>31) &^ uint32(b>>31)
	return math.Float32frombits(math.Float32bits(g) & keep)
}

// ReluBackwardSet sets dx to the gradient that ReluBackward would add into a zeroed dx:
// dx[i] = +0 + (dy[i] where y[i] > 0 as in ReluBackward, else +0), bit for bit on every
// path. It panics unless dy and y are as long as dx.
func ReluBackwardSet(dx, dy, y []float32) {
	if len(dy) != len(dx) || len(y) != len(dx) {
		panic(fmt.Sprintf("asm: ReluBackwardSet: lengths %d, %d and %d", len(dx), len(dy), len(y)))
	}
	i := 0
	if len(dx) >= 8 && reluBackwardSetSIMD(dx, nil, dy, y) {
		i = len(dx) &^ 7
	}
	for ; i < len(dx); i++ {
		dx[i] = 0 + reluKeep(dy[i], y[i])
	}
}

// ReluBackwardSet2 sets both da and db as ReluBackwardSet sets dx, reading dy and y once
// (the two inputs of a residual join followed by a ReLU). It panics unless db, dy and y are
// as long as da.
func ReluBackwardSet2(da, db, dy, y []float32) {
	if len(db) != len(da) || len(dy) != len(da) || len(y) != len(da) {
		panic(fmt.Sprintf("asm: ReluBackwardSet2: lengths %d, %d, %d and %d", len(da), len(db), len(dy), len(y)))
	}
	i := 0
	if len(da) >= 8 && reluBackwardSetSIMD(da, db, dy, y) {
		i = len(da) &^ 7
	}
	for ; i < len(da); i++ {
		v := 0 + reluKeep(dy[i], y[i])
		da[i], db[i] = v, v
	}
}

// AddDotCenteredRelu is AddDotCentered for the gradient g of a ReLU's output y taken back
// through the ReLU: g[i] counts where y[i] > 0 (as in ReluBackward) and as +0 elsewhere.
// It panics unless y and x are as long as g.
func (m *Sums64) AddDotCenteredRelu(g, y, x []float32, mu float64) {
	if len(g) != len(x) || len(y) != len(x) {
		panic(fmt.Sprintf("asm: Sums64.AddDotCenteredRelu: lengths %d, %d and %d", len(g), len(y), len(x)))
	}
	n := 0
	if len(x) >= 16 && bnDotCRelu(g, y, x, mu, &m.S, &m.Q) {
		n = len(x) &^ 15
	}
	for i := n; i < len(x); i++ {
		gv := float64(reluKeep(g[i], y[i]))
		m.S[i%16] += gv
		m.Q[i%16] += gv * (float64(x[i]) - mu)
	}
}

// BatchNormGradTo64 is BatchNormGrad64 with two options. When y is not nil, g is the
// gradient of a ReLU's output y taken back through the ReLU: g[i] counts where y[i] > 0 (as
// in ReluBackward) and as +0 elsewhere. When add is false, dx is overwritten with +0 + the
// value instead of accumulated into. It panics unless g, x and a non-nil y are as long as
// dx.
func BatchNormGradTo64(dx, g, y, x []float32, k, mdy, mu, invstd, mdyx float64, add bool) {
	if y == nil && add {
		BatchNormGrad64(dx, g, x, k, mdy, mu, invstd, mdyx)
		return
	}
	if len(g) != len(dx) || len(x) != len(dx) || (y != nil && len(y) != len(dx)) {
		panic(fmt.Sprintf("asm: BatchNormGradTo64: lengths %d, %d, %d and %d", len(dx), len(g), len(y), len(x)))
	}
	n := 0
	if len(dx) >= 16 && bnBackwardTo(dx, g, y, x, k, mdy, mu, invstd, mdyx, add) {
		n = len(dx) &^ 15
	}
	for i := n; i < len(dx); i++ {
		gv := g[i]
		if y != nil {
			gv = reluKeep(gv, y[i])
		}
		xh := (float64(x[i]) - mu) * invstd
		v := float32(k * ((float64(gv) - mdy) - xh*mdyx))
		if add {
			dx[i] += v
		} else {
			dx[i] = 0 + v
		}
	}
}

// reluKeepX returns g where max(float32(x·scale) + shift, 0) — the output of ScaleShiftRelu
// for x — is positive, +0 elsewhere: the gradient ReluBackward passes on for that output.
func reluKeepX(g, x, scale, shift float32) float32 {
	if v := float32(x*scale) + shift; v > 0 {
		return g
	}
	return 0
}

// AddDotCenteredReluX is AddDotCenteredRelu for y = ScaleShiftRelu(x, scale, shift) without
// y: the ReLU's mask is recomputed from x, bit for bit. It panics unless x is as long as g.
func (m *Sums64) AddDotCenteredReluX(g, x []float32, mu float64, scale, shift float32) {
	if len(g) != len(x) {
		panic(fmt.Sprintf("asm: Sums64.AddDotCenteredReluX: lengths %d and %d", len(g), len(x)))
	}
	n := 0
	if len(x) >= 16 && bnDotCReluX(g, x, mu, scale, shift, &m.S, &m.Q) {
		n = len(x) &^ 15
	}
	for i := n; i < len(x); i++ {
		gv := float64(reluKeepX(g[i], x[i], scale, shift))
		m.S[i%16] += gv
		m.Q[i%16] += gv * (float64(x[i]) - mu)
	}
}

// BatchNormGradReluX64 is BatchNormGradTo64 for y = ScaleShiftRelu(x, scale, shift) without
// y: the ReLU's mask is recomputed from x, bit for bit. It panics unless g and x are as long
// as dx.
func BatchNormGradReluX64(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64, scale, shift float32, add bool) {
	if len(g) != len(dx) || len(x) != len(dx) {
		panic(fmt.Sprintf("asm: BatchNormGradReluX64: lengths %d, %d and %d", len(dx), len(g), len(x)))
	}
	n := 0
	if len(dx) >= 16 && bnBackwardReluX(dx, g, x, k, mdy, mu, invstd, mdyx, scale, shift, add) {
		n = len(dx) &^ 15
	}
	for i := n; i < len(dx); i++ {
		gv := reluKeepX(g[i], x[i], scale, shift)
		xh := (float64(x[i]) - mu) * invstd
		v := float32(k * ((float64(gv) - mdy) - xh*mdyx))
		if add {
			dx[i] += v
		} else {
			dx[i] = 0 + v
		}
	}
}

// BatchNormGradReluDs64 is BatchNormGradTo64 with a ReLU mask from y, setting dx, that also
// sets ds to the masked gradient (+0 + g[i] where y[i] > 0, +0 elsewhere), as
// ReluBackwardSet: the backward pass of y = relu(bn(x) + s), s's gradient included, in one
// pass. It panics unless ds, g, y and x are as long as dx.
func BatchNormGradReluDs64(dx, ds, g, y, x []float32, k, mdy, mu, invstd, mdyx float64) {
	if len(ds) != len(dx) || len(g) != len(dx) || len(y) != len(dx) || len(x) != len(dx) {
		panic(fmt.Sprintf("asm: BatchNormGradReluDs64: lengths %d, %d, %d, %d and %d", len(dx), len(ds), len(g), len(y), len(x)))
	}
	n := 0
	if len(dx) >= 16 && bnBackwardReluDs(dx, ds, g, y, x, k, mdy, mu, invstd, mdyx) {
		n = len(dx) &^ 15
	}
	for i := n; i < len(dx); i++ {
		gv := reluKeep(g[i], y[i])
		ds[i] = 0 + gv
		xh := (float64(x[i]) - mu) * invstd
		dx[i] = 0 + float32(k*((float64(gv)-mdy)-xh*mdyx))
	}
}

// ScaleShiftAddRelu computes dst[i] = max((float32(src[i]*scale) + shift) + add[i], 0), each
// operation rounded (never an FMA), with the NaN rule of Relu: the forward pass of
// relu(bn(x) + s) for one channel plane, bit for bit ScaleShift, Add and Relu in turn. dst may
// alias src or add. It panics unless src and add are as long as dst.
//
// Reference loop: for i := range dst { v := (float32(src[i]*scale) + shift) + add[i]; if !(v > 0) { v = 0 }; dst[i] = v }
func ScaleShiftAddRelu(dst, src, add []float32, scale, shift float32) {
	checkLen("ScaleShiftAddRelu", "src", len(src), len(dst))
	checkLen("ScaleShiftAddRelu", "add", len(add), len(dst))
	src, add = src[:len(dst)], add[:len(dst)]
	i := 0
	if len(dst) >= 8 && scaleShiftAddReluSIMD(dst, src, add, scale, shift) {
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = relu((float32(src[i]*scale) + shift) + add[i])
	}
}

// AddDotCenteredReluDs is AddDotCenteredRelu that also sets ds to the masked gradient,
// +0 + (g[i] where y[i] > 0, +0 elsewhere), as ReluBackwardSet: the first pass of the
// backward pass of y = relu(bn(x) + s), which gives s its gradient and leaves in ds what the
// second pass needs (BatchNormGradTo64 with ds for g and no mask). It panics unless y, x
// and ds are as long as g.
func (m *Sums64) AddDotCenteredReluDs(g, y, x, ds []float32, mu float64) {
	if len(g) != len(x) || len(y) != len(x) || len(ds) != len(x) {
		panic(fmt.Sprintf("asm: Sums64.AddDotCenteredReluDs: lengths %d, %d, %d and %d", len(g), len(y), len(x), len(ds)))
	}
	n := 0
	if len(x) >= 16 && bnDotCReluDs(g, y, x, ds, mu, &m.S, &m.Q) {
		n = len(x) &^ 15
	}
	for i := n; i < len(x); i++ {
		gk := reluKeep(g[i], y[i])
		ds[i] = 0 + gk
		gv := float64(gk)
		m.S[i%16] += gv
		m.Q[i%16] += gv * (float64(x[i]) - mu)
	}
}
