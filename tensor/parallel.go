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

// A workQueue deals the units of a parallelFor job whose part i is segment i of the units:
// part i takes the units of its own segment from the front, in order, and then helps the
// other parts, taking units from the back of the segment with the most units left. With
// as many parts as goroutines, each goroutine walks its own contiguous run of units, so it
// can prefetch the next one while it computes the current one, and balancing costs nothing
// unless the goroutines run at different speeds. What a unit computes must not depend on
// which part takes it.
type workQueue struct {
	segs []queueSeg
	n    int // segments in use
}

// queueSeg is one segment: the next unit from the front in the low 32 bits of lohi, the
// end of the units still to take in the high 32 bits; on a cache line of its own.
type queueSeg struct {
	lohi atomic.Uint64
	_    [56]byte
}

// reset prepares n segments; set gives each its units.
func (q *workQueue) reset(n int) {
	if len(q.segs) < n {
		q.segs = make([]queueSeg, n)
	}
	q.n = n
	for i := range n {
		q.segs[i].lohi.Store(0)
	}
}

// set gives segment i units 0…units-1.
func (q *workQueue) set(i, units int) { q.segs[i].lohi.Store(uint64(units) << 32) }

// take claims the next unit of segment i from its front.
func (q *workQueue) take(i int) (int, bool) {
	s := &q.segs[i].lohi
	for {
		v := s.Load()
		lo, hi := uint32(v), uint32(v>>32)
		if lo >= hi {
			return 0, false
		}
		if s.CompareAndSwap(v, v+1) {
			return int(lo), true
		}
	}
}

// peek returns the unit that take(i) would claim now, if any.
func (q *workQueue) peek(i int) (int, bool) {
	v := q.segs[i].lohi.Load()
	lo, hi := uint32(v), uint32(v>>32)
	return int(lo), lo < hi
}

// steal claims the last unit of the segment with the most units left.
func (q *workQueue) steal() (seg, unit int, ok bool) {
	for {
		best, most := -1, uint32(0)
		for j := range q.n {
			v := q.segs[j].lohi.Load()
			lo, hi := uint32(v), uint32(v>>32)
			if hi > lo && hi-lo > most {
				best, most = j, hi-lo
			}
		}
		if best < 0 {
			return 0, 0, false
		}
		s := &q.segs[best].lohi
		v := s.Load()
		lo, hi := uint32(v), uint32(v>>32)
		if lo < hi && s.CompareAndSwap(v, v-1<<32) {
			return best, int(hi - 1), true
		}
	}
}

// next claims the next unit for part i: the front of its own segment, or else the back of
// another's.
func (q *workQueue) next(i int) (seg, unit int, ok bool) {
	if u, ok := q.take(i); ok {
		return i, u, true
	}
	return q.steal()
}
