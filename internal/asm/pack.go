package asm

// Packing of op(A) and op(B) blocks into the layouts the micro-kernels stream through.
//
// Packed op(A) block (mb×kb): ceil(mb/mr) micro-panels, one after the other; micro-panel q
// holds rows q*mr … q*mr+mr-1 column-interleaved: dst[q*mr*kb + p*mr + i] = op(A)[q*mr+i][p].
// Packed op(B) panel (kb×nb): ceil(nb/nr) micro-panels; micro-panel q holds columns
// q*nr … q*nr+nr-1 row-interleaved: dst[q*nr*kb + p*nr + j] = op(B)[p][q*nr+j].
// Rows (columns) past mb (nb) in the last micro-panel are written as zeros, so the kernel
// always computes full tiles and only the store is masked. mr and nr are the kernel's.

// packA packs the mb×kb block of op(A) whose top-left element is op(A)[i0][p0] into dst,
// which must hold at least roundUp(mb, mr)*kb elements.
// op(A)[i][p] is a[i*lda+p], or a[p*lda+i] when trans.
func packA(g *gemmKernel, trans bool, mb, kb int, a []float32, lda, i0, p0 int, dst []float32) {
	mr := g.mr
	for ir := 0; ir < mb; ir += mr {
		rows := min(mr, mb-ir)
		d := dst[ir*kb : (ir+mr)*kb]
		if trans {
			// op(A) row i is column i of the stored k×m matrix: each k-step is a
			// contiguous run of `rows` elements.
			off := p0*lda + i0 + ir
			if rows == mr && g.copyA != nil {
				_ = a[off+(kb-1)*lda+mr-1]
				g.copyA(kb, &a[off], lda, &d[0], mr)
				continue
			}
			for p := 0; p < kb; p++ {
				dp := d[p*mr : p*mr+mr]
				copy(dp, a[off:off+rows])
				clear(dp[rows:])
				off += lda
			}
			continue
		}
		base := (i0+ir)*lda + p0
		switch {
		case rows == 4 && mr == 4:
			r0 := a[base : base+kb]
			r1 := a[base+lda : base+lda+kb]
			r2 := a[base+2*lda : base+2*lda+kb]
			r3 := a[base+3*lda : base+3*lda+kb]
			for p := range r0 {
				dp := d[p*4 : p*4+4 : p*4+4]
				dp[0], dp[1], dp[2], dp[3] = r0[p], r1[p], r2[p], r3[p]
			}
		case rows == 8 && mr == 8 && g.transpose8 != nil:
			k8 := kb &^ 7
			if k8 > 0 {
				_ = a[base+7*lda+k8-1]
				g.transpose8(kb, &a[base], lda, &d[0], 8)
			}
			for p := k8; p < kb; p++ {
				dp := d[p*8 : p*8+8 : p*8+8]
				for i := range dp {
					dp[i] = a[base+i*lda+p]
				}
			}
		case rows == 8 && mr == 8:
			r0 := a[base : base+kb]
			r1 := a[base+lda : base+lda+kb]
			r2 := a[base+2*lda : base+2*lda+kb]
			r3 := a[base+3*lda : base+3*lda+kb]
			r4 := a[base+4*lda : base+4*lda+kb]
			r5 := a[base+5*lda : base+5*lda+kb]
			r6 := a[base+6*lda : base+6*lda+kb]
			r7 := a[base+7*lda : base+7*lda+kb]
			for p := range r0 {
				dp := d[p*8 : p*8+8 : p*8+8]
				dp[0], dp[1], dp[2], dp[3] = r0[p], r1[p], r2[p], r3[p]
				dp[4], dp[5], dp[6], dp[7] = r4[p], r5[p], r6[p], r7[p]
			}
		default:
			for i := 0; i < mr; i++ {
				if i >= rows {
					for p := 0; p < kb; p++ {
						d[p*mr+i] = 0
					}
					continue
				}
				r := a[base+i*lda : base+i*lda+kb]
				for p, v := range r {
					d[p*mr+i] = v
				}
			}
		}
	}
}

// packB packs the kb×nb panel of op(B) whose top-left element is op(B)[p0][j0] into dst,
// which must hold at least roundUp(nb, nr)*kb elements.
// op(B)[p][j] is b[p*ldb+j], or b[j*ldb+p] when trans.
func packB(g *gemmKernel, trans bool, kb, nb int, b []float32, ldb, p0, j0 int, dst []float32) {
	nr := g.nr
	if !trans {
		if nr == 2 {
			packBRows2(kb, nb, b, ldb, p0, j0, dst)
			return
		}
		full := nb / nr * nr
		switch {
		case g.copyB != nil && full >= 4*nr:
			// Many micro-panels: walk along the stored rows (sequential reads, which the
			// hardware prefetches well even when ldb is a large power of two), scattering
			// each row over the micro-panels.
			panels := full / nr
			for p := 0; p < kb; p++ {
				off := (p0+p)*ldb + j0
				_ = b[off+full-1]
				_ = dst[(panels-1)*nr*kb+p*nr+nr-1]
				g.copyB(panels, &b[off], nr, &dst[p*nr], nr*kb)
			}
		case g.copyB != nil:
			for jr := 0; jr < full; jr += nr {
				off := p0*ldb + j0 + jr
				_ = b[off+(kb-1)*ldb+nr-1]
				g.copyB(kb, &b[off], ldb, &dst[jr*kb], nr)
			}
		default:
			for jr := 0; jr < full; jr += nr {
				off := p0*ldb + j0 + jr
				d := dst[jr*kb : (jr+nr)*kb]
				for p := 0; p < kb; p++ {
					copy(d[p*nr:p*nr+nr], b[off:off+nr])
					off += ldb
				}
			}
		}
		if full < nb { // last, partial micro-panel: copy the valid columns, zero the rest
			d := dst[full*kb : (full+nr)*kb]
			off := p0*ldb + j0 + full
			for p := 0; p < kb; p++ {
				dp := d[p*nr : p*nr+nr]
				copy(dp, b[off:off+nb-full])
				clear(dp[nb-full:])
				off += ldb
			}
		}
		return
	}
	// trans: op(B) column j is row j of the stored n×k matrix, so each micro-panel reads
	// nr contiguous runs of kb elements.
	for jr := 0; jr < nb; jr += nr {
		cols := min(nr, nb-jr)
		d := dst[jr*kb : (jr+nr)*kb]
		if cols == nr && nr%8 == 0 && g.transpose8 != nil {
			k8 := kb &^ 7
			for jj := 0; jj < nr; jj += 8 {
				base := (j0+jr+jj)*ldb + p0
				if k8 > 0 {
					_ = b[base+7*ldb+k8-1]
					g.transpose8(kb, &b[base], ldb, &d[jj], nr)
				}
				for p := k8; p < kb; p++ {
					dp := d[p*nr+jj : p*nr+jj+8 : p*nr+jj+8]
					for i := range dp {
						dp[i] = b[base+i*ldb+p]
					}
				}
			}
			continue
		}
		if cols == 2 && nr == 2 {
			base := (j0+jr)*ldb + p0
			r0 := b[base : base+kb]
			r1 := b[base+ldb : base+ldb+kb]
			for p := range r0 {
				dp := d[p*2 : p*2+2 : p*2+2]
				dp[0], dp[1] = r0[p], r1[p]
			}
			continue
		}
		for j := 0; j < nr; j++ {
			if j >= cols {
				for p := 0; p < kb; p++ {
					d[p*nr+j] = 0
				}
				continue
			}
			base := (j0+jr+j)*ldb + p0
			r := b[base : base+kb]
			for p, v := range r {
				d[p*nr+j] = v
			}
		}
	}
}

// packBRows2 packs a panel of a non-transposed B (op(B)[p][j] = b[p*ldb+j]) for nr = 2. It
// streams along the stored rows, four at a time, so every read is sequential and each
// micro-panel receives 4·nr consecutive elements per visit (walking down the columns instead
// would touch a new page per element when ldb is large).
func packBRows2(kb, nb int, b []float32, ldb, p0, j0 int, dst []float32) {
	const nr = 2
	full := nb / nr * nr // columns in complete micro-panels
	step := nr * kb      // distance between consecutive micro-panels in dst
	p := 0
	for ; p+4 <= kb; p += 4 {
		base := (p0+p)*ldb + j0
		r0 := b[base : base+nb]
		r1 := b[base+ldb : base+ldb+nb]
		r2 := b[base+2*ldb : base+2*ldb+nb]
		r3 := b[base+3*ldb : base+3*ldb+nb]
		o := p * nr
		for j := 0; j < full; j += nr {
			d := dst[o : o+4*nr : o+4*nr]
			d[0], d[1] = r0[j], r0[j+1]
			d[2], d[3] = r1[j], r1[j+1]
			d[4], d[5] = r2[j], r2[j+1]
			d[6], d[7] = r3[j], r3[j+1]
			o += step
		}
	}
	for ; p < kb; p++ {
		base := (p0+p)*ldb + j0
		r := b[base : base+nb]
		o := p * nr
		for j := 0; j < full; j += nr {
			d := dst[o : o+nr : o+nr]
			d[0], d[1] = r[j], r[j+1]
			o += step
		}
	}
	if full < nb {
		d := dst[full*kb : (full+nr)*kb]
		for p := 0; p < kb; p++ {
			base := (p0+p)*ldb + j0
			dp := d[p*nr : p*nr+nr]
			copy(dp, b[base+full:base+nb])
			clear(dp[nb-full:])
		}
	}
}
