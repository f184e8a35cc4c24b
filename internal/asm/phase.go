package asm

import "fmt"

// Deinterleave2 splits src into its even and odd elements: even[j] = src[2j],
// odd[j] = src[2j+1]. It panics unless len(even) = ⌈len(src)/2⌉ and
// len(odd) = ⌊len(src)/2⌋.
func Deinterleave2(even, odd, src []float32) {
	n := len(src)
	if len(even) != (n+1)/2 || len(odd) != n/2 {
		panic(fmt.Sprintf("asm: Deinterleave2: %d and %d elements for %d", len(even), len(odd), n))
	}
	j := 0
	if f := archDeinterleave2(); f != nil && len(odd) > 0 {
		j = f(len(odd), &src[0], &even[0], &odd[0])
	}
	for ; j < len(odd); j++ {
		even[j], odd[j] = src[2*j], src[2*j+1]
	}
	if n%2 == 1 {
		even[n/2] = src[n-1]
	}
}

// InterleaveAdd2 adds a into the even and b into the odd elements of dst:
// dst[2j] += a[j], dst[2j+1] += b[j]. It panics unless len(a) = ⌈len(dst)/2⌉ and
// len(b) = ⌊len(dst)/2⌋.
func InterleaveAdd2(dst, a, b []float32) {
	n := len(dst)
	if len(a) != (n+1)/2 || len(b) != n/2 {
		panic(fmt.Sprintf("asm: InterleaveAdd2: %d and %d elements for %d", len(a), len(b), n))
	}
	j := 0
	if f := archInterleaveAdd2(); f != nil && len(b) > 0 {
		j = f(len(b), &a[0], &b[0], &dst[0])
	}
	for ; j < len(b); j++ {
		dst[2*j] += a[j]
		dst[2*j+1] += b[j]
	}
	if n%2 == 1 {
		dst[n-1] += a[n/2]
	}
}

// phaseRowsArgs are the arguments of the row-batched kernels (byte strides): for
// p < Planes, r < Rows, the interleaved row at Inter + p·InterPlane + r·InterRow (2·Pairs
// floats) and the phase rows at Phase + p·PhasePlane + r·PhaseRow (even elements) and
// PhaseOdd bytes after it (odd elements), Pairs floats each. MaskT has the low Pairs%16
// bits set, MaskLo and MaskHi the low 2·(Pairs%16) bits over two 16-bit halves.
type phaseRowsArgs struct {
	Inter                          *float32
	Phase                          *float32
	Planes, Rows, Pairs            int
	InterRow, InterPlane           int
	PhaseRow, PhasePlane, PhaseOdd int
	MaskT, MaskLo, MaskHi          uint32
}

// DeinterleaveRows applies Deinterleave2 to planes × rows rows of 2·pairs elements: for
// p < planes and r < rows, the row inter[p·interPlane + r·interRow:][:2·pairs] is split into
// phase[o:][:pairs] (even elements) and phase[o+phaseOdd:][:pairs] (odd elements), with
// o = p·phasePlane + r·phaseRow (all strides in elements, non-negative).
func DeinterleaveRows(phase []float32, phaseRow, phasePlane, phaseOdd int, inter []float32, interRow, interPlane, planes, rows, pairs int) {
	phaseRows(false, phase, phaseRow, phasePlane, phaseOdd, inter, interRow, interPlane, planes, rows, pairs)
}

// InterleaveAddRows applies InterleaveAdd2 to the rows that DeinterleaveRows describes: the
// phase rows are added into the even and odd elements of the interleaved rows.
func InterleaveAddRows(inter []float32, interRow, interPlane int, phase []float32, phaseRow, phasePlane, phaseOdd, planes, rows, pairs int) {
	phaseRows(true, phase, phaseRow, phasePlane, phaseOdd, inter, interRow, interPlane, planes, rows, pairs)
}

func phaseRows(add bool, phase []float32, phaseRow, phasePlane, phaseOdd int, inter []float32, interRow, interPlane, planes, rows, pairs int) {
	if planes <= 0 || rows <= 0 || pairs <= 0 {
		return
	}
	lastP := (planes-1)*phasePlane + (rows-1)*phaseRow + phaseOdd + pairs
	lastI := (planes-1)*interPlane + (rows-1)*interRow + 2*pairs
	if min(phaseRow, phasePlane, phaseOdd, interRow, interPlane) < 0 || lastP > len(phase) || lastI > len(inter) {
		panic(fmt.Sprintf("asm: phase rows: %d planes × %d rows × %d pairs do not fit (%d and %d elements)", planes, rows, pairs, len(phase), len(inter)))
	}
	if CurrentPath() == AVX512 && archPhaseRows(add, nil) {
		t := uint(pairs % 16)
		a := phaseRowsArgs{Inter: &inter[0], Phase: &phase[0], Planes: planes, Rows: rows, Pairs: pairs,
			InterRow: 4 * interRow, InterPlane: 4 * interPlane, PhaseRow: 4 * phaseRow, PhasePlane: 4 * phasePlane, PhaseOdd: 4 * phaseOdd,
			MaskT: 1<<t - 1, MaskLo: 1<<min(2*t, 16) - 1, MaskHi: 1<<(max(2*t, 16)-16) - 1}
		archPhaseRows(add, &a)
		return
	}
	for p := range planes {
		for r := range rows {
			o := p*phasePlane + r*phaseRow
			even, odd := phase[o:o+pairs], phase[o+phaseOdd:o+phaseOdd+pairs]
			row := inter[p*interPlane+r*interRow:][:2*pairs]
			if add {
				InterleaveAdd2(row, even, odd)
			} else {
				Deinterleave2(even, odd, row)
			}
		}
	}
}

// PrefetchRows asks the CPU to bring rows ranges of n elements, stride elements apart,
// from p[off:] into the cache (a hint: no effect on the Generic path or in other builds).
// Ranges are clipped to p.
func PrefetchRows(p []float32, off, rows, stride, n int) {
	if rows <= 0 || n <= 0 || off >= len(p) {
		return
	}
	if off < 0 {
		n += off
		off = 0
	}
	if n <= 0 || stride <= 0 {
		return
	}
	rows = min(rows, (len(p)-off-1)/stride+1)
	if last := off + (rows-1)*stride; last+n > len(p) {
		// Clip the last row; the rows before it end earlier.
		if rows > 1 {
			PrefetchRows(p, off, rows-1, stride, n)
		}
		PrefetchRows(p, last, 1, stride, len(p)-last)
		return
	}
	if CurrentPath() != Generic {
		prefetch(p[off:], rows, stride, n)
	}
}
