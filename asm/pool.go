package asm

import (
	"sync"
	"sync/atomic"
)

// Workspace is caller-owned scratch memory for Sgemm: one pair of packing buffers (packed
// op(A) block, packed op(B) panel) per worker, plus the bookkeeping of one call. Buffers
// grow on demand and are never shrunk, so reusing a Workspace across calls of similar sizes
// makes Sgemm allocation-free in steady state.
//
// A Workspace may be used by only one Sgemm call at a time. The zero value is ready to use;
// NewWorkspace is provided for symmetry.
type Workspace struct {
	parts []partBuf // per-worker packing buffers; parts[w] is touched only by worker w
	job   sgemmJob  // parameters of the call in progress, read by the workers
	wg    sync.WaitGroup
}

// partBuf holds one worker's packing buffers.
type partBuf struct {
	a []float32 // packed mc×kc block of op(A)
	b []float32 // packed kc×nc panel of op(B)
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

func worker(tasks <-chan task) {
	for t := range tasks {
		t.ws.runPart(t.part)
		t.ws.wg.Done()
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
	ws.wg.Add(p - 1)
	for i := 1; i < p; i++ {
		pool.tasks <- task{ws: ws, part: i}
	}
	ws.runPart(0)
	ws.wg.Wait()
}
