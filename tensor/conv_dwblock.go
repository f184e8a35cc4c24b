package tensor

import (
	"fmt"
	"os"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// DWBlock is the convolutions of an inverted residual (MobileNetV2's block) run together,
// a band of output rows at a time: the expansion 1×1 (optional), the depthwise 3×3 and the
// projection 1×1. For each band it computes the expanded rows the band's depthwise outputs
// read (its own rows and a halo row above and below, which the neighbouring bands compute
// again), the depthwise rows, and the projection of those rows into the output, so that
// the expanded map and the depthwise output, the block's largest activations, never leave
// the core's L2 cache. Unfused, at 224×224 they take 1.6 to 4.8 MB per image each, written
// to memory by one step and read back by the next.
//
// Every element is computed by the operations the three PreparedConv.Forward calls perform
// (the same products, k-slices and epilogues, the same depthwise taps, reading the same
// values, the halo rows included), so the block's output is theirs bit for bit. The bands
// are a function of the shapes and the cache size only, and run in parallel, so results do
// not depend on GOMAXPROCS.
//
// A DWBlock is read-only: any number of goroutines may call Forward at once, each with its
// own ConvWorkspace.
type DWBlock struct {
	Expand  *PreparedConv // C → E, 1×1 (ConvGemm, stride 1) or any ConvIm2col (a stem), or nil: E = C, the input itself
	DW      *PreparedConv // E → E depthwise 3×3, padding 1, stride 1 or 2
	Project *PreparedConv // E → K, 1×1 (ConvGemm, stride 1)
	// ExpandRelu, DWRelu and ProjectRelu are the relu arguments of the three Forward calls
	// the block stands for (each PreparedConv's Clip applies with its ReLU).
	ExpandRelu, DWRelu, ProjectRelu bool

	rows int // output rows per band
}

// dwBlockOverride is BONSAI_DWBLOCK, read once: "off" never fuses (DWBlockApplies reports
// false), "all" fuses every block whose geometry allows it, whatever its size (for
// experiments and tests).
var dwBlockOverride = os.Getenv("BONSAI_DWBLOCK")

// DWBlockApplies reports whether an inference plan runs the expansion (nil: none),
// depthwise and projection convolutions as a DWBlock: when their geometry allows it (see
// NewDWBlock) and the expanded map of one image, E·H·W floats, takes more than half of
// a core's L2 cache, so that the unfused steps would stream it through memory.
func DWBlockApplies(expand, dw, project *PreparedConv) bool {
	if dwBlockOverride == "off" || dwBlockGeometry(expand, dw, project) != nil {
		return false
	}
	if dwBlockOverride == "all" {
		return true
	}
	_, l2, _ := asm.CacheSizes()
	return 4*dw.C*dw.H*dw.W > l2/2
}

// dwBlockGeometry returns why the three convolutions cannot run as a DWBlock, or nil.
func dwBlockGeometry(expand, dw, project *PreparedConv) error {
	if dw == nil || project == nil {
		return fmt.Errorf("no depthwise or projection convolution")
	}
	if dw.Algo != ConvDepthwise || !dwFast(dw.KH, dw.KW, dw.Params) {
		return fmt.Errorf("the depthwise convolution is %v %d×%d with %+v, want depthwise 3×3 with padding 1 at stride 1 or 2", dw.Algo, dw.KH, dw.KW, dw.Params)
	}
	pointwise := func(pc *PreparedConv) bool {
		return pc.Algo == ConvGemm && pc.Params.Stride == [2]int{1, 1}
	}
	if !pointwise(project) || project.C != dw.K {
		return fmt.Errorf("the projection is %v from %d channels with %+v, want 1×1 at stride 1 from %d", project.Algo, project.C, project.Params, dw.K)
	}
	ho, wo := dw.OutShape()
	if project.H != ho || project.W != wo {
		return fmt.Errorf("the projection takes %d×%d, the depthwise convolution gives %d×%d", project.H, project.W, ho, wo)
	}
	if expand != nil {
		eh, ew := expand.OutShape()
		if !(pointwise(expand) || expand.Algo == ConvIm2col) || expand.K != dw.C || eh != dw.H || ew != dw.W {
			return fmt.Errorf("the expansion is %v to %d channels of %d×%d with %+v, want 1×1 at stride 1 or im2col to %d of %d×%d", expand.Algo, expand.K, eh, ew, expand.Params, dw.C, dw.H, dw.W)
		}
	}
	return nil
}

// NewDWBlock returns the block of the three prepared convolutions (expand may be nil),
// which keeps them (they must not change afterwards). It panics unless the expansion is a
// 1×1 product at stride 1 (ConvGemm) or an im2col convolution (MobileNetV2's stem), the
// depthwise convolution a depthwise 3×3 with padding 1 at stride 1 or 2, the projection a
// 1×1 product at stride 1, and their shapes chain.
func NewDWBlock(expand, dw, project *PreparedConv, expandRelu, dwRelu, projectRelu bool) *DWBlock {
	if err := dwBlockGeometry(expand, dw, project); err != nil {
		panic("tensor.NewDWBlock: " + err.Error())
	}
	b := &DWBlock{Expand: expand, DW: dw, Project: project, ExpandRelu: expandRelu, DWRelu: dwRelu, ProjectRelu: projectRelu}
	// Bands whose expanded and depthwise rows take about half of L2 (the rest holds the
	// weights, the input rows and the output rows), of even height, and an even number of
	// them, so that two cores share the bands of one image evenly.
	_, l2, _ := asm.CacheSizes()
	s := dw.Params.Stride[0]
	ho, wo := dw.OutShape()
	perRow := 4 * dw.C * (s*dw.W + wo) // bytes of the rows one more output row takes
	if expand != nil && expand.Algo == ConvIm2col {
		perRow += 4 * expand.C * expand.KH * expand.KW * s * dw.W // and of its patches
	}
	rows := max(1, (l2/2)/perRow)
	bands := (ho + rows - 1) / rows
	if ho > 1 {
		bands = max(2, (bands+1)/2*2)
	}
	b.rows = (ho + bands - 1) / bands
	return b
}

// InShape returns the input's channels, height and width; OutShape the output's.
func (b *DWBlock) InShape() (c, h, w int) {
	if b.Expand != nil {
		return b.Expand.C, b.Expand.H, b.Expand.W
	}
	return b.DW.C, b.DW.H, b.DW.W
}

// OutShape returns the output's channels, height and width.
func (b *DWBlock) OutShape() (k, ho, wo int) {
	ho, wo = b.DW.OutShape()
	return b.Project.K, ho, wo
}

// MACs returns the multiply-accumulates of one image (the three convolutions', without the
// halo rows computed twice).
func (b *DWBlock) MACs() int64 {
	m := b.DW.MACs() + b.Project.MACs()
	if b.Expand != nil {
		m += b.Expand.MACs()
	}
	return m
}

// bandRows returns the expanded rows [e0, e1) that the output rows [oy0, oy1) read, and
// the index j0 of output row oy0 among the depthwise rows of that band computed as a plane
// of its own (with zero padding at its ends: the first of those rows is wrong unless e0
// is 0, and at stride 1 so is the last unless e1 is the map's height; neither is used).
func (b *DWBlock) bandRows(oy0, oy1 int) (e0, e1, j0 int) {
	h := b.DW.H
	if b.DW.Params.Stride[0] == 1 {
		e0, e1 = max(0, oy0-1), min(h, oy1+1)
		return e0, e1, oy0 - e0
	}
	// Stride 2: output j of the band reads its rows 2j−1…2j+1, so the band starts on an
	// even row, one output row early.
	e0, e1 = max(0, 2*oy0-2), min(h, 2*oy1)
	return e0, e1, oy0 - e0/2
}

// dwBlockBuf is one worker's memory for the bands of a DWBlock.
type dwBlockBuf struct {
	e    [2][]float32 // expanded rows [E][e1−e0][W] of the band and of the one before
	d    []float32    // depthwise rows [E][rows][W']
	col  []float32    // an im2col expansion's patch matrix
	gemm *asm.Workspace
	epi  asm.GemmEpilogue
	_    [64]byte
}

// dwBlockTask runs the bands of one image of a DWBlock.Forward call: part i the bands
// split(bands, runs, i), one after the other.
type dwBlockTask struct {
	b           *DWBlock
	ws          *ConvWorkspace
	y, x, r     []float32 // one image's output, input and residual (nil: none)
	bands, runs int
}

// Forward computes the block: y = project(dw(expand(x))) with each convolution's bias,
// ReLU (and clip) as its relu field says, and the residual added by the projection
// (before its ReLU) when residual is not nil: x: [N, C, H, W], y and residual: [N, K, H',
// W'] (y is overwritten and is not x or residual). Steady state allocates nothing when ws
// is reused.
//
// The bands of an image run in as many runs of consecutive bands as there are workers: a
// band takes the expanded rows it shares with the band before it in its run from that
// band's buffer, and computes only the others. Which rows are computed and which copied
// changes no value.
func (b *DWBlock) Forward(y, x, residual *Tensor, ws *ConvWorkspace) {
	n := x.Shape[0]
	c, h, w := b.InShape()
	k, ho, wo := b.OutShape()
	checkShape4("DWBlock.Forward", x, n, c, h, w)
	checkShape4("DWBlock.Forward", y, n, k, ho, wo)
	if residual != nil {
		checkShape4("DWBlock.Forward", residual, n, k, ho, wo)
	}
	if cur := asm.CurrentPath(); cur != b.DW.path || cur != b.Project.path || (b.Expand != nil && cur != b.Expand.path) {
		panic(fmt.Sprintf("tensor.DWBlock.Forward: prepared for the %v kernel path, called on %v", b.DW.path, cur))
	}
	e := b.DW.C
	s := b.DW.Params.Stride[0]
	procs := maxProcs()
	if len(ws.dwBlock) < procs {
		ws.dwBlock = append(ws.dwBlock, make([]dwBlockBuf, procs-len(ws.dwBlock))...)
	}
	for i := range ws.dwBlock { // any worker may take a run: size every buffer now
		buf := &ws.dwBlock[i]
		for j := range buf.e {
			buf.e[j] = grow(buf.e[j], e*min(b.DW.H, s*b.rows+2)*b.DW.W)
		}
		buf.d = grow(buf.d, e*min(ho, b.rows+2)*wo)
		if pc := b.Expand; pc != nil && pc.Algo == ConvIm2col {
			buf.col = grow(buf.col, pc.C*pc.KH*pc.KW*min(b.DW.H, s*b.rows+2)*b.DW.W)
		}
		if buf.gemm == nil {
			buf.gemm = asm.NewWorkspace()
		}
	}
	bands := (ho + b.rows - 1) / b.rows
	for i := range n {
		t := &ws.dwBlockTask
		*t = dwBlockTask{b: b, ws: ws, y: y.Data[i*k*ho*wo : (i+1)*k*ho*wo], x: x.Data[i*c*h*w : (i+1)*c*h*w],
			bands: bands, runs: min(bands, procs)}
		if residual != nil {
			t.r = residual.Data[i*k*ho*wo : (i+1)*k*ho*wo]
		}
		parallelFor(t.runs, t)
		*t = dwBlockTask{}
	}
}

// Part computes the bands of run i in order.
func (t *dwBlockTask) Part(worker, i int) {
	buf := &t.ws.dwBlock[worker]
	b0, b1 := split(t.bands, t.runs, i)
	pe0, pe1 := 0, 0 // the previous band's expanded rows, in buf.e[1]
	for band := b0; band < b1; band++ {
		buf.e[0], buf.e[1] = buf.e[1], buf.e[0]
		pe0, pe1 = t.band(buf, band, band > b0, pe0, pe1)
	}
}

// band computes output rows [i·rows, (i+1)·rows) with buf, the expanded rows into buf.e[0];
// when prev is set, buf.e[1] holds the expanded rows [pe0, pe1) of the band before. It
// returns the band's expanded rows.
func (t *dwBlockTask) band(buf *dwBlockBuf, i int, prev bool, pe0, pe1 int) (e0, e1 int) {
	b := t.b
	dw := b.DW
	_, h, w := b.InShape()
	_, ho, wo := b.OutShape()
	e := dw.C
	oy0 := i * b.rows
	oy1 := min(ho, oy0+b.rows)
	e0, e1, j0 := b.bandRows(oy0, oy1)
	if b.Expand != nil { // the expanded map's size: the expansion's output
		h, w = b.Expand.OutShape()
	}
	bh := e1 - e0
	ex := buf.e[0][:e*bh*w]
	// The expanded rows: those the band before computed are copied, the others are the
	// expansion's product over those input rows (the input's planes are h·w apart), or a
	// copy of the input rows.
	r0 := e0 // the first row to compute
	if prev && b.Expand != nil && pe0 <= e0 && e0 < pe1 && pe1 <= e1 {
		pbh := pe1 - pe0
		old := buf.e[1]
		for ch := range e {
			copy(ex[ch*bh*w:ch*bh*w+(pe1-e0)*w], old[ch*pbh*w+(e0-pe0)*w:(ch+1)*pbh*w])
		}
		r0 = pe1
	}
	if r0 < e1 {
		if pc := b.Expand; pc != nil {
			buf.epi = asm.GemmEpilogue{Bias: pc.bias, Relu: b.ExpandRelu, Clip: pc.clip(b.ExpandRelu)}
			n := (e1 - r0) * w
			if pc.Algo == ConvIm2col { // the patches of expanded rows [r0, e1), then their product
				col := buf.col[:pc.C*pc.KH*pc.KW*n]
				im2colRows(col, n, t.x, pc.C, pc.H, pc.W, pc.KH, pc.KW, w, r0, e1, pc.Params)
				asm.SgemmPacked(pc.pa, n, col, n, ex[(r0-e0)*w:], bh*w, &buf.epi, buf.gemm)
			} else {
				asm.SgemmPacked(pc.pa, n, t.x[r0*w:], h*w, ex[(r0-e0)*w:], bh*w, &buf.epi, buf.gemm)
			}
		} else {
			for ch := range e {
				copy(ex[ch*bh*w:(ch+1)*bh*w], t.x[ch*h*w+e0*w:ch*h*w+e1*w])
			}
		}
	}
	// The depthwise rows of the band, as a plane of bh rows of its own.
	s := dw.Params.Stride[0]
	dh := (bh-1)/s + 1
	d := buf.d[:e*dh*wo]
	mode := 0
	if b.DWRelu {
		mode |= asm.DWRelu
	}
	clip := dw.clip(b.DWRelu)
	if clip > 0 {
		mode |= asm.DWClip
	}
	asm.Depthwise3x3(d, ex, dw.w.Data, dw.bias, e, bh, w, s, mode, clip)
	// The projection of output rows [oy0, oy1): the depthwise rows j0… of each plane (dh·wo
	// apart) into the output rows (ho·wo apart).
	pc := b.Project
	plane := ho * wo
	buf.epi = asm.GemmEpilogue{Bias: pc.bias, Relu: b.ProjectRelu, Clip: pc.clip(b.ProjectRelu)}
	if t.r != nil {
		buf.epi.R, buf.epi.LDR = t.r[oy0*wo:], plane
	}
	asm.SgemmPacked(pc.pa, (oy1-oy0)*wo, d[j0*wo:], dh*wo, t.y[oy0*wo:], plane, &buf.epi, buf.gemm)
	buf.epi = asm.GemmEpilogue{}
	return e0, e1
}
