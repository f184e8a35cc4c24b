package tensor

// Arena hands out tensors for one pass (a forward, or a forward and its
// backward) and takes them all back at once with Reset. Buffers are kept and
// reused in the order they were requested, so a loop that makes the same
// requests in the same order allocates nothing after its first pass.
// A nil *Arena is valid: it allocates fresh tensors every time.
// An Arena is not safe for concurrent use.
type Arena struct {
	bufs [][]float32
	hdrs []*Tensor // the tensor handed out for each buffer, reused after Reset
	next int
}

// Get returns a tensor of the given shape whose contents are unspecified:
// the caller must overwrite every element. The tensor (header and data)
// is the arena's: after Reset the same *Tensor is handed out again.
func (a *Arena) Get(shape ...int) *Tensor {
	n := checkedNumel(shape)
	if a == nil {
		return New(shape...)
	}
	if a.next == len(a.bufs) {
		a.bufs = append(a.bufs, nil)
		a.hdrs = append(a.hdrs, &Tensor{Shape: make([]int, 0, 4)})
	}
	buf := a.bufs[a.next]
	if cap(buf) < n {
		buf = make([]float32, n)
		a.bufs[a.next] = buf
	}
	t := a.hdrs[a.next]
	a.next++
	t.Data = buf[:n]
	t.Shape = append(t.Shape[:0], shape...)
	return t
}

// Zeros returns a zero-filled tensor of the given shape (cleared in parallel
// when large).
func (a *Arena) Zeros(shape ...int) *Tensor {
	t := a.Get(shape...)
	if a != nil {
		Clear(t)
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
