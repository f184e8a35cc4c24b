// Package par is Bonsai's one worker pool: persistent goroutines that run the parts of one
// job at a time for the kernels of packages asm and tensor (SGEMM, convolutions, batch
// normalisation, element-wise passes). One pool serves both, so that the workers of one
// never spin while the other's wait for a core.
//
// A job is n parts, numbered 0…n-1, each a fixed piece of work: what a part computes never
// depends on which goroutine runs it, nor on how many there are, so results are identical
// for any GOMAXPROCS. Goroutines take the next part from a shared counter, which balances
// the load when another process slows one core down.
//
// Between jobs a worker polls for the next one for about spinFor, then parks on its
// channel; the caller wakes parked workers. Polling is a plain loop on an atomic load, with
// the clock read and runtime.Gosched (to let other goroutines have the P) only every
// spinCheck iterations.
//
// Protocol: the generation gen is odd while a job is open. A worker that sees a new odd
// generation registers in active, checks that the generation has not moved on, and only
// then takes parts; the caller closes the job (gen even again) and waits for active to
// drain before it returns, so no worker ever touches a job the caller is setting up.
//
// One job runs at a time: a For called while another job is open — from a part of that job
// (nesting) or from another goroutine — runs its parts on the calling goroutine alone.
package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

const (
	spinFor   = 200 * time.Microsecond
	spinCheck = 256
)

// Task is the work of a For call: Part(worker, i) computes part i. worker identifies the
// goroutine (0 is the caller; ids are below GOMAXPROCS and the number of parts), for
// per-worker scratch memory.
type Task interface {
	Part(worker, i int)
}

type job struct {
	f       Task
	n       int64
	workers int // worker ids below this take part
	next    atomic.Int64
	done    atomic.Int64
	wg      sync.WaitGroup
}

var pool struct {
	mu      sync.Mutex // one job at a time
	gen     atomic.Uint64
	active  atomic.Int32
	job     job
	workers []*worker
}

type worker struct {
	id       int
	sleeping atomic.Bool
	wake     chan struct{}
}

// For runs f.Part(worker, i) for i = 0…n-1 over up to runtime.GOMAXPROCS(0) goroutines
// and returns when all parts are done. Passing a pointer to a task kept in a workspace
// makes the call allocation-free.
func For(n int, f Task) {
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs <= 1 || !pool.mu.TryLock() {
		for i := range n {
			f.Part(0, i)
		}
		return
	}
	defer pool.mu.Unlock()
	for len(pool.workers) < procs-1 {
		w := &worker{id: len(pool.workers) + 1, wake: make(chan struct{}, 1)}
		pool.workers = append(pool.workers, w)
		go w.loop(pool.gen.Load())
	}
	j := &pool.job
	j.f, j.n, j.workers = f, int64(n), procs
	j.next.Store(0)
	j.done.Store(0)
	j.wg.Add(n)
	pool.gen.Add(1) // open
	for _, w := range pool.workers[:procs-1] {
		if w.sleeping.Swap(false) {
			select {
			case w.wake <- struct{}{}:
			default: // a wake-up is pending already
			}
		}
	}
	j.run(0)
	if j.done.Load() != j.n {
		start := time.Now()
		for i := 1; j.done.Load() != j.n; i++ {
			if i%spinCheck == 0 && time.Since(start) > spinFor {
				break
			}
		}
	}
	j.wg.Wait()
	pool.gen.Add(1) // closed
	for pool.active.Load() != 0 {
		runtime.Gosched()
	}
	j.f = nil
}

// run takes parts of the job until none is left.
func (j *job) run(worker int) {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.f.Part(worker, int(i))
		j.done.Add(1)
		j.wg.Done()
	}
}

func (w *worker) loop(seen uint64) {
	for {
		start := time.Now()
		for i := 1; ; i++ {
			g := pool.gen.Load()
			if g != seen && g%2 == 1 {
				pool.active.Add(1)
				if pool.gen.Load() == g && w.id < pool.job.workers {
					pool.job.run(w.id)
				}
				pool.active.Add(-1)
				seen = g
				start = time.Now()
				continue
			}
			if i%spinCheck != 0 {
				continue
			}
			if time.Since(start) < spinFor {
				runtime.Gosched()
				continue
			}
			w.sleeping.Store(true)
			if g := pool.gen.Load(); g == seen || g%2 == 0 {
				<-w.wake
			}
			w.sleeping.Store(false)
			start = time.Now()
		}
	}
}
