package data

import (
	"errors"
	"fmt"
	"math"
	"sync"
	"sync/atomic"
)

// LoaderConfig configures a Loader.
type LoaderConfig struct {
	Batch    int        // images per batch, > 0
	Shuffle  bool       // visit the images in Permutation(n, Seed, epoch) order, else in index order
	Augment  bool       // apply DrawCropFlipPad(Seed, epoch, position, Dataset.Pad()) to every image
	DropLast bool       // leave out a last batch smaller than Batch
	Seed     uint64     // the seed of shuffling and augmentation
	Mean     [3]float32 // per-channel mean for normalisation, e.g. CIFAR10Mean
	Std      [3]float32 // per-channel standard deviation, each > 0, e.g. CIFAR10Std
	Workers  int        // goroutines filling a batch; 0 means 1; results are identical for any count
}

// Batch is one batch of normalised (and possibly augmented) images and
// their labels, as returned by EpochIter.Next. Its slices live in buffers
// that the Loader reuses: a Batch is valid until the next call to Next or
// Close on the iterator that returned it.
type Batch struct {
	X             []float32 // [N, 3, Height, Width] float32 CHW
	Labels        []int     // [N] labels 0..Dataset.ClassCount()-1
	N             int       // images in this batch: the configured Batch, or fewer for a last partial batch
	Index         int       // batch index within the epoch, 0-based
	Height, Width int       // the image size, Dataset.Size()
}

// Loader turns a Dataset into training or evaluation batches, assembled in
// background goroutines while the caller computes. Sample k of epoch e
// (0-based, over the whole epoch) is image order[k], where order is
// Permutation(n, Seed, e) when Shuffle is set and 0, 1, … otherwise;
// batch b holds samples b·Batch … b·Batch+N−1. With Augment, sample k is
// transformed by DrawCropFlipPad(Seed, e, k, d.Pad()) (DrawCropFlip(Seed, e, k)
// for 32×32 images). Every batch is thus a pure
// function of the Dataset, the configuration, e and b: it does not depend
// on Workers, goroutine timing or where an epoch was started.
//
// The Dataset must not change while the Loader is in use. A Loader's
// methods may be called from several goroutines, but it keeps one set of
// batch buffers for reuse: run one epoch at a time to avoid allocating.
type Loader struct {
	d       *Dataset
	c       LoaderConfig
	workers int
	steps   int
	table   *normTable
	bytes   int // per image
	pad     int // of the crop

	mu    sync.Mutex
	spare *buffers // buffers of a finished epoch, for the next one
}

// ahead is how many batch buffers an epoch uses: one held by the caller
// and up to two prepared ahead of it.
const ahead = 3

// buffers are an epoch's reusable memory.
type buffers struct {
	order []int
	slots [ahead]*slot
}

// slot is one batch buffer.
type slot struct {
	x      []float32
	labels []int
	batch  Batch
}

// NewLoader checks d and c and returns a Loader. It is an error if d is
// empty or inconsistent (a negative Height, Width or Classes, more than
// 256 classes, len(Images) ≠ Len()·BytesPerImage(), a label ≥
// ClassCount()), if Batch ≤ 0, Workers < 0, a Mean is not finite or a Std
// is not finite and > 0, or if DropLast leaves no batch at all.
func NewLoader(d *Dataset, c LoaderConfig) (*Loader, error) {
	if d == nil {
		return nil, errors.New("data: NewLoader: nil Dataset")
	}
	n := d.Len()
	if n == 0 {
		return nil, errors.New("data: NewLoader: empty Dataset")
	}
	if uint64(n) >= 1<<32 {
		return nil, fmt.Errorf("data: NewLoader: %d images; at most 2³²−1 are supported", n)
	}
	if err := d.check("NewLoader"); err != nil {
		return nil, err
	}
	if c.Batch <= 0 {
		return nil, fmt.Errorf("data: NewLoader: batch size %d, want > 0", c.Batch)
	}
	if c.Workers < 0 {
		return nil, fmt.Errorf("data: NewLoader: %d workers, want ≥ 0", c.Workers)
	}
	for ch := range Channels {
		m, s := float64(c.Mean[ch]), float64(c.Std[ch])
		if math.IsNaN(m) || math.IsInf(m, 0) {
			return nil, fmt.Errorf("data: NewLoader: mean[%d] = %v, want a finite value", ch, m)
		}
		if !(s > 0) || math.IsInf(s, 0) {
			return nil, fmt.Errorf("data: NewLoader: std[%d] = %v, want a finite value > 0 (CIFAR10Std holds the CIFAR-10 values)", ch, s)
		}
	}
	steps := n / c.Batch
	if !c.DropLast && n%c.Batch != 0 {
		steps++
	}
	if steps == 0 {
		return nil, fmt.Errorf("data: NewLoader: batch size %d with DropLast leaves no batch of %d images", c.Batch, n)
	}
	return &Loader{
		d:       d,
		c:       c,
		workers: min(max(c.Workers, 1), c.Batch),
		steps:   steps,
		table:   newNormTable(c.Mean, c.Std),
		bytes:   d.BytesPerImage(),
		pad:     d.Pad(),
	}, nil
}

// StepsPerEpoch returns the number of batches of an epoch: ⌈n/Batch⌉, or
// ⌊n/Batch⌋ with DropLast.
func (l *Loader) StepsPerEpoch() int { return l.steps }

// Config returns the Loader's configuration.
func (l *Loader) Config() LoaderConfig { return l.c }

// EpochIter iterates over the batches of one epoch, which background
// goroutines prepare one or two ahead of the caller. Next must be called
// from one goroutine at a time; Close may be called from any goroutine.
// Call Close when done with the iterator (defer it.Close()): an iterator
// abandoned before its last batch keeps its goroutines and buffers.
type EpochIter struct {
	l    *Loader
	e    int
	from int
	buf  *buffers

	free  chan *slot    // buffers the producer may fill
	ready chan *slot    // filled buffers, in batch order; closed when the producer stops
	quit  chan struct{} // closed by Close
	done  chan struct{} // closed when the producer and its helpers have stopped
	cur   *slot         // the buffer of the batch last returned by Next

	nextMu   sync.Mutex // serialises Next with the release in Close
	closed   atomic.Bool
	quitOnce sync.Once
	released bool // buffers handed back to the Loader; guarded by nextMu
}

// Epoch starts epoch e (≥ 0) at batch index from, 0 ≤ from ≤
// StepsPerEpoch() — 0 normally, the next batch's index when resuming
// mid-epoch — and returns its iterator. The batches are exactly those that
// an epoch started at 0 gives from index from on. Epoch panics if e or from
// is out of range.
func (l *Loader) Epoch(e, from int) *EpochIter {
	if e < 0 || e >= 1<<31 {
		panic(fmt.Sprintf("data: Epoch: epoch %d out of range [0, 2³¹)", e))
	}
	if from < 0 || from > l.steps {
		panic(fmt.Sprintf("data: Epoch: from = %d out of range [0, %d]", from, l.steps))
	}
	it := &EpochIter{
		l:     l,
		e:     e,
		from:  from,
		buf:   l.takeBuffers(),
		free:  make(chan *slot, ahead),
		ready: make(chan *slot, ahead),
		quit:  make(chan struct{}),
		done:  make(chan struct{}),
	}
	n := l.d.Len()
	if l.c.Shuffle {
		permute(it.buf.order, l.c.Seed, e)
	} else {
		for i := range n {
			it.buf.order[i] = i
		}
	}
	for _, s := range it.buf.slots {
		it.free <- s
	}
	go it.produce()
	return it
}

// takeBuffers returns the spare buffers, or new ones.
func (l *Loader) takeBuffers() *buffers {
	l.mu.Lock()
	b := l.spare
	l.spare = nil
	l.mu.Unlock()
	if b != nil {
		return b
	}
	b = &buffers{order: make([]int, l.d.Len())}
	for i := range b.slots {
		b.slots[i] = &slot{
			x:      make([]float32, l.c.Batch*l.bytes),
			labels: make([]int, l.c.Batch),
		}
	}
	return b
}

// putBuffers keeps b for the next epoch.
func (l *Loader) putBuffers(b *buffers) {
	l.mu.Lock()
	l.spare = b
	l.mu.Unlock()
}

// job is a share of one batch for a helper goroutine.
type job struct {
	s          *slot
	b          int // batch index
	start, end int // the helper's samples, as positions within the batch
}

// produce fills batches from..steps-1 in order, then closes ready and
// done. It stops early when quit is closed.
func (it *EpochIter) produce() {
	l := it.l
	w := l.workers
	var (
		jobs    []chan job
		results chan struct{}
		helpers sync.WaitGroup
	)
	if w > 1 {
		jobs = make([]chan job, w-1)
		results = make(chan struct{}, w-1)
		for h := range jobs {
			jobs[h] = make(chan job, 1)
			helpers.Add(1)
			go func(in <-chan job) {
				defer helpers.Done()
				for j := range in {
					it.fill(j.s, j.b, j.start, j.end)
					results <- struct{}{}
				}
			}(jobs[h])
		}
	}
	defer func() {
		for _, ch := range jobs {
			close(ch)
		}
		helpers.Wait()
		close(it.ready)
		close(it.done)
	}()

	n := l.d.Len()
	for b := it.from; b < l.steps; b++ {
		var s *slot
		select {
		case s = <-it.free:
		case <-it.quit:
			return
		}
		size := min(l.c.Batch, n-b*l.c.Batch)
		// Worker k handles samples [k·size/w, (k+1)·size/w) of the batch;
		// the producer itself is worker 0.
		for h := range jobs {
			k := h + 1
			jobs[h] <- job{s: s, b: b, start: k * size / w, end: (k + 1) * size / w}
		}
		it.fill(s, b, 0, size/w)
		for range jobs {
			<-results
		}
		h, w := l.d.Size()
		s.batch = Batch{
			X:      s.x[:size*l.bytes],
			Labels: s.labels[:size],
			N:      size,
			Index:  b,
			Height: h,
			Width:  w,
		}
		select {
		case it.ready <- s:
		case <-it.quit:
			return
		}
	}
}

// fill writes samples [start, end) of batch b into s.
func (it *EpochIter) fill(s *slot, b, start, end int) {
	l := it.l
	h, w := l.d.Size()
	B := l.bytes
	for k := start; k < end; k++ {
		pos := b*l.c.Batch + k
		i := it.buf.order[pos]
		cf := CropFlip{Top: l.pad, Left: l.pad}
		if l.c.Augment {
			cf = DrawCropFlipPad(l.c.Seed, it.e, pos, l.pad)
		}
		cropFlipImage(s.x[k*B:(k+1)*B], l.d.Images[i*B:(i+1)*B], h, w, l.pad, cf, l.table)
		s.labels[k] = int(l.d.Labels[i])
	}
}

// Next returns the next batch of the epoch, or ok = false after the last
// one or after Close. The Batch and its slices are valid until the next
// call to Next or Close; copy what must outlive that. When the epoch is
// over, Next hands the iterator's buffers back to the Loader for the next
// epoch.
func (it *EpochIter) Next() (b *Batch, ok bool) {
	it.nextMu.Lock()
	defer it.nextMu.Unlock()
	if it.cur != nil {
		it.free <- it.cur // never blocks: free holds at most ahead slots
		it.cur = nil
	}
	if it.closed.Load() || it.released {
		return nil, false
	}
	s, ok := <-it.ready
	if !ok || it.closed.Load() {
		<-it.done
		it.release()
		return nil, false
	}
	it.cur = s
	return &s.batch, true
}

// Close stops the background work, waits for its goroutines to exit and
// hands the buffers back to the Loader. Next returns false afterwards. It
// is safe to call more than once and from any goroutine; a Batch returned
// earlier must not be used after Close.
func (it *EpochIter) Close() {
	it.closed.Store(true)
	it.quitOnce.Do(func() { close(it.quit) })
	<-it.done
	it.nextMu.Lock()
	it.cur = nil
	it.release()
	it.nextMu.Unlock()
}

// release gives the buffers back to the Loader once; nextMu must be held
// and the producer stopped.
func (it *EpochIter) release() {
	if it.released {
		return
	}
	it.released = true
	it.l.putBuffers(it.buf)
}
