package tensor

import (
	"fmt"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

func mustSameShape(op string, ts ...*Tensor) {
	for _, t := range ts[1:] {
		if !SameShape(ts[0], t) {
			panic(fmt.Sprintf("tensor.%s: shapes %v and %v differ", op, ts[0].Shape, t.Shape))
		}
	}
}

// Relu sets y = max(x, 0) element-wise; y may be x. x, y: same shape. Large
// tensors are computed in parallel.
func Relu(y, x *Tensor) {
	mustSameShape("Relu", y, x)
	runEW(ewRelu, y.Data, x.Data[:len(y.Data)], nil, nil)
}

// Add sets y = a + b element-wise; y may alias a or b. All of one shape.
func Add(y, a, b *Tensor) {
	mustSameShape("Add", y, a, b)
	asm.Add(y.Data, a.Data, b.Data)
}

// AddRelu sets y = max(a + b, 0): a residual join followed by ReLU; y may
// alias a or b. All of one shape. Large tensors are computed in parallel.
func AddRelu(y, a, b *Tensor) {
	mustSameShape("AddRelu", y, a, b)
	n := len(y.Data)
	runEW(ewAddRelu, y.Data, a.Data[:n], b.Data[:n], nil)
}
