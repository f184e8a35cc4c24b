package safetensors

import (
	"math"
	"slices"
	"strings"
	"testing"
)

func TestNumel(t *testing.T) {
	tests := []struct {
		shape []int
		want  int
	}{
		{nil, 1},
		{[]int{}, 1},
		{[]int{7}, 7},
		{[]int{2, 3, 4}, 24},
		{[]int{0}, 0},
		{[]int{3, 0, 5}, 0},
		{[]int{math.MaxInt, 0}, 0},
		{[]int{math.MaxInt, 1}, math.MaxInt},
		{[]int{-1}, -1},
		{[]int{0, -1}, -1},
		{[]int{math.MaxInt/2 + 1, 2}, -1},
		{[]int{1 << 20, 1 << 20, 1 << 20, 1 << 20}, -1},
	}
	for _, tt := range tests {
		if got := (&Tensor{Shape: tt.shape}).Numel(); got != tt.want {
			t.Errorf("Numel(%v) = %d, want %d", tt.shape, got, tt.want)
		}
	}
}

func TestFromFloat32(t *testing.T) {
	shape := []int{2}
	x := FromFloat32(shape, []float32{1, -2.5})
	shape[0] = 99 // the tensor must hold a copy
	want := &Tensor{DType: F32, Shape: []int{2}, Data: []byte{0, 0, 0x80, 0x3f, 0, 0, 0x20, 0xc0}}
	if d := diffTensor(x, want); d != "" {
		t.Error(d)
	}
	if s := FromFloat32(nil, []float32{3}).Shape; s == nil || len(s) != 0 {
		t.Errorf("FromFloat32(nil, ...).Shape = %#v, want []int{}", s)
	}
}

func TestFromInt64(t *testing.T) {
	x := FromInt64([]int{}, []int64{-2})
	want := &Tensor{DType: I64, Shape: []int{}, Data: []byte{0xfe, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}}
	if d := diffTensor(x, want); d != "" {
		t.Error(d)
	}
	if s := FromInt64(nil, []int64{3}).Shape; s == nil || len(s) != 0 {
		t.Errorf("FromInt64(nil, ...).Shape = %#v, want []int{}", s)
	}
}

func diffTensor(got, want *Tensor) string {
	f, g := New(), New()
	f.Tensors["t"], g.Tensors["t"] = got, want
	return diffFiles(f, g)
}

func TestFromPanics(t *testing.T) {
	tests := []struct {
		name string
		call func()
		want string
	}{
		{"FromFloat32 too few", func() { FromFloat32([]int{2, 3}, make([]float32, 5)) }, "5 values for shape [2 3], which has 6 elements"},
		{"FromFloat32 too many for 0-d", func() { FromFloat32(nil, make([]float32, 2)) }, "2 values for shape []"},
		{"FromFloat32 negative", func() { FromFloat32([]int{-1}, nil) }, "negative"},
		{"FromInt64 too many", func() { FromInt64([]int{}, make([]int64, 2)) }, "FromInt64: 2 values"},
		{"FromInt64 overflow", func() { FromInt64([]int{math.MaxInt/2 + 1, 2}, nil) }, "overflows"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			defer func() {
				r := recover()
				if s, _ := r.(string); !strings.Contains(s, tt.want) {
					t.Errorf("panic value %#v, want a string containing %q", r, tt.want)
				}
			}()
			tt.call()
		})
	}
}

// checkFloats compares float32 values bit for bit, except that any NaN
// matches any NaN.
func checkFloats(t *testing.T, what string, got, want []float32) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("%s: got %d values, want %d", what, len(got), len(want))
	}
	for i := range got {
		g, w := got[i], want[i]
		if w != w {
			if g == g {
				t.Errorf("%s[%d] = %v, want NaN", what, i, g)
			}
			continue
		}
		if math.Float32bits(g) != math.Float32bits(w) {
			t.Errorf("%s[%d] = %v (%#08x), want %v (%#08x)", what, i, g, math.Float32bits(g), w, math.Float32bits(w))
		}
	}
}

var (
	inf    = float32(math.Inf(1))
	nan    = float32(math.NaN())
	negZer = float32(math.Copysign(0, -1))
)

func TestFloat32sHalf(t *testing.T) {
	tests := []struct {
		bits uint16
		want float32
	}{
		{0x0000, 0},
		{0x8000, negZer},
		{0x3c00, 1},
		{0xc000, -2},
		{0x3555, 0.333251953125},
		{0x7bff, 65504},                  // largest finite
		{0x0400, 6.103515625e-05},        // smallest normal, 2^-14
		{0x03ff, 6.097555160522461e-05},  // largest subnormal, 1023 × 2^-24
		{0x0001, 5.960464477539063e-08},  // smallest subnormal, 2^-24
		{0x8001, -5.960464477539063e-08}, // its negative
		{0x0200, 3.0517578125e-05},       // subnormal 2^-15
		{0x7c00, inf},                    // +inf
		{0xfc00, -inf},                   // -inf
		{0x7e00, nan},                    // quiet NaN
		{0x7c01, nan},                    // signalling NaN
		{0xfe00, nan},                    // negative NaN
	}
	var bits []uint16
	var want []float32
	for _, tt := range tests {
		bits, want = append(bits, tt.bits), append(want, tt.want)
	}
	got, err := (&Tensor{DType: F16, Shape: []int{len(bits)}, Data: le(bits)}).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "F16", got, want)
}

func TestFloat32sBFloat16(t *testing.T) {
	bits := []uint16{0x0000, 0x8000, 0x3f80, 0xc000, 0x4049, 0x7f7f, 0x0080, 0x0001, 0x7f80, 0xff80, 0x7fc0, 0x7f81}
	want := []float32{0, negZer, 1, -2, 3.140625, 3.3895313892515355e+38, 1.1754943508222875e-38, 9.183549615799121e-41, inf, -inf, nan, nan}
	got, err := (&Tensor{DType: BF16, Shape: []int{3, 4}, Data: le(bits)}).Float32s()
	if err != nil {
		t.Fatal(err)
	}
	checkFloats(t, "BF16", got, want)
}

// TestHalfExhaustive checks every binary16 value against an independent
// computation from the IEEE 754 definition in float64 arithmetic.
func TestHalfExhaustive(t *testing.T) {
	for h := range 1 << 16 {
		sign := 1.0
		if h&0x8000 != 0 {
			sign = -1
		}
		exp, mant := (h>>10)&0x1f, h&0x3ff
		var want float64
		switch {
		case exp == 0x1f && mant == 0:
			want = math.Inf(int(sign))
		case exp == 0x1f:
			want = math.NaN()
		case exp == 0:
			want = sign * math.Ldexp(float64(mant), -24)
		default:
			want = sign * math.Ldexp(float64(mant|0x400), exp-25)
		}
		got := halfToFloat32(uint16(h))
		if math.IsNaN(want) {
			if !math.IsNaN(float64(got)) {
				t.Errorf("halfToFloat32(%#04x) = %v, want NaN", h, got)
			}
			continue
		}
		if float64(got) != want || math.Signbit(float64(got)) != math.Signbit(want) {
			t.Errorf("halfToFloat32(%#04x) = %v, want %v", h, got, want)
		}
	}
}

func TestFloat32sOtherDTypes(t *testing.T) {
	tests := []struct {
		dtype DType
		data  []byte
		want  []float32
	}{
		{F32, le([]float32{1.5, -0.25, inf}), []float32{1.5, -0.25, inf}},
		{F64, le([]float64{1.5, 0.1, 1e300}), []float32{1.5, 0.1, inf}},
		{I64, le([]int64{-3, 1 << 40, 1<<53 + 1}), []float32{-3, 1 << 40, 1 << 53}},
		{I32, le([]int32{-3, 7, math.MaxInt32}), []float32{-3, 7, 1 << 31}},
		{I16, le([]int16{-3, 7, math.MinInt16}), []float32{-3, 7, -32768}},
		{I8, le([]int8{-3, 7, -128}), []float32{-3, 7, -128}},
		{U8, []byte{0, 7, 255}, []float32{0, 7, 255}},
	}
	for _, tt := range tests {
		got, err := (&Tensor{DType: tt.dtype, Shape: []int{3}, Data: tt.data}).Float32s()
		if err != nil {
			t.Errorf("%s: %v", tt.dtype, err)
			continue
		}
		checkFloats(t, string(tt.dtype), got, tt.want)
	}
}

func TestInt64s(t *testing.T) {
	tests := []struct {
		dtype DType
		data  []byte
		want  []int64
	}{
		{I64, le([]int64{-3, math.MaxInt64, math.MinInt64}), []int64{-3, math.MaxInt64, math.MinInt64}},
		{I32, le([]int32{-3, math.MaxInt32, math.MinInt32}), []int64{-3, math.MaxInt32, math.MinInt32}},
		{I16, le([]int16{-3, math.MaxInt16, math.MinInt16}), []int64{-3, math.MaxInt16, math.MinInt16}},
		{I8, le([]int8{-3, 127, -128}), []int64{-3, 127, -128}},
		{U8, []byte{0, 128, 255}, []int64{0, 128, 255}},
		{BOOL, []byte{1, 0, 1}, []int64{1, 0, 1}},
	}
	for _, tt := range tests {
		got, err := (&Tensor{DType: tt.dtype, Shape: []int{3}, Data: tt.data}).Int64s()
		if err != nil {
			t.Errorf("%s: %v", tt.dtype, err)
			continue
		}
		if !slices.Equal(got, tt.want) {
			t.Errorf("%s: Int64s() = %v, want %v", tt.dtype, got, tt.want)
		}
	}
}

func TestConversionErrors(t *testing.T) {
	tests := []struct {
		name   string
		tensor Tensor
		call   func(*Tensor) error
		want   string
	}{
		{"Float32s BOOL", Tensor{DType: BOOL, Shape: []int{1}, Data: []byte{1}}, float32s, "cannot convert BOOL tensor to float32"},
		{"Float32s unknown", Tensor{DType: "U32", Shape: []int{1}, Data: []byte{1, 0, 0, 0}}, float32s, "cannot convert U32 tensor"},
		{"Float32s short data", Tensor{DType: F32, Shape: []int{2}, Data: make([]byte, 7)}, float32s, "F32 [2] tensor holds 7 bytes of data, want 8"},
		{"Float32s negative shape", Tensor{DType: F16, Shape: []int{-2}}, float32s, "negative dimension"},
		{"Int64s F32", Tensor{DType: F32, Shape: []int{1}, Data: make([]byte, 4)}, int64s, "cannot convert F32 tensor to int64"},
		{"Int64s BF16", Tensor{DType: BF16, Shape: []int{1}, Data: make([]byte, 2)}, int64s, "cannot convert BF16 tensor to int64"},
		{"Int64s bad BOOL", Tensor{DType: BOOL, Shape: []int{3}, Data: []byte{0, 1, 2}}, int64s, "BOOL element 2 is byte 0x02, want 0 or 1"},
		{"Int64s long data", Tensor{DType: I64, Shape: []int{}, Data: make([]byte, 9)}, int64s, "I64 [] tensor holds 9 bytes of data, want 8"},
	}
	for _, tt := range tests {
		err := tt.call(&tt.tensor)
		if err == nil || !strings.Contains(err.Error(), tt.want) || !strings.HasPrefix(err.Error(), "safetensors: ") {
			t.Errorf("%s: error %v, want one containing %q", tt.name, err, tt.want)
		}
	}
}

func float32s(t *Tensor) error { _, err := t.Float32s(); return err }
func int64s(t *Tensor) error   { _, err := t.Int64s(); return err }
