//go:build !noasm && gc

package asm

import (
	"slices"
	"testing"

	"github.com/klauspost/cpuid/v2"
)

// TestPathsFollowCPUID hides AVX-512F and then FMA3 from cpuid.CPU (Disable acts on the
// struct it is called on, here the package-level one that archPaths reads) and checks that
// the paths disappear, that SetPath refuses them and that BONSAI_CPU is capped to what is
// left.
func TestPathsFollowCPUID(t *testing.T) {
	prev := CurrentPath()
	defer mustSetPath(t, prev)
	defer resetPath()
	hadAVX512, hadFMA := cpuid.CPU.Supports(cpuid.AVX512F), cpuid.CPU.Supports(cpuid.FMA3)
	defer func() {
		if hadAVX512 {
			cpuid.CPU.Enable(cpuid.AVX512F)
		}
		if hadFMA {
			cpuid.CPU.Enable(cpuid.FMA3)
		}
	}()

	cpuid.CPU.Disable(cpuid.AVX512F)
	if slices.Contains(AvailablePaths(), AVX512) {
		t.Fatalf("AVX-512F disabled, AvailablePaths() = %v", AvailablePaths())
	}
	if err := SetPath(AVX512); err == nil {
		t.Error("SetPath(AVX512) succeeded without AVX-512F")
	}
	t.Setenv("BONSAI_CPU", "avx512")
	resetPath()
	if got, want := CurrentPath(), AvailablePaths()[len(AvailablePaths())-1]; got != want {
		t.Errorf("BONSAI_CPU=avx512 without AVX-512F: CurrentPath() = %v, want %v", got, want)
	}

	cpuid.CPU.Disable(cpuid.FMA3)
	if got := AvailablePaths(); !slices.Equal(got, []Path{Generic}) {
		t.Errorf("without FMA3 and AVX-512F, AvailablePaths() = %v, want [generic]", got)
	}
	resetPath()
	if got := CurrentPath(); got != Generic {
		t.Errorf("without FMA3 and AVX-512F, CurrentPath() = %v, want generic", got)
	}
}
