package tensor

import "github.com/bonsai-dl/bonsai/asm"

// Conv2dBackwardDataSet sets dx to the gradient of a convolution with
// respect to its input: what Conv2dBackwardData adds into a zeroed dx (up to
// the sign of zeros). dx need not be initialised. Where Conv2dBackwardData
// runs the direct kernels at stride 1, the tile kernel writes dx instead of
// adding into it (no pass to zero dx first); otherwise (Winograd included) dx
// is cleared and added into.
// Shapes as in Conv2dBackwardData.
func Conv2dBackwardDataSet(dx, dy, w *Tensor, p ConvParams, ws *ConvWorkspace) {
	n, c, h, wd := dx.NCHW()
	k, wc, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	if ws == nil || wc != c || n == 0 || k == 0 || c == 0 || ho*wo == 0 ||
		!directGeometry(kh, kw, p) || p.Stride[0] != 1 || (kh == 1 && kw == 1 && p.Padding == [2]int{0, 0}) ||
		(winogradGeometry(kh, kw, wd, p) && winogradPreferred(k, c, h, wd)) {
		Clear(dx)
		Conv2dBackwardData(dx, dy, w, p, ws)
		return
	}
	checkShape4("Conv2dBackwardDataSet", dy, n, k, ho, wo)
	ws.directBackwardDataSet(dx, dy, w, p)
}

// directBackwardDataSet is directBackwardData (conv_direct.go) with the tile kernel's beta
// 0: it writes the data gradient of a stride-1 convolution into dx instead of adding it.
// TestConv2dBackwardDataSet keeps the two in step.
func (ws *ConvWorkspace) directBackwardDataSet(dx, dy, w *Tensor, p ConvParams) {
	n, c, h, wd := dx.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	d := &ws.direct
	pl := &d.plan
	ph, pw := p.Padding[0], p.Padding[1]
	*pl = tilePlan{k: asm.CurrentConvKernel(), rows: c, kin: k, outW: wd, outPlane: h * wd,
		outImg: c * h * wd, inPlane: ho * wo, inImg: k * ho * wo, sy: 1, sx: 1, limH: ho, limW: wo,
		beta: 0, runs: pl.runs, apack: pl.apack, cache: &d.maskCache}
	taps := d.taps[:0]
	for ky := range kh {
		for kx := range kw {
			by, bx := ph-ky, pw-kx
			taps = append(taps, tap{shift: by*wo + bx, by: by, bx: bx, widx: ky*kw + kx})
		}
	}
	d.taps = taps
	pl.taps = taps
	pl.build(w.Data, kh*kw, c*kh*kw)
	tiles := (n*pl.vpi + pl.k.Vecs - 1) / pl.k.Vecs
	d.ensureWorkers(maxProcs())
	d.tiles = tileTask{d: d, x: dy.Data, y: dx.Data, n: n, tiles: tiles, parts: parts(tiles)}
	parallelFor(d.tiles.parts, &d.tiles)
	d.tiles = tileTask{}
}
