package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// ConvAlgo is the algorithm that computes a convolution.
type ConvAlgo uint8

const (
	// ConvGemm is a 1×1 convolution at stride 1 without padding: one SGEMM per image, on
	// the NCHW layout as it is.
	ConvGemm ConvAlgo = iota
	// ConvWinograd is Winograd F(4×4, 3×3) for 3×3 kernels at stride 1 with padding 1.
	ConvWinograd
	// ConvDirect is the direct convolution: register-blocked tiles of output channels ×
	// pixels that read the input where it lies (kernels of width 2·padding+1, stride 1 or 2).
	ConvDirect
	// ConvIm2col lowers the convolution to an im2col matrix and SGEMM (everything else).
	ConvIm2col
	// ConvDepthwise is a depthwise convolution (Groups = C = K): asm.Depthwise3x3 for 3×3
	// kernels with padding 1 at stride 1 or 2, plain loops otherwise (conv_depthwise.go).
	ConvDepthwise
	// ConvGrouped is any other grouped convolution: im2col and SGEMM per group.
	ConvGrouped
)

// String returns the algorithm's name: "gemm", "winograd", "direct", "im2col", "depthwise"
// or "grouped".
func (a ConvAlgo) String() string {
	switch a {
	case ConvGemm:
		return "gemm"
	case ConvWinograd:
		return "winograd"
	case ConvDirect:
		return "direct"
	case ConvIm2col:
		return "im2col"
	case ConvDepthwise:
		return "depthwise"
	case ConvGrouped:
		return "grouped"
	}
	return fmt.Sprintf("ConvAlgo(%d)", uint8(a))
}

// ChooseConvAlgo returns the algorithm that Conv2dForward, Conv2dForwardEpilogue and
// PrepareConv use for a convolution of c channels of h×w to k channels with a kh×kw
// kernel: a function of the shape and of the kernel path (asm.CurrentPath) only, never
// of the batch size or of timings, so that a layer's results are reproducible.
//
//   - 1×1, stride 1, no padding: ConvGemm.
//   - 3×3, stride 1, padding 1, rows at most 64 wide, from 8 input channels on the AVX512
//     path: ConvWinograd (see winogradPreferred for the measurements behind it).
//   - kernel width 2·padding+1, height ≤ 8, stride 1 or 2 on a SIMD path: ConvDirect.
//   - otherwise: ConvIm2col.
//
// A grouped convolution (p.Groups > 1) is ConvDepthwise when it is depthwise, else
// ConvGrouped.
func ChooseConvAlgo(c, k, h, w, kh, kw int, p ConvParams) ConvAlgo {
	switch {
	case p.Groups > 1:
		return groupedAlgo(c, k, p)
	case kh == 1 && kw == 1 && p.Stride == [2]int{1, 1} && p.Padding == [2]int{0, 0}:
		return ConvGemm
	case winogradGeometry(kh, kw, w, p) && winogradPreferred(c, k, h, w):
		return ConvWinograd
	case directGeometry(kh, kw, p):
		return ConvDirect
	}
	return ConvIm2col
}

// winoMinPixels is the fewest output pixels per call (batch × H' × W') for which an
// inference plan keeps a 3×3 layer with large weights on Winograd (see ChooseInferConvAlgo).
const winoMinPixels = 128

// winoMinInferChannels is the fewest input channels for which an inference plan runs a
// 3×3 layer on Winograd (see ChooseInferConvAlgo).
const winoMinInferChannels = 5

// ChooseInferConvAlgo returns the algorithm of a convolution in an inference plan tuned for
// batches of about batch images: that of ChooseConvAlgo, except where the few pixels a call
// computes at that batch size make another algorithm faster. Like ChooseConvAlgo it depends
// on the shape, the batch size the plan is for, the kernel path and the cache sizes the CPU
// reports, never on timings:
//
//   - 1×1 without padding at any stride runs as a product (ConvGemm), the input subsampled
//     first at stride 2: 1024→2048 on 14×14 at stride 2, 1 core, 1.2 ms against 2.5 ms direct.
//   - A 3×3 layer leaves Winograd for direct kernels when a call has fewer than
//     winoMinPixels output pixels: the transformed weights (36·C·K floats, 4× the weights)
//     are streamed at every call, and a tile of 4×4 outputs mostly computes padding on small
//     maps. At batch 1 on Zen 5 (1 core): 512→512 on 7×7, 3.8 ms on Winograd against 2.5 ms
//     direct; a CIFAR ResNet-56, whose last stage is 64→64 on 8×8, 1.29–1.30 ms against
//     1.11 ms. At batch 32 the 7×7 layer takes 12.4 ms on Winograd against 29 ms direct
//     (2 cores), so batch plans keep it.
//   - A call of at most 16 output pixels (one vector) runs as im2col, whose product has one
//     column tile, where a direct tile of three vectors would mostly compute padding:
//     512→512 on 2×2 at batch 1, 0.61 against 1.25 ms direct; 512→512 on 4×4, 0.60
//     against 1.28 ms.
//   - A direct layer whose tiles would compute more than 1.25× the output pixels that
//     im2col's products compute (small planes: 7×7, 8×8 at batch 1) and whose weights
//     exceed 4× L2 runs as im2col: at batch 1, 512→512 on 7×7, 1.90 against 2.65 ms;
//     512→512 at stride 2 from 14×14, 1.85 against 2.37 ms. Smaller weights stay direct,
//     where im2col's short products split poorly over cores: 256→256 on 8×8, 0.56 ms im2col
//     against 0.64 direct on 1 core but 0.40 against 0.36 on 2; 128→256 on 8×8, 0.35 and
//     0.30 against 0.27 and 0.16.
//   - A layer of at most 4 input channels with a kernel of 25 taps or more (a stem: 3→64,
//     7×7 at stride 2) runs as im2col, where the direct kernels' few channels make short,
//     mask-bound k-loops: 3→64 7×7 at stride 2 on 224×224, 2.5 against 3.7 ms (1 core). So
//     does one of 9 taps or more at stride 2 (MobileNetV2's stem, 3→32 3×3 on 224×224: 0.17
//     against 1.01 ms at batch 1, 2 cores), whose direct form reads four phase planes of
//     three channels; at stride 1 direct stays faster (3→16 on 32×32, batch 128: 0.61
//     against 1.75 ms).
//   - A 3×3 layer of 5 to 7 input channels (the narrow layers of pruned models), which
//     ChooseConvAlgo leaves on the direct kernels, runs on Winograd when a call has at least
//     winoMinPixels output pixels: its transforms cost about as much as the direct kernel's
//     products only below 5 channels. Zen 5, 1 core, 8 images of 32×32 (a lane's chunk):
//     7→16 0.076 against 0.111 ms, 6→16 0.072 against 0.099, 5→16 0.097 against 0.105,
//     4→16 0.093 against 0.090; 7→32 on 16×16 0.057 against 0.069. One image on 2 cores:
//     7→16 0.013 against 0.020 ms, 5→16 0.013 against 0.023. (The training path keeps
//     them direct: see winogradPreferred.)
func ChooseInferConvAlgo(c, k, h, w, kh, kw int, p ConvParams, batch int) ConvAlgo {
	a := ChooseConvAlgo(c, k, h, w, kh, kw, p)
	if p.Groups > 1 {
		return a
	}
	ho, wo := p.OutSize(h, w, kh, kw)
	pixels := max(batch, 1) * ho * wo
	switch {
	case kh == 1 && kw == 1 && p.Padding == [2]int{0, 0}:
		return ConvGemm
	case a == ConvDirect && c >= winoMinInferChannels && pixels >= winoMinPixels &&
		ConvAlgoApplies(ConvWinograd, c, k, h, w, kh, kw, p):
		a = ConvWinograd
	case a == ConvWinograd && pixels < winoMinPixels && directGeometry(kh, kw, p):
		a = ConvDirect
	case a == ConvDirect && c <= 4 && (kh*kw >= 25 || (kh*kw >= 9 && p.Stride != [2]int{1, 1})):
		return ConvIm2col
	}
	if a != ConvGemm && pixels <= 16 {
		return ConvIm2col
	}
	if a == ConvDirect && directPadding(batch, ho*wo) > 1.25*im2colPadding(batch, ho*wo) {
		_, l2, _ := asm.CacheSizes()
		if 4*c*k*kh*kw > 4*l2 {
			return ConvIm2col
		}
	}
	return a
}

// directPadding returns the output lanes the direct kernels compute for n images of
// plane output pixels: tiles of three 16-lane vectors, each image's plane rounded up to
// whole vectors, tiles running across images.
func directPadding(n, plane int) float64 {
	vpi := (plane + 15) / 16
	return float64((max(n, 1)*vpi+2)/3) * 48
}

// im2colPadding returns the columns a prepared im2col convolution's products compute for
// n images of plane output pixels: each image's columns rounded up to 16.
func im2colPadding(n, plane int) float64 {
	return float64(max(n, 1) * (plane + 15) / 16 * 16)
}

// ParseConvAlgo returns the algorithm called name (as ConvAlgo.String gives it).
func ParseConvAlgo(name string) (ConvAlgo, error) {
	for a := ConvGemm; a <= ConvGrouped; a++ {
		if a.String() == name {
			return a, nil
		}
	}
	return 0, fmt.Errorf("tensor: unknown convolution algorithm %q (have gemm, winograd, direct, im2col, depthwise, grouped)", name)
}

// ConvAlgoApplies reports whether algorithm a can compute the convolution of c channels of
// h×w to k channels with a kh×kw kernel on the current kernel path (im2col always can).
func ConvAlgoApplies(a ConvAlgo, c, k, h, w, kh, kw int, p ConvParams) bool {
	if p.Groups > 1 || a == ConvDepthwise || a == ConvGrouped {
		return p.Groups > 1 && a == groupedAlgo(c, k, p)
	}
	switch a {
	case ConvGemm: // at a stride > 1, PreparedConv subsamples the input first
		return kh == 1 && kw == 1 && p.Padding == [2]int{0, 0}
	case ConvWinograd:
		return winogradGeometry(kh, kw, w, p) && asm.CurrentPath() == asm.AVX512
	case ConvDirect:
		return directGeometry(kh, kw, p)
	case ConvIm2col:
		return true
	}
	return false
}

// PreparedConv is a convolution with a bias, prepared once for one input geometry and
// called many times: its algorithm is chosen (ChooseConvAlgo) and its weights transformed
// (Winograd) or packed (direct) for the kernel path of the moment it was prepared.
// Forward applies the bias, and optionally a residual and a ReLU, as it writes the output.
//
// A PreparedConv is read-only after PrepareConv: any number of goroutines may call Forward
// at once, each with its own ConvWorkspace.
type PreparedConv struct {
	C, K, KH, KW int // input channels, output channels, kernel height and width
	H, W         int // the input's height and width
	Params       ConvParams
	Algo         ConvAlgo
	// Clip, when positive, bounds the outputs of a Forward with relu from above:
	// min(relu(·), Clip) (ReLU6: 6). Set it before the first Forward.
	Clip float32

	path asm.Path
	w    *Tensor      // [K, C, kh, kw] (im2col)
	bias []float32    // [K]
	ones []float32    // [K] ones: the epilogue's scale
	u    []float32    // transformed weights (winograd)
	mr   int          // the GEMM panel height u is laid out for
	plan *tilePlan    // built, with packed weights (direct)
	pa   *asm.PackedA // the weights packed as SGEMM's left operand (gemm, im2col)

	rowsPerBlock int // output rows per patch matrix (im2col)
}

// PrepareConv prepares the convolution of inputs [N, C, h, wd] with weights w: [K, C, kh,
// kw], bias [K] (nil: zeros) and geometry p. It copies what it keeps: w and bias may change
// afterwards without effect.
func PrepareConv(w *Tensor, bias []float32, p ConvParams, h, wd int) *PreparedConv {
	k, c, kh, kw := w.NCHW()
	c *= max(p.Groups, 1)
	return PrepareConvAlgo(w, bias, p, h, wd, ChooseConvAlgo(c, k, h, wd, kh, kw, p))
}

// PrepareConvAlgo is PrepareConv with the algorithm given (a plan file's, or a benchmark's);
// it panics unless ConvAlgoApplies.
func PrepareConvAlgo(w *Tensor, bias []float32, p ConvParams, h, wd int, algo ConvAlgo) *PreparedConv {
	k, c, kh, kw := w.NCHW()
	c *= max(p.Groups, 1)
	if !ConvAlgoApplies(algo, c, k, h, wd, kh, kw, p) {
		panic(fmt.Sprintf("tensor.PrepareConvAlgo: %v does not compute weights %v on %d×%d inputs with %+v on the %v path", algo, w.Shape, h, wd, p, asm.CurrentPath()))
	}
	if bias != nil && len(bias) != k {
		panic(fmt.Sprintf("tensor.PrepareConv: bias has %d values for %d output channels", len(bias), k))
	}
	if ho, wo := p.OutSize(h, wd, kh, kw); ho <= 0 || wo <= 0 || c <= 0 || k <= 0 {
		panic(fmt.Sprintf("tensor.PrepareConv: weights %v on %d×%d inputs with %+v", w.Shape, h, wd, p))
	}
	pc := &PreparedConv{C: c, K: k, KH: kh, KW: kw, H: h, W: wd, Params: p, path: asm.CurrentPath(),
		bias: make([]float32, k), ones: make([]float32, k)}
	copy(pc.bias, bias)
	for i := range pc.ones {
		pc.ones[i] = 1
	}
	pc.Algo = algo
	switch pc.Algo {
	case ConvDepthwise, ConvGrouped:
		pc.w = w.Clone()
	case ConvWinograd:
		g := newWinoGeom(1, c, k, h, wd)
		pc.mr = g.mr
		pc.u = make([]float32, 36*g.ldu())
		var d winoWorkspace
		d.transform(pc.u, w.Data, &g, false)
	case ConvDirect:
		pc.plan = new(tilePlan)
		var cache []maskEntry
		pc.plan.buildForward(asm.CurrentConvKernel(), nil, &cache, c, h, wd, k, kh, kw, p)
		var d directWorkspace
		d.pack(w.Data, c*kh*kw, kh*kw, pc.plan)
		pc.plan.cache = nil
	case ConvGemm:
		pc.pa = asm.PackA(false, k, c, w.Data, c)
	case ConvIm2col:
		pc.pa = asm.PackA(false, k, c*kh*kw, w.Data, c*kh*kw)
		// Blocks of whole output rows whose patch matrix takes about a quarter of L2, and at
		// least 48 columns (a full tile of the widest GEMM kernel): every block streams all
		// the weights, so small images are one block.
		_, l2, _ := asm.CacheSizes()
		ho, wo := pc.OutShape()
		pc.rowsPerBlock = min(ho, max(l2/4/(4*c*kh*kw*wo), (48+wo-1)/wo))
	}
	return pc
}

// OutShape returns the output's height and width.
func (pc *PreparedConv) OutShape() (ho, wo int) { return pc.Params.OutSize(pc.H, pc.W, pc.KH, pc.KW) }

// MACs returns the multiply-accumulates of one image's forward pass.
func (pc *PreparedConv) MACs() int64 {
	ho, wo := pc.OutShape()
	return int64(pc.K) * int64(pc.C/max(pc.Params.Groups, 1)) * int64(pc.KH*pc.KW) * int64(ho*wo)
}

// Forward computes y = relu(conv(x) + bias + residual), without the residual when it is
// nil and without the ReLU when relu is false, rounded as ConvEpilogue with a scale of one.
// x: [N, C, H, W] as prepared, y and residual: [N, K, H', W'] (y is overwritten and is not x
// or residual). Steady state allocates nothing when ws is reused.
func (pc *PreparedConv) Forward(y, x, residual *Tensor, relu bool, ws *ConvWorkspace) {
	n := x.Shape[0]
	ho, wo := pc.OutShape()
	checkShape4("PreparedConv.Forward", x, n, pc.C, pc.H, pc.W)
	checkShape4("PreparedConv.Forward", y, n, pc.K, ho, wo)
	if residual != nil {
		checkShape4("PreparedConv.Forward", residual, n, pc.K, ho, wo)
	}
	if cur := asm.CurrentPath(); cur != pc.path {
		panic(fmt.Sprintf("tensor.PreparedConv.Forward: prepared for the %v kernel path, called on %v", pc.path, cur))
	}
	if n == 0 {
		return
	}
	switch pc.Algo {
	case ConvDepthwise, ConvGrouped:
		ws.groupedPrepared(pc, y, x, residual, relu)
		return
	case ConvWinograd:
		g := newWinoGeom(n, pc.C, pc.K, pc.H, pc.W)
		ws.prepEpi = ConvEpilogue{Scale: pc.ones, Shift: pc.bias, Residual: residual, Relu: relu}
		ws.winoRun(&g, pc.u, y, x, false, &ws.prepEpi)
		ws.prepEpi = ConvEpilogue{}
		if c := pc.clip(relu); c > 0 {
			asm.Clamp(y.Data, y.Data, 0, c)
		}
		return
	case ConvDirect:
		ws.directForwardPlan(pc.plan, y, x)
	case ConvGemm:
		// One product per image, with the epilogue applied as each tile is stored; at a
		// stride > 1 the image is subsampled first. A batch of at least as many images as
		// workers runs its images in parallel, each product on one worker (a product of a
		// small plane splits poorly); a smaller one runs each product over all workers.
		ws.gemmTask = gemmTask{pc: pc, y: y.Data, x: x.Data, relu: relu, ws: ws}
		if residual != nil {
			ws.gemmTask.r = residual.Data
		}
		procs := maxProcs()
		ws.sizeColBufs(procs, pc.C*ho*wo)
		switch {
		case n >= procs && procs > 1:
			parallelFor(n, &ws.gemmTask)
		case procs > 1 && pc.Params.Stride != [2]int{1, 1}:
			// Fewer images than workers at a stride: each image is subsampled by all
			// workers, a range of channels each, before its product is split over them.
			ws.gemmTask.sub = true
			ws.gemmTask.cparts = min(pc.C, 4*procs)
			for i := range n {
				ws.gemmTask.img = i
				parallelFor(ws.gemmTask.cparts, (*gemmSubsample)(&ws.gemmTask))
				ws.gemmTask.Part(0, i)
			}
		default:
			for i := range n {
				ws.gemmTask.Part(0, i)
			}
		}
		ws.gemmTask = gemmTask{}
		return
	case ConvIm2col:
		ws.im2colPrepared(pc, y, x, residual, relu)
		return
	}
	ws.biasEpi = biasEpilogueTask{y: y.Data, bias: pc.bias, relu: relu, clip: pc.clip(relu), k: pc.K, plane: ho * wo}
	if residual != nil {
		ws.biasEpi.r = residual.Data
	}
	ws.biasEpi.split = 1
	if procs := maxProcs(); n < 2*procs {
		ws.biasEpi.split = min(pc.K, (2*procs+n-1)/n)
	}
	parallelFor(n*ws.biasEpi.split, &ws.biasEpi)
	ws.biasEpi = biasEpilogueTask{}
}

// biasEpilogueTask adds a bias (and a residual, and applies a ReLU) to y in place: part i
// takes image i/split and its channels split(k, split, i%split).
type biasEpilogueTask struct {
	y, r, bias      []float32
	relu            bool
	clip            float32 // > 0: then min(·, clip)
	k, plane, split int
}

func (t *biasEpilogueTask) Part(_, i int) {
	img := i / t.split
	k0, k1 := split(t.k, t.split, i%t.split)
	for k := k0; k < k1; k++ {
		lo := (img*t.k + k) * t.plane
		y := t.y[lo : lo+t.plane]
		b := t.bias[k]
		switch {
		case t.r != nil && t.relu:
			asm.ScaleShiftAddRelu(y, y, t.r[lo:lo+t.plane], 1, b)
		case t.r != nil:
			asm.ScaleShift(y, y, 1, b)
			asm.Add(y, y, t.r[lo:lo+t.plane])
		case t.relu:
			asm.ScaleShiftRelu(y, y, 1, b)
		default:
			asm.ScaleShift(y, y, 1, b)
		}
		if t.clip > 0 {
			asm.Clamp(y, y, 0, t.clip)
		}
	}
}

// im2colPrepared computes the im2col convolution pc with its epilogue: for each image and
// block of pc.rowsPerBlock output rows, the block's patch matrix (C·kh·kw × rows·W') is
// multiplied by the packed weights into y, the epilogue applied as tiles are stored. With
// at least as many blocks as workers, the blocks run in parallel (each product on its
// worker); otherwise one after the other, each product split over the workers. Every
// element is computed by the same operations either way.
func (ws *ConvWorkspace) im2colPrepared(pc *PreparedConv, y, x, residual *Tensor, relu bool) {
	n := x.Shape[0]
	ho, wo := pc.OutShape()
	blocks := (ho + pc.rowsPerBlock - 1) / pc.rowsPerBlock
	t := &ws.im2col
	*t = im2colTask{pc: pc, y: y.Data, x: x.Data, relu: relu, blocks: blocks, ws: ws}
	if residual != nil {
		t.r = residual.Data
	}
	procs := maxProcs()
	ws.sizeColBufs(procs, pc.C*pc.KH*pc.KW*pc.rowsPerBlock*wo)
	if n*blocks >= procs {
		parallelFor(n*blocks, t)
		*t = im2colTask{}
		return
	}
	// Fewer blocks than workers: each block's patch matrix is built by all workers, a range
	// of input channels each, then its product is split over them.
	t.cparts = min(pc.C, 4*procs)
	for i := range n * blocks {
		t.block = i
		parallelFor(t.cparts, (*im2colFill)(t))
		t.gemm(0, i)
	}
	*t = im2colTask{}
}

// sizeColBufs makes room for procs workers' buffers of at least floats floats each.
func (ws *ConvWorkspace) sizeColBufs(procs, floats int) {
	if len(ws.colBufs) < procs {
		ws.colBufs = append(ws.colBufs, make([]im2colBuf, procs-len(ws.colBufs))...)
	}
	for w := range ws.colBufs { // any worker may take a part: size every buffer now
		buf := &ws.colBufs[w]
		buf.col = grow(buf.col, floats)
		if buf.gemm == nil {
			buf.gemm = asm.NewWorkspace()
		}
	}
}

// gemmTask computes image i of a prepared 1×1 convolution (ConvGemm) with worker w's
// buffers: the subsampled image (stride > 1), the product's workspace and epilogue.
type gemmTask struct {
	pc      *PreparedConv
	ws      *ConvWorkspace
	y, x, r []float32
	relu    bool

	// sub: the image is subsampled already, in worker 0's buffer (by gemmSubsample, whose
	// parts take the channels split(C, cparts, i) of image img).
	sub         bool
	img, cparts int
}

func (t *gemmTask) Part(w, i int) {
	pc := t.pc
	ho, wo := pc.OutShape()
	hw, ohw := pc.H*pc.W, ho*wo
	buf := &t.ws.colBufs[w]
	xi := t.x[i*pc.C*hw : (i+1)*pc.C*hw]
	if s := pc.Params.Stride; s != [2]int{1, 1} {
		if !t.sub {
			subsamplePlanes(buf.col, xi, pc.C, pc.H, pc.W, ho, wo, s[0], s[1])
		}
		xi = buf.col[:pc.C*ohw]
	}
	e := &buf.epi
	*e = asm.GemmEpilogue{Bias: pc.bias, Relu: t.relu, Clip: pc.clip(t.relu)}
	if t.r != nil {
		e.R, e.LDR = t.r[i*pc.K*ohw:(i+1)*pc.K*ohw], ohw
	}
	asm.SgemmPacked(pc.pa, ohw, xi, ohw, t.y[i*pc.K*ohw:(i+1)*pc.K*ohw], ohw, e, buf.gemm)
	*e = asm.GemmEpilogue{}
}

// im2colBuf is one worker's patch matrix, workspace for its products and epilogue.
type im2colBuf struct {
	col  []float32
	gemm *asm.Workspace
	epi  asm.GemmEpilogue
	_    [64]byte
}

// im2colTask computes block i%blocks of image i/blocks (see im2colPrepared).
type im2colTask struct {
	pc      *PreparedConv
	ws      *ConvWorkspace
	y, x, r []float32
	relu    bool
	blocks  int
	block   int // the block whose patch matrix im2colFill builds
	cparts  int // im2colFill's parts
}

// rows returns the output rows [oy0, oy1) of block b and its columns.
func (t *im2colTask) rows(b int) (oy0, oy1, cols int) {
	ho, wo := t.pc.OutShape()
	oy0 = b * t.pc.rowsPerBlock
	oy1 = min(ho, oy0+t.pc.rowsPerBlock)
	return oy0, oy1, (oy1 - oy0) * wo
}

// Part builds the patch matrix of block i in worker w's buffer and multiplies it.
func (t *im2colTask) Part(w, i int) {
	pc := t.pc
	img, b := i/t.blocks, i%t.blocks
	oy0, oy1, cols := t.rows(b)
	_, wo := pc.OutShape()
	xi := t.x[img*pc.C*pc.H*pc.W : (img+1)*pc.C*pc.H*pc.W]
	im2colRows(t.ws.colBufs[w].col, cols, xi, pc.C, pc.H, pc.W, pc.KH, pc.KW, wo, oy0, oy1, pc.Params)
	t.gemm(w, i)
}

// gemm multiplies the patch matrix of block i in worker w's buffer by the weights into y,
// with the epilogue.
func (t *im2colTask) gemm(w, i int) {
	pc := t.pc
	img, b := i/t.blocks, i%t.blocks
	ho, wo := pc.OutShape()
	oy0, _, cols := t.rows(b)
	buf := &t.ws.colBufs[w]
	plane := ho * wo
	off := img*pc.K*plane + oy0*wo
	e := &buf.epi
	*e = asm.GemmEpilogue{Bias: pc.bias, Relu: t.relu, Clip: pc.clip(t.relu)}
	if t.r != nil {
		e.R, e.LDR = t.r[off:], plane
	}
	asm.SgemmPacked(pc.pa, cols, buf.col, cols, t.y[off:], plane, e, buf.gemm)
	*e = asm.GemmEpilogue{}
}

// im2colFill builds the patch matrix of block t.block in worker 0's buffer: part i takes
// the input channels split(C, cparts, i).
type im2colFill im2colTask

func (f *im2colFill) Part(_, i int) {
	t := (*im2colTask)(f)
	pc := t.pc
	img, b := t.block/t.blocks, t.block%t.blocks
	oy0, oy1, cols := t.rows(b)
	_, wo := pc.OutShape()
	c0, c1 := split(pc.C, t.cparts, i)
	xi := t.x[img*pc.C*pc.H*pc.W : (img+1)*pc.C*pc.H*pc.W]
	im2colPart(t.ws.colBufs[0].col, cols, xi, c0, c1, pc.H, pc.W, pc.KH, pc.KW, wo, oy0, oy1, pc.Params)
}

// gemmSubsample subsamples image t.img of a gemmTask into worker 0's buffer: part i
// takes the channels split(C, cparts, i).
type gemmSubsample gemmTask

func (f *gemmSubsample) Part(_, i int) {
	pc := f.pc
	ho, wo := pc.OutShape()
	hw, ohw := pc.H*pc.W, ho*wo
	c0, c1 := split(pc.C, f.cparts, i)
	xi := f.x[f.img*pc.C*hw : (f.img+1)*pc.C*hw]
	s := pc.Params.Stride
	subsamplePlanes(f.ws.colBufs[0].col[c0*ohw:c1*ohw], xi[c0*hw:c1*hw], c1-c0, pc.H, pc.W, ho, wo, s[0], s[1])
}

// subsamplePlanes sets dst[c][i][j] = x[c][sy·i][sx·j] for i < ho, j < wo (x: [C][H][W]).
func subsamplePlanes(dst, x []float32, c, h, w, ho, wo, sy, sx int) {
	for ch := range c {
		plane := x[ch*h*w : (ch+1)*h*w]
		out := dst[ch*ho*wo : (ch+1)*ho*wo]
		for i := range ho {
			row := plane[sy*i*w:]
			o := out[i*wo : (i+1)*wo]
			for j := range o {
				o[j] = row[sx*j]
			}
		}
	}
}
