package tensor

import (
	"runtime"
	"sync/atomic"
	"testing"
)

// countTask counts how often each unit is computed and checks the worker ids.
type countTask struct {
	t      *testing.T
	procs  int
	counts []atomic.Int32
}

func (c *countTask) run(w, lo, hi int) {
	if w < 0 || w >= c.procs || lo >= hi {
		c.t.Errorf("run(%d, %d, %d): bad worker or empty range", w, lo, hi)
	}
	for i := lo; i < hi; i++ {
		c.counts[i].Add(1)
	}
}

// TestParallelRange checks that parallelRange computes every unit exactly once.
func TestParallelRange(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(0))
	for _, procs := range []int{1, 2, 3} {
		runtime.GOMAXPROCS(procs)
		for _, units := range []int{0, 1, 2, 7, 64, 1000} {
			for _, minChunk := range []int{0, 1, 3, 50} {
				c := &countTask{t: t, procs: procs, counts: make([]atomic.Int32, units)}
				for range 3 {
					parallelRange(units, minChunk, c)
				}
				for i := range c.counts {
					if n := c.counts[i].Load(); n != 3 {
						t.Fatalf("GOMAXPROCS=%d units=%d minChunk=%d: unit %d computed %d times in 3 calls", procs, units, minChunk, i, n)
					}
				}
			}
		}
	}
}
