package asm

import (
	"sync"

	"github.com/klauspost/cpuid/v2"
)

// gemmKernel is one path's SGEMM micro-kernel with the packing layout it needs.
type gemmKernel struct {
	mr, nr int // micro-tile: mr rows of C (packed op(A) micro-panels), nr columns (op(B))

	// micro computes one full mr×nr tile over a kc-deep slice:
	//
	//	s[i][j] = Σ_{p<kc} a[p*mr+i]·b[p*ldb+j]      (sequentially in p, from zero)
	//	c[i*ldc+j] = alpha·s[i][j]                   if beta == 0 (old C ignored)
	//	c[i*ldc+j] = alpha·s[i][j] + beta·c[i*ldc+j]  otherwise
	//
	// with the products by alpha and beta rounded before the sum (as storeTile does). a is a
	// packed micro-panel of op(A); b is a packed micro-panel of op(B) (ldb == nr) or, when
	// direct is set, op(B) in place (ldb its leading dimension).
	micro  microFunc
	direct bool

	// epilogue, when set, applies SgemmPacked's epilogue to rows × cols floats of C in place
	// (1 ≤ cols ≤ nr; see GemmEpilogue): c[i][j] = clip(relu?((c[i][j] + bias[i]) +
	// r[i][j])), r optional (nil, ldr ignored), the ReLU when relu is set, the clip to
	// [0, hi] (as Clamp) when hi > 0.
	epilogue func(c []float32, ldc, rows, cols int, bias, r []float32, ldr int, relu bool, hi float32)

	// narrow[v], when set, is micro for the first v·lanes columns of the tile only (the same
	// per-element sequence, fewer vectors): used for the last, partial column tile.
	lanes  int
	narrow [3]microFunc

	// panel[r][v], when set, computes C = A·B (alpha 1, beta 0) for the first r ≤ mr rows
	// and v·lanes columns of a tile, A packed mr rows per k-step, with the per-element
	// sequence of micro but neither the tile's prefetch nor the scaling: PanelGemm's
	// kernels (r < mr for the last, partial panel of A).
	panel [9][4]panelFunc

	// copyA and copyB, when set, set dst[p*ldd+j] = src[p*lds+j] for p < rows and j < mr
	// (copyA) or j < nr (copyB): the packing of contiguous source rows.
	copyA, copyB func(rows int, src *float32, lds int, dst *float32, ldd int)

	// transpose8, when set, sets dst[p*ldd+i] = src[i*lds+p] for i < 8, p < k &^ 7: the
	// packing of op(A) (not transposed) into 8-row micro-panels and of op(B) (transposed)
	// into micro-panels whose width is a multiple of 8.
	transpose8 func(k int, src *float32, lds int, dst *float32, ldd int)

	// gemv, when set, multiplies panels (1 or 8) consecutive packed micro-panels of op(A),
	// lda floats apart, over kc k-steps by x into the panels·mr floats of c, stored or
	// (add) added: the per-element sequence of micro for one column of B with alpha 1 and
	// beta 0 or 1 (SgemvPacked).
	gemv func(panels, kc int, a []float32, lda int, x, c []float32, add bool)

	// gemmn, when set, multiplies panels (1, 2, 4 or 8; panels·cols ≤ 8) consecutive packed
	// micro-panels of op(A),
	// lda floats apart, over kc k-steps by cols ≤ narrowCols columns of B (ldb floats per
	// row) into t[(g·cols + j)·mr + i], stored or (add) added: the per-element sequence of
	// micro with alpha 1 and beta 0 or 1 (SgemmPacked of at most narrowCols columns).
	gemmn func(panels, cols, kc int, a []float32, lda int, b []float32, ldb int, t []float32, add bool)

	fixed *blockSizes // default block sizes; nil: derived from the cache sizes
	once  sync.Once
	def   blockSizes
}

// panelFunc is the signature of gemmKernel.panel: c[i·ldc + j] = Σ_{p<kc} a[p·mr + i]·b[p·ldb + j].
type panelFunc func(kc int, a, b []float32, ldb int, c []float32, ldc int)

// microFunc is the signature of gemmKernel.micro.
type microFunc func(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32)

// genericKernel is the pure-Go 4×2 kernel (kernel_generic.go).
var genericKernel = gemmKernel{mr: mr, nr: nr, micro: microGeneric,
	fixed: &blockSizes{DefaultMC, DefaultKC, DefaultNC}}

func microGeneric(kc int, a, b []float32, ldb int, c []float32, ldc int, alpha, beta float32) {
	var t [mr * nr]float32
	kernel4x2(kc, a, b, &t)
	storeTile(t[:], nr, mr, nr, alpha, beta, c, ldc)
}

// defaults returns the kernel's default block sizes (see blockDefaults).
func (g *gemmKernel) defaults() blockSizes {
	if g.fixed != nil {
		return *g.fixed
	}
	g.once.Do(func() {
		c := cpuid.CPU.Cache
		g.def = blockDefaults(g.mr, g.nr, c.L1D, c.L2, c.L3)
	})
	return g.def
}

// Fallback cache sizes, used when cpuid reports a size ≤ 0 (as some VMs do for L3).
const (
	fallbackL1D = 32 << 10
	fallbackL2  = 512 << 10
	fallbackL3  = 8 << 20
)

// blockDefaults derives the block sizes of an mr×nr kernel from the per-core L1D and L2 and
// the L3 sizes in bytes (≤ 0: unknown, use the fallbacks above):
//
//   - kc: one kc×nr micro-panel of op(B), reused by every tile of an mc block, fills 3/4
//     of L1D (it is read once per tile; the packed op(A) micro-panel streams past it in
//     the rest: with all of L1D, LRU evicts the panel on every pass);
//   - mc: the packed mc×kc block of op(A) fills half of L2;
//   - nc: the packed kc×nc panel of op(B) takes a quarter of L3 (shared by the cores).
//
// Each is clamped to a range where the kernels measured well (see the package
// documentation for how to tune them with go test -bench).
func blockDefaults(mr, nr, l1d, l2, l3 int) blockSizes {
	if l1d <= 0 {
		l1d = fallbackL1D
	}
	if l2 <= 0 {
		l2 = fallbackL2
	}
	if l3 <= 0 {
		l3 = fallbackL3
	}
	kc := clamp(3*l1d/(16*nr), 128, 512) / 16 * 16
	mc := clamp(l2/2/(4*kc), 8*mr, 1024) / mr * mr
	nc := clamp(l3/4/(4*kc), 16*nr, 16384) / nr * nr
	return blockSizes{mc: mc, kc: kc, nc: nc}
}

// panelCols returns the width of the packed op(B) panels for an m×n×k product: nc, except
// for short products (a packed op(A) of at most 1/8 of L2), where the kc×nc panel is cut
// to half of L2 so that packing op(B) costs one pass over it in memory and the writes and
// the tiles' re-reads stay in L2. Only an explicit SetBlockSizes nc is kept as it is.
func (g *gemmKernel) panelCols(m, k int, bs blockSizes) int {
	if g.fixed != nil || override.Load().nc != 0 {
		return bs.nc
	}
	l2 := cpuid.CPU.Cache.L2
	if l2 <= 0 {
		l2 = fallbackL2
	}
	kb := min(k, bs.kc)
	if roundUp(m, g.mr)*kb*4 > l2/8 {
		return bs.nc
	}
	return min(bs.nc, max(g.nr, l2/2/(4*kb)/g.nr*g.nr))
}

func clamp(x, lo, hi int) int { return max(lo, min(x, hi)) }
