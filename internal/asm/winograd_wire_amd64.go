//go:build !noasm && gc

package asm

import "unsafe"

// archWinoInput returns the assembly Winograd input transform of path p, or nil.
func archWinoInput(p Path) func(*WinogradInArgs) {
	if p == AVX512 {
		return winoInputAVX512
	}
	return nil
}

// archWinoOutput returns the assembly Winograd output transform of path p, or nil.
func archWinoOutput(p Path) func(*WinogradOutArgs) {
	if p == AVX512 {
		return winoOutputAVX512
	}
	return nil
}

func winoInputAVX512(a *WinogradInArgs) { winogradInputAVX512((*int64)(unsafe.Pointer(a))) }

func winoOutputAVX512(a *WinogradOutArgs) {
	p := (*int64)(unsafe.Pointer(a))
	switch {
	case a.Add != 0:
		winogradOutputAddAVX512(p)
	case a.Scale == nil:
		winogradOutputAVX512(p)
	case a.R == nil && a.Relu == 0:
		winogradOutputScaleShiftAVX512(p)
	case a.R == nil:
		winogradOutputScaleShiftReluAVX512(p)
	case a.Relu == 0:
		winogradOutputScaleShiftAddAVX512(p)
	default:
		winogradOutputScaleShiftAddReluAVX512(p)
	}
}
