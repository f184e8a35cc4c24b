package tensor

// Arena hands out tensors for one pass (a forward, or a forward and its
// backward) and takes them all back at once with Reset. Buffers are kept and
// reused in the order they were requested, so a loop that makes the same
// requests in the same order allocates nothing after its first pass.
// A nil *Arena is valid: it allocates fresh tensors every time.
// An Arena is not safe for concurrent use.
type Arena struct {
	bufs [][]float32
	next int
}

// Get returns a tensor of the given shape whose contents are unspecified:
// the caller must overwrite every element.
func (a *Arena) Get(shape ...int) *Tensor {
	n := checkedNumel(shape)
	if a == nil {
		return New(shape...)
	}
	if a.next == len(a.bufs) {
		a.bufs = append(a.bufs, nil)
	}
	buf := a.bufs[a.next]
	if cap(buf) < n {
		buf = make([]float32, n)
		a.bufs[a.next] = buf
	}
	a.next++
	b := &boxed{}
	b.t.Data = buf[:n]
	b.t.Shape = append(b.dims[:0], shape...)
	return &b.t
}

// boxed keeps a tensor header and a short shape in one allocation.
type boxed struct {
	t    Tensor
	dims [4]int
}

// Zeros returns a zero-filled tensor of the given shape.
func (a *Arena) Zeros(shape ...int) *Tensor {
	t := a.Get(shape...)
	if a != nil {
		clear(t.Data)
	}
	return t
}

// Reset makes every buffer handed out since the last Reset available again.
// Tensors obtained before must no longer be used.
func (a *Arena) Reset() {
	if a != nil {
		a.next = 0
	}
}
