package asm

import (
	"fmt"
	"os"
	"slices"
	"testing"
)

// forEachPath runs f as a subtest on every path this CPU and build have (AvailablePaths),
// switching with SetPath, and restores the path in force before.
func forEachPath(t *testing.T, f func(t *testing.T)) {
	t.Helper()
	prev := CurrentPath()
	defer mustSetPath(t, prev)
	for _, p := range AvailablePaths() {
		mustSetPath(t, p)
		t.Run(p.String(), f)
	}
}

func mustSetPath(t testing.TB, p Path) {
	t.Helper()
	if err := SetPath(p); err != nil {
		t.Fatal(err)
	}
}

// resetPath forgets the resolved path, so that the next kernel call resolves it again
// (from BONSAI_CPU, else the best available).
func resetPath() { active.Store(nil) }

func TestPaths(t *testing.T) {
	paths := AvailablePaths()
	if paths[0] != Generic || !slices.IsSorted(paths) {
		t.Fatalf("AvailablePaths() = %v, want Generic first, in increasing order", paths)
	}
	t.Logf("available paths: %v; current: %v; block sizes: %v", paths, CurrentPath(), blockSizesString())
	for _, name := range []string{"generic", "avx2", "AVX512"} {
		p, err := ParsePath(name)
		if err != nil || !equalFold(p.String(), name) {
			t.Errorf("ParsePath(%q) = %v, %v", name, p, err)
		}
	}
	if _, err := ParsePath("sse"); err == nil {
		t.Error("ParsePath(\"sse\") succeeded")
	}
	if err := SetPath(Path(7)); err == nil {
		t.Error("SetPath(Path(7)) succeeded")
	}
	prev := CurrentPath()
	defer mustSetPath(t, prev)
	for _, p := range paths {
		mustSetPath(t, p)
		if got := CurrentPath(); got != p {
			t.Errorf("after SetPath(%v), CurrentPath() = %v", p, got)
		}
	}
}

func blockSizesString() string {
	mc, kc, nc := BlockSizes()
	return fmt.Sprintf("mc=%d kc=%d nc=%d", mc, kc, nc)
}

func equalFold(a, b string) bool {
	p, err := ParsePath(b)
	return err == nil && p.String() == a
}

// TestBonsaiCPU checks that the lazily resolved path follows BONSAI_CPU, capped to what the
// CPU has, and defaults to the best available path. When the test process itself runs with
// BONSAI_CPU set (as CI does for every path), it also checks that the variable took effect.
func TestBonsaiCPU(t *testing.T) {
	paths := AvailablePaths()
	best := paths[len(paths)-1]
	if env := os.Getenv("BONSAI_CPU"); env != "" {
		resetPath()
		want, err := ParsePath(env)
		if err != nil {
			t.Fatalf("BONSAI_CPU=%q: %v", env, err)
		}
		if !slices.Contains(paths, want) {
			t.Logf("BONSAI_CPU=%s: not available here (have %v)", env, paths)
		} else if got := CurrentPath(); got != want {
			t.Errorf("BONSAI_CPU=%s: CurrentPath() = %v", env, got)
		}
	}
	defer resetPath()
	for _, tc := range []struct {
		env  string
		want Path
	}{
		{"", best},
		{"generic", Generic},
		{"GENERIC", Generic},
		{"avx2", min(AVX2, best)},
		{"avx512", best},
		{"bogus", best},
	} {
		t.Setenv("BONSAI_CPU", tc.env)
		resetPath()
		if got := CurrentPath(); got != tc.want {
			t.Errorf("BONSAI_CPU=%q: CurrentPath() = %v, want %v", tc.env, got, tc.want)
		}
	}
}

// TestBlockDefaults checks the block sizes derived from cache sizes, including the built-in
// fallbacks for sizes reported as ≤ 0 (this VM's L3 is reported as −1 on some hosts).
func TestBlockDefaults(t *testing.T) {
	for _, tc := range []struct {
		mr, nr, l1d, l2, l3 int
		want                blockSizes
	}{
		{8, 48, 48 << 10, 1 << 20, 32 << 20, blockSizes{mc: 680, kc: 192, nc: 10896}},
		{8, 48, 48 << 10, 1 << 20, -1, blockSizes{mc: 680, kc: 192, nc: 2688}},
		{8, 48, 0, -1, -1, blockSizes{mc: 512, kc: 128, nc: 4080}},
		{4, 24, 48 << 10, 1 << 20, 32 << 20, blockSizes{mc: 340, kc: 384, nc: 5448}},
		{8, 48, 1 << 30, 1 << 30, 1 << 30, blockSizes{mc: 1024, kc: 512, nc: 16368}},
	} {
		got := blockDefaults(tc.mr, tc.nr, tc.l1d, tc.l2, tc.l3)
		if got != tc.want {
			t.Errorf("blockDefaults(%d, %d, %d, %d, %d) = %+v, want %+v", tc.mr, tc.nr, tc.l1d, tc.l2, tc.l3, got, tc.want)
		}
		if got.mc%tc.mr != 0 || got.nc%tc.nr != 0 || got.kc <= 0 {
			t.Errorf("blockDefaults(%d, %d, …) = %+v: mc, nc must be tile multiples", tc.mr, tc.nr, got)
		}
	}
}
