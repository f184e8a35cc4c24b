package prune

import (
	"math"
	"testing"
)

func TestSpearman(t *testing.T) {
	for _, tc := range []struct {
		name string
		a, b []float64
		want float64
	}{
		{"identical order", []float64{1, 2, 3, 4}, []float64{10, 20, 30, 40}, 1},
		{"monotone, not linear", []float64{1, 2, 3, 4}, []float64{1, 8, 27, 1000}, 1},
		{"reversed", []float64{1, 2, 3, 4}, []float64{4, 3, 2, 1}, -1},
		// No ties: ρ = 1 − 6·Σd²/(n(n²−1)); ranks b = 2 1 4 3 5, Σd² = 4.
		{"no ties", []float64{1, 2, 3, 4, 5}, []float64{20, 10, 40, 30, 50}, 1 - 6*4.0/(5*24)},
		// Ties: a's ranks 1.5 1.5 3 4, b's 1 2 3 4; Pearson of those:
		// mean 2.5, dx = −1 −1 .5 1.5, dy = −1.5 −.5 .5 1.5,
		// Σdxdy = 1.5+.5+.25+2.25 = 4.5, Σdx² = 4.5, Σdy² = 5.
		{"ties averaged", []float64{7, 7, 8, 9}, []float64{1, 2, 3, 4}, 4.5 / math.Sqrt(4.5*5)},
	} {
		if got := Spearman(tc.a, tc.b); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s: ρ = %.15g, want %.15g", tc.name, got, tc.want)
		}
		if got := Spearman(tc.b, tc.a); math.Abs(got-tc.want) > 1e-12 {
			t.Errorf("%s, swapped: ρ = %.15g, want %.15g", tc.name, got, tc.want)
		}
	}
	for _, tc := range []struct {
		name string
		a, b []float64
	}{
		{"lengths differ", []float64{1, 2}, []float64{1, 2, 3}},
		{"one pair", []float64{1}, []float64{1}},
		{"constant", []float64{3, 3, 3}, []float64{1, 2, 3}},
		{"NaN", []float64{1, math.NaN(), 3}, []float64{1, 2, 3}},
	} {
		if got := Spearman(tc.a, tc.b); !math.IsNaN(got) {
			t.Errorf("%s: ρ = %g, want NaN", tc.name, got)
		}
	}
}
