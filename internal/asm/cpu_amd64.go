//go:build !noasm && gc

package asm

import (
	"math/bits"

	"github.com/klauspost/cpuid/v2"
)

// archPaths reports the SIMD paths of this CPU from cpuid.CPU (which cpuid fills in at
// start-up, including whether the OS saves YMM/ZMM state). It reads cpuid.CPU on every call,
// so a test can hide a feature with cpuid.CPU.Disable and see the path disappear.
func archPaths() []Path {
	var ps []Path
	if cpuid.CPU.Supports(cpuid.AVX2, cpuid.FMA3) {
		ps = append(ps, AVX2)
		if cpuid.CPU.Supports(cpuid.AVX512F) {
			ps = append(ps, AVX512)
		}
	}
	return ps
}

// ewAVX2 serves both SIMD paths: the element-wise kernels are memory-bound, and 8 lanes are
// what the fixed reduction order of Sum and Dot is built on.
var ewAVX2 = &ewKernels{
	axpy:           axpyAVX2,
	scale:          scaleAVX2,
	add:            addAVX2,
	addRelu:        addReluAVX2,
	max:            maxAVX2,
	relu:           reluAVX2,
	scaleShift:     scaleShiftAVX2,
	scaleShiftRelu: scaleShiftReluAVX2,
	sum:            func(x []float32) (s [8]float32) { sumAVX2(x, &s); return },
	dot:            func(x, y []float32) (s [8]float32) { dotAVX2(x, y, &s); return },
}

var (
	avx512Kernel = gemmKernel{mr: 8, nr: 48, micro: microAVX512, direct: true, epilogue: epilogueAVX512,
		lanes: 16, narrow: [3]microFunc{1: micro8x16AVX512, 2: micro8x32AVX512}, panel: panelsAVX512(), gemv: gemv8, gemmn: gemmn8,
		copyA: copyRows8AVX2, copyB: copyRows48AVX512, transpose8: transpose8AVX2}
	avx2Kernel = gemmKernel{mr: 4, nr: 24, micro: microAVX2, direct: true,
		lanes: 8, narrow: [3]microFunc{1: micro4x8AVX2, 2: micro4x16AVX2}, gemv: gemv4, gemmn: gemmn4,
		copyA: copyRows4AVX2, copyB: copyRows24AVX2, transpose8: transpose8AVX2}

	avx512Impl = &impl{path: AVX512, gemm: &avx512Kernel, ew: ewAVX2}
	avx2Impl   = &impl{path: AVX2, gemm: &avx2Kernel, ew: ewAVX2}
)

func implFor(p Path) *impl {
	switch p {
	case AVX512:
		return avx512Impl
	case AVX2:
		return avx2Impl
	}
	return genericImpl
}

// microAVX512 and microAVX2 check the extent of every operand (so that the assembly cannot
// read or write outside the slices) and call the micro-kernel; see gemmKernel.micro.
func microAVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*8-1]
	_ = b[(kc-1)*ldb+47]
	_ = c[7*ldc+47]
	sgemmKernel8x48AVX512(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

func microAVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*4-1]
	_ = b[(kc-1)*ldb+23]
	_ = c[3*ldc+23]
	sgemmKernel4x24AVX2(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

// gemv8 and gemv4 check the extent of every operand and call the matrix-vector kernels of
// the 8-row (AVX512) and 4-row (AVX2) packed layouts; see gemmKernel.gemv.
func gemv8(panels, kc int, a []float32, lda int, x, c []float32, add bool) {
	_ = a[(panels-1)*lda+kc*8-1]
	_ = x[kc-1]
	_ = c[panels*8-1]
	switch panels {
	case 8:
		gemv8x8(kc, &a[0], lda, &x[0], &c[0], b2i(add))
	case 1:
		gemv1x8(kc, &a[0], lda, &x[0], &c[0], b2i(add))
	default:
		panic("asm: gemv8: panels must be 1 or 8")
	}
}

func gemv4(panels, kc int, a []float32, lda int, x, c []float32, add bool) {
	_ = a[(panels-1)*lda+kc*4-1]
	_ = x[kc-1]
	_ = c[panels*4-1]
	switch panels {
	case 8:
		gemv8x4(kc, &a[0], lda, &x[0], &c[0], b2i(add))
	case 1:
		gemv1x4(kc, &a[0], lda, &x[0], &c[0], b2i(add))
	default:
		panic("asm: gemv4: panels must be 1 or 8")
	}
}

// gemmnFuncs are the generated narrow-product kernels, by mr, panels and columns.
type gemmnFunc func(k int, a *float32, lda int, b *float32, ldb int, t *float32, add int)

// The generated narrow-product kernels, by panels (1, 2, 4, 8: index 0…3) and columns
// (1…4); nil where panels·columns > 8.
var (
	gemmn8Funcs = [4][4]gemmnFunc{
		{gemmn1x8c1, gemmn1x8c2, gemmn1x8c3, gemmn1x8c4},
		{gemmn2x8c1, gemmn2x8c2, gemmn2x8c3, gemmn2x8c4},
		{gemmn4x8c1, gemmn4x8c2},
		{gemmn8x8c1},
	}
	gemmn4Funcs = [4][4]gemmnFunc{
		{gemmn1x4c1, gemmn1x4c2, gemmn1x4c3, gemmn1x4c4},
		{gemmn2x4c1, gemmn2x4c2, gemmn2x4c3, gemmn2x4c4},
		{gemmn4x4c1, gemmn4x4c2},
		{gemmn8x4c1},
	}
)

func gemmn8(panels, cols, kc int, a []float32, lda int, b []float32, ldb int, t []float32, add bool) {
	gemmnCall(&gemmn8Funcs, 8, panels, cols, kc, a, lda, b, ldb, t, add)
}

func gemmn4(panels, cols, kc int, a []float32, lda int, b []float32, ldb int, t []float32, add bool) {
	gemmnCall(&gemmn4Funcs, 4, panels, cols, kc, a, lda, b, ldb, t, add)
}

func gemmnCall(fs *[4][4]gemmnFunc, mr, panels, cols, kc int, a []float32, lda int, b []float32, ldb int, t []float32, add bool) {
	if panels&(panels-1) != 0 || panels < 1 || panels*cols > 8 || cols < 1 || cols > narrowCols || kc < 1 {
		panic("asm: gemmn: panels must be 1, 2, 4 or 8, columns 1 to 4, at most 8 chains")
	}
	_ = a[(panels-1)*lda+kc*mr-1]
	_ = b[(kc-1)*ldb+cols-1]
	_ = t[panels*cols*mr-1]
	fs[bits.TrailingZeros(uint(panels))][cols-1](kc, &a[0], lda, &b[0], ldb, &t[0], b2i(add))
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// The narrow variants compute the first 16 or 32 (AVX512), 8 or 16 (AVX2) columns of a tile.

func micro8x16AVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*8-1]
	_ = b[(kc-1)*ldb+15]
	_ = c[7*ldc+15]
	sgemmKernel8x16AVX512(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

func micro8x32AVX512(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*8-1]
	_ = b[(kc-1)*ldb+31]
	_ = c[7*ldc+31]
	sgemmKernel8x32AVX512(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

func micro4x8AVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*4-1]
	_ = b[(kc-1)*ldb+7]
	_ = c[3*ldc+7]
	sgemmKernel4x8AVX2(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

func micro4x16AVX2(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	_ = a[kc*4-1]
	_ = b[(kc-1)*ldb+15]
	_ = c[3*ldc+15]
	sgemmKernel4x16AVX2(kc, &a[0], &b[0], ldb, &c[0], ldc, alpha, beta)
}

// panelsAVX512 returns the PanelGemm kernels of the AVX512 path (see gemmKernel.panel):
// r ≤ 8 rows of 16, 32 or 48 columns, each checking the extent of its operands.
func panelsAVX512() (panel [9][4]panelFunc) {
	type kernel = func(k int, a, b *float32, ldb int, c *float32, ldc int)
	asm := [9][4]kernel{
		1: {1: panelKernel1of8x16AVX512, 2: panelKernel1of8x32AVX512, 3: panelKernel1of8x48AVX512},
		2: {1: panelKernel2of8x16AVX512, 2: panelKernel2of8x32AVX512, 3: panelKernel2of8x48AVX512},
		3: {1: panelKernel3of8x16AVX512, 2: panelKernel3of8x32AVX512, 3: panelKernel3of8x48AVX512},
		4: {1: panelKernel4of8x16AVX512, 2: panelKernel4of8x32AVX512, 3: panelKernel4of8x48AVX512},
		5: {1: panelKernel5of8x16AVX512, 2: panelKernel5of8x32AVX512, 3: panelKernel5of8x48AVX512},
		6: {1: panelKernel6of8x16AVX512, 2: panelKernel6of8x32AVX512, 3: panelKernel6of8x48AVX512},
		7: {1: panelKernel7of8x16AVX512, 2: panelKernel7of8x32AVX512, 3: panelKernel7of8x48AVX512},
		8: {1: panelKernel8of8x16AVX512, 2: panelKernel8of8x32AVX512, 3: panelKernel8of8x48AVX512},
	}
	for r := 1; r <= 8; r++ {
		for v := 1; v < 4; v++ {
			f, r, w := asm[r][v], r, 16*v
			panel[r][v] = func(kc int, a, b []float32, ldb int, c []float32, ldc int) {
				_ = a[kc*8-1]
				_ = b[(kc-1)*ldb+w-1]
				_ = c[(r-1)*ldc+w-1]
				f(kc, &a[0], &b[0], ldb, &c[0], ldc)
			}
		}
	}
	return panel
}

// epilogueAVX512 checks the extent of c, bias and r and calls tileEpilogue48AVX512 on
// the first cols ≤ 48 columns (see gemmKernel.epilogue).
func epilogueAVX512(c []float32, ldc, rows, cols int, bias, r []float32, ldr int, relu bool, hi float32) {
	if rows <= 0 || cols <= 0 {
		return
	}
	if cols > 48 {
		panic("asm: epilogueAVX512: more than 48 columns")
	}
	_ = c[(rows-1)*ldc+cols-1]
	_ = bias[rows-1]
	var rp *float32
	if r != nil {
		_ = r[(rows-1)*ldr+cols-1]
		rp = &r[0]
	}
	f := 0
	if relu {
		f = 1
	}
	// Lane j of vector v is enabled when 16v + j < cols.
	masks := 0
	for v := range 3 {
		if n := min(max(cols-16*v, 0), 16); n > 0 {
			masks |= (1<<n - 1) << (16 * v)
		}
	}
	tileEpilogue48AVX512(&c[0], ldc, rows, masks, &bias[0], rp, ldr, f, hi)
}
