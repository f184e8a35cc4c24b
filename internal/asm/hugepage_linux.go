package asm

import (
	"syscall"
	"unsafe"
)

// hugePage is the size of a transparent huge page on linux/amd64 and arm64.
const hugePage = 2 << 20

// adviseHuge asks the kernel to back the whole 2 MiB pages inside s with transparent huge
// pages (madvise MADV_HUGEPAGE; where THP is "madvise", the Go heap gets none otherwise).
// Weights streamed at every call then cost a TLB entry per 2 MiB rather than per 4 KiB. Call
// it before s is first written. Errors are ignored: it is only advice.
func adviseHuge(s []float32) {
	if len(s)*4 < 2*hugePage {
		return
	}
	p := uintptr(unsafe.Pointer(unsafe.SliceData(s)))
	lo := (p + hugePage - 1) &^ (hugePage - 1)
	hi := (p + uintptr(4*len(s))) &^ (hugePage - 1)
	if hi <= lo {
		return
	}
	b := unsafe.Slice((*byte)(unsafe.Add(unsafe.Pointer(unsafe.SliceData(s)), lo-p)), hi-lo)
	_ = syscall.Madvise(b, 14) // MADV_HUGEPAGE
}
