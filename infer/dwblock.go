package infer

import "github.com/bonsai-dl/bonsai/tensor"

// noBlocks switches fuseBlocks off (tests compare the fused plan with the unfused one).
var noBlocks bool

// fuseBlocks replaces each run of prepared convolutions that forms an inverted residual —
// an optional 1×1 expansion (or im2col stem), a depthwise 3×3 and a 1×1 projection, one after the other,
// each reading only the previous one's output — by one step that runs them band by band
// (tensor.DWBlock), where tensor.DWBlockApplies says so: MobileNetV2's blocks whose
// expanded map does not fit in L2. The block's output is that of the three steps bit for
// bit; the expanded and depthwise activations get no buffer.
func (cm *Model) fuseBlocks() {
	if noBlocks {
		return
	}
	uses := make([]int, len(cm.values))
	for _, st := range cm.steps {
		for _, v := range st.reads() {
			uses[v]++
		}
	}
	uses[cm.out]++
	// only reports whether step i is a convolution whose output only step i+1 reads.
	only := func(i int) bool {
		return i+1 < len(cm.steps) && cm.steps[i].kind == stepConv && uses[cm.steps[i].out] == 1 &&
			cm.steps[i+1].kind == stepConv && cm.steps[i+1].in == cm.steps[i].out && cm.steps[i+1].residual != cm.steps[i].out
	}
	var out []step
	for i := 0; i < len(cm.steps); i++ {
		st := cm.steps[i]
		if st.kind != stepConv || st.conv.Algo != tensor.ConvDepthwise || st.residual >= 0 || !only(i) {
			out = append(out, st)
			continue
		}
		proj := cm.steps[i+1]
		var exp *step
		if n := len(out); n > 0 && i > 0 && only(i-1) && out[n-1].out == st.in && out[n-1].residual < 0 {
			exp = &out[n-1] // an expansion, or a stem (im2col) that DWBlockApplies may take
		}
		var expConv *tensor.PreparedConv
		if exp != nil {
			expConv = exp.conv
		}
		if exp != nil && !tensor.DWBlockApplies(expConv, st.conv, proj.conv) {
			exp, expConv = nil, nil // the block without the convolution before it
		}
		if !tensor.DWBlockApplies(expConv, st.conv, proj.conv) {
			out = append(out, st)
			continue
		}
		b := step{kind: stepDWBlock, name: st.name + "+" + proj.name, in: st.in, out: proj.out, residual: proj.residual}
		expRelu := false
		if exp != nil {
			b.name = exp.name + "+" + b.name
			b.in, expRelu = exp.in, exp.relu
			out = out[:len(out)-1]
		}
		b.block = tensor.NewDWBlock(expConv, st.conv, proj.conv, expRelu, st.relu, proj.relu)
		out = append(out, b)
		i++ // the projection
	}
	cm.steps = out
}
