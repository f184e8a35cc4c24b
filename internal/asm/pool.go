package asm

import (
	"sync"
	"sync/atomic"

	"github.com/bonsai-dl/bonsai/internal/par"
)

// Workspace is caller-owned scratch memory for Sgemm: packing buffers per goroutine (packed
// op(A) block, packed op(B) panel, an edge tile) and the bookkeeping of one call. Buffers
// grow on demand and are never shrunk, so reusing a Workspace across calls of similar sizes
// makes Sgemm allocation-free in steady state.
//
// A Workspace may be used by only one Sgemm call at a time. The zero value is ready to use;
// NewWorkspace is provided for symmetry.
type Workspace struct {
	parts []partBuf // packing buffers per goroutine; parts[w] is used only by worker w
	job   sgemmJob  // parameters of the call in progress, read by the workers

	gemv gemvTask // the SgemvPacked call in progress

	narrow  narrowTask  // the SgemmPacked call on the narrow products in progress
	narrowT [][]float32 // its tile buffers, one per worker

	next atomic.Int64 // the next part of job to claim
	_    [56]byte
}

// partBuf holds one worker's packing buffers.
type partBuf struct {
	a []float32 // packed mc×kc block of op(A)
	b []float32 // packed kc×nc panel of op(B)
	t []float32 // one mr×nr edge tile
}

// NewWorkspace returns an empty Workspace; its buffers are allocated by the first Sgemm
// call that uses it.
func NewWorkspace() *Workspace { return new(Workspace) }

// ensureParts makes room for p per-worker buffer sets.
func (ws *Workspace) ensureParts(p int) {
	if len(ws.parts) < p {
		ws.parts = append(ws.parts, make([]partBuf, p-len(ws.parts))...)
	}
}

// grow returns buf resliced to n elements, reallocating only if its capacity is too small.
func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// wsPool serves Sgemm calls made with a nil Workspace.
var wsPool = sync.Pool{New: func() any { return new(Workspace) }}

// runParallel runs ws.job over p parts on Bonsai's one worker pool (internal/par, shared
// with package tensor's kernels) and returns when it is done. Each part is a fixed
// rectangle of C (see runPart), so which goroutine computes it changes nothing.
func (ws *Workspace) runParallel(p int) {
	if p <= 1 {
		ws.work(0)
		return
	}
	par.For(p, (*sgemmParts)(ws))
}

// sgemmParts runs the parts of a Workspace's job: part i is rectangle p-1-i, so that the
// caller, which claims first, takes the last one (see work).
type sgemmParts Workspace

func (t *sgemmParts) Part(w, i int) {
	ws := (*Workspace)(t)
	parts := ws.job.pr * ws.job.pc
	ws.runPart(parts-1-i, &ws.parts[w])
}
