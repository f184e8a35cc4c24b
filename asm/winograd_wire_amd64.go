//go:build !noasm && gc

package asm

// archWinoInput returns the assembly Winograd input transform of path p, or nil.
func archWinoInput(p Path) func(*WinogradInArgs) { return nil }

// archWinoOutput returns the assembly Winograd output transform of path p, or nil.
func archWinoOutput(p Path) func(*WinogradOutArgs) { return nil }
