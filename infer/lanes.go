package infer

import (
	"os"
	"runtime"
	"strconv"

	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/internal/par"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Batches of several images run data-parallel: the batch is cut into chunks of a few
// images, and each of up to GOMAXPROCS goroutines runs whole chunks through every step
// with its own buffers (a lane), the kernels inside a chunk running on that goroutine
// alone. Against running each step over the whole batch with its work split across the
// cores, this keeps a chunk's activations in the core's own cache from one step to the
// next, and it needs no synchronisation between steps: the cores never wait for each
// other on a small layer. One image alone still runs step by step with each step split
// across the cores (batch-1 latency).
//
// Each image's output is the same bit for bit either way (the steps compute each image
// independently of its batch-mates, see TestBatchIndependence), and a chunk's images
// are a fixed cut of the batch, so results do not depend on GOMAXPROCS.

// lane is the state of one goroutine of a data-parallel run: a Runner for one chunk and
// the header of its input.
type lane struct {
	r *Runner
	x tensor.Tensor
}

// laneTask runs the chunks of one data-parallel Run.
type laneTask struct {
	r     *Runner
	x     *tensor.Tensor
	y     *tensor.Tensor
	n     int // images in the batch
	chunk int // images per chunk
}

// Part runs chunk i on the lane of the worker.
func (t *laneTask) Part(worker, i int) {
	r := t.r
	l := r.lanes[worker]
	lo := i * t.chunk
	hi := min(lo+t.chunk, t.n)
	in := len(t.x.Data) / t.n
	l.x.Shape[0] = hi - lo
	l.x.Data = t.x.Data[lo*in : hi*in]
	y, err := l.r.Run(&l.x)
	if err != nil {
		panic("infer: lane: " + err.Error()) // the shape was checked by the caller
	}
	out := len(y.Data) / (hi - lo)
	copy(t.y.Data[lo*out:hi*out], y.Data)
}

// laneChunkOverride is BONSAI_LANE_CHUNK (images per chunk, for experiments), read once:
// chunkImages runs on every Run.
var laneChunkOverride, _ = strconv.Atoi(os.Getenv("BONSAI_LANE_CHUNK"))

// smallStepMACs is the mean multiply-adds per image of a model's convolution and linear
// steps below which a model whose images do not fit in L2 still runs data-parallel, one
// image per chunk (see chunkImages). MobileNetV2 at 224×224 averages 5.7 M per step,
// ResNet-18 and ResNet-50 75–90 M. Measured on a 2-core AMD EPYC (family 26, model 2) at
// batch 32 and 2 threads: MobileNetV2 runs 1.4× faster image by image, ResNet-18 and
// ResNet-50 0.65× and 0.9× as fast.
const smallStepMACs = 16 << 20

// chunkImages returns how many images one chunk of a data-parallel run of n images over
// procs goroutines holds, or 0 when the model does not run data-parallel. A model runs
// data-parallel when the activation buffers of one image take at most half of a core's
// L2 cache (the CIFAR networks). A chunk holds enough images that the buffers take about
// twice the L2 cache (which the step-by-step kernels are tiled for), 4 to 32 of them, and
// never more than an even share of the batch; unless the model's weights outweigh the
// traffic of a chunk's activations (see below). An ImageNet network's images are far
// larger: it runs data-parallel one image per chunk when its layers are small (fewer than
// smallStepMACs multiply-adds per step on average, as MobileNetV2's: split step by step
// they keep the cores waiting for each other, and a batch's activations, tens of MB per
// step, stream through memory between steps), and step by step over the whole batch when
// they are large enough to split well across the cores (ResNet: there the batch also
// shares each layer's weights).
func (cm *Model) chunkImages(n, procs int) int {
	perImage := 0
	for _, s := range cm.slots {
		perImage += 4 * s
	}
	_, l2, _ := asm.CacheSizes()
	if l2 <= 0 {
		l2 = 1 << 20
	}
	c := 1
	switch {
	case perImage > l2/2 && !cm.imageByImage():
		return 0
	case perImage <= l2/2:
		c = min(max(2*l2/max(perImage, 1), 4), 32)
	}
	if laneChunkOverride > 0 {
		c = laneChunkOverride
	}
	c = max(1, min(c, (n+procs-1)/procs))
	// Each chunk reads every weight again, the batch step by step reads them once but streams
	// the activations between steps: a model whose weights outweigh a chunk's activation
	// traffic runs step by step (CIFAR VGG-16: 59 MB of weights against 4 images' 11 MB of
	// steps' inputs and outputs; it ran 2.9× slower in lanes at batch 128).
	if cm.weightBytes() > int64(c)*cm.trafficPerImage() {
		return 0
	}
	return c
}

// weightBytes returns the bytes of the model's convolution and linear weights (a fused
// block's not counted).
func (cm *Model) weightBytes() int64 {
	var n int64
	for i := range cm.steps {
		st := &cm.steps[i]
		switch st.kind {
		case stepConv:
			ho, wo := st.conv.OutShape()
			n += 4 * st.conv.MACs() / int64(max(ho*wo, 1))
		case stepLinear:
			n += 4 * int64(st.lin.Rows()) * int64(st.linIn)
		}
	}
	return n
}

// trafficPerImage returns the bytes one image's steps read and write (every step's input
// and output), which a step-by-step run of a large batch streams through memory.
func (cm *Model) trafficPerImage() int64 {
	var n int64
	for i := range cm.steps {
		st := &cm.steps[i]
		n += 4 * int64(numel(cm.values[st.in].shape)+numel(cm.values[st.out].shape))
	}
	return n
}

// runLanes runs x, n ≥ 2 images, data-parallel over procs goroutines into the output
// tensor y. It reports false, doing nothing, when the batch is too small to give every
// goroutine a chunk.
func (r *Runner) runLanes(x, y *tensor.Tensor, n, procs int) bool {
	c := r.m.chunkImages(n, procs)
	if c == 0 || (n+c-1)/c < procs {
		return false
	}
	chunks := (n + c - 1) / c
	for len(r.lanes) < procs {
		lr := r.m.NewRunner(r.laneBatch)
		lr.sub = true
		r.lanes = append(r.lanes, &lane{r: lr, x: tensor.Tensor{Shape: append([]int{0}, r.m.inShape...)}})
	}
	if c > r.laneBatch {
		panic("infer: internal error: chunk larger than a lane")
	}
	r.task = laneTask{r: r, x: x, y: y, n: n, chunk: c}
	par.For(chunks, &r.task)
	r.task = laneTask{}
	return true
}

// laneProcs returns the goroutines a data-parallel run of n images would use (0: it would
// not run data-parallel). A model that runs image by image does so on one goroutine too.
func (r *Runner) laneProcs(n int) int {
	if r.sub || r.times != nil || n < 2 {
		return 0
	}
	procs := min(runtime.GOMAXPROCS(0), n)
	if procs < 2 && !r.m.imageByImage() {
		return 0
	}
	return procs
}

// imageByImage reports whether the model runs batches one image per chunk (see
// chunkImages), on one goroutine too: its images do not fit in L2 and its steps are
// small.
func (cm *Model) imageByImage() bool {
	perImage := 0
	for _, s := range cm.slots {
		perImage += 4 * s
	}
	_, l2, _ := asm.CacheSizes()
	return perImage > l2/2 && cm.meanStepMACs() < smallStepMACs
}

// meanStepMACs returns the mean multiply-adds per image of the model's convolution and
// linear steps (0 without any).
func (cm *Model) meanStepMACs() int64 {
	var macs, steps int64
	for i := range cm.steps {
		st := &cm.steps[i]
		switch st.kind {
		case stepConv:
			macs += st.conv.MACs()
		case stepDWBlock:
			macs += st.block.MACs()
		case stepLinear:
			macs += int64(st.lin.Rows()) * int64(st.linIn)
		default:
			continue
		}
		steps++
	}
	if steps == 0 {
		return 0
	}
	return macs / steps
}
