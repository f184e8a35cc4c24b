package asm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Workspace is caller-owned scratch memory for Sgemm: one pair of packing buffers (packed
// op(A) block, packed op(B) panel) per worker, plus the bookkeeping of one call. Buffers
// grow on demand and are never shrunk, so reusing a Workspace across calls of similar sizes
// makes Sgemm allocation-free in steady state.
//
// A Workspace may be used by only one Sgemm call at a time. The zero value is ready to use;
// NewWorkspace is provided for symmetry.
type Workspace struct {
	parts []partBuf // packing buffers per part; parts[w] is used only by the goroutine running part w
	job   sgemmJob  // parameters of the call in progress, read by the workers

	// Completion of the parts handed to pool workers: each worker decrements pending and
	// then calls wg.Done. The caller polls pending for a short while (cheap, no wake-up
	// needed) and then synchronises through wg.Wait.
	pending atomic.Int32
	wg      sync.WaitGroup
}

// partBuf holds one worker's packing buffers.
type partBuf struct {
	a []float32 // packed mc×kc block of op(A)
	b []float32 // packed kc×nc panel of op(B)
	t []float32 // one mr×nr edge tile
}

// NewWorkspace returns an empty Workspace; its buffers are allocated by the first Sgemm
// call that uses it.
func NewWorkspace() *Workspace { return new(Workspace) }

// ensureParts makes room for p per-worker buffer pairs.
func (ws *Workspace) ensureParts(p int) {
	if len(ws.parts) < p {
		ws.parts = append(ws.parts, make([]partBuf, p-len(ws.parts))...)
	}
}

// grow returns buf resliced to n elements, reallocating only if its capacity is too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// wsPool serves Sgemm calls made with a nil Workspace.
var wsPool = sync.Pool{New: func() any { return new(Workspace) }}

// task asks a pool worker to compute part `part` of the job stored in ws.
type task struct {
	ws   *Workspace
	part int
}

// The worker pool: goroutines started lazily, on the first parallel Sgemm, and added when a
// call wants more workers than have been started (GOMAXPROCS grew). They live for the rest
// of the process and block on the channel when idle.
var pool struct {
	mu      sync.Mutex
	started atomic.Int32
	tasks   chan task
}

// ensureWorkers makes sure at least n pool goroutines are running.
func ensureWorkers(n int) {
	if int(pool.started.Load()) >= n {
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.tasks == nil {
		pool.tasks = make(chan task, 64)
	}
	for int(pool.started.Load()) < n {
		go worker(pool.tasks)
		pool.started.Add(1)
	}
}

// spinWait is how long a pool worker keeps polling for a next task after finishing one, and
// how long Sgemm polls for its parts to finish before blocking. Waking a goroutine parked on
// an idle P costs 10–100 µs (a futex wake of a sleeping thread; on the development VM the
// parallel 128³ product took as long as the serial one because of it), while back-to-back
// Sgemm calls, as in a network's forward and backward passes, arrive much faster than that.
// A polling worker yields with runtime.Gosched, so other goroutines still run on its P; the
// caller's wait does not yield (see runParallel).
const spinWait = 50 * time.Microsecond

func worker(tasks <-chan task) {
	for {
		t, ok := pollTask(tasks)
		if !ok {
			t = <-tasks
		}
		t.ws.runPart(t.part)
		t.ws.pending.Add(-1) // before Done: once Done returns, ws may belong to a new call
		t.ws.wg.Done()
	}
}

// pollTask tries to receive a task without blocking for up to spinWait.
func pollTask(tasks <-chan task) (task, bool) {
	deadline := time.Now().Add(spinWait)
	for {
		select {
		case t := <-tasks:
			return t, true
		default:
		}
		if time.Now().After(deadline) {
			return task{}, false
		}
		runtime.Gosched()
	}
}

// runParallel runs parts 0…p-1 of ws.job: parts 1…p-1 on pool workers, part 0 on the
// calling goroutine, and returns when all are done.
func (ws *Workspace) runParallel(p int) {
	if p <= 1 {
		ws.runPart(0)
		return
	}
	ensureWorkers(p - 1)
	ws.pending.Store(int32(p - 1))
	ws.wg.Add(p - 1)
	for i := 1; i < p; i++ {
		pool.tasks <- task{ws: ws, part: i}
	}
	ws.runPart(0)
	if ws.pending.Load() != 0 {
		// Busy-poll without yielding: a runtime.Gosched here lets the caller and a polling
		// worker trade Ps (both pass through the global run queue), so the parts of the next
		// call would run on the other core, away from their warm caches.
		deadline := time.Now().Add(spinWait)
		for ws.pending.Load() != 0 && time.Now().Before(deadline) {
		}
	}
	ws.wg.Wait() // the synchronisation point (also for the race detector)
}
