package tensor

// conv2dBackwardDataSet is Conv2dBackwardData with beta 0: dx is set to what
// conv2dBackwardDataAdd adds into a zeroed dx (up to the sign of zeros). Where
// the direct kernels run at stride 1, the tile kernel writes dx instead of
// adding into it; otherwise (Winograd included) dx is cleared and added into.
func conv2dBackwardDataSet(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace) {
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
		conv2dBackwardDataAdd(dx, dy, w, p, ws)
		return
	}
	checkShape4("Conv2dBackwardData", dy, n, k, ho, wo)
	ws.directBackwardData(dx, dy, w, p, 0)
}
