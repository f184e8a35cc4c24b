package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Grouped convolutions (ConvParams.Groups > 1): the entry points of conv.go and
// conv_backward.go hand them to the functions of this file. A depthwise convolution (as
// many groups as input and output channels) runs on the kernels of conv_depthwise.go; any
// other grouped convolution runs group by group as im2col and SGEMM, in parallel over
// (sample, group) pairs for the forward pass and the data gradient, and over groups for
// the weight gradient (each group's weights summed over the samples in order, so that the
// result does not depend on GOMAXPROCS).

// groupedWorkspace holds the scratch memory of the grouped convolutions.
type groupedWorkspace struct {
	workers []groupedWorker
	task    groupedTask
	dw      depthwiseTask
	wrot    []float32 // depthwise weights turned by 180° (the data gradient)
}

// groupedWorker is one worker's patch matrix, product output and SGEMM workspace.
type groupedWorker struct {
	col, out []float32
	gemm     *asm.Workspace
	_        [64]byte
}

// ensureWorkers gives every worker of a parallelFor its buffers.
func (g *groupedWorkspace) ensureWorkers() {
	if procs := maxProcs(); len(g.workers) < procs {
		g.workers = append(g.workers, make([]groupedWorker, procs-len(g.workers))...)
	}
	for i := range g.workers {
		if g.workers[i].gemm == nil {
			g.workers[i].gemm = asm.NewWorkspace()
		}
	}
}

// checkGroups panics unless c input and k output channels split into g groups and the
// weight w has c/g input channels.
func checkGroups(op string, c, k, g int, w *Tensor) {
	if c%g != 0 || k%g != 0 {
		panic(fmt.Sprintf("tensor.%s: %d input and %d output channels do not split into %d groups", op, c, k, g))
	}
	if wc := w.Shape[1]; wc != c/g || w.Shape[0] != k {
		panic(fmt.Sprintf("tensor.%s: weight %v for %d→%d channels in %d groups, want [%d %d %d %d]", op, w.Shape, c, k, g, k, c/g, w.Shape[2], w.Shape[3]))
	}
}

// isDepthwise reports whether a convolution of c to k channels in g groups is depthwise.
func isDepthwise(c, k, g int) bool { return g > 1 && g == c && g == k }

// groupedForward is Conv2dForward for p.Groups > 1. x: [N, C, H, W], w: [K, C/G, kh, kw].
func groupedForward(y, x, w *Tensor, bias []float32, p ConvParams, ws *ConvWorkspace) {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	checkGroups("Conv2dForward", c, k, p.Groups, w)
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dForward", y, n, k, ho, wo)
	if bias != nil && len(bias) != k {
		panic(fmt.Sprintf("tensor.Conv2dForward: bias has %d values, want %d", len(bias), k))
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	if n == 0 || k == 0 || ho*wo == 0 {
		return
	}
	if isDepthwise(c, k, p.Groups) {
		ws.depthwiseForward(y, x, w, bias, p, 0, 0, nil)
		return
	}
	ws.grouped.run(groupedTask{pass: groupedFwd, y: y, x: x, w: w, bias: bias, p: p}, n*p.Groups)
}

// groupedBackwardData is Conv2dBackwardData (add) or Conv2dBackwardDataSet for
// p.Groups > 1. dy: [N, K, H', W'], w: [K, C/G, kh, kw], dx: [N, C, H, W].
func groupedBackwardData(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace, add bool) {
	n, c, h, wd := dx.NCHW()
	k, _, kh, kw := w.NCHW()
	checkGroups("Conv2dBackwardData", c, k, p.Groups, w)
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dBackwardData", dy, n, k, ho, wo)
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	if n == 0 || c == 0 {
		return
	}
	if k == 0 || ho*wo == 0 {
		if !add {
			Clear(dx)
		}
		return
	}
	if isDepthwise(c, k, p.Groups) {
		ws.depthwiseBackwardData(dx, dy, w, p, add)
		return
	}
	ws.grouped.run(groupedTask{pass: groupedData, y: dy, x: dx, w: w, p: p, add: add}, n*p.Groups)
}

// groupedBackwardFilter is Conv2dBackwardFilter for p.Groups > 1. x: [N, C, H, W], dy:
// [N, K, H', W'], dw: [K, C/G, kh, kw], db: [K] or nil.
func groupedBackwardFilter(dw *Tensor, db []float32, x, dy *Tensor, p ConvParams, ws *ConvWorkspace, sq *SquaredGrads) {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := dw.NCHW()
	checkGroups("Conv2dBackwardFilter", c, k, p.Groups, dw)
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dBackwardFilter", dy, n, k, ho, wo)
	if db != nil && len(db) != k {
		panic(fmt.Sprintf("tensor.Conv2dBackwardFilter: bias gradient has %d values, want %d", len(db), k))
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	if n == 0 || k == 0 || ho*wo == 0 {
		return
	}
	if isDepthwise(c, k, p.Groups) {
		ws.depthwiseBackwardFilter(dw, db, x, dy, p, sq)
		return
	}
	ws.grouped.run(groupedTask{pass: groupedFilter, y: dy, x: x, w: dw, bias: db, p: p, sq: sq}, p.Groups)
}

// run runs t over parts parts on the worker pool.
func (g *groupedWorkspace) run(t groupedTask, parts int) {
	g.ensureWorkers()
	t.g = g
	g.task = t
	parallelFor(parts, &g.task)
	g.task = groupedTask{}
}

type groupedPass uint8

const (
	groupedFwd    groupedPass = iota // part i: sample i/G, group i%G of y = conv(x, w) + bias
	groupedData                      // part i: sample i/G, group i%G of x (dx) from y (dy)
	groupedFilter                    // part i: group i of w (dw) and bias (db), all samples
)

// groupedTask is one pass of a grouped convolution; y is the output (or its gradient), x
// the input (or its gradient), w the weights (or their gradient), bias the bias (or its
// gradient).
type groupedTask struct {
	g    *groupedWorkspace
	pass groupedPass
	y, x *Tensor
	w    *Tensor
	bias []float32
	p    ConvParams
	add  bool
	sq   *SquaredGrads
}

func (t *groupedTask) Part(wk, i int) {
	p := t.p
	n, c, h, wd := t.x.NCHW()
	k, cg, kh, kw := t.w.NCHW()
	_, _, ho, wo := t.y.NCHW()
	g := p.Groups
	kg := k / g
	hw, ohw, ckk := h*wd, ho*wo, cg*kh*kw
	pointwise := kh == 1 && kw == 1 && p.Stride == [2]int{1, 1} && p.Padding == [2]int{0, 0}
	buf := &t.g.workers[wk]
	// xs and ys return the planes of group grp of sample s; ws its weights.
	xs := func(s, grp int) []float32 { return t.x.Data[(s*c+grp*cg)*hw : (s*c+(grp+1)*cg)*hw] }
	ys := func(s, grp int) []float32 { return t.y.Data[(s*k+grp*kg)*ohw : (s*k+(grp+1)*kg)*ohw] }
	wg := func(grp int) []float32 { return t.w.Data[grp*kg*ckk : (grp+1)*kg*ckk] }
	switch t.pass {
	case groupedFwd:
		s, grp := i/g, i%g
		col := xs(s, grp)
		if !pointwise {
			buf.col = grow(buf.col, ckk*ohw)
			im2col(buf.col, ohw, col, cg, h, wd, kh, kw, ho, wo, p)
			col = buf.col
		}
		yi := ys(s, grp)
		asm.Sgemm(false, false, kg, ohw, ckk, 1, wg(grp), ckk, col, ohw, 0, yi, ohw, buf.gemm)
		if t.bias != nil {
			addBias(yi, t.bias[grp*kg:(grp+1)*kg], ohw)
		}
	case groupedData:
		s, grp := i/g, i%g
		dx, dy := xs(s, grp), ys(s, grp)
		if !t.add {
			clear(dx)
		}
		if pointwise {
			asm.Sgemm(true, false, cg, hw, kg, 1, wg(grp), ckk, dy, ohw, 1, dx, hw, buf.gemm)
			return
		}
		buf.col = grow(buf.col, ckk*ohw)
		asm.Sgemm(true, false, ckk, ohw, kg, 1, wg(grp), ckk, dy, ohw, 0, buf.col, ohw, buf.gemm)
		col2im(dx, buf.col, ohw, cg, h, wd, kh, kw, ho, wo, p)
	case groupedFilter:
		grp := i
		dw := wg(grp)
		var sqw []float32
		if t.sq != nil && t.sq.W != nil {
			sqw = t.sq.W[grp*kg*ckk : (grp+1)*kg*ckk]
		}
		if !pointwise {
			buf.col = grow(buf.col, ckk*ohw)
		}
		buf.out = grow(buf.out, kg*ckk)
		for s := range n {
			col := xs(s, grp)
			if !pointwise {
				im2col(buf.col, ohw, col, cg, h, wd, kh, kw, ho, wo, p)
				col = buf.col
			}
			dy := ys(s, grp)
			if t.sq == nil {
				asm.Sgemm(false, true, kg, ckk, ohw, 1, dy, ohw, col, ohw, 1, dw, ckk, buf.gemm)
			} else {
				asm.Sgemm(false, true, kg, ckk, ohw, 1, dy, ohw, col, ohw, 0, buf.out, ckk, buf.gemm)
				asm.Add(dw, dw, buf.out)
				if sqw != nil {
					addSquares(sqw, buf.out, t.sq.Scale)
				}
			}
			for kk := range kg {
				o := grp*kg + kk
				v := asm.Sum(dy[kk*ohw : (kk+1)*ohw])
				if t.bias != nil {
					t.bias[o] += v
				}
				if t.sq != nil && t.sq.B != nil {
					gv := t.sq.Scale * v
					t.sq.B[o] += gv * gv
				}
			}
		}
	}
}
