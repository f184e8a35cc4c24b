package asm

import (
	"fmt"
	"math"
)

// ReluBackward adds dy[i] into dx[i] where the ReLU's output y[i] is positive, as an int32
// (a positive float, not ±0, not a NaN with the sign bit set), and +0 elsewhere:
//
//	b := int32(math.Float32bits(y[i]))
//	keep := uint32((-b)>>31) &^ uint32(b>>31)            // all ones iff b > 0
//	dx[i] += math.Float32frombits(math.Float32bits(dy[i]) & keep)
//
// bit for bit on every path. It panics unless dy and y are as long as dx.
func ReluBackward(dx, dy, y []float32) {
	if len(dy) != len(dx) || len(y) != len(dx) {
		panic(fmt.Sprintf("asm: ReluBackward: lengths %d, %d and %d", len(dx), len(dy), len(y)))
	}
	i := 0
	if len(dx) >= 8 && reluBackwardSIMD(dx, dy, y) {
		i = len(dx) &^ 7
	}
	for ; i < len(dx); i++ {
		b := int32(math.Float32bits(y[i]))
		keep := uint32((-b)>>31) &^ uint32(b>>31)
		dx[i] += math.Float32frombits(math.Float32bits(dy[i]) & keep)
	}
}
