package tensor

import (
	"fmt"
	"slices"
	"strings"
)

// Tensor is a dense, contiguous, row-major float32 tensor.
// Data has exactly Numel() elements.
type Tensor struct {
	Shape []int
	Data  []float32
}

// New returns a zero-filled tensor of the given shape.
func New(shape ...int) *Tensor {
	return &Tensor{Shape: slices.Clone(shape), Data: make([]float32, checkedNumel(shape))}
}

// FromSlice wraps data (not copied) as a tensor of the given shape.
// It panics if len(data) differs from the product of shape.
func FromSlice(data []float32, shape ...int) *Tensor {
	if n := checkedNumel(shape); n != len(data) {
		panic(fmt.Sprintf("tensor.FromSlice: %d values for shape %v (want %d)", len(data), shape, n))
	}
	return &Tensor{Shape: slices.Clone(shape), Data: data}
}

// Numel returns the number of elements: the product of the shape, 1 for a 0-d tensor.
func Numel(shape []int) int { return checkedNumel(shape) }

func checkedNumel(shape []int) int {
	n := 1
	for _, d := range shape {
		if d < 0 {
			// A copy, so that shape does not escape: callers' variadic shapes then stay on
			// their stacks (Arena.Get allocates nothing).
			panic(fmt.Sprintf("tensor: negative dimension in shape %v", slices.Clone(shape)))
		}
		n *= d
	}
	return n
}

// Numel returns the number of elements of t.
func (t *Tensor) Numel() int { return len(t.Data) }

// Dims returns the number of dimensions of t.
func (t *Tensor) Dims() int { return len(t.Shape) }

// Clone returns a deep copy of t.
func (t *Tensor) Clone() *Tensor {
	return &Tensor{Shape: slices.Clone(t.Shape), Data: slices.Clone(t.Data)}
}

// View returns a tensor sharing t's data with another shape of the same size.
// One dimension may be -1 and is then inferred.
func (t *Tensor) View(shape ...int) *Tensor {
	shape = slices.Clone(shape)
	infer, known := -1, 1
	for i, d := range shape {
		if d == -1 {
			if infer >= 0 {
				panic(fmt.Sprintf("tensor.View: more than one -1 in %v", shape))
			}
			infer = i
			continue
		}
		known *= d
	}
	if infer >= 0 && known > 0 {
		shape[infer] = len(t.Data) / known
	}
	if checkedNumel(shape) != len(t.Data) {
		panic(fmt.Sprintf("tensor.View: shape %v does not fit %v", shape, t.Shape))
	}
	return &Tensor{Shape: shape, Data: t.Data}
}

// SameShape reports whether a and b have equal shapes.
func SameShape(a, b *Tensor) bool { return slices.Equal(a.Shape, b.Shape) }

// NCHW returns the four dimensions of a 4-d tensor, panicking otherwise.
func (t *Tensor) NCHW() (n, c, h, w int) {
	if len(t.Shape) != 4 {
		panic(fmt.Sprintf("tensor: want a 4-d [N, C, H, W] tensor, got shape %v", t.Shape))
	}
	return t.Shape[0], t.Shape[1], t.Shape[2], t.Shape[3]
}

// Fill sets every element of t to v.
func (t *Tensor) Fill(v float32) {
	for i := range t.Data {
		t.Data[i] = v
	}
}

// String prints the shape and, for small tensors, the values.
func (t *Tensor) String() string {
	var b strings.Builder
	fmt.Fprintf(&b, "Tensor%v", t.Shape)
	if len(t.Data) <= 16 {
		fmt.Fprintf(&b, " %v", t.Data)
	}
	return b.String()
}

// mustShape panics unless t has the given shape. It does not allocate: shape is copied
// before it reaches the panic's message, so it does not escape.
func mustShape(op string, t *Tensor, shape ...int) {
	if !slices.Equal(t.Shape, shape) {
		panic(fmt.Sprintf("tensor.%s: shape %v, want %v", op, t.Shape, slices.Clone(shape)))
	}
}
