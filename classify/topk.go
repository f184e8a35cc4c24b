package classify

import "math"

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
	if k <= 0 {
		return []Prediction{}
	}
	// Insertion into a sorted list of the best k so far: O(len(probs)·k) at worst, and a
	// class enters after those of equal probability (which come before it).
	top := make([]int, 0, k)
	for c, p := range probs {
		if len(top) == k && !(p > probs[top[k-1]]) {
			continue
		}
		if len(top) < k {
			top = append(top, c)
		}
		j := len(top) - 1
		for ; j > 0 && p > probs[top[j-1]]; j-- {
			top[j] = top[j-1]
		}
		top[j] = c
	}
	out := make([]Prediction, k)
	for i, c := range top {
		out[i] = Prediction{Class: c, Probability: probs[c]}
		if names != nil {
			out[i].Name = names[c]
		}
	}
	return out
}
