package hashinit

import (
	"math"
	"testing"
)

// Reference values printed by scripts/golden/gen_golden.py.
func TestMatchesGenerator(t *testing.T) {
	want := []float64{0.5450749397277832, 0.7451617121696472, 0.02292168140411377, 0.7361977696418762}
	for i, w := range want {
		if got := U("conv1.weight", i); got != w {
			t.Errorf("U(conv1.weight, %d) = %v, want %v", i, got, w)
		}
	}
	x := make([]float32, 4)
	Input(x)
	for i, w := range []float32{-0.8043633699417114, 0.30472075939178467, -0.5927515029907227, -0.45111072063446045} {
		if x[i] != w {
			t.Errorf("input[%d] = %v, want %v", i, x[i], w)
		}
	}
	for i, bits := range []uint32{0x3cf62b55, 0x3e275d1d, 0xbea2d7bd, 0x3e213e8d} {
		v := float32((2*U("conv1.weight", i) - 1) * math.Sqrt(3.0/27))
		if math.Float32bits(v) != bits {
			t.Errorf("resnet20 conv1.weight[%d] bits %#x, want %#x", i, math.Float32bits(v), bits)
		}
	}
}
