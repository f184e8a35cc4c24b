package tensor

import "github.com/bonsai-dl/bonsai/internal/asm"

// groupedAlgo is the algorithm of a grouped convolution of c to k channels (p.Groups > 1).
func groupedAlgo(c, k int, p ConvParams) ConvAlgo {
	if isDepthwise(c, k, p.Groups) {
		return ConvDepthwise
	}
	return ConvGrouped
}

// clip returns the bound a Forward with relu applies after the ReLU (0: none).
func (pc *PreparedConv) clip(relu bool) float32 {
	if relu && pc.Clip > 0 {
		return pc.Clip
	}
	return 0
}

// groupedPrepared computes a prepared grouped convolution with its epilogue: depthwise
// ones with the bias, residual, ReLU and clip applied by the kernel as it writes each
// output row (see depthwiseForward); other grouped ones as Conv2dForward, then a pass
// over each output plane.
func (ws *ConvWorkspace) groupedPrepared(pc *PreparedConv, y, x, residual *Tensor, relu bool) {
	if pc.Algo == ConvDepthwise {
		mode := 0
		if relu {
			mode |= asm.DWRelu
		}
		clip := pc.clip(relu)
		if clip > 0 {
			mode |= asm.DWClip
		}
		ws.depthwiseForward(y, x, pc.w, pc.bias, pc.Params, mode, clip, residual)
		return
	}
	groupedForward(y, x, pc.w, pc.bias, pc.Params, ws)
	if residual == nil && !relu {
		return
	}
	ho, wo := pc.OutShape()
	plane := ho * wo
	clip := pc.clip(relu)
	for i := 0; i < len(y.Data); i += plane {
		yp := y.Data[i : i+plane]
		if residual != nil {
			asm.Add(yp, yp, residual.Data[i:i+plane])
		}
		switch {
		case clip > 0:
			asm.Clamp(yp, yp, 0, clip)
		case relu:
			asm.Relu(yp, yp)
		}
	}
}
