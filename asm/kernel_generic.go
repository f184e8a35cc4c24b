package asm

// Register-blocked micro-kernel, pure Go.
//
// The micro-kernel multiplies one packed mr×kc micro-panel of op(A) by one packed kc×nr
// micro-panel of op(B) and returns the mr×nr product in a small array; storeTile then merges
// it into C with alpha and beta. For every element of the tile the operation sequence is
//
//	acc := 0
//	for p := 0; p < kc; p++ { acc += a[p*mr+i] * b[p*nr+j] }   // product rounded, then sum rounded
//
// i.e. a plain sequential dot product over the kc slice. Nothing else (which worker, which
// tile, which unrolling) changes that sequence, which is what makes Sgemm's results
// independent of the number of goroutines.
//
// Shape choice. The gc compiler keeps float32 values in X0–X14 (X15 is the fixed zero
// register), so tiles with more than 8 accumulators spill. Measured on the development
// machine (Zen 5, kc=256, data in L1): 4×2 and 2×4 ≈ 12.8 GFLOP/s, 3×3 ≈ 12.3, 4×3/3×4 ≈ 8,
// 4×4 ≈ 8.7; a register-only loop of independent multiply-adds peaks at ≈ 13.3 GFLOP/s, so
// the 4×2 kernel runs at ~95 % of what scalar Go code can reach. On amd64 the gc compiler
// never fuses a*b+c into an FMA; on arm64, ppc64le, s390x and riscv64 it may, which changes
// the rounding (still identically for every worker count).
//
// Loop shape. The main loop is bottom-tested ("for { …; if done { break } }") and walks
// the panels through array pointers obtained from re-sliced slices. That keeps the loop body
// a single SSA block that also holds the accumulator phis; the scheduler then keeps each
// multiply next to its add instead of hoisting all multiplies first (which spills), and the
// array-pointer indexing has no bounds checks (check with -gcflags=-d=ssa/check_bce).

const (
	mr = 4 // rows of a micro-tile (height of packed op(A) micro-panels)
	nr = 2 // columns of a micro-tile (width of packed op(B) micro-panels)
)

// kernel4x2 and the unrolled paths of packA/packB are written for 4×2 tiles; this fails to
// compile if mr or nr is changed without revisiting them.
var _ = [1]struct{}{}[(mr-4)*(mr-4)+(nr-2)*(nr-2)]

// kernel4x2 sets t[i*nr+j] = Σ_{p<kc} a[p*mr+i]·b[p*nr+j] (sequentially in p) for i < 4, j < 2.
// a holds at least kc*mr and b at least kc*nr elements.
func kernel4x2(kc int, a, b []float32, t *[mr * nr]float32) {
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	a = a[:kc*mr]
	b = b[:kc*nr]
	if len(a) >= 4*mr && len(b) >= 4*nr {
		pa := (*[4 * mr]float32)(a)
		pb := (*[4 * nr]float32)(b)
		for {
			a0, a1, a2, a3 := pa[0], pa[1], pa[2], pa[3]
			b0, b1 := pb[0], pb[1]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[4], pa[5], pa[6], pa[7]
			b0, b1 = pb[2], pb[3]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[8], pa[9], pa[10], pa[11]
			b0, b1 = pb[4], pb[5]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[12], pa[13], pa[14], pa[15]
			b0, b1 = pb[6], pb[7]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			if len(a) < 8*mr || len(b) < 8*nr {
				break
			}
			a = a[4*mr:]
			b = b[4*nr:]
			pa = (*[4 * mr]float32)(a)
			pb = (*[4 * nr]float32)(b)
		}
		a = a[4*mr:]
		b = b[4*nr:]
	}
	// Remaining kc%4 steps, same per-element sequence.
	for len(a) >= mr && len(b) >= nr {
		a0, a1, a2, a3 := a[0], a[1], a[2], a[3]
		b0, b1 := b[0], b[1]
		c00 += a0 * b0
		c01 += a0 * b1
		c10 += a1 * b0
		c11 += a1 * b1
		c20 += a2 * b0
		c21 += a2 * b1
		c30 += a3 * b0
		c31 += a3 * b1
		a = a[mr:]
		b = b[nr:]
	}
	t[0], t[1] = c00, c01
	t[2], t[3] = c10, c11
	t[4], t[5] = c20, c21
	t[6], t[7] = c30, c31
}

// storeTile merges the rows×cols top-left part of the micro-tile t into c (row stride ldc):
//
//	beta == 0: c[i*ldc+j] = alpha*t            (old c ignored, even NaN)
//	otherwise: c[i*ldc+j] = alpha*t + beta*c   (beta == 1 skips the multiply: exact anyway)
//
// alpha == 1 skips the multiply by alpha (also exact).
func storeTile(t *[mr * nr]float32, rows, cols int, alpha, beta float32, c []float32, ldc int) {
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		tr := t[i*nr : i*nr+cols]
		switch {
		case beta == 0 && alpha == 1:
			copy(row, tr)
		case beta == 0:
			for j, v := range tr {
				row[j] = alpha * v
			}
		case beta == 1 && alpha == 1:
			for j, v := range tr {
				row[j] += v
			}
		case beta == 1:
			for j, v := range tr {
				row[j] += alpha * v
			}
		default:
			for j, v := range tr {
				row[j] = alpha*v + beta*row[j]
			}
		}
	}
}
