package tensor

import (
	"bytes"
	"unsafe"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Winograd F(4×4, 3×3) convolution for 3×3 kernels at stride 1 with padding 1 (see the asm
// package for the transforms). The output is cut into 4×4 tiles, each read as the 6×6 input
// tile around it; per tile and pair of channels, 36 multiplications (one per frequency)
// replace 9·16 (4× fewer).
//
// The tiles go to groups of 16 lanes by whole tile rows (over all images, in image and row
// order), the groups to blocks of consecutive groups. For a block, a worker transforms the
// input tiles of every channel into its buffer V: [36][C][lanes], small enough to stay in
// L2; then, for groups of output channels, it
// multiplies each frequency's transformed weights U: [36][K][C] by V into M:
// [36][group][block] (asm.PanelGemm) and transforms M into the output tiles. Every output
// element is computed by the same sequence of operations whatever the block it falls in,
// so the results do not depend on the number of workers (nor on the block size).

// winoVFloats is the size of a block's transformed input (V) that the block length aims at:
// 36·C·block floats, 432 KiB, less than half of the L2 of a Zen 5 core.
const winoVFloats = 36 * 3072

// winoKGroup is the number of output channels multiplied and transformed together.
const winoKGroup = 32

// winoWorkspace holds the Winograd convolution's transformed weights and per-worker buffers.
type winoWorkspace struct {
	u       []float32 // transformed weights when not cached: [36][kpad/mr panels][C][mr]
	workers []winoWorker
	task    winoTask
	weights winoWeightTask

	// The cache of transformed weights (see weightsFor): one entry per weight tensor and
	// direction, holding cached floats in all; calls counts the calls to weightsFor.
	cache  map[winoKey]*winoCached
	cached int
	calls  uint64
}

// The cache of transformed weights. One ConvWorkspace serves every layer of a forward (and
// backward) pass, so the workspace keeps the transformed weights of each weight tensor it
// sees, with a copy of the weights they came from: a later call with the same tensor
// compares the weights with the copy (a memory compare, much cheaper than the transform in
// float64) and reuses the transformed ones when they are unchanged, bit for bit; otherwise
// (training updates weights in place at every step) it transforms them again into the same
// entry. Results are bit-identical to transforming at every call.
//
// An entry costs 36·(⌈K/mr⌉·mr·C + 16) + 9·K·C floats, about 5× its weights (ResNet-56:
// 17 MiB for the forward pass, as much again for the data gradients of a training step).
// The entries hold at most winoCacheLimit floats: a new tensor that does not fit evicts the
// entries unused for winoCacheStale calls (left by models or layers no longer run), and is
// transformed without caching if it still does not fit, so that a model too large for the
// cache keeps a stable part of its layers cached rather than evicting them in turn.
const winoCacheStale = 256

// winoCacheLimit is the most floats the cache holds (64 MiB); a variable for tests.
var winoCacheLimit = 16 << 20

// winoKey identifies a weight tensor and the transform it gets. The address does not keep
// the weights alive: an entry found for a new tensor at a reused address is only a
// candidate, checked against the copy of its weights as any other.
type winoKey struct {
	addr     uintptr // of the weights' first element
	k, c, mr int
	grad     bool
}

// winoCached is an entry of the cache: the weights src and their transform u (as
// winoWorkspace.u for the geometry of the key).
type winoCached struct {
	src, u []float32
	last   uint64 // the call that last used the entry
}

type winoWorker struct {
	v, m []float32
	in   asm.WinogradInArgs
	out  asm.WinogradOutArgs
}

// winoGeom is the geometry of one Winograd convolution.
type winoGeom struct {
	n, c, k, h, w int
	th, tw        int // tiles per column and row of an image
	rows          int // tile rows per group of 16 lanes (16/tw, rounded down)
	groups        int // groups of all images
	block         int // most lanes per block (a multiple of 48: of 16 lanes and of the GEMM widths)
	mr, kpad      int // GEMM panel height; output channels rounded up to it
	kgroup        int // output channels per GEMM group (a multiple of mr)
}

// winoSkew is added to the distance between frequencies in U, V and M so that the 36
// frequencies of a tile, read or written together, do not fall into one set of the L1
// cache (their natural distances are multiples of 4 KiB for the common channel counts).
const winoSkew = 16

// ldu, ldv and ldm are the distances between frequencies in U, V and M, in floats.
func (g *winoGeom) ldu() int { return g.kpad*g.c + winoSkew }
func (g *winoGeom) ldv() int { return g.c*g.block + winoSkew }
func (g *winoGeom) ldm() int { return g.kgroup*g.block + winoSkew }

// winogradGeometry reports whether the Winograd kernels handle a convolution: 3×3 at
// stride 1 with padding 1, on images at most 64 wide (a tile row fits a group of lanes).
func winogradGeometry(kh, kw, w int, p ConvParams) bool {
	return kh == 3 && kw == 3 && p.Stride == [2]int{1, 1} && p.Padding == [2]int{1, 1} && w <= 4*asm.WinoLanes
}

// winogradForward computes y = conv(x, w) (3×3, stride 1, padding 1) with Winograd
// F(4×4, 3×3).
func (ws *ConvWorkspace) winogradForward(y, x, w *Tensor) { ws.winograd(y, x, w, false, nil) }

// winogradBackwardData adds the data gradient of a 3×3, stride-1, padding-1 convolution
// into dx: the convolution of dy with the flipped and transposed weights, with Winograd
// F(4×4, 3×3).
func (ws *ConvWorkspace) winogradBackwardData(dx, dy, w *Tensor) { ws.winograd(dx, dy, w, true, nil) }

// winogradEpilogue computes y = e(conv(x, w)) (see Conv2dForwardEpilogue) with the
// epilogue in the output transform.
func (ws *ConvWorkspace) winogradEpilogue(y, x, w *Tensor, e *ConvEpilogue) {
	ws.winograd(y, x, w, false, e)
}

// winograd computes y = conv(x, w), or y = e(conv(x, w)) when e is not nil, or adds
// conv(x, w') into y for the data gradient (grad: x is the output gradient, w' the
// flipped, transposed weights).
func (ws *ConvWorkspace) winograd(y, x, w *Tensor, grad bool, e *ConvEpilogue) {
	n, c, h, wd := x.NCHW()
	g := newWinoGeom(n, c, y.Shape[1], h, wd)
	u := ws.wino.weightsFor(w.Data, &g, grad)
	ws.winoRun(&g, u, y, x, grad, e)
}

// newWinoGeom returns the geometry of a Winograd convolution of n images of c channels,
// h×w, to k channels, on the current path.
func newWinoGeom(n, c, k, h, wd int) winoGeom {
	mr, _ := asm.PanelShape()
	g := winoGeom{n: n, c: c, k: k, h: h, w: wd, th: (h + 3) / 4, tw: (wd + 3) / 4, mr: mr}
	g.rows = max(1, asm.WinoLanes/g.tw)
	g.groups = (n*g.th + g.rows - 1) / g.rows
	g.block = max(48, winoVFloats/(36*c)/48*48)
	g.block = min(g.block, (g.groups*asm.WinoLanes+47)/48*48)
	g.kpad = (k + mr - 1) / mr * mr
	g.kgroup = min(g.kpad, max(mr, winoKGroup/mr*mr))
	return g
}

// winoRun computes the Winograd convolution of geometry g with the transformed weights u
// (see winoWeights): y = conv(x, w), or y = e(conv(x, w)) when e is not nil, or y +=
// conv(x, w') (grad).
//
// Parts are blocks of tile groups, and when there are fewer blocks than twice the workers
// (a small batch), each block's output channels are also cut into ranges of whole channel
// groups, one part per block and range: such a part transforms its block's input again,
// which costs little next to the products of a range. An output element is computed by the
// same operations whatever part computes it, so the results do not depend on the split.
func (ws *ConvWorkspace) winoRun(g *winoGeom, u []float32, y, x *Tensor, grad bool, e *ConvEpilogue) {
	d := &ws.wino
	procs := maxProcs()
	if len(d.workers) < procs {
		d.workers = append(d.workers, make([]winoWorker, procs-len(d.workers))...)
	}
	// As many blocks as the budget of V needs, rounded up to a multiple of the workers for
	// balance; the groups are dealt to them evenly (a block's lanes need not be a multiple
	// of 48: the GEMM's narrow kernels compute the rest, with the same results).
	gpb := g.block / asm.WinoLanes
	blocks := (g.groups + gpb - 1) / gpb
	blocks = min(g.groups, (blocks+procs-1)/procs*procs)
	kgroups := (g.kpad + g.kgroup - 1) / g.kgroup
	ksplit := 1
	if procs > 1 && blocks < 2*procs {
		ksplit = min(kgroups, (2*procs+blocks-1)/blocks)
	}
	for i := range d.workers[:procs] { // any worker may take a part: size every buffer now
		d.workers[i].v = grow(d.workers[i].v, 36*g.ldv())
		d.workers[i].m = grow(d.workers[i].m, 36*g.ldm())
	}
	d.task = winoTask{d: d, g: *g, u: u, x: x.Data, y: y.Data, blocks: blocks, ksplit: ksplit, kgroups: kgroups, add: grad}
	if e != nil {
		d.task.scale, d.task.shift, d.task.relu = e.Scale, e.Shift, e.Relu
		if e.Residual != nil {
			d.task.r = e.Residual.Data
		}
	}
	parallelFor(blocks*ksplit, &d.task)
	d.task = winoTask{}
}

// weightsFor returns the transformed weights of w (see winoWeights) for the geometry g: a
// cached transform when w is the tensor and the weights of a cache entry, bit for bit (see
// winoCacheLimit).
func (d *winoWorkspace) weightsFor(w []float32, g *winoGeom, grad bool) []float32 {
	d.calls++
	key := winoKey{addr: uintptr(unsafe.Pointer(unsafe.SliceData(w))), k: g.k, c: g.c, mr: g.mr, grad: grad}
	if e := d.cache[key]; e != nil {
		e.last = d.calls
		if !sameBits(e.src, w) {
			d.transform(e.u, w, g, grad)
			copy(e.src, w)
		}
		return e.u
	}
	size := len(w) + 36*g.ldu()
	if d.cached+size > winoCacheLimit {
		for key, e := range d.cache {
			if d.calls-e.last > winoCacheStale {
				d.cached -= len(e.src) + len(e.u)
				delete(d.cache, key)
			}
		}
	}
	if d.cached+size > winoCacheLimit {
		d.u = grow(d.u, 36*g.ldu())
		d.transform(d.u, w, g, grad)
		return d.u
	}
	if d.cache == nil {
		d.cache = make(map[winoKey]*winoCached)
	}
	e := &winoCached{src: append([]float32(nil), w...), u: make([]float32, 36*g.ldu()), last: d.calls}
	d.transform(e.u, w, g, grad)
	d.cache[key] = e
	d.cached += size
	return e.u
}

// transform sets u to the transformed weights w (see winoWeights), in parallel over panels.
func (d *winoWorkspace) transform(u, w []float32, g *winoGeom, grad bool) {
	panels := g.kpad / g.mr
	per := max(1, 512/(g.c*g.mr)) // panels per part: at least 512 kernels
	d.weights = winoWeightTask{u: u, w: w, k: g.k, c: g.c, kpad: g.kpad, mr: g.mr, per: per, grad: grad}
	parallelFor((panels+per-1)/per, &d.weights)
	d.weights = winoWeightTask{}
}

// sameBits reports whether a and b hold the same float32 bit patterns.
func sameBits(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	return bytes.Equal(unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(a))), 4*len(a)),
		unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(b))), 4*len(b)))
}

// winoG1 is the 1-d kernel transform u = G·g, in float64.
func winoG1(g0, g1, g2 float64) [6]float64 {
	const d = 50400
	return [6]float64{g0 / 144, -(16*g0 + 12*g1 + 9*g2) / d, -(16*g0 - 12*g1 + 9*g2) / d,
		(9*g0 + 12*g1 + 16*g2) / d, (9*g0 - 12*g1 + 16*g2) / d, g2 / 144}
}

// winoWeights sets u[ξ][k/mr][c][k%mr] = (G·w[k][c]·Gᵀ)[i][j] for ξ = 6i+j (computed in
// float64, rounded once) for the panels of mr output channels [p0, p1), with zeros for the
// rows k ≥ K of the last panel. With grad, the kernel of output channel k and input
// channel c is w[c][k] flipped (w: [C][K][3][3]), that of the data gradient.
func winoWeights(u, w []float32, k, c, kpad, mr, p0, p1 int, grad bool) {
	fs := kpad*c + winoSkew // floats per frequency (see winoGeom.ldu)
	for pn := p0; pn < p1; pn++ {
		for ch := range c {
			at := pn*c*mr + ch*mr
			for q := range mr {
				kk := pn*mr + q
				if kk >= k {
					for f := range 36 {
						u[f*fs+at+q] = 0
					}
					continue
				}
				var g [9]float32
				if grad {
					src := w[(ch*k+kk)*9 : (ch*k+kk)*9+9]
					for j := range g {
						g[j] = src[8-j]
					}
				} else {
					copy(g[:], w[(kk*c+ch)*9:(kk*c+ch)*9+9])
				}
				var t [3][6]float64 // t[j] = G·(column j of g)
				for j := range 3 {
					t[j] = winoG1(float64(g[j]), float64(g[3+j]), float64(g[6+j]))
				}
				for i := range 6 {
					r := winoG1(t[0][i], t[1][i], t[2][i])
					for j, v := range r {
						u[(6*i+j)*fs+at+q] = float32(v)
					}
				}
			}
		}
	}
}

// winoWeightTask transforms the weights of panel i (see winoWeights).
type winoWeightTask struct {
	u, w                []float32
	k, c, kpad, mr, per int
	grad                bool
}

func (t *winoWeightTask) Part(_, i int) {
	panels := t.kpad / t.mr
	winoWeights(t.u, t.w, t.k, t.c, t.kpad, t.mr, i*t.per, min(panels, (i+1)*t.per), t.grad)
}

// winoTask computes block i of a Winograd convolution.
type winoTask struct {
	d       *winoWorkspace
	g       winoGeom
	u       []float32 // the transformed weights
	x, y    []float32
	blocks  int
	ksplit  int  // ranges of output-channel groups per block
	kgroups int  // output-channel groups
	add     bool // add into y (the data gradient)

	// The epilogue (see ConvEpilogue), when scale is not nil.
	scale, shift, r []float32
	relu            bool
}

func (t *winoTask) Part(wk, i int) {
	g := &t.g
	d := t.d
	wr := &d.workers[wk]
	wr.v, wr.m = wr.v[:36*g.ldv()], wr.m[:36*g.ldm()]
	kg0, kg1 := split(t.kgroups, t.ksplit, i%t.ksplit)
	g0, g1 := split(g.groups, t.blocks, i/t.ksplit)
	ncol := (g1 - g0) * asm.WinoLanes
	img0 := g0 * g.rows / g.th // offsets are relative to the block's first image
	plane := g.h * g.w

	in := &wr.in
	xs := t.x[img0*g.c*plane:]
	in.X, in.XLen = &xs[0], len(xs)
	in.Row, in.Plane, in.LDC, in.LDF, in.C = g.w, plane, g.block, g.ldv(), g.c
	for grp := g0; grp < g1; grp++ {
		g.pieces(&in.NPieces, &in.Pieces, &in.Keep, grp, img0, true)
		l0 := (grp - g0) * asm.WinoLanes
		in.V, in.VLen = &wr.v[l0], len(wr.v)-l0
		asm.WinogradInput(in)
	}

	out := &wr.out
	out.Add, out.Relu = 0, 0
	if t.add {
		out.Add = 1
	}
	if t.relu {
		out.Relu = 1
	}
	out.Scale, out.Shift, out.R, out.RLen = nil, nil, nil, 0
	var rs []float32
	if t.r != nil {
		rs = t.r[img0*g.k*plane:]
	}
	ys := t.y[img0*g.k*plane:]
	for k0 := kg0 * g.kgroup; k0 < min(g.kpad, kg1*g.kgroup); k0 += g.kgroup {
		kb := min(g.kgroup, g.kpad-k0)
		kout := min(kb, g.k-k0) // the rows of M computed: not the padding to mr
		if kout <= 0 {
			continue
		}
		for f := range 36 {
			a := t.u[f*g.ldu()+k0*g.c : f*g.ldu()+(k0+kb)*g.c]
			asm.PanelGemm(kout, ncol, g.c, a, wr.v[f*g.ldv():], g.block, wr.m[f*g.ldm():], g.block)
		}
		yk := ys[k0*plane:]
		out.Y, out.YLen = &yk[0], len(yk)
		if t.scale != nil {
			out.Scale, out.Shift = &t.scale[k0], &t.shift[k0]
			if rs != nil {
				rk := rs[k0*plane:]
				out.R, out.RLen = &rk[0], len(rk)
			}
		}
		out.Row, out.Plane, out.LDK, out.LDF, out.K = g.w, plane, g.block, g.ldm(), kout
		for grp := g0; grp < g1; grp++ {
			g.pieces(&out.NPieces, &out.Pieces, nil, grp, img0, false)
			l0 := (grp - g0) * asm.WinoLanes
			out.M, out.MLen = &wr.m[l0], len(wr.m)-l0
			asm.WinogradOutput(out)
		}
	}
}

// pieces describes the flat rows of group grp (see asm.WinogradInArgs) for the input
// transform (input, with the lanes of keep) or the output transform: the group's tile
// rows k lie at flat lanes 4·tw·k + column, the image's columns 0 … w−1, each split at the
// quarters' boundaries. Offsets are relative to image img0 (of the input or the output).
func (g *winoGeom) pieces(np *[4]int, pc *[16]asm.WinoPiece, keep *[2]uint16, grp, img0 int, input bool) {
	*np = [4]int{}
	if keep != nil {
		*keep = [2]uint16{}
	}
	plane := g.h * g.w
	for k := range g.rows {
		tr := grp*g.rows + k
		if tr >= g.n*g.th {
			break
		}
		img, ty := tr/g.th, tr%g.th
		flat0 := 4 * g.tw * k
		var base, y0, nr int // offset of row 0, column 0; the image row of row 0; rows
		if input {
			base = (img-img0)*g.c*plane + (4*ty-1)*g.w
			y0, nr = 4*ty-1, 6
		} else {
			base = (img-img0)*g.k*plane + 4*ty*g.w
			y0, nr = 4*ty, 4
		}
		var rows uint16 // the rows r inside the image
		for r := range nr {
			if y := y0 + r; y >= 0 && y < g.h {
				rows |= 1 << r
			}
		}
		for lo := flat0; lo < flat0+g.w; {
			q := lo / asm.WinoLanes
			hi := min(flat0+g.w, (q+1)*asm.WinoLanes)
			lanes := uint16((1<<(hi-lo) - 1) << (lo % asm.WinoLanes))
			p := &pc[4*q+np[q]]
			np[q]++
			p.Off = base + asm.WinoLanes*q - flat0
			for r := range p.Mask {
				p.Mask[r] = 0
				if rows&(1<<r) != 0 {
					p.Mask[r] = lanes
				}
			}
			lo = hi
		}
		if keep != nil {
			for tx := range g.tw {
				l := k*g.tw + tx
				if tx > 0 {
					keep[0] |= 1 << l
				}
				if tx < g.tw-1 {
					keep[1] |= 1 << l
				}
			}
		}
	}
}

// winogradPreferred reports whether Conv2dForward uses the Winograd kernels for a 3×3,
// stride-1, padding-1 convolution of c to k channels on h×w images: on the AVX512 path
// (the only one with assembly transforms) from 8 input channels and any number of output
// channels, where they measured faster than the direct kernels. Batch 128 on Zen 5, one
// core: 32×32 images with 16 channels 1.9×, 16×16 with 32 channels 2.4×, 8×8 with 64
// channels 2.1×; two cores, 16 channels: 1.5×. The narrow layers of pruned models gain
// most, since the direct kernels' tiles have 8 output channels: 16→11 channels on 32×32,
// 1.67 → 0.94 ms; 16→7, 0.86 → 0.68 ms; 11→16, 1.15 → 0.86 ms; 6→6, 0.34 → 0.27 ms (two
// cores); with a BN and ReLU after them (Conv2dForwardEpilogue, fused on the Winograd
// path), 16→1, 16→2 and 16→3 channels on 32×32 take 0.55–0.57 ms against 0.93–0.97 ms,
// 32→2 on 16×16 0.25 against 0.48 ms. With 3–5 input channels the direct kernels win
// (3→16: 0.34 against 0.44 ms), and in a whole network also with 6 and 7: a pruned
// ResNet-56 whose 32×32 stage has 6→16 and 7→16 layers (each followed by BN, residual
// and ReLU) ran its batch-128 forward pass in 33.3–34.0 ms with them on the direct kernels
// against 34.6–35.3 ms on Winograd (two cores, interleaved runs); the thresholds 9, 10
// and 12 measured between the two.
//
// Their rounding errors are larger than the direct kernels' (ResNet-20's layers, batch 8,
// ReLU'd normal inputs, Kaiming weights: forward 0.6–1.0e-6·max|y| against 3e-7, data
// gradient 0.8–1.3e-6 against 4e-7, with the points 0, ±3/4, ±4/3, ∞); with the usual
// points 0, ±1, ±2, ∞ they were 2.6–4.9e-6 (data gradient 3.9–5.4e-6), too much for the
// 16-channel layers: one pre-activation of ResNet-20's golden training step (6e-6 from
// zero, in layer3.1) changed sign and the step's gradients left the PyTorch golden test's
// 1e-4.
func winogradPreferred(c, k, h, w int) bool {
	return asm.CurrentPath() == asm.AVX512 && c >= 8 && k >= 1
}
