package tensor

import (
	"sync"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Element-wise work in parallel: large tensors are cut into chunks of at least ewChunk
// elements run by parallelFor. Each element is computed by the same sequential code
// whatever the cut, so the results never depend on GOMAXPROCS.

const ewChunk = 1 << 15

var ew struct {
	mu   sync.Mutex
	task ewTask
}

// ewOp is the operation of an ewTask.
type ewOp int

const (
	ewReluBackward     ewOp = iota // a += asm.ReluBackward(b, c)
	ewReluBackwardSet              // a = asm.ReluBackwardSet(b, c)
	ewReluBackwardSet2             // a, d = asm.ReluBackwardSet2(b, c)
	ewAddRelu                      // a = max(b + c, 0)
	ewRelu                         // a = max(b, 0)
	ewClear                        // a = 0
)

type ewTask struct {
	op         ewOp
	a, b, c, d []float32
	parts      int
}

func (t *ewTask) Part(_, i int) {
	lo, hi := split(len(t.a), t.parts, i)
	a := t.a[lo:hi]
	switch t.op {
	case ewReluBackward:
		asm.ReluBackward(a, t.b[lo:hi], t.c[lo:hi])
	case ewReluBackwardSet:
		asm.ReluBackwardSet(a, t.b[lo:hi], t.c[lo:hi])
	case ewReluBackwardSet2:
		asm.ReluBackwardSet2(a, t.d[lo:hi], t.b[lo:hi], t.c[lo:hi])
	case ewAddRelu:
		asm.AddRelu(a, t.b[lo:hi], t.c[lo:hi])
	case ewRelu:
		asm.Relu(a, t.b[lo:hi])
	case ewClear:
		clear(a)
	}
}

// runEW runs op over a (and the operands of the same length) in parallel chunks, or
// directly when a is small.
func runEW(op ewOp, a, b, c, d []float32) {
	t := ewTask{op: op, a: a, b: b, c: c, d: d, parts: min(len(a)/ewChunk, 2*maxProcs())}
	if t.parts <= 1 {
		t.parts = 1
		t.Part(0, 0)
		return
	}
	ew.mu.Lock()
	defer ew.mu.Unlock()
	ew.task = t
	parallelFor(t.parts, &ew.task)
	ew.task = ewTask{}
}

// reluBackward runs asm.ReluBackward over chunks in parallel.
func reluBackward(dx, dy, y []float32) { runEW(ewReluBackward, dx, dy, y, nil) }
