package tensor

import (
	"runtime"
	"sync"
	"testing"
)

// TestWorkQueueOrder checks the order in which one part takes units: its own segment from
// the front, then the others' from the back, the fullest first.
func TestWorkQueueOrder(t *testing.T) {
	var q workQueue
	q.reset(3)
	q.set(0, 2)
	q.set(1, 3)
	q.set(2, 1)
	type unit struct{ seg, u int }
	var got []unit
	for seg, u, ok := q.next(0); ok; seg, u, ok = q.next(0) {
		got = append(got, unit{seg, u})
	}
	want := []unit{{0, 0}, {0, 1}, {1, 2}, {1, 1}, {1, 0}, {2, 0}}
	if len(got) != len(want) {
		t.Fatalf("took %v, want %v", got, want)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("took %v, want %v", got, want)
		}
	}
	if _, ok := q.peek(1); ok {
		t.Errorf("peek on an empty segment reports a unit")
	}
}

// TestWorkQueueOnce checks that parts running concurrently take every unit exactly once.
func TestWorkQueueOnce(t *testing.T) {
	const parts = 4
	counts := []int{50, 3, 0, 200}
	var q workQueue
	for range 20 {
		q.reset(parts)
		taken := make([][]int, parts)
		for i, n := range counts {
			q.set(i, n)
			taken[i] = make([]int, n)
		}
		var mu sync.Mutex
		var wg sync.WaitGroup
		for i := range parts {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for seg, u, ok := q.next(i); ok; seg, u, ok = q.next(i) {
					mu.Lock()
					taken[seg][u]++
					mu.Unlock()
					runtime.Gosched()
				}
			}()
		}
		wg.Wait()
		for seg := range taken {
			for u, n := range taken[seg] {
				if n != 1 {
					t.Fatalf("unit %d of segment %d taken %d times", u, seg, n)
				}
			}
		}
	}
}
