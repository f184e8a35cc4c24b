package safetensors

import "testing"

func TestDTypeSize(t *testing.T) {
	tests := []struct {
		dtype DType
		want  int
	}{
		{F64, 8}, {F32, 4}, {F16, 2}, {BF16, 2},
		{I64, 8}, {I32, 4}, {I16, 2}, {I8, 1}, {U8, 1}, {BOOL, 1},
		{"", 0}, {"f32", 0}, {"U32", 0}, {"F8_E4M3", 0},
	}
	for _, tt := range tests {
		if got := tt.dtype.Size(); got != tt.want {
			t.Errorf("DType(%q).Size() = %d, want %d", tt.dtype, got, tt.want)
		}
	}
}
