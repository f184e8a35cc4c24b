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
