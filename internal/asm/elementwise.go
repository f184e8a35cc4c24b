package asm

import (
	"fmt"
	"math"
)

// Element-wise kernels. Each takes its length from its destination (the slice written, or
// the only slice) and panics if another operand has a different length. A destination may
// alias an input exactly (same first element and length); partially overlapping slices give
// unspecified results. None of them allocates.
//
// Products that are then added (Axpy, ScaleShift, ScaleShiftRelu, Dot) are written with an
// explicit float32 conversion, float32(x*y) + z, which the Go specification defines as two
// separately rounded operations: the compiler may not fuse them into an FMA. (Without the
// conversion gc does fuse x*y + z on arm64, ppc64le, s390x, riscv64, and on amd64 when built
// with GOAMD64=v3 or higher; the default GOAMD64=v1 never fuses.) The SIMD kernels behind
// these functions (AVX2, on the AVX2 and AVX512 paths: see dispatch.go and _gen) round the
// same way, a multiply and then an add, and process the first len &^ 7 elements; the rest
// goes through the loops below. Their results are bit-identical on every path (NaN payloads
// aside: which NaN operand propagates may differ, a NaN stays a NaN).

// relu returns v > 0 ? v : 0 without a branch: a data-dependent branch on the sign of
// activations mispredicts about half the time and made these loops ~15× slower. It works on
// the bits b of v: v > 0 exactly when 1 ≤ b ≤ 0x7f800000 (positive subnormals, normals and
// +Inf; not ±0, negatives or NaNs of either sign), i.e. when b − 0x7f800001 < 0 in int64,
// whose sign bit then becomes an all-ones mask. For b = 0 the mask is all ones too, which
// yields +0 as required.
func relu(v float32) float32 {
	b := math.Float32bits(v)
	mask := uint32((int64(b) - 0x7f800001) >> 63)
	return math.Float32frombits(b & mask)
}

func checkLen(fn, name string, got, want int) {
	if got != want {
		panic(fmt.Sprintf("asm: %s: len(%s) = %d, want %d", fn, name, got, want))
	}
}

// Axpy computes y[i] += alpha*x[i] for every i < len(y); the product is rounded before the
// add (no FMA). It panics if len(x) != len(y).
//
// Reference loop: for i := range y { y[i] = float32(alpha*x[i]) + y[i] }
func Axpy(alpha float32, x, y []float32) {
	checkLen("Axpy", "x", len(x), len(y))
	x = x[:len(y)]
	i := 0
	if ew := cur().ew; ew != nil && len(y) >= 8 {
		ew.axpy(alpha, x, y)
		i = len(y) &^ 7
	}
	for ; i < len(y); i++ {
		y[i] += float32(alpha * x[i])
	}
}

// Scale computes x[i] *= alpha for every i.
//
// Reference loop: for i := range x { x[i] = alpha * x[i] }
func Scale(alpha float32, x []float32) {
	i := 0
	if ew := cur().ew; ew != nil && len(x) >= 8 {
		ew.scale(alpha, x)
		i = len(x) &^ 7
	}
	for ; i < len(x); i++ {
		x[i] *= alpha
	}
}

// Add computes dst[i] = a[i] + b[i]. dst may alias a or b. It panics if len(a) or len(b)
// differs from len(dst).
//
// Reference loop: for i := range dst { dst[i] = a[i] + b[i] }
func Add(dst, a, b []float32) {
	checkLen("Add", "a", len(a), len(dst))
	checkLen("Add", "b", len(b), len(dst))
	a = a[:len(dst)]
	b = b[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && len(dst) >= 8 {
		ew.add(dst, a, b)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = a[i] + b[i]
	}
}

// Max computes dst[i] = max(a[i], b[i]) with NaN propagated from either: precisely b[i] if
// b[i] > a[i] or b[i] is NaN, else a[i] (so equal values, +0 and −0 among them, give a[i]),
// the step of a max pooling that keeps the first of equal values and any NaN it meets. dst
// may alias a or b. It panics if len(a) or len(b) differs from len(dst).
//
// Reference loop: for i := range dst { m := a[i]; if v := b[i]; v > m || v != v { m = v }; dst[i] = m }
func Max(dst, a, b []float32) {
	checkLen("Max", "a", len(a), len(dst))
	checkLen("Max", "b", len(b), len(dst))
	a = a[:len(dst)]
	b = b[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && ew.max != nil && len(dst) >= 8 {
		ew.max(dst, a, b)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		m := a[i]
		if v := b[i]; v > m || v != v {
			m = v
		}
		dst[i] = m
	}
}

// Relu computes dst[i] = max(src[i], 0), precisely src[i] > 0 ? src[i] : 0, so NaN and
// -0 give +0. dst may alias src. It panics if len(src) != len(dst).
//
// Reference loop: for i := range dst { v := src[i]; if !(v > 0) { v = 0 }; dst[i] = v }
func Relu(dst, src []float32) {
	checkLen("Relu", "src", len(src), len(dst))
	src = src[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && len(dst) >= 8 {
		ew.relu(dst, src)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = relu(src[i])
	}
}

// ScaleShift computes dst[i] = src[i]*scale + shift as two separately rounded float32
// operations (a product, then a sum; never an FMA), which is how an evaluation-mode batch
// norm is applied to one channel plane with precomputed scale = γ/√(σ²+ε) and
// shift = β − μ·scale. dst may alias src. It panics if len(src) != len(dst).
//
// Reference loop: for i := range dst { dst[i] = float32(src[i]*scale) + shift }
func ScaleShift(dst, src []float32, scale, shift float32) {
	checkLen("ScaleShift", "src", len(src), len(dst))
	src = src[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && len(dst) >= 8 {
		ew.scaleShift(dst, src, scale, shift)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = float32(src[i]*scale) + shift
	}
}

// ScaleShiftRelu is ScaleShift followed by Relu, fused: dst[i] = max(src[i]*scale + shift, 0)
// with the same rounding as ScaleShift and the same NaN rule as Relu. dst may alias src.
// It panics if len(src) != len(dst).
//
// Reference loop: for i := range dst { v := float32(src[i]*scale) + shift; if !(v > 0) { v = 0 }; dst[i] = v }
func ScaleShiftRelu(dst, src []float32, scale, shift float32) {
	checkLen("ScaleShiftRelu", "src", len(src), len(dst))
	src = src[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && len(dst) >= 8 {
		ew.scaleShiftRelu(dst, src, scale, shift)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = relu(float32(src[i]*scale) + shift)
	}
}

// AddRelu computes dst[i] = max(a[i]+b[i], 0) (residual add + ReLU) with the NaN rule of
// Relu. dst may alias a or b. It panics if len(a) or len(b) differs from len(dst).
//
// Reference loop: for i := range dst { v := a[i] + b[i]; if !(v > 0) { v = 0 }; dst[i] = v }
func AddRelu(dst, a, b []float32) {
	checkLen("AddRelu", "a", len(a), len(dst))
	checkLen("AddRelu", "b", len(b), len(dst))
	a = a[:len(dst)]
	b = b[:len(dst)]
	i := 0
	if ew := cur().ew; ew != nil && len(dst) >= 8 {
		ew.addRelu(dst, a, b)
		i = len(dst) &^ 7
	}
	for ; i < len(dst); i++ {
		dst[i] = relu(a[i] + b[i])
	}
}

// Sum returns the float32 sum of x in a fixed order that no implementation (scalar, SIMD,
// parallel) may change: element i is added to partial accumulator i%8 (8 accumulators,
// starting at +0, each taking its elements in increasing i), then the accumulators are
// combined by the fixed tree ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)). The 8 lanes match one
// AVX2 register (or two passes of half an AVX-512 one), so vector kernels can reproduce the
// result bit for bit.
//
// Reference loop:
//
//	var s [8]float32
//	for i, v := range x { s[i%8] += v }
//	return ((s[0]+s[1])+(s[2]+s[3])) + ((s[4]+s[5])+(s[6]+s[7]))
func Sum(x []float32) float32 {
	if ew := cur().ew; ew != nil && len(x) >= 8 {
		s := ew.sum(x)
		for i, v := range x[len(x)&^7:] { // tail: element 8q+r goes to accumulator r
			s[i] += v
		}
		return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
	}
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	for len(x) >= 8 {
		v := (*[8]float32)(x)
		s0 += v[0]
		s1 += v[1]
		s2 += v[2]
		s3 += v[3]
		s4 += v[4]
		s5 += v[5]
		s6 += v[6]
		s7 += v[7]
		x = x[8:]
	}
	s := [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
	for i, v := range x { // tail: element 8q+r goes to accumulator r
		s[i] += v
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}

// Dot returns Σ x[i]*y[i] in the fixed order of Sum: each product is rounded to float32
// (never fused into an FMA) and added to partial accumulator i%8, then the accumulators are
// combined by ((s0+s1)+(s2+s3)) + ((s4+s5)+(s6+s7)). It panics if len(x) != len(y).
//
// Reference loop:
//
//	var s [8]float32
//	for i := range x { s[i%8] += float32(x[i] * y[i]) }
//	return ((s[0]+s[1])+(s[2]+s[3])) + ((s[4]+s[5])+(s[6]+s[7]))
func Dot(x, y []float32) float32 {
	checkLen("Dot", "y", len(y), len(x))
	if ew := cur().ew; ew != nil && len(x) >= 8 {
		s := ew.dot(x, y)
		t := len(x) &^ 7
		for i := range x[t:] { // tail: element 8q+r goes to accumulator r
			s[i] += float32(x[t+i] * y[t+i])
		}
		return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
	}
	var s0, s1, s2, s3, s4, s5, s6, s7 float32
	y = y[:len(x)]
	if len(x) >= 8 && len(y) >= 8 {
		// Bottom-tested so that the body and the accumulator phis share one SSA block,
		// which keeps each product next to its add (see "Loop shape" in kernel_generic.go).
		a := (*[8]float32)(x)
		b := (*[8]float32)(y)
		for {
			s0 += float32(a[0] * b[0])
			s1 += float32(a[1] * b[1])
			s2 += float32(a[2] * b[2])
			s3 += float32(a[3] * b[3])
			s4 += float32(a[4] * b[4])
			s5 += float32(a[5] * b[5])
			s6 += float32(a[6] * b[6])
			s7 += float32(a[7] * b[7])
			if len(x) < 16 || len(y) < 16 {
				break
			}
			x = x[8:]
			y = y[8:]
			a = (*[8]float32)(x)
			b = (*[8]float32)(y)
		}
		x = x[8:]
		y = y[8:]
	}
	s := [8]float32{s0, s1, s2, s3, s4, s5, s6, s7}
	for i := range x { // tail: element 8q+r goes to accumulator r
		s[i] += float32(x[i] * y[i])
	}
	return ((s[0] + s[1]) + (s[2] + s[3])) + ((s[4] + s[5]) + (s[6] + s[7]))
}
