package tensor

import (
	"sync/atomic"

	"github.com/bonsai-dl/bonsai/internal/par"
)

// parTask is the work of a parallelFor call: Part(worker, i) computes part i.
type parTask = par.Task

// parallelFor runs f.Part(worker, i) for i = 0…n-1 on the one worker pool of Bonsai's
// kernels (internal/par, shared with asm's SGEMM) and returns when all parts are done. What
// a part computes never depends on the worker that runs it, so results are identical for
// any GOMAXPROCS. A parallelFor called from a part runs on the calling goroutine alone.
func parallelFor(n int, f parTask) { par.For(n, f) }

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
