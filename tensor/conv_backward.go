package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Conv2dBackwardData computes the gradient of a convolution with respect to its
// input, dx = beta·dx + g with
//
//	g[n,c,iy,ix] = Σ_{k,ky,kx} w[k,c,ky,kx] · dy[n,k,oy,ox]  where iy = oy·sh−ph+ky, ix = ox·sw−pw+kx
//
// dy: [N, K, H', W'], w: [K, C, kh, kw], dx: [N, C, H, W]. beta 0 sets dx (dx
// need not be initialised; the result is what beta 1 adds into a zeroed dx, up
// to the sign of zeros), beta 1 adds into it, any other beta scales dx first.
// Where the direct kernels run at stride 1, beta 0 writes dx in the kernel (no
// pass to zero it first).
// Where Conv2dForward uses Winograd, so does this (the convolution of dy with
// the flipped, transposed weights, added into dx); where it runs directly, so
// does this: at stride 1 as the
// convolution of dy with the flipped, transposed weights, at stride 2 as four
// such convolutions, one per phase (even/odd rows and columns) of dx.
// Otherwise it computes the column gradient wᵀ·dy with one SGEMM per sample
// and scatters it back (col2im).
func Conv2dBackwardData(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace, beta float32) {
	if !betaAdds(dx, beta) {
		conv2dBackwardDataSet(dx, dy, w, p, ws)
		return
	}
	conv2dBackwardDataAdd(dx, dy, w, p, ws)
}

// conv2dBackwardDataAdd adds the gradient into dx (Conv2dBackwardData with beta 1).
func conv2dBackwardDataAdd(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace) {
	if p.Groups > 1 {
		groupedBackwardData(dx, dy, w, p, ws, true)
		return
	}
	n, c, h, wd := dx.NCHW()
	k, wc, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dBackwardData", dy, n, k, ho, wo)
	if wc != c {
		panic(fmt.Sprintf("tensor.Conv2dBackwardData: dx has %d channels, weight %v wants %d", c, w.Shape, wc))
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	hw, ohw, ckk := h*wd, ho*wo, c*kh*kw
	if n == 0 || k == 0 || c == 0 || ohw == 0 {
		return
	}
	switch backwardDataAlgo(c, k, h, wd, kh, kw, p) {
	case ConvGemm:
		for i := range n {
			asm.Sgemm(true, false, c, hw, k, 1, w.Data, ckk, dy.Data[i*k*ohw:(i+1)*k*ohw], ohw, 1, dx.Data[i*c*hw:(i+1)*c*hw], hw, ws.gemmWS())
		}
		return
	case ConvWinograd:
		ws.winogradBackwardData(dx, dy, w)
		return
	case ConvDirect:
		if p.Stride[0] == 1 {
			ws.directBackwardData(dx, dy, w, p, 1)
		} else {
			ws.directBackwardDataStrided(dx, dy, w, p)
		}
		return
	}
	ws.col = grow(ws.col, ckk*ohw)
	for i := range n {
		asm.Sgemm(true, false, ckk, ohw, k, 1, w.Data, ckk, dy.Data[i*k*ohw:(i+1)*k*ohw], ohw, 0, ws.col, ohw, ws.gemmWS())
		col2im(dx.Data[i*c*hw:(i+1)*c*hw], ws.col, ohw, c, h, wd, kh, kw, ho, wo, p)
	}
}

// backwardDataAlgo returns the algorithm of the data gradient of a convolution of c
// channels of h×w to k channels: that of the transposed convolution, k channels to c on the
// same h×w (see ChooseConvAlgo), which is what Conv2dBackwardData computes.
func backwardDataAlgo(c, k, h, w, kh, kw int, p ConvParams) ConvAlgo {
	return ChooseConvAlgo(k, c, h, w, kh, kw, p)
}

// col2im adds the columns of col (laid out as im2col writes them, row
// stride ld) back into the image x: [C, H, W]; padding positions are dropped.
func col2im(x, col []float32, ld int, c, h, w, kh, kw, ho, wo int, p ConvParams) {
	sh, sw := p.Stride[0], p.Stride[1]
	ph, pw := p.Padding[0], p.Padding[1]
	r := 0
	for ci := range c {
		plane := x[ci*h*w : (ci+1)*h*w]
		for ky := range kh {
			for kx := range kw {
				row := col[r*ld : r*ld+ho*wo]
				r++
				lo := max(ceilDiv(pw-kx, sw), 0)
				hi := min(ceilDiv(w+pw-kx, sw), wo)
				if lo >= hi {
					continue
				}
				for oy := range ho {
					iy := oy*sh - ph + ky
					if iy < 0 || iy >= h {
						continue
					}
					src := row[oy*wo : (oy+1)*wo]
					dst := plane[iy*w:]
					ix := lo*sw - pw + kx
					for ox := lo; ox < hi; ox++ {
						dst[ix] += src[ox]
						ix += sw
					}
				}
			}
		}
	}
}

// SquaredGrads receives per-sample squared gradients: for every sample n
// of a batch, (Scale·g_n)² is added element-wise, where g_n is sample n's
// own contribution to the batch gradient. With a loss that averages over a
// batch of N samples, Scale = N turns g_n into the gradient of sample n's
// un-averaged loss. W and B have the shapes of the weight and bias (B may
// be nil).
type SquaredGrads struct {
	W, B  []float32
	Scale float32
}

// Conv2dBackwardFilter adds the gradient of a convolution with respect to
// its weight and bias into dw and db:
//
//	dw[k,c,ky,kx] += Σ_{n,oy,ox} dy[n,k,oy,ox] · x[n,c,oy·sh−ph+ky, ox·sw−pw+kx]
//	db[k]         += Σ_{n,oy,ox} dy[n,k,oy,ox]
//
// x: [N, C, H, W], dy: [N, K, H', W'], dw: [K, C, kh, kw], db: [K] or nil.
// When sq is not nil it also adds each sample's squared gradient into sq,
// computing the gradient sample by sample (no [N, …weight] tensor is made).
//
// 3×3 kernels with padding 1 at stride 1 or 2 run directly on the SIMD paths
// (see conv_wgrad.go), in parallel over fixed slabs of samples whose partial
// sums are added in order, so that the result does not depend on GOMAXPROCS;
// other geometries use im2col and SGEMM.
func Conv2dBackwardFilter(dw *Tensor, db []float32, x, dy *Tensor, p ConvParams, ws *ConvWorkspace, sq *SquaredGrads) {
	if p.Groups > 1 {
		groupedBackwardFilter(dw, db, x, dy, p, ws, sq)
		return
	}
	n, c, h, wd := x.NCHW()
	k, wc, kh, kw := dw.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dBackwardFilter", dy, n, k, ho, wo)
	if wc != c {
		panic(fmt.Sprintf("tensor.Conv2dBackwardFilter: x has %d channels, weight gradient %v wants %d", c, dw.Shape, wc))
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	if n == 0 || k == 0 || c == 0 || ho*wo == 0 {
		return
	}
	if directWgradOK(kh, kw, p) {
		ws.directBackwardFilter(dw, db, x, dy, p, sq)
		return
	}
	hw, ohw, ckk := h*wd, ho*wo, c*kh*kw
	direct := kh == 1 && kw == 1 && p.Stride == [2]int{1, 1} && p.Padding == [2]int{0, 0}
	if sq != nil {
		ws.out = grow(ws.out, k*ckk)
		if !direct {
			ws.col = grow(ws.col, ckk*ohw)
		}
		for i := range n {
			xi, dyi := x.Data[i*c*hw:(i+1)*c*hw], dy.Data[i*k*ohw:(i+1)*k*ohw]
			col := xi
			if !direct {
				im2col(ws.col, ohw, xi, c, h, wd, kh, kw, ho, wo, p)
				col = ws.col
			}
			asm.Sgemm(false, true, k, ckk, ohw, 1, dyi, ohw, col, ohw, 0, ws.out, ckk, ws.gemmWS())
			asm.Add(dw.Data, dw.Data, ws.out)
			addSquares(sq.W, ws.out, sq.Scale)
			for kk := range k {
				s := asm.Sum(dyi[kk*ohw : (kk+1)*ohw])
				if db != nil {
					db[kk] += s
				}
				if sq.B != nil {
					g := sq.Scale * s
					sq.B[kk] += g * g
				}
			}
		}
		return
	}
	if db != nil {
		for i := range n {
			for kk := range k {
				db[kk] += asm.Sum(dy.Data[(i*k+kk)*ohw : (i*k+kk+1)*ohw])
			}
		}
	}
	if direct {
		for i := range n {
			asm.Sgemm(false, true, k, ckk, ohw, 1, dy.Data[i*k*ohw:(i+1)*k*ohw], ohw, x.Data[i*c*hw:(i+1)*c*hw], hw, 1, dw.Data, ckk, ws.gemmWS())
		}
		return
	}
	nb := max(1, min(n, convColumns/max(ohw, 1)))
	ws.col = grow(ws.col, ckk*nb*ohw)
	ws.out = grow(ws.out, k*nb*ohw)
	for i0 := 0; i0 < n; i0 += nb {
		b := min(nb, n-i0)
		cols := b * ohw
		for s := range b {
			im2col(ws.col[s*ohw:], cols, x.Data[(i0+s)*c*hw:(i0+s+1)*c*hw], c, h, wd, kh, kw, ho, wo, p)
			dys := dy.Data[(i0+s)*k*ohw:]
			for kk := range k {
				copy(ws.out[kk*cols+s*ohw:kk*cols+(s+1)*ohw], dys[kk*ohw:(kk+1)*ohw])
			}
		}
		asm.Sgemm(false, true, k, ckk, cols, 1, ws.out, cols, ws.col, cols, 1, dw.Data, ckk, ws.gemmWS())
	}
}

// addSquares adds (scale·g[i])² into sq[i].
func addSquares(sq, g []float32, scale float32) {
	g = g[:len(sq)]
	for i, v := range g {
		v *= scale
		sq[i] += v * v
	}
}
