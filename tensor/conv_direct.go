package tensor

import (
	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Direct convolution: the forward pass and the data gradient as register-blocked tiles that
// read the input where it lies (asm.ConvKernel.Tile), the weight gradient as an outer
// product of input pixels and a channels-last copy of the output gradient
// (asm.ConvKernel.Wgrad). No im2col matrix is built and the large operand is never packed.
//
// A tile is MR output channels × Vecs vectors of Lanes consecutive output pixels of one
// image (in row-major order, so a vector may span several rows when the rows are short).
// Its k-steps run over (channel chunk, tap, channel in chunk): for a fixed tap, the vector's
// input is the output pixel's own index shifted by a constant, as long as input and output
// rows have the same width; the lanes whose tap falls into the zero padding are masked
// off. Stride 2 reads the input through its four phase planes (even/odd rows × even/odd
// columns), which have the output's width, or, for the 3×3 layers of the CIFAR ResNets
// (see pairGeometry), directly: the two-table kernel (asm.ConvKernel.TilePairs) picks the
// even or odd columns of an input row out of two loads.

// tap is one kernel position of a direct convolution: the input element of output pixel
// (oy, ox) is the one at shift elements from the pixel's index in its plane, and exists if
// 0 ≤ sy·oy + by < limH and 0 ≤ sx·ox + bx < limW (the coordinates in the unpadded input).
type tap struct {
	shift  int
	by, bx int
	widx   int // kernel position ky·kw + kx
}

// convKC is the most k-steps summed in one chain before the sum is added to the others.
const convKC = 192

// tilePlan is one direct convolution computed by the tile kernel, for all images.
type tilePlan struct {
	k          *asm.ConvKernel
	rows, kin  int // output channels; input channels summed over
	outW       int // output row width (the input's rows, or phase rows, have this width)
	outPlane   int // output pixels per image and channel
	inPlane    int // elements between input channels
	inImg      int // elements between input images
	outImg     int // elements between output images
	sy, sx     int
	limH, limW int
	taps       []tap
	vpi        int // vectors per image
	steps      int // k-steps
	beta       int
	xvec       int // input elements from one vector's first to the next's (Lanes unless pairD > 0)
	pairD      int // > 0: the plan runs TilePairs with these PairD bytes and the indices perm
	chunk      int // > 1: tiles per chunk of the block-major order (see runBlocks, setChunk)
	stride     int // of a forward plan (buildForward): the stride
	hph        int // of a forward plan: rows per phase plane

	perm []int32 // [len(runs)][Lanes]: the permute indices of the runs' taps (pairD > 0)

	runs   []asm.ConvRun
	masks  []uint32 // [vpi+1][len(runs)]; the last row (nonexistent vectors) is zero
	smasks []uint32 // [vpi]
	apack  []float32
	cache  *[]maskEntry // the workspace's mask tables, shared by its plans
}

// convChunk is the number of input channels per group of runs: the channels of a group are
// read one after the other for each tap. Planes that are a multiple of 4 KiB apart share
// L1 sets, so groups of such channels are kept to 16 (measured on Zen 5: 16 beats 8 by
// 7 % on c16@32, the L2 serving the conflict misses), and to 8 for the two-table kernel
// (pair), which reads twice the lines per k-step (8 beats 16 by 10 % on c16-32s2; 4 and
// 12 are within 2 % of 8); otherwise a group takes all channels (fewer, longer runs).
func convChunk(kin, planeBytes int, pair bool) int {
	switch {
	case planeBytes%4096 != 0:
		return kin
	case pair:
		return min(kin, 8)
	}
	return min(kin, 16)
}

// build fills runs and masks and sizes the packed weights, which packBlock fills.
func (pl *tilePlan) build() {
	k := pl.k
	pl.vpi = (pl.outPlane + k.Lanes - 1) / k.Lanes
	chunk := convChunk(pl.kin, 4*pl.inPlane, pl.pairD > 0)
	// Runs in k-slices of at most convKC k-steps (a whole run when one is longer): the
	// kernel sums each slice from zero and adds the slices in order, as Sgemm does with its
	// kc slices, which keeps long sums (K = 576 for 64 channels) as accurate as Sgemm's.
	pl.runs = pl.runs[:0]
	prevEnd, inSlice := 0, 0
	for c0 := 0; c0 < pl.kin; c0 += chunk {
		n := min(chunk, pl.kin-c0)
		for _, t := range pl.taps {
			if inSlice > 0 && inSlice+n > convKC {
				pl.runs[len(pl.runs)-1].Flush = 1
				inSlice = 0
			}
			start := c0*pl.inPlane + t.shift
			pl.runs = append(pl.runs, asm.ConvRun{Delta: 4 * (start - prevEnd), Count: n})
			prevEnd = start + n*pl.inPlane
			inSlice += n
		}
	}
	pl.steps = pl.kin * len(pl.taps)
	if pl.xvec == 0 {
		pl.xvec = k.Lanes
	}
	if pl.pairD > 0 {
		pl.buildPerm()
	}
	pl.buildMasks()
	pl.apack = grow(pl.apack, pl.blocks()*pl.steps*k.MR)
	pl.setChunk()
}

// setChunk chooses the order of runBlocks: tile-major (chunk 0: every block of a tile, then
// the next tile), unless the packed weights exceed half of L2; then block-major over chunks
// of as many tiles as half of L2 holds the input of (at least 2).
func (pl *tilePlan) setChunk() {
	_, l2, _ := asm.CacheSizes()
	pl.chunk = 0
	if 4*pl.blocks()*pl.steps*pl.k.MR <= l2/2 {
		return
	}
	k := pl.k
	perTile := 4 * pl.kin * (k.Vecs*max(pl.xvec, k.Lanes) + 2*pl.outW + 2) // the input one tile reads, about
	pl.chunk = max(2, l2/2/perTile)
}

// buildPerm fills perm for a stride-2 plan read through TilePairs (see pairGeometry): run r
// has tap taps[r mod len(taps)], whose lane l (output pixel ox = l mod outW of output row
// l / outW of the vector) reads input column 2·ox + bx of the row that table l / outW holds.
// Indices of padding columns fall anywhere: their lanes are masked off.
func (pl *tilePlan) buildPerm() {
	lanes := pl.k.Lanes
	pl.perm = growI32(pl.perm, len(pl.runs)*lanes)
	for r := range pl.runs {
		t := pl.taps[r%len(pl.taps)]
		for l := range lanes {
			pl.perm[r*lanes+l] = int32((l/pl.outW*lanes + 2*(l%pl.outW) + t.bx) & (2*lanes - 1))
		}
	}
}

func growI32(buf []int32, n int) []int32 {
	if cap(buf) < n {
		return make([]int32, n)
	}
	return buf[:n]
}

// pairGeometry reports whether directForward reads a stride-2 input directly with the
// two-table kernel, and with which PairD: a 3×3 kernel with padding 1 on an input of even
// height and width whose output rows fill a vector (wo = Lanes: both tables come from one
// input row) or half of one (wo = Lanes/2: each table from one of two input rows, 2·w
// apart), and whose output planes are whole vectors. The rows read are then −1 … h−1; row
// −1, which the masks discard, lies in the previous channel's memory, or before the first
// image, which directForward copies.
func pairGeometry(k *asm.ConvKernel, h, w, kh, kw int, p ConvParams) (pairD int, ok bool) {
	if !k.HasTilePairs() || p.Stride != [2]int{2, 2} || kh != 3 || kw != 3 || p.Padding != [2]int{1, 1} ||
		h%2 != 0 || w%2 != 0 || (h/2*w/2)%k.Lanes != 0 {
		return 0, false
	}
	switch w / 2 {
	case k.Lanes:
		return 4 * k.Lanes, true
	case k.Lanes / 2:
		return 4 * 2 * w, true
	}
	return 0, false
}

// blocks returns the number of blocks of MR output rows.
func (pl *tilePlan) blocks() int { return (pl.rows + pl.k.MR - 1) / pl.k.MR }

// packBlock packs the weights of block b of output rows, in the order of the runs: the
// weight of output row row, input channel ch and kernel position widx is
// wt[row·rowStride + ch·chStride + widx].
func (pl *tilePlan) packBlock(b int, wt []float32, rowStride, chStride int) {
	mr := pl.k.MR
	chunk := convChunk(pl.kin, 4*pl.inPlane, pl.pairD > 0)
	a := pl.apack[b*pl.steps*mr : (b+1)*pl.steps*mr]
	rows := min(mr, pl.rows-b*mr)
	s := 0
	for c0 := 0; c0 < pl.kin; c0 += chunk {
		n := min(chunk, pl.kin-c0)
		for _, t := range pl.taps {
			for q := range n {
				dst := a[s*mr : (s+1)*mr]
				src := wt[b*mr*rowStride+(c0+q)*chStride+t.widx:]
				for i := range rows {
					dst[i] = src[i*rowStride]
				}
				clear(dst[rows:])
				s++
			}
		}
	}
}

// packTask packs the weights of up to four plans (the first n), a block per part, in
// parallel: for a few dozen microseconds the other goroutines would otherwise wait.
type packTask struct {
	plans               [4]*tilePlan
	n                   int
	wt                  []float32
	rowStride, chStride int
}

func (t *packTask) Part(_, i int) {
	for _, pl := range t.plans[:t.n] {
		if b := pl.blocks(); i >= b {
			i -= b
			continue
		}
		pl.packBlock(i, t.wt, t.rowStride, t.chStride)
		return
	}
}

// pack packs the weights of the plans (see packBlock), which build has laid out.
func (d *directWorkspace) pack(wt []float32, rowStride, chStride int, plans ...*tilePlan) {
	t := &d.packing
	*t = packTask{wt: wt, rowStride: rowStride, chStride: chStride}
	blocks := 0
	for _, pl := range plans {
		t.plans[t.n] = pl
		t.n++
		blocks += pl.blocks()
	}
	parallelFor(blocks, t)
	*t = packTask{}
}

// maskKey identifies the lane masks of a tilePlan: they depend only on the geometry.
type maskKey struct {
	lanes, outW, outPlane, sy, sx, limH, limW, chunkRuns int
	taps                                                 [64]struct{ by, bx int }
	ntap                                                 int
}

// maskEntry is one cached mask table.
type maskEntry struct {
	key           maskKey
	masks, smasks []uint32
}

// maskCacheSize is the number of mask tables a workspace keeps (the distinct convolution
// geometries of a network's forward and backward passes).
const maskCacheSize = 24

// buildMasks points masks and smasks at the plan's lane masks: for vector class j (the
// j-th vector of an image) and run r, bit l is set if the tap of run r reads an input
// element for output pixel j·Lanes+l; the last row is all zero (vectors past the end).
// Tables are cached per geometry in the workspace.
func (pl *tilePlan) buildMasks() {
	k := pl.k
	nr, ntap := len(pl.runs), len(pl.taps)
	var key maskKey
	cacheable := ntap <= len(key.taps)
	if cacheable {
		key = maskKey{lanes: k.Lanes, outW: pl.outW, outPlane: pl.outPlane, sy: pl.sy, sx: pl.sx,
			limH: pl.limH, limW: pl.limW, chunkRuns: nr, ntap: ntap}
		for i, t := range pl.taps {
			key.taps[i].by, key.taps[i].bx = t.by, t.bx
		}
		cache := *pl.cache
		for i := range cache {
			if cache[i].key == key {
				e := cache[i]
				copy(cache[1:i+1], cache[:i]) // most recent first
				cache[0] = e
				pl.masks, pl.smasks = e.masks, e.smasks
				return
			}
		}
	}
	masks := make([]uint32, (pl.vpi+1)*nr)
	smasks := make([]uint32, pl.vpi)
	tmask := make([]uint32, ntap)
	for j := range pl.vpi {
		clear(tmask)
		for l := range k.Lanes {
			p := j*k.Lanes + l
			if p >= pl.outPlane {
				break
			}
			oy, ox := p/pl.outW, p%pl.outW
			for ti, t := range pl.taps {
				iy, ix := pl.sy*oy+t.by, pl.sx*ox+t.bx
				if iy >= 0 && iy < pl.limH && ix >= 0 && ix < pl.limW {
					tmask[ti] |= 1 << l
				}
			}
		}
		row := masks[j*nr : (j+1)*nr]
		for r := range row {
			row[r] = tmask[r%ntap]
		}
		n := min(k.Lanes, pl.outPlane-j*k.Lanes)
		smasks[j] = uint32(1)<<n - 1
	}
	pl.masks, pl.smasks = masks, smasks
	if cacheable {
		cache := *pl.cache
		if len(cache) < maskCacheSize {
			cache = append(cache, maskEntry{})
		}
		copy(cache[1:], cache[:len(cache)-1]) // most recent first
		cache[0] = maskEntry{key: key, masks: masks, smasks: smasks}
		*pl.cache = cache
	}
}

// run computes the tiles over the vectors of images [img0, img0+nimg) of the plan's input
// x (image img at x[(img-img0)·inImg:], i.e. x starts at image img0) into y (likewise),
// tiles [t0, t1) of that range.
//
// pf and pf2, when not nil, are memory the caller will read next: they are prefetched
// (pf first) a share per kernel call, while the tiles compute.
func (pl *tilePlan) run(args *asm.ConvTileArgs, x, y []float32, nimg, t0, t1 int, pf, pf2 []float32) {
	pl.runBlocks(args, x, y, nimg, t0, t1, 0, pl.blocks(), pf, pf2)
}

// runBlocks is run for the blocks [b0, b1) of MR output rows only.
func (pl *tilePlan) runBlocks(args *asm.ConvTileArgs, x, y []float32, nimg, t0, t1, b0, b1 int, pf, pf2 []float32) {
	k := pl.k
	nr := len(pl.runs)
	total := nimg * pl.vpi
	args.X, args.XLen = &x[0], len(x)
	args.Y, args.YLen = &y[0], len(y)
	args.LDX = 4 * pl.inPlane
	args.LDY = 4 * pl.outPlane
	args.Runs, args.NRuns = &pl.runs[0], nr
	args.Beta = pl.beta
	args.ALen = pl.steps * k.MR
	args.Perm, args.PairD = nil, 0
	tile := k.Tile
	span := k.Lanes // elements one vector reads per k-step
	if pl.pairD > 0 {
		args.Perm, args.PairD = &pl.perm[0], pl.pairD
		tile = k.TilePairs
		span = pl.pairD/4 + k.Lanes
	}
	var ybase [4]int
	lo, hi := 0, 0 // the taps' extent
	for i, tp := range pl.taps {
		if i == 0 || tp.shift < lo {
			lo = tp.shift
		}
		if i == 0 || tp.shift > hi {
			hi = tp.shift
		}
	}
	// pf is prefetched by the kernel calls, a share per call, at the pace of their k-loops.
	blocks := b1 - b0
	pfLines, pfPer := (len(pf)+15)/16+(len(pf2)+15)/16, 0
	if pfLines > 0 && t1 > t0 {
		pfPer = (pfLines + (t1-t0)*blocks - 1) / ((t1 - t0) * blocks)
	}
	pfOff, pf2Off := 0, 0
	if pl.chunk > 1 {
		// Weights too large for L2: for each chunk of tiles (whose input stays in L2), run
		// every block of output rows over the chunk's tiles, so that the weights are read
		// once per chunk rather than once per tile. Each tile and block is computed as below.
		args.SetPrefetch(nil, 0)
		for c0 := t0; c0 < t1; c0 += pl.chunk {
			c1 := min(t1, c0+pl.chunk)
			for b := b0; b < b1; b++ {
				args.Rows = min(k.MR, pl.rows-b*k.MR)
				args.A = &pl.apack[b*pl.steps*k.MR]
				for t := c0; t < c1; t++ {
					for v := range k.Vecs {
						g := t*k.Vecs + v
						if g >= total {
							args.XOff[v], args.YOff[v] = 0, 0
							args.Mask[v] = &pl.masks[pl.vpi*nr]
							args.SMask[v] = 0
							continue
						}
						img, j := g/pl.vpi, g%pl.vpi
						args.XOff[v] = 4 * (img*pl.inImg + j*pl.xvec)
						args.YOff[v] = 4*(img*pl.outImg+j*k.Lanes) + 4*b*k.MR*pl.outPlane
						args.Mask[v] = &pl.masks[j*nr]
						args.SMask[v] = pl.smasks[j]
					}
					tile(args)
				}
			}
		}
		return
	}
	for t := t0; t < t1; t++ {
		// Bring the next tile's input towards L1 while this one computes (unless the caller
		// prefetches something else).
		if pf == nil && pf2 == nil && t+1 < t1 {
			for v := range k.Vecs {
				if g := (t+1)*k.Vecs + v; g < total {
					img, j := g/pl.vpi, g%pl.vpi
					asm.PrefetchRows(x, img*pl.inImg+j*pl.xvec+lo, pl.kin, pl.inPlane, span+hi-lo)
				}
			}
		}
		for v := range k.Vecs {
			g := t*k.Vecs + v
			if g >= total {
				args.XOff[v], ybase[v] = 0, 0
				args.Mask[v] = &pl.masks[pl.vpi*nr]
				args.SMask[v] = 0
				continue
			}
			img, j := g/pl.vpi, g%pl.vpi
			args.XOff[v] = 4 * (img*pl.inImg + j*pl.xvec)
			ybase[v] = 4 * (img*pl.outImg + j*k.Lanes)
			args.Mask[v] = &pl.masks[j*nr]
			args.SMask[v] = pl.smasks[j]
		}
		for b := b0; b < b1; b++ {
			args.Rows = min(k.MR, pl.rows-b*k.MR)
			for v := range k.Vecs {
				args.YOff[v] = ybase[v] + 4*b*k.MR*pl.outPlane
			}
			args.A = &pl.apack[b*pl.steps*k.MR]
			switch {
			case pfOff < len(pf):
				args.SetPrefetch(pf[pfOff:], pfPer)
				pfOff += 16 * pfPer
			case pf2Off < len(pf2):
				args.SetPrefetch(pf2[pf2Off:], pfPer)
				pf2Off += 16 * pfPer
			default:
				args.SetPrefetch(nil, 0)
			}
			tile(args)
		}
	}
}

func growU32(buf []uint32, n int) []uint32 {
	if cap(buf) < n {
		return make([]uint32, n)
	}
	return buf[:n]
}

// directWorkspace holds the direct convolution's plans and per-worker scratch.
type directWorkspace struct {
	maskCache []maskEntry
	plan      tilePlan
	dplans    [4]tilePlan // the data gradient's phase plans at stride 2
	wplan     wgradPlan
	taps      []tap
	workers   []directWorker
	slabs     []float32 // weight gradient: per-slab accumulators
	slabSq    []float32 // per-slab squared gradients
	slabDB    []float64 // per-slab bias gradients (and their squares)
	small     []float32 // the phase planes (or a copy) of a small batch at stride 2
	split     splitTask // the phase split of a small batch, during a call

	queue   workQueue
	packing packTask
	tiles   tileTask
	phases  phaseTask
	dphase  dgradPhaseTask
	wgrad   wgradTask
	wreduce wgradReduceTask
}

type directWorker struct {
	_     [64]byte // keeps the fields of neighbouring workers off each other's cache lines
	args  asm.ConvTileArgs
	wargs asm.WgradArgs
	buf   []float32 // phase planes or a copy of the first images (forward, stride 2), or the channels-last output gradient
	acc   []float32 // one sample's weight gradient (per-sample squared gradients)
}

func (d *directWorkspace) worker(w int) *directWorker {
	for len(d.workers) <= w {
		d.workers = append(d.workers, directWorker{})
	}
	return &d.workers[w]
}

// ensureWorkers makes room for n workers' scratch before a parallel call (so that the
// workers never grow the slice concurrently).
func (d *directWorkspace) ensureWorkers(n int) {
	if len(d.workers) < n {
		d.workers = append(d.workers, make([]directWorker, n-len(d.workers))...)
	}
}

// directGeometry reports whether the direct kernels handle a convolution: kernel width
// 2·pw+1 (so that output rows are as wide as the input's rows, or its phase rows), any
// height up to 8, stride 1 or 2 in both directions, on a path with direct kernels.
func directGeometry(kh, kw int, p ConvParams) bool {
	s := p.Stride
	return kw == 2*p.Padding[1]+1 && kh <= 8 && kw <= 8 && s[0] == s[1] && (s[0] == 1 || s[0] == 2) &&
		asm.CurrentPath() != asm.Generic
}

// parts returns the number of parts to cut n units of work into for parallelFor.
func parts(n int) int {
	return min(n, 4*maxProcs())
}

// directForward computes y = conv(x, w) with the tile kernel (see directGeometry).
func (ws *ConvWorkspace) directForward(y, x, w *Tensor, p ConvParams) {
	_, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	d := &ws.direct
	pl := &d.plan
	d.taps = pl.buildForward(asm.CurrentConvKernel(), d.taps[:0], &d.maskCache, c, h, wd, k, kh, kw, p)
	d.pack(w.Data, c*kh*kw, kh*kw, pl)
	ws.directForwardPlan(pl, y, x)
}

// buildForward sets pl up as the forward plan of a convolution of c channels of h×wd to
// k channels with a kh×kw kernel (see directGeometry), for the tile kernel kern, with taps
// appended to taps (returned) and the mask tables cached in cache. Its weights must be
// packed before it runs (directWorkspace.pack, with row stride c·kh·kw and channel stride
// kh·kw).
func (pl *tilePlan) buildForward(kern *asm.ConvKernel, taps []tap, cache *[]maskEntry, c, h, wd, k, kh, kw int, p ConvParams) []tap {
	ho, wo := p.OutSize(h, wd, kh, kw)
	s := p.Stride[0]
	ph, pw := p.Padding[0], p.Padding[1]
	*pl = tilePlan{k: kern, rows: k, kin: c, outW: wo, outPlane: ho * wo,
		outImg: k * ho * wo, sy: s, sx: s, limH: h, limW: wd, stride: s,
		runs: pl.runs, apack: pl.apack, perm: pl.perm, cache: cache}
	pairD, pair := pairGeometry(pl.k, h, wd, kh, kw, p)
	if pair {
		// A vector covers Lanes/wo output rows: its input starts 2·(Lanes/wo) rows on.
		pl.pairD, pl.xvec = pairD, 2*(pl.k.Lanes/wo)*wd
	}
	// Phase planes for stride s: [c][py][px][hph][wo], row i of phase py is input row s·i+py.
	hph := (h + s - 1) / s
	pl.hph = hph
	phase := hph * wo
	for ky := range kh {
		for kx := range kw {
			by, bx := ky-ph, kx-pw
			t := tap{by: by, bx: bx, widx: ky*kw + kx}
			if s == 1 {
				t.shift = by*wd + bx
			} else if pair {
				t.shift = by * wd // the column is the permute's (buildPerm)
			} else {
				qy, ry := floorDivMod(by, s)
				qx, rx := floorDivMod(bx, s)
				t.shift = (ry*s+rx)*phase + qy*wo + qx
			}
			taps = append(taps, t)
		}
	}
	pl.taps = taps
	if s == 1 || pair {
		pl.inPlane, pl.inImg = h*wd, c*h*wd
	} else {
		pl.inPlane = s * s * phase
		pl.inImg = c * pl.inPlane
	}
	pl.build()
	return taps
}

// directForwardPlan computes y = conv(x, w) with the forward plan pl (see buildForward),
// whose weights are packed. x: [N, C, H, W] as the plan's.
//
// Stride 1 runs tiles in parallel. At stride 2 the images go to the workers in groups, each
// split into phase planes by the worker that computes it; a batch of fewer images than
// workers is instead split at once into the workspace and computed as at stride 1, in
// parts of tiles and of blocks of output channels, so that one image keeps every core busy.
// An output element is computed by the same operations in either case.
func (ws *ConvWorkspace) directForwardPlan(pl *tilePlan, y, x *Tensor) {
	n, c, h, wd := x.NCHW()
	d := &ws.direct
	kern := pl.k
	procs := maxProcs()
	d.ensureWorkers(procs)
	s := pl.stride
	if s == 1 || n < procs {
		xs := x.Data
		if s != 1 {
			img := c * h * wd
			d.small = grow(d.small, pairMargin+n*max(pl.inImg, img))
			if pl.pairD > 0 {
				xs = d.small[pairMargin : pairMargin+n*img]
				copy(xs, x.Data[:n*img])
			} else {
				xs = d.small[:n*pl.inImg]
				d.split = splitTask{dst: xs, x: x.Data, n: n, c: c, h: h, w: wd, s: s, hph: pl.hph, wo: pl.outW,
					parts: min(c, 4*procs)}
				parallelFor(n*d.split.parts, &d.split)
				d.split = splitTask{}
			}
		}
		tiles := (n*pl.vpi + kern.Vecs - 1) / kern.Vecs
		t := tileTask{d: d, pl: pl, x: xs, y: y.Data, n: n, tiles: tiles, parts: parts(tiles), bsplit: 1}
		if pl.chunk > 1 { // block-major: a part per chunk of tiles, each reading the weights once
			t.parts = (tiles + pl.chunk - 1) / pl.chunk
		}
		if procs > 1 && t.parts < 2*procs {
			t.bsplit = min(pl.blocks(), (2*procs+t.parts-1)/t.parts)
		}
		d.tiles = t
		parallelFor(t.parts*t.bsplit, &d.tiles)
		d.tiles = tileTask{}
		return
	}
	// Stride s: the batch is cut into one segment of images per goroutine and each segment
	// into groups of g images (the last may be smaller), which a worker splits into phase
	// planes in its buffer and then computes; g makes a group's vectors a whole number of
	// tiles where that is cheap.
	g := 1
	for g < 4 && (g*pl.vpi)%kern.Vecs != 0 {
		g++
	}
	if (g*pl.vpi)%kern.Vecs != 0 {
		g = 1
	}
	for i := range procs { // any worker may take part: size their buffers now
		d.workers[i].buf = grow(d.workers[i].buf, pairMargin+g*pl.inImg)
	}
	d.phases = phaseTask{d: d, pl: pl, x: x, y: y.Data, s: s, hph: pl.hph, pair: pl.pairD > 0}
	segs := d.phases.imgs.deal(&d.queue, n, g)
	parallelFor(segs, &d.phases)
	d.phases = phaseTask{}
}

// tileTask computes the tiles of plan pl for images x → y: part i takes the tiles
// split(tiles, parts, i/bsplit) and, of those, the blocks of output rows
// split(blocks, bsplit, i%bsplit) (bsplit 0 is 1: all blocks).
type tileTask struct {
	d            *directWorkspace
	pl           *tilePlan // nil: d.plan
	x, y         []float32
	n            int
	tiles, parts int
	bsplit       int
}

func (t *tileTask) Part(w, i int) {
	pl := t.pl
	if pl == nil {
		pl = &t.d.plan
	}
	bs := max(t.bsplit, 1)
	t0, t1 := split(t.tiles, t.parts, i/bs)
	b0, b1 := split(pl.blocks(), bs, i%bs)
	pl.runBlocks(&t.d.workers[w].args, t.x, t.y, t.n, t0, t1, b0, b1, nil, nil)
}

// imageGroups cuts a batch of n images into one segment per goroutine (segs) and each
// segment into groups of g images, the units of a workQueue. A segment's first group is a
// single image: a worker reads it from memory that nothing has prefetched, and prefetches
// the next group while it computes one. The last group of a segment may be smaller than g.
type imageGroups struct {
	n, segs, g int
}

// deal sets up q for n images in groups of g and returns the number of segments.
func (ig *imageGroups) deal(q *workQueue, n, g int) int {
	*ig = imageGroups{n: n, segs: min(n, maxProcs()), g: g}
	q.reset(ig.segs)
	for i := range ig.segs {
		i0, i1 := split(n, ig.segs, i)
		units := i1 - i0
		if g > 1 && units > 1 {
			units = 1 + (units-1+g-1)/g
		}
		q.set(i, units)
	}
	return ig.segs
}

// group returns the images [i0, i1) of group u of segment seg.
func (ig *imageGroups) group(seg, u int) (i0, i1 int) {
	s0, s1 := split(ig.n, ig.segs, seg)
	if u == 0 {
		return s0, s0 + 1
	}
	i0 = s0 + 1 + (u-1)*ig.g
	return i0, min(s1, i0+ig.g)
}

// following returns the images of the group that part i computes after group u of segment
// seg, if it is known: the next one of its own segment, while nobody has taken it.
func (ig *imageGroups) following(q *workQueue, i, seg int) (i0, i1 int, ok bool) {
	if seg != i {
		return 0, 0, false
	}
	u, ok := q.peek(seg)
	if !ok {
		return 0, 0, false
	}
	i0, i1 = ig.group(seg, u)
	return i0, i1, true
}

// phaseTask computes the forward pass at stride s, a group of images (d.queue's units,
// see imageGroups) at a time: each group's phase planes go to the worker's buffer and the
// plan reads them there (or, with pair, the plan reads the group where it lies), and the
// worker's next group is prefetched while the tiles compute.
type phaseTask struct {
	d      *directWorkspace
	pl     *tilePlan
	x      *Tensor
	y      []float32
	s, hph int
	pair   bool // the plan reads x directly (pairGeometry): no phase planes
	imgs   imageGroups
}

// pairMargin is the room a worker's buffer keeps before the copy of the first images, which
// the two-table kernel reads from one input row before (see pairGeometry): at least a row
// (w ≤ 2·Lanes ≤ 32), and whole cache lines.
const pairMargin = 32

func (t *phaseTask) Part(w, i int) {
	pl := t.pl
	q := &t.d.queue
	_, c, h, wd := t.x.NCHW()
	img := c * h * wd
	dw := &t.d.workers[w]
	dw.buf = grow(dw.buf, pairMargin+t.imgs.g*pl.inImg)
	for seg, u, ok := q.next(i); ok; seg, u, ok = q.next(i) {
		i0, i1 := t.imgs.group(seg, u)
		var xs []float32
		switch {
		case !t.pair:
			for im := i0; im < i1; im++ {
				splitPhases(dw.buf[(im-i0)*pl.inImg:], t.x.Data[im*img:(im+1)*img], c, h, wd, t.s, t.hph, pl.outW)
			}
			xs = dw.buf[:(i1-i0)*pl.inImg]
		case i0 == 0:
			// Row −1 of the first image's first channel lies before x: read a copy.
			xs = dw.buf[pairMargin : pairMargin+(i1-i0)*img]
			copy(xs, t.x.Data[i0*img:i1*img])
		default:
			xs = t.x.Data[i0*img : i1*img]
		}
		var pf []float32
		if j0, j1, ok := t.imgs.following(q, i, seg); ok {
			pf = t.x.Data[j0*img : j1*img]
		}
		nimg := i1 - i0
		tiles := (nimg*pl.vpi + pl.k.Vecs - 1) / pl.k.Vecs
		pl.run(&dw.args, xs, t.y[i0*pl.outImg:i1*pl.outImg], nimg, 0, tiles, pf, nil)
	}
}

// splitTask splits n images into their phase planes (splitPhases), part i taking the
// channels split(c, parts, i%parts) of image i/parts.
type splitTask struct {
	dst, x                 []float32
	n, c, h, w, s, hph, wo int
	parts                  int
}

func (t *splitTask) Part(_, i int) {
	im := i / t.parts
	c0, c1 := split(t.c, t.parts, i%t.parts)
	phase := t.hph * t.wo
	img := t.c * t.h * t.w
	splitPhases(t.dst[im*t.c*t.s*t.s*phase+c0*t.s*t.s*phase:], t.x[im*img+c0*t.h*t.w:(im+1)*img], c1-c0, t.h, t.w, t.s, t.hph, t.wo)
}

// splitPhases writes the s·s phase planes of one image x: [c][h][w] into dst:
// dst[((ch·s + py)·s + px)·hph·wo + i·wo + j] = x[ch][s·i+py][s·j+px] where that exists
// (other elements are left as they are: the kernels' masks never select them).
func splitPhases(dst, x []float32, c, h, w, s, hph, wo int) {
	phase := hph * wo
	if s == 2 {
		for py := range 2 {
			rows := (h - py + 1) / 2
			asm.DeinterleaveRows(dst[2*py*phase:], wo, 4*phase, phase, x[py*w:], 2*w, h*w, c, rows, w/2)
			if w%2 == 1 { // the last column goes to the even phase
				for ch := range c {
					for i := range rows {
						dst[((ch*2+py)*2)*phase+i*wo+w/2] = x[(ch*h+2*i+py)*w+w-1]
					}
				}
			}
		}
		return
	}
	for ch := range c {
		src := x[ch*h*w : (ch+1)*h*w]
		for py := range s {
			for px := range s {
				plane := dst[((ch*s+py)*s+px)*phase : ((ch*s+py)*s+px+1)*phase]
				nj := (w - px + s - 1) / s
				for i := 0; s*i+py < h; i++ {
					row := src[(s*i+py)*w : (s*i+py+1)*w]
					out := plane[i*wo : i*wo+nj]
					for j := range out {
						out[j] = row[s*j+px]
					}
				}
			}
		}
	}
}

// floorDivMod returns q, r with a = q·b + r, 0 ≤ r < b (b > 0).
func floorDivMod(a, b int) (int, int) {
	q := a / b
	if a%b < 0 {
		q--
	}
	return q, a - q*b
}

// directBackwardData computes dx = beta·dx + (the data gradient of a stride-1 convolution,
// see directGeometry): the transposed convolution, i.e. a convolution of dy with the
// flipped and transposed weights. beta is 1 (add into dx) or 0 (set dx, which then need
// not be initialised; Conv2dBackwardDataSet).
func (ws *ConvWorkspace) directBackwardData(dx, dy, w *Tensor, p ConvParams, beta int) {
	n, c, h, wd := dx.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	d := &ws.direct
	pl := &d.plan
	ph, pw := p.Padding[0], p.Padding[1]
	*pl = tilePlan{k: asm.CurrentConvKernel(), rows: c, kin: k, outW: wd, outPlane: h * wd,
		outImg: c * h * wd, inPlane: ho * wo, inImg: k * ho * wo, sy: 1, sx: 1, limH: ho, limW: wo,
		beta: beta, runs: pl.runs, apack: pl.apack, perm: pl.perm, cache: &d.maskCache}
	taps := d.taps[:0]
	for ky := range kh {
		for kx := range kw {
			by, bx := ph-ky, pw-kx
			taps = append(taps, tap{shift: by*wo + bx, by: by, bx: bx, widx: ky*kw + kx})
		}
	}
	d.taps = taps
	pl.taps = taps
	pl.build()
	d.pack(w.Data, kh*kw, c*kh*kw, pl)
	tiles := (n*pl.vpi + pl.k.Vecs - 1) / pl.k.Vecs
	d.ensureWorkers(maxProcs())
	d.tiles = tileTask{d: d, x: dy.Data, y: dx.Data, n: n, tiles: tiles, parts: parts(tiles)}
	parallelFor(d.tiles.parts, &d.tiles)
	d.tiles = tileTask{}
}

// split returns the half-open range of units given to part i when units are dealt to parts
// parts as evenly as possible.
func split(units, parts, i int) (lo, hi int) {
	q, r := units/parts, units%parts
	lo = i*q + min(i, r)
	hi = lo + q
	if i < r {
		hi++
	}
	return lo, hi
}

// directBackwardDataStrided adds the data gradient of a stride-2 convolution (see
// directGeometry) into dx. Each phase (py, px) of dx (rows 2i+py, columns 2j+px) receives
// the taps (ky, kx) with ky ≡ py+ph and kx ≡ px+pw (mod 2), from output pixel
// (i + (py+ph−ky)/2, j + (px+pw−kx)/2): a stride-1 convolution of dy whose output rows
// are as wide as dy's. Per group of samples, a worker computes the four phase planes into
// its buffer, then adds them into dx, interleaved (asm.InterleaveAdd2).
func (ws *ConvWorkspace) directBackwardDataStrided(dx, dy, w *Tensor, p ConvParams) {
	n, c, h, wd := dx.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	const s = 2
	d := &ws.direct
	ph, pw := p.Padding[0], p.Padding[1]
	hph := (h + s - 1) / s
	kern := asm.CurrentConvKernel()
	vpiMax := 0
	var plans [4]*tilePlan
	np := 0
	for q := range s * s {
		py, px := q/s, q%s
		pl := &d.dplans[q]
		rows := (h - py + s - 1) / s
		*pl = tilePlan{k: kern, rows: c, kin: k, outW: wo, outPlane: rows * wo,
			outImg: s * s * c * hph * wo, inPlane: ho * wo, inImg: k * ho * wo, sy: 1, sx: 1, limH: ho, limW: wo,
			runs: pl.runs, apack: pl.apack, cache: &d.maskCache, taps: pl.taps[:0]}
		for ky := range kh {
			if (py+ph-ky)%s != 0 {
				continue
			}
			for kx := range kw {
				if (px+pw-kx)%s != 0 {
					continue
				}
				by, bx := (py+ph-ky)/s, (px+pw-kx)/s
				pl.taps = append(pl.taps, tap{shift: by*wo + bx, by: by, bx: bx, widx: ky*kw + kx})
			}
		}
		if len(pl.taps) > 0 && rows > 0 {
			pl.build()
			vpiMax = max(vpiMax, pl.vpi)
			plans[np] = pl
			np++
		}
	}
	d.pack(w.Data, kh*kw, c*kh*kw, plans[:np]...)
	g := 1
	for g < 4 && (g*vpiMax)%kern.Vecs != 0 {
		g++
	}
	if (g*vpiMax)%kern.Vecs != 0 {
		g = 1
	}
	d.ensureWorkers(maxProcs())
	for i := range maxProcs() { // any worker may take part: size their buffers now
		d.workers[i].buf = grow(d.workers[i].buf, g*s*s*c*hph*wo)
	}
	d.dphase = dgradPhaseTask{d: d, dx: dx, dy: dy.Data, hph: hph}
	segs := d.dphase.imgs.deal(&d.queue, n, g)
	parallelFor(segs, &d.dphase)
	d.dphase = dgradPhaseTask{}
}

// dgradPhaseTask computes the stride-2 data gradient, a group of samples (d.queue's units,
// see imageGroups) at a time; the worker's next group of dy is prefetched meanwhile.
type dgradPhaseTask struct {
	d    *directWorkspace
	dx   *Tensor
	dy   []float32
	hph  int
	imgs imageGroups
}

func (t *dgradPhaseTask) Part(w, i int) {
	q := &t.d.queue
	in := t.d.dplans[0].inImg
	for seg, u, ok := q.next(i); ok; seg, u, ok = q.next(i) {
		i0, i1 := t.imgs.group(seg, u)
		var next []float32
		if j0, j1, ok := t.imgs.following(q, i, seg); ok {
			next = t.dy[j0*in : j1*in]
		}
		t.group(w, i0, i1, next)
	}
}

// group computes the data gradient of samples [i0, i1) with worker w's buffer; next is
// prefetched meanwhile.
func (t *dgradPhaseTask) group(w, i0, i1 int, next []float32) {
	const s = 2
	_, c, h, wd := t.dx.NCHW()
	d := t.d
	wk := &d.workers[w]
	nimg := i1 - i0
	wo := d.dplans[0].outW
	region := c * t.hph * wo // one phase of one sample
	wk.buf = grow(wk.buf, t.imgs.g*s*s*region)
	for q := range s * s {
		pl := &d.dplans[q]
		y := wk.buf[q*region : nimg*s*s*region]
		if len(pl.taps) == 0 || pl.outPlane == 0 {
			for j := range nimg {
				clear(wk.buf[(j*s*s+q)*region : (j*s*s+q+1)*region])
			}
			continue
		}
		tiles := (nimg*pl.vpi + pl.k.Vecs - 1) / pl.k.Vecs
		// Prefetch a quarter of the group's dx per phase, for the additions below, and a
		// quarter of the next group's dy.
		dxg := t.dx.Data[i0*c*h*wd : i1*c*h*wd]
		q0, q1 := split(len(dxg), s*s, q)
		n0, n1 := split(len(next), s*s, q)
		pl.run(&wk.args, t.dy[i0*pl.inImg:i1*pl.inImg], y, nimg, 0, tiles, dxg[q0:q1], next[n0:n1])
	}
	for j := range nimg {
		img := wk.buf[j*s*s*region : (j+1)*s*s*region]
		dxi := t.dx.Data[(i0+j)*c*h*wd : (i0+j+1)*c*h*wd]
		for py := range s {
			rows := (h - py + 1) / 2
			plane := d.dplans[py*s].outPlane // rows of phase py × wo, the same for both px
			asm.InterleaveAddRows(dxi[py*wd:], 2*wd, h*wd, img[py*s*region:], wo, plane, region, c, rows, wd/2)
			if wd%2 == 1 { // the last column comes from the even phase
				for ch := range c {
					for r := range rows {
						dxi[(ch*h+2*r+py)*wd+wd-1] += img[py*s*region+ch*plane+r*wo+wd/2]
					}
				}
			}
		}
	}
}
