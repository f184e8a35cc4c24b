package data_test

import (
	"fmt"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/data"
)

// ownBatch is a copy of a Batch that outlives the next call to Next.
type ownBatch struct {
	X      []float32
	Labels []int
	N      int
	Index  int
}

func own(b *data.Batch) ownBatch {
	return ownBatch{slices.Clone(b.X), slices.Clone(b.Labels), b.N, b.Index}
}

// collect returns all batches of epoch e from batch from on.
func collect(t testing.TB, l *data.Loader, e, from int) []ownBatch {
	t.Helper()
	it := l.Epoch(e, from)
	defer it.Close()
	var out []ownBatch
	for {
		b, ok := it.Next()
		if !ok {
			break
		}
		out = append(out, own(b))
	}
	if b, ok := it.Next(); ok || b != nil {
		t.Fatalf("Next after the end returned %v, %v", b, ok)
	}
	return out
}

func newLoader(t testing.TB, d *data.Dataset, c data.LoaderConfig) *data.Loader {
	t.Helper()
	l, err := data.NewLoader(d, c)
	if err != nil {
		t.Fatal(err)
	}
	return l
}

// refEpoch computes epoch e from the documented definition with the
// reference transforms: sample k is image order[k], augmented by
// DrawCropFlip(seed, e, k).
func refEpoch(d *data.Dataset, c data.LoaderConfig, e int) []ownBatch {
	n := d.Len()
	order := make([]int, n)
	for i := range order {
		order[i] = i
	}
	if c.Shuffle {
		order = data.Permutation(n, c.Seed, e)
	}
	var out []ownBatch
	for b := 0; b*c.Batch < n; b++ {
		size := min(c.Batch, n-b*c.Batch)
		if size < c.Batch && c.DropLast {
			break
		}
		ob := ownBatch{N: size, Index: b}
		for k := range size {
			pos := b*c.Batch + k
			i := order[pos]
			cf := data.CropFlip{Top: 4, Left: 4}
			if c.Augment {
				cf = data.DrawCropFlip(c.Seed, e, pos)
			}
			ob.X = append(ob.X, refCropFlip(d, i, cf, c.Mean, c.Std)...)
			ob.Labels = append(ob.Labels, int(d.Labels[i]))
		}
		out = append(out, ob)
	}
	return out
}

func compareEpochs(t *testing.T, what string, got, want []ownBatch) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: %d batches, want %d", what, len(got), len(want))
	}
	for b := range got {
		g, w := got[b], want[b]
		if g.N != w.N || g.Index != w.Index || len(g.X) != g.N*data.ImageBytes || len(g.Labels) != g.N {
			t.Fatalf("%s: batch %d: N=%d Index=%d len(X)=%d len(Labels)=%d; want N=%d Index=%d",
				what, b, g.N, g.Index, len(g.X), len(g.Labels), w.N, w.Index)
		}
		if !slices.Equal(g.Labels, w.Labels) {
			t.Fatalf("%s: batch %d: labels %v, want %v", what, b, g.Labels, w.Labels)
		}
		if k := sameBits(g.X, w.X); k >= 0 {
			t.Fatalf("%s: batch %d: X[%d] (image %d) = %v, want %v", what, b, k, k/data.ImageBytes, g.X[k], w.X[k])
		}
	}
}

var trainConfig = data.LoaderConfig{
	Batch: 16, Shuffle: true, Augment: true, Seed: 42,
	Mean: data.CIFAR10Mean, Std: data.CIFAR10Std,
}

func TestLoaderMatchesReference(t *testing.T) {
	d := randomDataset(100, 1) // 6 full batches of 16 and one of 4
	for _, tc := range []struct {
		name string
		mod  func(*data.LoaderConfig)
	}{
		{"train", func(*data.LoaderConfig) {}},
		{"drop last", func(c *data.LoaderConfig) { c.DropLast = true }},
		{"no augment", func(c *data.LoaderConfig) { c.Augment = false }},
		{"no shuffle", func(c *data.LoaderConfig) { c.Shuffle = false }},
		{"plain", func(c *data.LoaderConfig) { c.Shuffle, c.Augment = false, false }},
		{"batch 1", func(c *data.LoaderConfig) { c.Batch = 1 }},
		{"batch = n", func(c *data.LoaderConfig) { c.Batch = 100; c.Workers = 3 }},
		{"batch > n", func(c *data.LoaderConfig) { c.Batch = 128 }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := trainConfig
			tc.mod(&c)
			l := newLoader(t, d, c)
			for e := range 2 {
				want := refEpoch(d, c, e)
				if l.StepsPerEpoch() != len(want) {
					t.Fatalf("StepsPerEpoch = %d, want %d", l.StepsPerEpoch(), len(want))
				}
				compareEpochs(t, fmt.Sprintf("epoch %d", e), collect(t, l, e, 0), want)
			}
		})
	}
}

// TestLoaderPlainIsNormalize: without shuffling or augmentation the
// batches are Normalize of consecutive images.
func TestLoaderPlainIsNormalize(t *testing.T) {
	d := randomDataset(37, 2)
	c := data.LoaderConfig{Batch: 10, Mean: imagenetMean, Std: imagenetStd, Workers: 2}
	for _, b := range collect(t, newLoader(t, d, c), 0, 0) {
		idx := make([]int, b.N)
		for k := range idx {
			idx[k] = b.Index*10 + k
		}
		want := make([]float32, b.N*data.ImageBytes)
		d.Normalize(want, idx, imagenetMean, imagenetStd)
		if k := sameBits(b.X, want); k >= 0 {
			t.Fatalf("batch %d differs from Normalize at %d", b.Index, k)
		}
	}
}

func TestLoaderDeterminism(t *testing.T) {
	d := randomDataset(200, 3)
	want := collect(t, newLoader(t, d, trainConfig), 5, 0)
	compareEpochs(t, "second loader", collect(t, newLoader(t, d, trainConfig), 5, 0), want)

	for _, w := range []int{0, 1, 2, 3, 4, 7, 16, 64} {
		c := trainConfig
		c.Workers = w
		compareEpochs(t, fmt.Sprintf("%d workers", w), collect(t, newLoader(t, d, c), 5, 0), want)
	}

	// Another epoch or seed gives other batches.
	other := collect(t, newLoader(t, d, trainConfig), 6, 0)
	c := trainConfig
	c.Seed++
	otherSeed := collect(t, newLoader(t, d, c), 5, 0)
	for name, o := range map[string][]ownBatch{"epoch 6": other, "seed 43": otherSeed} {
		if slices.Equal(o[0].Labels, want[0].Labels) || sameBits(o[0].X, want[0].X) < 0 {
			t.Errorf("%s gives the same first batch as epoch 5, seed 42", name)
		}
	}
}

// TestLoaderResume: Epoch(e, k) gives batches k… of Epoch(e, 0).
func TestLoaderResume(t *testing.T) {
	d := randomDataset(100, 4)
	for _, c := range []data.LoaderConfig{trainConfig, func() data.LoaderConfig { c := trainConfig; c.DropLast, c.Workers = true, 3; return c }()} {
		l := newLoader(t, d, c)
		full := collect(t, l, 2, 0)
		for k := 0; k <= l.StepsPerEpoch(); k++ {
			compareEpochs(t, fmt.Sprintf("DropLast=%v from %d", c.DropLast, k), collect(t, l, 2, k), full[k:])
		}
	}
}

// TestLoaderOrderIndependentOfBatch: the stream of samples (images and
// labels, augmentation included) is the same for any batch size.
func TestLoaderOrderIndependentOfBatch(t *testing.T) {
	d := randomDataset(50, 5)
	var want ownBatch
	for i, bs := range []int{1, 7, 16, 50, 64} {
		c := trainConfig
		c.Batch = bs
		var got ownBatch
		for _, b := range collect(t, newLoader(t, d, c), 1, 0) {
			got.X = append(got.X, b.X...)
			got.Labels = append(got.Labels, b.Labels...)
		}
		if i == 0 {
			want = got
			// The labels show the order is a permutation: label i mod 10
			// for image i, so each label appears 5 times.
			var count [10]int
			for _, l := range got.Labels {
				count[l]++
			}
			if count != [10]int{5, 5, 5, 5, 5, 5, 5, 5, 5, 5} {
				t.Fatalf("label counts %v", count)
			}
			continue
		}
		if !slices.Equal(got.Labels, want.Labels) || sameBits(got.X, want.X) >= 0 {
			t.Fatalf("batch size %d gives another sample stream than batch size 1", bs)
		}
	}
}

func TestLoaderDropLast(t *testing.T) {
	d := randomDataset(35, 6)
	for _, tc := range []struct {
		batch    int
		dropLast bool
		steps    int
		last     int
	}{
		{10, false, 4, 5}, {10, true, 3, 10}, {5, false, 7, 5}, {5, true, 7, 5}, {35, true, 1, 35}, {36, false, 1, 35},
	} {
		c := trainConfig
		c.Batch, c.DropLast = tc.batch, tc.dropLast
		l := newLoader(t, d, c)
		bs := collect(t, l, 0, 0)
		if l.StepsPerEpoch() != tc.steps || len(bs) != tc.steps {
			t.Errorf("batch %d DropLast %v: StepsPerEpoch %d, %d batches; want %d", tc.batch, tc.dropLast, l.StepsPerEpoch(), len(bs), tc.steps)
			continue
		}
		if last := bs[len(bs)-1]; last.N != tc.last {
			t.Errorf("batch %d DropLast %v: last batch has %d images, want %d", tc.batch, tc.dropLast, last.N, tc.last)
		}
		for i, b := range bs {
			if b.Index != i {
				t.Errorf("batch %d has Index %d", i, b.Index)
			}
		}
	}
}

func TestNewLoaderErrors(t *testing.T) {
	good := randomDataset(10, 7)
	badLabel := randomDataset(10, 7)
	badLabel.Labels[3] = 10
	short := randomDataset(10, 7)
	short.Images = short.Images[:len(short.Images)-1]
	nan := float32(0)
	nan /= nan
	for _, tc := range []struct {
		name string
		d    *data.Dataset
		mod  func(*data.LoaderConfig)
		want string
	}{
		{"nil", nil, nil, "nil Dataset"},
		{"empty", &data.Dataset{}, nil, "empty"},
		{"label", badLabel, nil, "image 3 has label 10"},
		{"images", short, nil, "image bytes"},
		{"batch 0", good, func(c *data.LoaderConfig) { c.Batch = 0 }, "batch size 0"},
		{"batch -1", good, func(c *data.LoaderConfig) { c.Batch = -1 }, "batch size -1"},
		{"workers", good, func(c *data.LoaderConfig) { c.Workers = -2 }, "-2 workers"},
		{"std 0", good, func(c *data.LoaderConfig) { c.Std = [3]float32{} }, "std[0] = 0"},
		{"std <0", good, func(c *data.LoaderConfig) { c.Std[2] = -1 }, "std[2] = -1"},
		{"std NaN", good, func(c *data.LoaderConfig) { c.Std[1] = nan }, "std[1] = NaN"},
		{"mean NaN", good, func(c *data.LoaderConfig) { c.Mean[1] = nan }, "mean[1] = NaN"},
		{"drop all", good, func(c *data.LoaderConfig) { c.Batch, c.DropLast = 11, true }, "leaves no batch"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := trainConfig
			if tc.mod != nil {
				tc.mod(&c)
			}
			l, err := data.NewLoader(tc.d, c)
			if err == nil || l != nil {
				t.Fatalf("NewLoader = %v, %v; want an error containing %q", l, err, tc.want)
			}
			if !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %q does not contain %q", err, tc.want)
			}
		})
	}
	l := newLoader(t, good, trainConfig)
	if l.Config() != trainConfig {
		t.Errorf("Config() = %+v", l.Config())
	}
	for _, bad := range [][2]int{{-1, 0}, {0, -1}, {0, l.StepsPerEpoch() + 1}, {1 << 31, 0}} {
		if msg := catch(func() { l.Epoch(bad[0], bad[1]).Close() }); !strings.Contains(msg, "data: Epoch") {
			t.Errorf("Epoch(%d, %d): panic %q", bad[0], bad[1], msg)
		}
	}
}

// waitGoroutines waits until at most n goroutines run, and fails after a
// few seconds.
func waitGoroutines(t *testing.T, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for runtime.NumGoroutine() > n {
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("%d goroutines, want ≤ %d:\n%s", runtime.NumGoroutine(), n, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(time.Millisecond)
	}
}

func TestLoaderClose(t *testing.T) {
	d := randomDataset(64, 8)
	base := runtime.NumGoroutine()
	for _, w := range []int{1, 4} {
		c := trainConfig
		c.Batch, c.Workers = 4, w
		l := newLoader(t, d, c)

		// Close mid-epoch, twice.
		it := l.Epoch(0, 0)
		for range 3 {
			if _, ok := it.Next(); !ok {
				t.Fatal("epoch ended early")
			}
		}
		it.Close()
		it.Close()
		if b, ok := it.Next(); ok || b != nil {
			t.Fatalf("Next after Close = %v, %v", b, ok)
		}
		waitGoroutines(t, base)

		// Close before the first Next, and after the end.
		l.Epoch(1, 0).Close()
		waitGoroutines(t, base)
		it = l.Epoch(1, l.StepsPerEpoch()-1)
		if _, ok := it.Next(); !ok {
			t.Fatal("no last batch")
		}
		if _, ok := it.Next(); ok {
			t.Fatal("batch after the last")
		}
		it.Close()
		waitGoroutines(t, base)

		// After all that, an epoch is still complete and correct.
		compareEpochs(t, "after Close", collect(t, l, 0, 0), refEpoch(d, c, 0))
		waitGoroutines(t, base)
	}
}

// TestLoaderCloseConcurrent closes from another goroutine, as a Ctrl-C
// handler would, while the training loop calls Next.
func TestLoaderCloseConcurrent(t *testing.T) {
	d := randomDataset(256, 9)
	base := runtime.NumGoroutine()
	c := trainConfig
	c.Batch, c.Workers = 2, 3
	l := newLoader(t, d, c)
	for round := range 20 {
		it := l.Epoch(round, 0)
		var wg sync.WaitGroup
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				b, ok := it.Next()
				if !ok {
					return
				}
				if b.Index != i {
					t.Errorf("batch %d has Index %d", i, b.Index)
				}
				_ = b.X[len(b.X)-1] + float32(b.Labels[0]) // use the batch
			}
		}()
		time.Sleep(time.Duration(round*20) * time.Microsecond)
		it.Close()
		wg.Wait()
		it.Close()
	}
	waitGoroutines(t, base)
}

// TestLoaderNoAllocs: in steady state a batch costs no allocation, in the
// caller or in the background goroutines.
func TestLoaderNoAllocs(t *testing.T) {
	if testing.Short() {
		t.Skip("short")
	}
	d := randomDataset(1024, 10)
	for _, w := range []int{1, 3} {
		c := trainConfig
		c.Batch, c.Workers = 8, w
		l := newLoader(t, d, c)
		it := l.Epoch(0, 0)
		for range 4 { // warm up
			it.Next()
		}
		allocs := testing.AllocsPerRun(100, func() {
			if _, ok := it.Next(); !ok {
				panic("epoch ended")
			}
		})
		it.Close()
		if allocs != 0 {
			t.Errorf("%d workers: %v allocations per batch, want 0", w, allocs)
		}
	}
}

// TestLoaderReusesBuffers: consecutive epochs run in the same three
// buffers.
func TestLoaderReusesBuffers(t *testing.T) {
	d := randomDataset(40, 11)
	c := trainConfig
	c.Batch = 8
	l := newLoader(t, d, c)
	seen := map[*float32]bool{}
	for e := range 3 {
		it := l.Epoch(e, 0)
		for {
			b, ok := it.Next()
			if !ok {
				break
			}
			seen[&b.X[0]] = true
		}
		it.Close()
	}
	// One buffer with the caller and two prepared ahead, cycled.
	if len(seen) != 3 {
		t.Errorf("3 epochs used %d batch buffers, want 3", len(seen))
	}
}

// BenchmarkLoader measures a training epoch step: one batch of 128
// shuffled, augmented, normalised images per op.
func BenchmarkLoader(b *testing.B) {
	d := randomDataset(10000, 12)
	for _, w := range []int{1, 2} {
		b.Run(fmt.Sprintf("batch=128/workers=%d", w), func(b *testing.B) {
			c := trainConfig
			c.Batch, c.Workers, c.DropLast = 128, w, true
			l := newLoader(b, d, c)
			e := 0
			it := l.Epoch(e, 0)
			it.Next()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				if _, ok := it.Next(); !ok {
					it.Close()
					e++
					it = l.Epoch(e, 0)
					it.Next()
				}
			}
			b.StopTimer()
			it.Close()
			b.ReportMetric(float64(b.N)*128/b.Elapsed().Seconds(), "images/s")
		})
	}
}
