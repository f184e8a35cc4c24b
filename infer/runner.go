package infer

import (
	"fmt"
	"slices"
	"time"

	"github.com/bonsai-dl/bonsai/internal/asm"
	"github.com/bonsai-dl/bonsai/tensor"
)

// Runner runs a compiled Model with its own activation buffers and kernel workspaces,
// for batches of up to a maximum size. Create one per goroutine with Model.NewRunner; a
// Runner is not safe for concurrent use.
type Runner struct {
	m        *Model
	maxBatch int
	bufs     [][]float32     // one per slot of the model's plan, for maxBatch images
	ts       []tensor.Tensor // one header per value, pointed at its buffer by Run
	conv     tensor.ConvWorkspace
	gemm     *asm.Workspace
	times    []time.Duration // per step, accumulated while timing is on (see SetTiming)

	linX, linY []float32 // a linear step's transposed input and output
	linEpi     asm.GemmEpilogue
	catIn      []*tensor.Tensor // a concat step's inputs

	// Data-parallel runs (see lanes.go): a Runner per goroutine, for chunks of up to
	// laneBatch images, created on the first batch that uses them; sub marks a lane's
	// own Runner.
	lanes     []*lane
	laneBatch int
	sub       bool
	task      laneTask
}

func grow(b []float32, n int) []float32 {
	if cap(b) < n {
		return make([]float32, n)
	}
	return b[:n]
}

// SetTiming switches the timing of each step on (accumulated over calls, see StepTimes) or
// off, and resets the accumulated times.
func (r *Runner) SetTiming(on bool) {
	r.times = nil
	if on {
		r.times = make([]time.Duration, len(r.m.steps))
	}
}

// StepTimes returns the time spent in each step (in the order of Model.Layers) since
// timing was switched on.
func (r *Runner) StepTimes() []time.Duration { return slices.Clone(r.times) }

// NewRunner returns a Runner for batches of 1 … maxBatch images. Its activation buffers
// are allocated here; the kernels' workspaces grow during the first calls and are reused.
func (cm *Model) NewRunner(maxBatch int) *Runner {
	if maxBatch <= 0 {
		panic(fmt.Sprintf("infer.Model.NewRunner: maximum batch %d", maxBatch))
	}
	r := &Runner{m: cm, maxBatch: maxBatch, gemm: asm.NewWorkspace()}
	r.laneBatch = cm.chunkImages(maxBatch, 1) // the largest chunk a run can have
	r.bufs = make([][]float32, len(cm.slots))
	for i, n := range cm.slots {
		r.bufs[i] = make([]float32, n*maxBatch)
	}
	r.ts = make([]tensor.Tensor, len(cm.values))
	for i, v := range cm.values {
		r.ts[i].Shape = make([]int, 1+len(v.shape))
		copy(r.ts[i].Shape[1:], v.shape)
	}
	return r
}

// MaxBatch returns the largest batch Run accepts.
func (r *Runner) MaxBatch() int { return r.maxBatch }

// Run computes the model's output for x: [N, InShape()...] with 1 ≤ N ≤ MaxBatch. The
// result, [N, OutShape()...], is the Runner's: it stays valid until the next call of Run.
// x is only read. Steady state allocates nothing.
func (r *Runner) Run(x *tensor.Tensor) (*tensor.Tensor, error) {
	m := r.m
	if len(x.Shape) != 1+len(m.inShape) || !equalInts(x.Shape[1:], m.inShape) {
		return nil, fmt.Errorf("infer: input of shape %v, the model takes [N %v]", x.Shape, m.inShape)
	}
	n := x.Shape[0]
	if n < 1 || n > r.maxBatch {
		return nil, fmt.Errorf("infer: batch of %d images, the runner takes 1 to %d", n, r.maxBatch)
	}
	for i := range m.values {
		v := &m.values[i]
		t := &r.ts[i]
		t.Shape[0] = n
		root := i
		for m.values[root].alias >= 0 {
			root = m.values[root].alias
		}
		switch slot := m.values[root].slot; {
		case root == 0:
			t.Data = x.Data
		case slot >= 0:
			t.Data = r.bufs[slot][:n*numel(v.shape)]
		default: // fused away: never read or written
			t.Data = nil
		}
	}
	if procs := r.laneProcs(n); procs > 0 && r.runLanes(x, &r.ts[m.out], n, procs) {
		return &r.ts[m.out], nil
	}
	for i := range m.steps {
		if r.times == nil {
			r.step(&m.steps[i])
			continue
		}
		start := time.Now()
		r.step(&m.steps[i])
		r.times[i] += time.Since(start)
	}
	return &r.ts[m.out], nil
}

func (r *Runner) step(st *step) {
	x, y := &r.ts[st.in], &r.ts[st.out]
	switch st.kind {
	case stepConv:
		var res *tensor.Tensor
		if st.residual >= 0 {
			res = &r.ts[st.residual]
		}
		st.conv.Forward(y, x, res, st.relu, &r.conv)
	case stepDWBlock:
		var res *tensor.Tensor
		if st.residual >= 0 {
			res = &r.ts[st.residual]
		}
		st.block.Forward(y, x, res, &r.conv)
	case stepBN:
		n, c, h, w := x.NCHW()
		plane := h * w
		for i := range n {
			for k := range c {
				lo := (i*c + k) * plane
				asm.ScaleShift(y.Data[lo:lo+plane], x.Data[lo:lo+plane], st.scale[k], st.shift[k])
			}
		}
	case stepRelu:
		tensor.Relu(y, x)
	case stepRelu6:
		tensor.Relu6(y, x)
	case stepAdd:
		tensor.Add(y, x, &r.ts[st.in2])
	case stepAddRelu:
		tensor.AddRelu(y, x, &r.ts[st.in2])
	case stepMaxPool:
		tensor.MaxPool2d(y, x, st.kernel, st.kernel, st.pool)
	case stepAvgPool:
		tensor.AvgPool2d(y, x, st.kernel, st.kernel, st.pool)
	case stepGlobalAvg:
		tensor.GlobalAvgPool(y, x)
	case stepView:
	case stepLinear:
		// yᵀ = w·xᵀ + b with the packed weights as the left operand: one image is one
		// column (xᵀ is x itself), a batch is transposed in and out.
		n, in, out := x.Shape[0], st.linIn, st.lin.Rows()
		r.linEpi = asm.GemmEpilogue{Bias: st.linBias}
		if n == 1 {
			asm.SgemvPacked(st.lin, x.Data, y.Data, &r.linEpi, r.gemm)
			break
		}
		r.linX = grow(r.linX, in*n)
		r.linY = grow(r.linY, out*n)
		asm.Transpose(r.linX, n, x.Data, in, n, in)
		asm.SgemmPacked(st.lin, n, r.linX, n, r.linY, n, &r.linEpi, r.gemm)
		asm.Transpose(y.Data, out, r.linY, n, out, n)
	case stepChannelMap:
		tensor.SubsampleMapChannels(y, x, st.stride, st.dst)
	case stepSigmoid:
		tensor.Sigmoid(y, x)
	case stepMulChannels:
		tensor.ScaleChannels(y, x, r.ts[st.in2].Data)
	case stepChannelScale:
		tensor.ScaleChannels(y, x, st.scale)
	case stepConcat:
		r.catIn = r.catIn[:0]
		for _, v := range st.ins {
			r.catIn = append(r.catIn, &r.ts[v])
		}
		tensor.ConcatChannels(y, r.catIn)
	}
}

func equalInts(a, b []int) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
