package tensor

import (
	"testing"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// TestChooseInferConvAlgoNarrow checks the inference plans' choice for the narrow 3×3
// layers of pruned models: Winograd from winoMinInferChannels input channels when a call
// has enough pixels (on the path that has the Winograd kernels), direct below.
func TestChooseInferConvAlgoNarrow(t *testing.T) {
	p := ConvParams{Stride: [2]int{1, 1}, Padding: [2]int{1, 1}, Groups: 1}
	if asm.CurrentPath() != asm.AVX512 {
		// Other paths have no direct kernels of this shape (generic picks im2col): the
		// rule under test is the AVX-512 path's.
		t.Skipf("path %v: the narrow Winograd rule is the AVX-512 path's", asm.CurrentPath())
	}
	for _, tc := range []struct {
		c, k, hw, batch int
		want            ConvAlgo
	}{
		{7, 16, 32, 8, ConvWinograd},
		{5, 16, 32, 1, ConvWinograd},
		{6, 32, 16, 128, ConvWinograd},
		{4, 16, 32, 8, ConvDirect},
		{3, 16, 32, 128, ConvDirect},
		{7, 64, 8, 1, ConvDirect}, // 64 output pixels: fewer than winoMinPixels
	} {
		want := tc.want
		if got := ChooseInferConvAlgo(tc.c, tc.k, tc.hw, tc.hw, 3, 3, p, tc.batch); got != want {
			t.Errorf("%d→%d on %d×%d, batch %d: %v, want %v", tc.c, tc.k, tc.hw, tc.hw, tc.batch, got, want)
		}
	}
}
