//go:build !noasm && gc

package asm

import (
	"slices"
	"testing"
)

// BenchmarkFMAPeak measures the FMA peak of each SIMD path this CPU has: loops of
// independent FMA chains (fmaPeakAVX512, fmaPeakAVX2), run on GOMAXPROCS goroutines at
// once, so "-cpu 1,2" gives the 1- and 2-core peaks to set the Sgemm figures against.
func BenchmarkFMAPeak(b *testing.B) {
	const iters = 1 << 14 // iterations per call: 24 FMAs each
	for _, pk := range []struct {
		path  Path
		lanes int
		f     func(int)
	}{{AVX512, 16, fmaPeakAVX512}, {AVX2, 8, fmaPeakAVX2}} {
		if !slices.Contains(AvailablePaths(), pk.path) {
			continue
		}
		b.Run(pk.path.String(), func(b *testing.B) {
			b.SetParallelism(1)
			b.RunParallel(func(pb *testing.PB) {
				for pb.Next() {
					pk.f(iters)
				}
			})
			flops := float64(iters) * 24 * float64(pk.lanes) * 2
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
