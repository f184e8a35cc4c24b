package tensor

// Conv2dBackwardDataSet sets dx to the gradient of a convolution with
// respect to its input: what Conv2dBackwardData adds into a zeroed dx (up to
// the sign of zeros). dx need not be initialised. Where Conv2dBackwardData
// runs the direct kernels at stride 1, the tile kernel writes dx instead of
// adding into it (no pass to zero dx first); otherwise (Winograd included) dx
// is cleared and added into.
// Shapes as in Conv2dBackwardData.
func Conv2dBackwardDataSet(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace) {
	if p.Groups > 1 {
		groupedBackwardData(dx, dy, w, p, ws, false)
		return
	}
	n, c, h, wd := dx.NCHW()
	k, wc, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	if ws == nil || wc != c || n == 0 || k == 0 || c == 0 || ho*wo == 0 || p.Stride[0] != 1 ||
		backwardDataAlgo(c, k, h, wd, kh, kw, p) != ConvDirect {
		Clear(dx)
		Conv2dBackwardData(dx, dy, w, p, ws)
		return
	}
	checkShape4("Conv2dBackwardDataSet", dy, n, k, ho, wo)
	ws.directBackwardData(dx, dy, w, p, 0)
}
