package tensor

import (
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// The convolutions' worker pool: persistent goroutines that run the parts of one job at a
// time. A job is n parts, numbered 0…n-1, each a fixed piece of work (what a part computes
// never depends on which goroutine runs it, nor on how many there are), so results are
// identical for any GOMAXPROCS. Goroutines take the next part from a shared counter, which
// balances the load when another process slows one core down.
//
// Between jobs a worker polls for the next one for about spinFor, then parks on its
// channel; the caller wakes parked workers. Polling is a plain loop on an atomic load, with
// the clock read and runtime.Gosched (to let other goroutines have the P) only every
// spinCheck iterations.
//
// Protocol: par.gen is odd while a job is open. A worker that sees a new odd generation
// registers in par.active, checks that the generation has not moved on, and only then takes
// parts; the caller closes the job (gen even again) and waits for par.active to drain before
// it returns, so no worker ever touches a job the caller is setting up.

const (
	spinFor   = 200 * time.Microsecond
	spinCheck = 256
)

// parTask is the work of a parallelFor call: part(worker, i) computes part i.
type parTask interface {
	part(worker, i int)
}

type parJob struct {
	f       parTask
	n       int64
	workers int // worker ids below this take part
	next    atomic.Int64
	done    atomic.Int64
	wg      sync.WaitGroup
}

var par struct {
	mu      sync.Mutex // one job at a time
	gen     atomic.Uint64
	active  atomic.Int32
	job     parJob
	workers []*parWorker
}

type parWorker struct {
	id       int
	sleeping atomic.Bool
	wake     chan struct{}
}

// parallelFor runs f.part(worker, i) for i = 0…n-1 over up to runtime.GOMAXPROCS(0)
// goroutines and returns when all parts are done. The caller is worker 0; worker ids are
// below GOMAXPROCS (and n). f must not call parallelFor. Passing a pointer to a task kept
// in a workspace makes the call allocation-free.
func parallelFor(n int, f parTask) {
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs <= 1 {
		for i := range n {
			f.part(0, i)
		}
		return
	}
	par.mu.Lock()
	defer par.mu.Unlock()
	for len(par.workers) < procs-1 {
		w := &parWorker{id: len(par.workers) + 1, wake: make(chan struct{}, 1)}
		par.workers = append(par.workers, w)
		go w.loop(par.gen.Load())
	}
	j := &par.job
	j.f, j.n, j.workers = f, int64(n), procs
	j.next.Store(0)
	j.done.Store(0)
	j.wg.Add(n)
	par.gen.Add(1) // open
	for _, w := range par.workers[:procs-1] {
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
	par.gen.Add(1) // closed
	for par.active.Load() != 0 {
		runtime.Gosched()
	}
	j.f = nil
}

// run takes parts of the job until none is left.
func (j *parJob) run(worker int) {
	for {
		i := j.next.Add(1) - 1
		if i >= j.n {
			return
		}
		j.f.part(worker, int(i))
		j.done.Add(1)
		j.wg.Done()
	}
}

func (w *parWorker) loop(seen uint64) {
	for {
		start := time.Now()
		for i := 1; ; i++ {
			g := par.gen.Load()
			if g != seen && g%2 == 1 {
				par.active.Add(1)
				if par.gen.Load() == g && w.id < par.job.workers {
					par.job.run(w.id)
				}
				par.active.Add(-1)
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
			if g := par.gen.Load(); g == seen || g%2 == 0 {
				<-w.wake
			}
			w.sleeping.Store(false)
			start = time.Now()
		}
	}
}
