package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// ConvEpilogue is what Conv2dForwardEpilogue applies to each output of a convolution: a
// per-channel affine map (an evaluation-mode batch normalisation, see
// BatchNormScaleShift), optionally a residual added, and optionally a ReLU:
//
//	y[n,k,·] = max(float32(conv[n,k,·]·Scale[k]) + Shift[k] + Residual[n,k,·], 0)
//
// rounded as asm.ScaleShift, asm.ScaleShiftRelu and asm.ScaleShiftAddRelu (no fused
// multiply-add; the ReLU gives +0 for NaN and −0).
type ConvEpilogue struct {
	Scale, Shift []float32 // [K]
	Residual     *Tensor   // [N, K, H', W'] (not y), or nil
	Relu         bool
}

// Conv2dForwardEpilogue is Conv2dForward without bias followed by the epilogue e,
// y = e(conv(x, w)), bit for bit. On the Winograd path (see Conv2dForward) the epilogue is
// applied in the output transform, so the convolution's output is never stored; on the
// others it is a second pass over y, in parallel over the images.
//
// x: [N, C, H, W], w: [K, C, kh, kw], y: [N, K, H', W'] (overwritten; not x).
func Conv2dForwardEpilogue(y, x, w *Tensor, p ConvParams, ws *ConvWorkspace, e ConvEpilogue) {
	n, c, h, wd := x.NCHW()
	k, _, kh, kw := w.NCHW()
	ho, wo := p.OutSize(h, wd, kh, kw)
	checkShape4("Conv2dForwardEpilogue", y, n, k, ho, wo)
	if len(e.Scale) != k || len(e.Shift) != k {
		panic(fmt.Sprintf("tensor.Conv2dForwardEpilogue: scale and shift of %d and %d values for %d channels", len(e.Scale), len(e.Shift), k))
	}
	if e.Residual != nil {
		checkShape4("Conv2dForwardEpilogue", e.Residual, n, k, ho, wo)
		if len(y.Data) > 0 && &e.Residual.Data[0] == &y.Data[0] {
			panic("tensor.Conv2dForwardEpilogue: the residual is the output")
		}
	}
	if ws == nil {
		ws = new(ConvWorkspace)
	}
	if c > 0 && n > 0 && k > 0 && ChooseConvAlgo(c, k, h, wd, kh, kw, p) == ConvWinograd {
		ws.winogradEpilogue(y, x, w, &e)
		return
	}
	Conv2dForward(y, x, w, nil, p, ws)
	ws.epilogue = epilogueTask{y: y.Data, e: e, k: k, plane: ho * wo}
	if e.Residual != nil {
		ws.epilogue.r = e.Residual.Data
	}
	parallelFor(n, &ws.epilogue)
	ws.epilogue = epilogueTask{}
}

// epilogueTask applies a ConvEpilogue to image i of y in place.
type epilogueTask struct {
	y, r     []float32
	e        ConvEpilogue
	k, plane int
}

func (t *epilogueTask) Part(_, i int) {
	for k := range t.k {
		lo := (i*t.k + k) * t.plane
		y := t.y[lo : lo+t.plane]
		s, b := t.e.Scale[k], t.e.Shift[k]
		switch {
		case t.r != nil && t.e.Relu:
			asm.ScaleShiftAddRelu(y, y, t.r[lo:lo+t.plane], s, b)
		case t.r != nil:
			asm.ScaleShift(y, y, s, b)
			asm.Add(y, y, t.r[lo:lo+t.plane])
		case t.e.Relu:
			asm.ScaleShiftRelu(y, y, s, b)
		default:
			asm.ScaleShift(y, y, s, b)
		}
	}
}
