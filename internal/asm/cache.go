package asm

// Cache sizes assumed when the CPU does not report them: those of a typical x86 server core
// (32 KiB L1 data, 1 MiB L2, 32 MiB L3).
const (
	defaultL1D = 32 << 10
	defaultL2  = 1 << 20
	defaultL3  = 32 << 20
)

// CacheSizes returns the data cache sizes in bytes, L1 and L2 per core and the L3 the core
// shares, as the CPU reports them (cpuid on amd64), each replaced by a typical size where the
// CPU reports none. Kernels size their blocks from these, never from a list of CPU models.
func CacheSizes() (l1d, l2, l3 int) {
	l1d, l2, l3 = cacheSizes()
	if l1d <= 0 {
		l1d = defaultL1D
	}
	if l2 <= 0 {
		l2 = defaultL2
	}
	if l3 <= 0 {
		l3 = defaultL3
	}
	return l1d, l2, l3
}
