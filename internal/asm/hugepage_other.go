//go:build !linux

package asm

// adviseHuge does nothing here (see hugepage_linux.go).
func adviseHuge(s []float32) {}
