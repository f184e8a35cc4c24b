package asm

import (
	"fmt"
	"os"
	"strings"
	"sync"
	"sync/atomic"
)

// Path names one implementation of the kernels of this package.
type Path int

const (
	Generic Path = iota // portable Go: every CPU and GOARCH, and builds with -tags noasm
	AVX2                // amd64 with AVX2 and FMA3: 4×24 SGEMM micro-kernel, 256-bit element-wise kernels
	AVX512              // amd64 with AVX-512F: 8×48 SGEMM micro-kernel, 256-bit element-wise kernels
)

var pathNames = [...]string{Generic: "generic", AVX2: "avx2", AVX512: "avx512"}

// String returns the name used by BONSAI_CPU: "generic", "avx2" or "avx512".
func (p Path) String() string {
	if p >= 0 && int(p) < len(pathNames) {
		return pathNames[p]
	}
	return fmt.Sprintf("Path(%d)", int(p))
}

// ParsePath returns the Path whose String is s (case-insensitive).
func ParsePath(s string) (Path, error) {
	for p, name := range pathNames {
		if strings.EqualFold(s, name) {
			return Path(p), nil
		}
	}
	return Generic, fmt.Errorf("asm: unknown path %q (want generic, avx2 or avx512)", s)
}

// impl is one path's set of kernels: what Sgemm and the element-wise functions call.
type impl struct {
	path Path
	gemm *gemmKernel
	ew   *ewKernels // nil: the Go reference loops
}

// ewKernels are the vector parts of the element-wise functions; each processes the first
// len(dst) &^ 7 elements with exactly the rounding of the reference loop (see
// elementwise.go) and leaves the rest to the caller.
type ewKernels struct {
	axpy           func(alpha float32, x, y []float32)
	scale          func(alpha float32, x []float32)
	add, addRelu   func(dst, a, b []float32)
	max            func(dst, a, b []float32)
	relu           func(dst, src []float32)
	scaleShift     func(dst, src []float32, scale, shift float32)
	scaleShiftRelu func(dst, src []float32, scale, shift float32)
	sum            func(x []float32) [8]float32 // the 8 partial accumulators of Sum
	dot            func(x, y []float32) [8]float32
}

// active is the path in use; nil until the first kernel call, SetPath or CurrentPath
// resolves it (from BONSAI_CPU, else the best available path).
var (
	active      atomic.Pointer[impl]
	resolveOnce sync.Mutex
)

// cur returns the active implementation, resolving it on first use.
func cur() *impl {
	if p := active.Load(); p != nil {
		return p
	}
	return resolve()
}

func resolve() *impl {
	resolveOnce.Lock()
	defer resolveOnce.Unlock()
	if p := active.Load(); p != nil {
		return p
	}
	paths := AvailablePaths()
	best := paths[len(paths)-1]
	if env := os.Getenv("BONSAI_CPU"); env != "" {
		p, err := ParsePath(env)
		if err != nil {
			fmt.Fprintf(os.Stderr, "asm: BONSAI_CPU=%q is not generic, avx2 or avx512; using %v\n", env, best)
		} else {
			// A path this CPU lacks is capped to the best one it has below it.
			for _, q := range paths {
				if q <= p {
					best = q
				}
			}
		}
	}
	im := implFor(best)
	active.Store(im)
	return im
}

// AvailablePaths lists the paths this CPU and build support, in increasing order of speed:
// Generic first, then AVX2 (AVX2 and FMA3) and AVX512 (AVX-512F, with the OS saving ZMM
// state) as the CPU reports them through github.com/klauspost/cpuid/v2. Builds with
// -tags noasm, and GOARCHes other than amd64, have only Generic.
func AvailablePaths() []Path {
	return append([]Path{Generic}, archPaths()...)
}

// SetPath switches every kernel of this package to path p, for calls that start after it
// returns; it fails if p is not in AvailablePaths. It is meant for tests, benchmarks and
// tools; programs normally leave the choice to the first call (the best available path,
// or the one BONSAI_CPU=generic|avx2|avx512 names, capped to what the CPU has).
//
// Results on different paths differ in their low-order bits (SGEMM's micro-kernels use
// FMA and different tile shapes); on one path they are independent of GOMAXPROCS.
func SetPath(p Path) error {
	for _, q := range AvailablePaths() {
		if q == p {
			active.Store(implFor(p))
			return nil
		}
	}
	return fmt.Errorf("asm: path %v is not available on this CPU and build (available: %v)", p, AvailablePaths())
}

// CurrentPath reports the path in use, resolving it (BONSAI_CPU, else the best available)
// if no kernel has run yet.
func CurrentPath() Path { return cur().path }

// genericImpl is the pure-Go path.
var genericImpl = &impl{path: Generic, gemm: &genericKernel}
