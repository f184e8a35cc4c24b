package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Linear computes y = x·wᵀ + bias, as torch.nn.functional.linear.
// x: [N, in], w: [out, in], bias: [out] or nil → y: [N, out].
// ws may be nil.
func Linear(y, x, w *Tensor, bias []float32, ws *asm.Workspace) {
	if x.Dims() != 2 || w.Dims() != 2 || x.Shape[1] != w.Shape[1] {
		panic(fmt.Sprintf("tensor.Linear: input %v and weight %v do not fit", x.Shape, w.Shape))
	}
	n, in, out := x.Shape[0], x.Shape[1], w.Shape[0]
	mustShape("Linear", y, n, out)
	asm.Sgemm(false, true, n, out, in, 1, x.Data, in, w.Data, in, 0, y.Data, out, ws)
	if bias != nil {
		if len(bias) != out {
			panic(fmt.Sprintf("tensor.Linear: bias of %d values for %d outputs", len(bias), out))
		}
		for i := range n {
			asm.Add(y.Data[i*out:(i+1)*out], y.Data[i*out:(i+1)*out], bias)
		}
	}
}
