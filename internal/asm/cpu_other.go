//go:build !amd64 || noasm || !gc

package asm

// Without assembly (other GOARCHes, gccgo, or -tags noasm) only the Generic path exists.

func archPaths() []Path { return nil }

func implFor(Path) *impl { return genericImpl }
