// Package hashinit fills tensors with the deterministic values
// "bonsai-hash-v1" that scripts/golden/gen_golden.py gives the same
// tensors in PyTorch, so that golden tests of whole models need to store
// only inputs and outputs, not weights. See scripts/golden/README.md.
package hashinit

import (
	"math"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
)

// U returns the i-th uniform value in [0, 1) of the stream called name.
func U(name string, i int) float64 {
	h := uint64(0xcbf29ce484222325)
	for _, b := range []byte(name) {
		h ^= uint64(b)
		h *= 0x100000001b3
	}
	z := h + uint64(i+1)*0x9E3779B97F4A7C15
	z ^= z >> 30
	z *= 0xBF58476D1CE4E5B9
	z ^= z >> 27
	z *= 0x94D049BB133111EB
	z ^= z >> 31
	return float64(z>>40) / (1 << 24)
}

// Input fills x with the values of the stream "input": 2u − 1.
func Input(x []float32) {
	for i := range x {
		x[i] = float32(2*U("input", i) - 1)
	}
}

// Model sets every parameter and buffer of m by the rules of
// bonsai-hash-v1 (num_batches_tracked to 0).
func Model(m nn.Module) {
	for _, e := range nn.State(m) {
		if e.Kind == nn.Counter {
			*e.Count = 0
			continue
		}
		t := e.Var.Value
		for i := range t.Data {
			u := U(e.Key, i)
			var v float64
			switch {
			case len(t.Shape) >= 2:
				v = (2*u - 1) * math.Sqrt(3/float64(t.Numel()/t.Shape[0]))
			case strings.HasSuffix(e.Key, ".running_mean"), strings.HasSuffix(e.Key, ".bias"):
				v = 0.2 * (2*u - 1)
			default: // running_var and BN weight
				v = 0.5 + u
			}
			t.Data[i] = float32(v)
		}
	}
}
