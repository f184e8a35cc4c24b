package tensor

import (
	"fmt"
	"runtime"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// ConvParams are the geometry of a 2-d convolution: stride and zero padding,
// each as {height, width}, and the groups of a grouped convolution.
type ConvParams struct {
	Stride  [2]int
	Padding [2]int
	// Groups splits the C input and K output channels into Groups groups, as torch's
	// groups: output channels [g·K/G, (g+1)·K/G) read input channels [g·C/G, (g+1)·C/G)
	// only, through weights [K, C/G, kh, kw]. 0 and 1 mean an ordinary convolution;
	// Groups = C = K is a depthwise one. Pooling ignores it.
	Groups int
}

// OutSize returns the output height and width of a convolution (or pooling)
// window of kh×kw over an h×w input: floor((h + 2·pad − kh) / stride) + 1.
func (p ConvParams) OutSize(h, w, kh, kw int) (int, int) {
	ho := (h+2*p.Padding[0]-kh)/p.Stride[0] + 1
	wo := (w+2*p.Padding[1]-kw)/p.Stride[1] + 1
	return ho, wo
}

// ConvWorkspace holds the scratch memory of the convolution kernels (the
// direct kernels' plans, packed weights and per-goroutine buffers, the im2col
// matrix, the GEMM output and the packed GEMM panels) and a cache of the
// Winograd kernels' transformed weights, checked against the weights at every
// call (see winoCacheLimit: up to 64 MiB). Reuse one across calls so that
// steady state allocates nothing. The zero value is ready to use; a
// ConvWorkspace is not safe for concurrent use.
type ConvWorkspace struct {
	col      []float32
	out      []float32
	gemm     *asm.Workspace
	direct   directWorkspace
	wino     winoWorkspace
	epilogue epilogueTask
	grouped  groupedWorkspace // grouped and depthwise convolutions (conv_grouped.go)
	prepEpi  ConvEpilogue     // PreparedConv.Forward's epilogue, during a call
	biasEpi  biasEpilogueTask // PreparedConv.Forward's bias pass, during a call
	gemmEpi  asm.GemmEpilogue // PreparedConv.Forward's epilogue of a product, during a call
	im2col   im2colTask       // PreparedConv.Forward's im2col blocks, during a call
	gemmTask gemmTask         // PreparedConv.Forward's 1×1 products, during a call
	colBufs  []im2colBuf      // per worker: patch matrices of prepared im2col convolutions

	dwBlock     []dwBlockBuf // per worker: the bands of a DWBlock
	dwBlockTask dwBlockTask  // DWBlock.Forward's bands of one image, during a call
}

func (ws *ConvWorkspace) gemmWS() *asm.Workspace {
	if ws.gemm == nil {
		ws.gemm = asm.NewWorkspace()
	}
	return ws.gemm
}

func grow(buf []float32, n int) []float32 {
	if cap(buf) < n {
		return make([]float32, n)
	}
	return buf[:n]
}

// convColumns is the number of output pixels (columns of the im2col
// matrix) that one GEMM of Conv2dForward covers at least, batching small
// feature maps of several samples into one product.
const convColumns = 2048

// Conv2dForward computes a 2-d cross-correlation, as torch.nn.functional.conv2d:
//
//	y[n,k,oy,ox] = bias[k] + Σ_{c,ky,kx} w[k,c,ky,kx] · x[n,c,oy·sh−ph+ky, ox·sw−pw+kx]
//
// with zero padding. x: [N, C, H, W], w: [K, C, kh, kw], bias: [K] or nil,
// y: [N, K, H', W'] (see ConvParams.OutSize); y is overwritten.
//
// 3×3 convolutions at stride 1 with padding 1 and at least 8 input channels
// (see winogradPreferred) run as Winograd F(4×4, 3×3) convolutions on the AVX512 path (see
// winograd.go; 4× fewer multiplications, results within a few float32 roundings
// of the direct ones). Kernels of width 2·pw+1 at stride 1 or 2 (the 3×3
// padding-1 layers of the ResNets, the 7×7 stride-2 stem, 1×1 stride-2
// projections) run as direct
// convolutions on the SIMD paths (see conv_direct.go): register-blocked tiles
// of output channels × pixels that read x where it lies, in parallel over
// GOMAXPROCS goroutines with results independent of their number. A 1×1
// convolution with stride 1 and no padding is one SGEMM per sample; other
// geometries, and the Generic path, lower to im2col and SGEMM per group of
// samples. Steady state allocates nothing when ws is reused.
func Conv2dForward(y, x, w *Tensor, bias []float32, p ConvParams, ws *ConvWorkspace) {
	if p.Groups > 1 {
		groupedForward(y, x, w, bias, p, ws)
		return
	}
	n, c, h, wd := x.NCHW()
	k, wc, kh, kw := w.NCHW()
	if wc != c {
		panic(fmt.Sprintf("tensor.Conv2dForward: input has %d channels, weight %v wants %d", c, w.Shape, wc))
	}
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dForward", y, n, k, ho, wo)
	if bias != nil && len(bias) != k {
		panic(fmt.Sprintf("tensor.Conv2dForward: bias has %d values, want %d", len(bias), k))
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	hw, ohw := h*wd, ho*wo
	if n == 0 || k == 0 || ohw == 0 {
		return
	}
	if c == 0 {
		y.Fill(0)
		for i := range n {
			addBias(y.Data[i*k*ohw:(i+1)*k*ohw], bias, ohw)
		}
		return
	}
	algo := ChooseConvAlgo(c, k, h, wd, kh, kw, p)
	if algo == ConvGemm {
		for i := range n {
			yi := y.Data[i*k*ohw : (i+1)*k*ohw]
			asm.Sgemm(false, false, k, ohw, c, 1, w.Data, c, x.Data[i*c*hw:(i+1)*c*hw], hw, 0, yi, ohw, ws.gemmWS())
			addBias(yi, bias, ohw)
		}
		return
	}
	if algo == ConvWinograd {
		ws.winogradForward(y, x, w)
		if bias != nil {
			for i := range n {
				addBias(y.Data[i*k*ohw:(i+1)*k*ohw], bias, ohw)
			}
		}
		return
	}
	if algo == ConvDirect {
		ws.directForward(y, x, w, p)
		if bias != nil {
			for i := range n {
				addBias(y.Data[i*k*ohw:(i+1)*k*ohw], bias, ohw)
			}
		}
		return
	}
	ws.im2colForward(y, x, w, bias, p)
}

// im2colForward computes y = conv(x, w) + bias by im2col and SGEMM, over groups of samples
// whose output planes make at least convColumns columns.
func (ws *ConvWorkspace) im2colForward(y, x, w *Tensor, bias []float32, p ConvParams) {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	hw, ohw, ckk := h*wd, ho*wo, c*kh*kw
	nb := max(1, min(n, convColumns/max(ohw, 1)))
	ws.col = grow(ws.col, ckk*nb*ohw)
	ws.out = grow(ws.out, k*nb*ohw)
	for i0 := 0; i0 < n; i0 += nb {
		b := min(nb, n-i0)
		cols := b * ohw
		for s := range b {
			im2col(ws.col[s*ohw:], cols, x.Data[(i0+s)*c*hw:(i0+s+1)*c*hw], c, h, wd, kh, kw, ho, wo, p)
		}
		asm.Sgemm(false, false, k, cols, ckk, 1, w.Data, ckk, ws.col, cols, 0, ws.out, cols, ws.gemmWS())
		for s := range b {
			yi := y.Data[(i0+s)*k*ohw : (i0+s+1)*k*ohw]
			for kk := range k {
				copy(yi[kk*ohw:(kk+1)*ohw], ws.out[kk*cols+s*ohw:])
			}
			addBias(yi, bias, ohw)
		}
	}
}

// addBias adds bias[k] to each plane k of y: [K, plane].
func addBias(y, bias []float32, plane int) {
	if bias == nil {
		return
	}
	for k, b := range bias {
		row := y[k*plane : (k+1)*plane]
		for i := range row {
			row[i] += b
		}
	}
}

// maxProcs is the number of goroutines the convolutions may use.
func maxProcs() int { return runtime.GOMAXPROCS(0) }

// checkShape4 panics unless t has shape [a, b, c, d]. Unlike mustShape it does not
// allocate (its arguments do not escape).
func checkShape4(op string, t *Tensor, a, b, c, d int) {
	if len(t.Shape) != 4 || t.Shape[0] != a || t.Shape[1] != b || t.Shape[2] != c || t.Shape[3] != d {
		panic(fmt.Sprintf("tensor.%s: shape %v, want [%d %d %d %d]", op, t.Shape, a, b, c, d))
	}
}
