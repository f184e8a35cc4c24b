//go:build !noasm && gc

package asm

import "github.com/klauspost/cpuid/v2"

// cacheSizes reads the data cache sizes from cpuid (per core for L1 and L2).
func cacheSizes() (l1d, l2, l3 int) {
	return cpuid.CPU.Cache.L1D, cpuid.CPU.Cache.L2, cpuid.CPU.Cache.L3
}
