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
// machine (Zen 5, kc=256, panels in L1, 4 k-steps per iteration): 4×2 and 2×4 ≈ 12.8
// GFLOP/s, 3×3 ≈ 12.3, 4×3/3×4 ≈ 8, 4×4 ≈ 8.7. Unrolling 4×2 to 16 k-steps per iteration
// gives ≈ 13.1, against ≈ 13.3 for a loop of independent register-only multiply-adds, the
// ceiling for scalar Go code on this core. The accumulation is deliberately written without
// a float32() conversion around the product, so gc may fuse it into an FMA where it does
// that (arm64, ppc64le, s390x, riscv64; amd64 with GOAMD64=v3 or higher; not the default
// GOAMD64=v1): the rounding then differs, but still identically for every worker count.
//
// Loop shape. gc's instruction scheduler (cmd/compile/internal/ssa/schedule.go) emits values
// that have a use inside their own block before values that do not. In an ordinary
// top-tested loop the accumulator phis live in the header block, so the last add into each
// accumulator has no use in the body block and sinks to its end, keeping every product
// live at once: spills. The main loop is therefore bottom-tested ("for { …; if done { break
// } }"), which puts body and phis in one block, and walks the panels through array pointers
// obtained from re-sliced slices, so its body has no bounds checks (verify with
// go build -gcflags=-d=ssa/check_bce ./asm) and no other branches that would split it.

const (
	mr = 4 // rows of a micro-tile (height of packed op(A) micro-panels)
	nr = 2 // columns of a micro-tile (width of packed op(B) micro-panels)
)

// kernel4x2 is written for 4×2 tiles; this fails to
// compile if mr or nr is changed without revisiting them.
var _ = [1]struct{}{}[(mr-4)*(mr-4)+(nr-2)*(nr-2)]

// kernel4x2 sets t[i*nr+j] = Σ_{p<kc} a[p*mr+i]·b[p*nr+j] (sequentially in p) for i < 4, j < 2.
// a holds at least kc*mr and b at least kc*nr elements.
func kernel4x2(kc int, a, b []float32, t *[mr * nr]float32) {
	const u = 16 // k-steps per iteration of the main loop
	var c00, c01, c10, c11, c20, c21, c30, c31 float32
	a = a[:kc*mr]
	b = b[:kc*nr]
	if len(a) >= u*mr && len(b) >= u*nr {
		pa := (*[u * mr]float32)(a)
		pb := (*[u * nr]float32)(b)
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

			a0, a1, a2, a3 = pa[16], pa[17], pa[18], pa[19]
			b0, b1 = pb[8], pb[9]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[20], pa[21], pa[22], pa[23]
			b0, b1 = pb[10], pb[11]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[24], pa[25], pa[26], pa[27]
			b0, b1 = pb[12], pb[13]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[28], pa[29], pa[30], pa[31]
			b0, b1 = pb[14], pb[15]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[32], pa[33], pa[34], pa[35]
			b0, b1 = pb[16], pb[17]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[36], pa[37], pa[38], pa[39]
			b0, b1 = pb[18], pb[19]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[40], pa[41], pa[42], pa[43]
			b0, b1 = pb[20], pb[21]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[44], pa[45], pa[46], pa[47]
			b0, b1 = pb[22], pb[23]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[48], pa[49], pa[50], pa[51]
			b0, b1 = pb[24], pb[25]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[52], pa[53], pa[54], pa[55]
			b0, b1 = pb[26], pb[27]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[56], pa[57], pa[58], pa[59]
			b0, b1 = pb[28], pb[29]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			a0, a1, a2, a3 = pa[60], pa[61], pa[62], pa[63]
			b0, b1 = pb[30], pb[31]
			c00 += a0 * b0
			c01 += a0 * b1
			c10 += a1 * b0
			c11 += a1 * b1
			c20 += a2 * b0
			c21 += a2 * b1
			c30 += a3 * b0
			c31 += a3 * b1

			if len(a) < 2*u*mr || len(b) < 2*u*nr {
				break
			}
			a = a[u*mr:]
			b = b[u*nr:]
			pa = (*[u * mr]float32)(a)
			pb = (*[u * nr]float32)(b)
		}
		a = a[u*mr:]
		b = b[u*nr:]
	}
	// Remaining kc%u steps, same per-element sequence.
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

// storeTile merges the rows×cols top-left part of the tile t (row stride ldt) into c (row
// stride ldc):
//
//	beta == 0: c[i*ldc+j] = alpha*t            (old c ignored, even NaN)
//	otherwise: c[i*ldc+j] = alpha*t + beta*c   (beta == 1 skips the multiply: exact anyway)
//
// alpha == 1 skips the multiply by alpha (also exact). The products are rounded before the
// sum, as in the assembly micro-kernels' own merge.
func storeTile(t []float32, ldt, rows, cols int, alpha, beta float32, c []float32, ldc int) {
	for i := 0; i < rows; i++ {
		row := c[i*ldc : i*ldc+cols]
		tr := t[i*ldt : i*ldt+cols]
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
				row[j] += float32(alpha * v)
			}
		default:
			for j, v := range tr {
				row[j] = float32(alpha*v) + float32(beta*row[j])
			}
		}
	}
}
