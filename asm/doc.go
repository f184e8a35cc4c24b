// Package asm is Bonsai's kernel seam: the few numeric primitives that dominate the cost of
// training and inference — single-precision matrix multiplication (Sgemm) and the
// element-wise kernels of a convolutional network (Axpy, Scale, Add, Relu, ScaleShift,
// ScaleShiftRelu, AddRelu, Sum, Dot) — behind a small, stable API.
//
// # The seam
//
// Today every kernel is portable Go (no assembly, no cgo, no unsafe). Later, SIMD
// micro-kernels (AVX-512, AVX2, chosen at run time from the CPU's features) will be put
// behind exactly this API; callers do not change. Everything in this package that a faster
// implementation might want to change — packing layouts, micro-tile shape, loop order, the
// worker pool — is unexported.
//
// # The contract
//
// Every exported function documents its reference loop: the result it must produce.
//
//   - Element-wise kernels and Sum/Dot are specified exactly, rounding included: each
//     product that is then added is rounded to float32 first (never fused into an FMA), and
//     Sum and Dot add in a fixed order (element i into partial accumulator i%8, then a fixed
//     tree). Any implementation, scalar or SIMD, serial or parallel, must match the reference
//     loop bit for bit.
//   - Sgemm computes C = alpha·op(A)·op(B) + beta·C as BLAS sgemm with CblasRowMajor does.
//     Its rounding is specified only up to the order of each k-sum, which is cut into
//     consecutive slices of kc terms (see SetBlockSizes); an assembly kernel may use FMA. What
//     is guaranteed bit for bit is independence from parallelism: for a given
//     implementation and block sizes, every element of C is computed by the same sequence of
//     operations whatever runtime.GOMAXPROCS is, because the parallel split is a fixed
//     partition of C, never of the k-sum.
//   - beta == 0 overwrites C (old contents, even NaN, ignored); alpha == 0 or k == 0 gives
//     C = beta·C without reading A or B. Only the m×n window of C is written.
//   - Invalid arguments (negative sizes, leading dimensions smaller than the row they
//     describe, slices too short, length mismatches) are programmer errors and panic with a
//     message naming the argument.
//
// # Sgemm's implementation
//
// The loop nest is the GotoBLAS/BLIS one: for each nc-wide panel of op(B) and each kc-deep
// slice of k, the kc×nc panel is packed into nr-wide micro-panels; for each mc-tall block of
// op(A), the block is packed into mr-tall micro-panels; a register-blocked micro-kernel then
// computes each mr×nr tile of C over the kc slice, and the tile is merged into C with alpha
// and beta (beta only on the first slice). Edge tiles are zero-padded in the packed buffers
// and stored through a mask. The pure-Go micro-kernel is 4×2 (see kernel_generic.go for why:
// the gc compiler has 15 usable float registers and schedules larger tiles into spills).
//
// Products with m·n·k ≥ 64³ are split over up to runtime.GOMAXPROCS(0) goroutines from a
// small persistent pool (started lazily, fed through a channel). C is cut into a grid of
// rectangles aligned to the micro-tile; each rectangle is computed by one goroutine with its
// own packing buffers. Smaller products run on the calling goroutine.
//
// Packing buffers live in a Workspace. Pass the same *Workspace to successive calls (one call
// at a time per Workspace) and Sgemm allocates nothing in steady state; pass nil and an
// internal sync.Pool of workspaces is used. A Workspace holds, per goroutine, up to
// (mc + nc)·kc float32s: about 4.1 MiB at the default block sizes.
//
// # Tuning
//
// The block sizes are DefaultMC = 128 rows of op(A) per packed block (mc×kc, sized for L2),
// DefaultKC = 256 (a kc×nr micro-panel of op(B) stays in L1) and DefaultNC = 4096 columns
// of op(B) per packed panel (kc×nc, sized for L3). Override them process-wide with
// SetBlockSizes(mc, kc, nc) (0 keeps a default; mc and nc are rounded up to tile multiples)
// and read them back with BlockSizes. With the scalar kernel the speed is flat in mc and nc
// over a wide range; kc also moves where partial k-sums are rounded, so changing it changes
// Sgemm's low-order bits (but never their independence from GOMAXPROCS). Parallelism is
// controlled by GOMAXPROCS. No CPU detection is done yet.
package asm
