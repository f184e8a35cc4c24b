package asm

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Workspace is caller-owned scratch memory for Sgemm: packing buffers per goroutine (packed
// op(A) block, packed op(B) panel, an edge tile) and the bookkeeping of one call. Buffers
// grow on demand and are never shrunk, so reusing a Workspace across calls of similar sizes
// makes Sgemm allocation-free in steady state.
//
// A Workspace may be used by only one Sgemm call at a time. The zero value is ready to use;
// NewWorkspace is provided for symmetry.
type Workspace struct {
	parts []partBuf // packing buffers per goroutine; parts[w] is used only by worker w
	job   sgemmJob  // parameters of the call in progress, read by the workers
	team  team

	next atomic.Int64 // the next part of job to claim
	_    [56]byte
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

// ensureParts makes room for p per-worker buffer sets.
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

// A team runs one job on the calling goroutine (worker 0) and on the pool workers that
// join it while it is open. The job hands out its work itself, in pieces claimed from a
// shared counter (see Workspace.work), so a worker that arrives late, or never, only
// takes less of it: the caller never waits for a worker to start, only for the workers
// that joined to finish what they claimed.
//
// Protocol: gen changes when a job opens and when it closes. A worker registers in active,
// then checks that gen is still the one it was invited with, and only then takes an id and
// works; the caller closes the job (gen++) after its own share and waits until active is
// zero, so no worker touches a job after Sgemm returns.
type team struct {
	gen     atomic.Uint64
	_       [56]byte
	active  atomic.Int32
	joined  atomic.Int32 // ids handed out so far (the caller is 0)
	size    int32        // at most this many workers, caller included
	waiting atomic.Bool  // the caller is blocked on wake
	wake    chan struct{}
}

// invitation asks a pool worker to join the team of a Workspace for job generation gen.
type invitation struct {
	ws  *Workspace
	gen uint64
}

// The worker pool: goroutines started lazily, on the first parallel Sgemm, and added when a
// call wants more workers than have been started (GOMAXPROCS grew). They live for the rest
// of the process and block on the channel when idle.
var pool struct {
	mu      sync.Mutex
	started atomic.Int32
	invites chan invitation
}

// ensureWorkers makes sure at least n pool goroutines are running.
func ensureWorkers(n int) {
	if int(pool.started.Load()) >= n {
		return
	}
	pool.mu.Lock()
	defer pool.mu.Unlock()
	if pool.invites == nil {
		pool.invites = make(chan invitation, 64)
	}
	for int(pool.started.Load()) < n {
		go worker(pool.invites)
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

func worker(invites <-chan invitation) {
	for {
		inv, ok := pollInvite(invites)
		if !ok {
			inv = <-invites
		}
		inv.ws.join(inv.gen)
	}
}

// pollInvite tries to receive an invitation without blocking for up to spinWait.
func pollInvite(invites <-chan invitation) (invitation, bool) {
	deadline := time.Now().Add(spinWait)
	for {
		select {
		case inv := <-invites:
			return inv, true
		default:
		}
		if time.Now().After(deadline) {
			return invitation{}, false
		}
		runtime.Gosched()
	}
}

// join runs a pool worker's share of the job of generation gen, if it is still open.
func (ws *Workspace) join(gen uint64) {
	t := &ws.team
	t.active.Add(1)
	if t.gen.Load() == gen {
		if id := t.joined.Add(1); id < t.size {
			ws.work(int(id))
		}
	}
	if t.active.Add(-1) == 0 && t.waiting.Swap(false) {
		t.wake <- struct{}{}
	}
}

// runParallel runs ws.job on the calling goroutine and up to p-1 pool workers and returns
// when it is done.
func (ws *Workspace) runParallel(p int) {
	if p <= 1 {
		ws.work(0)
		return
	}
	ensureWorkers(p - 1)
	t := &ws.team
	if t.wake == nil {
		t.wake = make(chan struct{}, 1)
	}
	t.size = int32(p)
	t.joined.Store(0)
	gen := t.gen.Add(1) // open
	for range p - 1 {
		select {
		case pool.invites <- invitation{ws: ws, gen: gen}:
		default: // the pool is swamped: the workers that come will do
		}
	}
	ws.work(0)
	t.gen.Add(1) // closed: workers arriving from now on leave at once
	if t.active.Load() == 0 {
		return
	}
	// Busy-poll without yielding: a runtime.Gosched here lets the caller and a polling
	// worker trade Ps (both pass through the global run queue), so the parts of the next
	// call would run on the other core, away from their warm caches.
	deadline := time.Now().Add(spinWait)
	for t.active.Load() != 0 {
		if time.Now().After(deadline) {
			t.waiting.Store(true)
			if t.active.Load() == 0 {
				if !t.waiting.Swap(false) {
					<-t.wake // a worker took the wake-up: consume it
				}
				return
			}
			<-t.wake
			return
		}
	}
}
