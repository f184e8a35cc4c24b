//go:build noasm || !gc || !amd64

package asm

// cacheSizes is unknown here: CacheSizes falls back to its defaults.
func cacheSizes() (l1d, l2, l3 int) { return 0, 0, 0 }
