package asm

import "testing"

func BenchmarkPackB(b *testing.B) {
	const kb, nb, ldb = 144, 4096, 131072
	src := make([]float32, kb*ldb)
	dst := make([]float32, kb*nb)
	for b.Loop() {
		packB(false, kb, nb, src, ldb, 0, 8192, dst)
	}
	b.ReportMetric(float64(kb*nb)*float64(b.N)/b.Elapsed().Seconds()/1e9, "Gelem/s")
}
