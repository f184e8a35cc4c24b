package asm

import kern "github.com/bonsai-dl/bonsai/internal/asm"

// Path names one implementation of the kernels: Generic, AVX2 or AVX512.
type Path = kern.Path

// The kernel paths.
const (
	Generic = kern.Generic // portable Go: every CPU and GOARCH, and builds with -tags noasm
	AVX2    = kern.AVX2    // amd64 with AVX2 and FMA3: 4×24 SGEMM micro-kernel
	AVX512  = kern.AVX512  // amd64 with AVX-512F: 8×48 SGEMM micro-kernel
)

// ParsePath returns the Path whose String is s (case-insensitive): "generic", "avx2" or
// "avx512".
func ParsePath(s string) (Path, error) { return kern.ParsePath(s) }

// AvailablePaths lists the paths this CPU and build can run, Generic first.
func AvailablePaths() []Path { return kern.AvailablePaths() }

// CurrentPath returns the path in use, resolving it on first use (BONSAI_CPU, else the best
// available path).
func CurrentPath() Path { return kern.CurrentPath() }

// SetPath switches every kernel, process-wide, to path p. It fails if this CPU or build
// cannot run p. Calls already running finish on their old path.
func SetPath(p Path) error { return kern.SetPath(p) }

// CacheSizes returns the L1 data, L2 and L3 cache sizes in bytes as cpuid reports them (a
// size the CPU does not report is ≤ 0).
func CacheSizes() (l1d, l2, l3 int) { return kern.CacheSizes() }

// Block sizes of the Generic path's Sgemm (the SIMD paths derive theirs from the caches).
const (
	DefaultMC = kern.DefaultMC // rows of op(A) packed per block
	DefaultKC = kern.DefaultKC // depth of one packed slice
	DefaultNC = kern.DefaultNC // columns of op(B) packed per panel
)

// SetBlockSizes overrides Sgemm's block sizes process-wide on every path (0 keeps a default;
// mc and nc are rounded up to tile multiples). kc moves where partial k-sums are rounded.
func SetBlockSizes(mc, kc, nc int) { kern.SetBlockSizes(mc, kc, nc) }

// BlockSizes returns the block sizes in force on the current path.
func BlockSizes() (mc, kc, nc int) { return kern.BlockSizes() }

// Workspace is caller-owned scratch memory for Sgemm and SgemmPacked; one call at a time
// per Workspace. The zero value is ready to use; buffers grow on demand and are reused, so
// passing the same Workspace to calls of similar sizes makes them allocation-free.
type Workspace = kern.Workspace

// NewWorkspace returns an empty Workspace.
func NewWorkspace() *Workspace { return kern.NewWorkspace() }

// Sgemm computes C = alpha·op(A)·op(B) + beta·C as BLAS sgemm with CblasRowMajor does:
// op(A) is m×k (A is m×k with lda ≥ k, or k×m with lda ≥ m when transA), op(B) is k×n
// (likewise with ldb), C is m×n with ldc ≥ n. beta == 0 overwrites C; alpha == 0 or k == 0
// gives beta·C without reading A or B. ws may be nil (an internal pool is used). See the
// package documentation for the rounding and parallelism contract.
func Sgemm(transA, transB bool, m, n, k int, alpha float32, a []float32, lda int, b []float32, ldb int, beta float32, c []float32, ldc int, ws *Workspace) {
	kern.Sgemm(transA, transB, m, n, k, alpha, a, lda, b, ldb, beta, c, ldc, ws)
}

// PackedA is the left operand op(A) of a product packed once for SgemmPacked, on the path
// and kc of the moment it was packed. It is read-only: any number of SgemmPacked calls may
// use it at once.
type PackedA = kern.PackedA

// PackA packs op(A), m×k (A is m×k with lda ≥ k, or k×m with lda ≥ m when transA), for
// SgemmPacked on the current path.
func PackA(transA bool, m, k int, a []float32, lda int) *PackedA {
	return kern.PackA(transA, m, k, a, lda)
}

// GemmEpilogue is what SgemmPacked applies to each element of C = op(A)·B as it is stored:
// c[i][j] = max(c[i][j] + Bias[i] + R[i·LDR + j], 0), the residual R and the ReLU optional,
// then a positive Clip bounds it from above (ReLU6 with Relu and a Clip of 6).
type GemmEpilogue = kern.GemmEpilogue

// SgemmPacked computes C = op(A)·B for a packed op(A) (m×k), B k×n (ldb ≥ n) and C m×n
// (ldc ≥ n), overwriting C, then applies e (nil: none). It panics if the current path is not
// the one A was packed for. ws may be nil.
func SgemmPacked(p *PackedA, n int, b []float32, ldb int, c []float32, ldc int, e *GemmEpilogue, ws *Workspace) {
	kern.SgemmPacked(p, n, b, ldb, c, ldc, e, ws)
}

// Axpy computes y[i] += alpha·x[i] (the product rounded to float32 first). len(x) == len(y).
func Axpy(alpha float32, x, y []float32) { kern.Axpy(alpha, x, y) }

// Scale computes x[i] *= alpha.
func Scale(alpha float32, x []float32) { kern.Scale(alpha, x) }

// Add computes dst[i] = a[i] + b[i]. All three have the same length.
func Add(dst, a, b []float32) { kern.Add(dst, a, b) }

// AddRelu computes dst[i] = max(a[i] + b[i], 0).
func AddRelu(dst, a, b []float32) { kern.AddRelu(dst, a, b) }

// Max computes dst[i] = max(a[i], b[i]), a NaN in either propagating and equal values
// giving a[i] (a max pooling's step). dst may alias a or b.
func Max(dst, a, b []float32) { kern.Max(dst, a, b) }

// Relu computes dst[i] = max(src[i], 0).
func Relu(dst, src []float32) { kern.Relu(dst, src) }

// ReluBackward adds the gradient of a ReLU into dx: dx[i] += dy[i] where the ReLU's output
// y[i] is positive (not ±0, not NaN), += +0 elsewhere, bit for bit on every path.
func ReluBackward(dx, dy, y []float32) { kern.ReluBackward(dx, dy, y) }

// Clamp computes dst[i] = min(max(src[i], lo), hi), a NaN giving lo; Clamp(dst, src, 0, 6) is
// ReLU6. dst may alias src.
func Clamp(dst, src []float32, lo, hi float32) { kern.Clamp(dst, src, lo, hi) }

// ScaleShift computes dst[i] = src[i]·scale + shift (the product rounded first).
func ScaleShift(dst, src []float32, scale, shift float32) {
	kern.ScaleShift(dst, src, scale, shift)
}

// ScaleShiftRelu computes dst[i] = max(src[i]·scale + shift, 0).
func ScaleShiftRelu(dst, src []float32, scale, shift float32) {
	kern.ScaleShiftRelu(dst, src, scale, shift)
}

// Sum returns the sum of x in the fixed order the package documentation gives.
func Sum(x []float32) float32 { return kern.Sum(x) }

// Dot returns Σ x[i]·y[i] (each product rounded first) in Sum's order. len(x) == len(y).
func Dot(x, y []float32) float32 { return kern.Dot(x, y) }

// Transpose writes the rows×cols matrix src (leading dimension lds) transposed into dst
// (cols×rows, leading dimension ldd).
func Transpose(dst []float32, ldd int, src []float32, lds int, rows, cols int) {
	kern.Transpose(dst, ldd, src, lds, rows, cols)
}
