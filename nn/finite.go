package nn

import (
	"fmt"
	"math"
)

// CheckFinite returns an error naming the first parameter or buffer of m,
// in State order, that holds a NaN or an infinity, with the index of its
// first such element; nil when every value is finite.
func CheckFinite(m Module) error {
	for _, e := range State(m) {
		if e.Kind == Counter {
			continue
		}
		if err := checkFinite(e.Var.Value.Data, e.Var.Value.Shape); err != nil {
			return fmt.Errorf("%s %q: %v", kindName(e.Kind), e.Key, err)
		}
	}
	return nil
}

// checkFinite returns an error naming the first element of v (a tensor of
// the given shape) that is NaN or infinite, by its multi-index and its
// position in row-major order.
func checkFinite(v []float32, shape []int) error {
	for i, x := range v {
		if f := float64(x); math.IsNaN(f) || math.IsInf(f, 0) {
			return fmt.Errorf("%v at index %v (element %d of %d); the values must be finite", x, unravel(i, shape), i, len(v))
		}
	}
	return nil
}

// unravel turns a row-major position into the multi-index of shape.
func unravel(i int, shape []int) []int {
	idx := make([]int, len(shape))
	for d := len(shape) - 1; d >= 0; d-- {
		if shape[d] > 0 {
			idx[d] = i % shape[d]
			i /= shape[d]
		}
	}
	return idx
}

func kindName(k Kind) string {
	if k == Param {
		return "parameter"
	}
	return "buffer"
}
