package tensor

import (
	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Relu6 sets y = min(max(x, 0), 6) element-wise (asm.Clamp: NaN and −0 give +0); y may
// alias x. Same shape. Large tensors are computed in parallel.
func Relu6(y, x *Tensor) {
	mustSameShape("Relu6", y, x)
	runRelu6(relu6Task{y: y.Data, x: x.Data[:len(y.Data)]})
}

// Relu6Backward adds the gradient of y = Relu6(x) into dx: dx[i] += dy[i] where
// 0 < y[i] < 6, as torch's hardtanh_backward (the gradient is zero at 0 and 6). When set,
// dx is overwritten instead (+0 where the gradient is zero). dx, dy, y: same shape.
func Relu6Backward(dx, dy, y *Tensor, set bool) {
	mustSameShape("Relu6Backward", dx, dy, y)
	n := len(y.Data)
	runRelu6(relu6Task{y: y.Data, x: dx.Data[:n], dy: dy.Data[:n], backward: true, set: set})
}

// relu6Task is Relu6 (backward false: y from x) or its gradient (dx in x) over chunks of at
// least ewChunk elements.
type relu6Task struct {
	y, x, dy      []float32
	backward, set bool
	parts         int
}

func runRelu6(t relu6Task) {
	t.parts = max(1, min(len(t.y)/ewChunk, 2*maxProcs()))
	if t.parts == 1 {
		t.Part(0, 0)
		return
	}
	parallelFor(t.parts, &t)
}

func (t *relu6Task) Part(_, i int) {
	lo, hi := split(len(t.y), t.parts, i)
	y, x := t.y[lo:hi], t.x[lo:hi]
	if !t.backward {
		asm.Clamp(y, x, 0, 6)
		return
	}
	asm.ClampBackward(x, t.dy[lo:hi], y, 0, 6, t.set)
}
