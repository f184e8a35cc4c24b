package classify

import (
	"math"
	"sort"
)

// Prediction is one class of an image's top k.
type Prediction struct {
	Class       int     `json:"class"`          // output index
	Name        string  `json:"name,omitempty"` // class name ("" when the model has none)
	Probability float64 `json:"probability"`    // softmax of the logits
}

// Softmax sets p[i] = exp(logits[i] − max) / Σ_j exp(logits[j] − max), in float64. It
// reports false (and leaves p undefined) when a logit is NaN or infinite. len(p) must be
// len(logits).
func Softmax(p []float64, logits []float32) bool {
	if len(p) != len(logits) {
		panic("classify: Softmax: len(p) != len(logits)")
	}
	top := math.Inf(-1)
	for _, v := range logits {
		f := float64(v)
		if math.IsNaN(f) || math.IsInf(f, 0) {
			return false
		}
		top = max(top, f)
	}
	sum := 0.0
	for i, v := range logits {
		p[i] = math.Exp(float64(v) - top)
		sum += p[i]
	}
	for i := range p {
		p[i] /= sum
	}
	return true
}

// TopK returns the k most probable classes of probs (capped at len(probs)), most probable
// first, equal probabilities in class order; names, when not nil, names the classes.
func TopK(probs []float64, k int, names []string) []Prediction {
	k = min(k, len(probs))
	idx := make([]int, len(probs))
	for i := range idx {
		idx[i] = i
	}
	sort.SliceStable(idx, func(a, b int) bool { return probs[idx[a]] > probs[idx[b]] })
	out := make([]Prediction, k)
	for i := range out {
		c := idx[i]
		out[i] = Prediction{Class: c, Probability: probs[c]}
		if names != nil {
			out[i].Name = names[c]
		}
	}
	return out
}
