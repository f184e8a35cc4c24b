package tensor

import (
	"sync"

	"github.com/bonsai-dl/bonsai/asm"
)

// Element-wise work in parallel: large tensors are cut into chunks of at least ewChunk
// elements run by parallelFor. Each element is computed by the same sequential code
// whatever the cut, so the results never depend on GOMAXPROCS.

const ewChunk = 1 << 15

var ew struct {
	mu   sync.Mutex
	task ewTask
}

type ewTask struct {
	dx, dy, y []float32
	parts     int
}

func (t *ewTask) part(_, i int) {
	lo, hi := split(len(t.dx), t.parts, i)
	asm.ReluBackward(t.dx[lo:hi], t.dy[lo:hi], t.y[lo:hi])
}

// reluBackward runs asm.ReluBackward over chunks in parallel.
func reluBackward(dx, dy, y []float32) {
	parts := min(len(dx)/ewChunk, 2*maxProcs())
	if parts <= 1 {
		asm.ReluBackward(dx, dy, y)
		return
	}
	ew.mu.Lock()
	defer ew.mu.Unlock()
	ew.task = ewTask{dx: dx, dy: dy, y: y, parts: parts}
	parallelFor(parts, &ew.task)
	ew.task = ewTask{}
}
