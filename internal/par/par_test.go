package par

import (
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
)

type countTask struct {
	counts []atomic.Int32
	nested int // parts of a nested For per part
	inner  *countTask
}

func (t *countTask) Part(w, i int) {
	if w < 0 || w >= runtime.GOMAXPROCS(0) {
		panic("worker id out of range")
	}
	t.counts[i].Add(1)
	if t.inner != nil {
		For(t.nested, t.inner)
	}
}

// TestForOnce checks that every part runs exactly once, with nested calls (run on the
// calling goroutine) and with calls from several goroutines at once.
func TestForOnce(t *testing.T) {
	defer runtime.GOMAXPROCS(runtime.GOMAXPROCS(4))
	for _, n := range []int{0, 1, 2, 3, 17, 1000} {
		inner := &countTask{counts: make([]atomic.Int32, 5)}
		task := &countTask{counts: make([]atomic.Int32, n), nested: 5, inner: inner}
		For(n, task)
		for i := range task.counts {
			if c := task.counts[i].Load(); c != 1 {
				t.Fatalf("n=%d: part %d ran %d times", n, i, c)
			}
		}
		for i := range inner.counts {
			if c := inner.counts[i].Load(); int(c) != n {
				t.Fatalf("n=%d: nested part %d ran %d times, want %d", n, i, c, n)
			}
		}
	}
	var wg sync.WaitGroup
	tasks := make([]*countTask, 8)
	for g := range tasks {
		tasks[g] = &countTask{counts: make([]atomic.Int32, 300)}
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 20 {
				For(300, tasks[g])
			}
		}()
	}
	wg.Wait()
	for g, task := range tasks {
		for i := range task.counts {
			if c := task.counts[i].Load(); c != 20 {
				t.Fatalf("goroutine %d: part %d ran %d times, want 20", g, i, c)
			}
		}
	}
}
