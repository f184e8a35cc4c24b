package asm

import "fmt"

// Batch-normalisation kernels: float64 arithmetic on float32 data, in a fixed order on every
// path. The sums give element i to partial sum i%16 (in increasing i) and combine the 16
// partials by a fixed tree (p[j] += p[j+w] for j < w, w = 8, 4, 2, 1); every product and
// sum is rounded separately (no FMA), so all paths agree bit for bit.

// Sums64 holds two sets of 16 float64 partial sums (see above), for accumulating over
// several slices before combining them once. The zero value is empty.
type Sums64 struct {
	S, Q [16]float64
}

// AddSq adds x[i]−c into S and (x[i]−c)² into Q, element i to partial i%16.
func (m *Sums64) AddSq(x []float32, c float64) {
	n := 0
	if len(x) >= 16 && bnSumSq(x, c, &m.S, &m.Q) {
		n = len(x) &^ 15
	}
	for i := n; i < len(x); i++ {
		v := float64(x[i]) - c
		m.S[i%16] += v
		m.Q[i%16] += v * v
	}
}

// AddDotCentered adds g[i] into S and g[i]·(x[i]−mu) into Q, element i to partial i%16.
// It panics if len(g) != len(x).
func (m *Sums64) AddDotCentered(g, x []float32, mu float64) {
	if len(g) != len(x) {
		panic(fmt.Sprintf("asm: Sums64.AddDotCentered: lengths %d and %d", len(g), len(x)))
	}
	n := 0
	if len(x) >= 16 && bnDotC(g, x, mu, &m.S, &m.Q) {
		n = len(x) &^ 15
	}
	for i := n; i < len(x); i++ {
		gv := float64(g[i])
		m.S[i%16] += gv
		m.Q[i%16] += gv * (float64(x[i]) - mu)
	}
}

// Result combines the partial sums (see above) and returns ΣS and ΣQ; m is left as it is.
func (m *Sums64) Result() (s, q float64) {
	ps, pq := m.S, m.Q
	return tree16(&ps), tree16(&pq)
}

// SumSq64 returns Σ (x[i]−c) and Σ (x[i]−c)² in float64 (see above for the order): the
// first two moments about c (a c near the mean keeps the variance accurate).
func SumSq64(x []float32, c float64) (s, q float64) {
	var m Sums64
	m.AddSq(x, c)
	return m.Result()
}

// SumDotCentered64 returns Σ g[i] and Σ g[i]·(x[i]−mu) in float64 (see above for the order).
// It panics if len(g) != len(x).
func SumDotCentered64(g, x []float32, mu float64) (sg, sgx float64) {
	var m Sums64
	m.AddDotCentered(g, x, mu)
	return m.Result()
}

// BatchNormGrad64 adds float32(k·((g[i]−mdy) − ((x[i]−mu)·invstd)·mdyx)) into dx[i], the
// expression computed in float64 with each operation rounded: the data gradient of
// training-mode batch normalisation. It panics unless g and x are as long as dx.
func BatchNormGrad64(dx, g, x []float32, k, mdy, mu, invstd, mdyx float64) {
	if len(g) != len(dx) || len(x) != len(dx) {
		panic(fmt.Sprintf("asm: BatchNormGrad64: lengths %d, %d and %d", len(dx), len(g), len(x)))
	}
	n := 0
	if len(dx) >= 16 && bnBackward(dx, g, x, k, mdy, mu, invstd, mdyx) {
		n = len(dx) &^ 15
	}
	for i := n; i < len(dx); i++ {
		xh := (float64(x[i]) - mu) * invstd
		dx[i] += float32(k * ((float64(g[i]) - mdy) - xh*mdyx))
	}
}

func tree16(p *[16]float64) float64 {
	for w := 8; w >= 1; w >>= 1 {
		for j := range w {
			p[j] += p[j+w]
		}
	}
	return p[0]
}
