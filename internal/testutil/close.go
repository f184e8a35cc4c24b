// Package testutil holds comparison helpers shared by Bonsai's tests.
package testutil

import (
	"math"
	"testing"
)

// Close fails t unless max|got − want| ≤ tol·max|want| + 1e-7 and the
// lengths agree; it reports the worst element.
func Close(t testing.TB, what string, got, want []float32, tol float64) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%s: %d values, want %d", what, len(got), len(want))
		return
	}
	var maxDiff, maxRef float64
	at := 0
	for i := range want {
		d := math.Abs(float64(got[i]) - float64(want[i]))
		if !(d <= maxDiff) { // also catches NaN
			maxDiff, at = d, i
		}
		maxRef = max(maxRef, math.Abs(float64(want[i])))
	}
	if !(maxDiff <= tol*maxRef+1e-7) {
		t.Errorf("%s: max|Δ| = %.3g at %d (got %v, want %v), over %.1g·max|ref| (%.3g) + 1e-7",
			what, maxDiff, at, got[at], want[at], tol, maxRef)
	}
}
