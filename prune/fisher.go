package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"slices"
	"strings"
)

// Fisher kinds: which labels the per-sample squared gradients of a
// calibration are taken with. Every kind squares each sample's own
// gradient, never a batch gradient.
const (
	// FisherEmpirical takes each image's true label: F = E_x (∂ℓ(x, y_true)/∂w)².
	// On data the model fits, these gradients are O(ε) and the estimate
	// rests on the few misfit samples (Kunstner et al. 2019).
	FisherEmpirical = "empirical"
	// FisherSampled draws FisherConfig.Samples labels per image from the
	// model's own softmax, y ~ p(·|x), and averages their squared
	// gradients: an unbiased estimate of the true Fisher (EigenDamage's
	// C-OBD draws one).
	FisherSampled = "sampled"
	// FisherExact sums over the labels, weighted by the model's
	// prediction: F = E_x Σ_y p(y|x)·(∂ log p(y|x)/∂w)², one backward pass
	// per class. With more classes than FisherConfig.Classes, the most
	// probable Classes labels of each image are summed exactly and the
	// rest by one label drawn from them in proportion to p, weighted by
	// their total probability: still unbiased, Classes+1 passes.
	FisherExact = "exact"
)

// FisherKinds lists the Fisher kinds, in the order the CLI documents them.
var FisherKinds = []string{FisherEmpirical, FisherSampled, FisherExact}

// DefaultExactClasses is the number of labels per image FisherExact sums
// exactly when FisherConfig.Classes is 0: all of CIFAR-10's, and 10 (+1
// drawn) of an ImageNet model's 1000, so that its cost stays 11 backward
// passes per image instead of 1000.
const DefaultExactClasses = 10

// FisherConfig says how a calibration estimates the Fisher diagonal. The
// zero value is the empirical Fisher.
type FisherConfig struct {
	// Kind is one of FisherKinds ("" means FisherEmpirical).
	Kind string
	// Samples is the number of labels FisherSampled draws per image (0: 1).
	Samples int
	// Classes caps the labels FisherExact sums exactly per image (0:
	// DefaultExactClasses).
	Classes int
	// Seed seeds the labels drawn by FisherSampled and by FisherExact
	// beyond Classes. The draws of a sample depend on Seed and its position
	// in the calibration sequence only, not on the batch size.
	Seed uint64
}

// Validate returns an error saying what is wrong with f, or nil.
func (f FisherConfig) Validate() error {
	switch f.Kind {
	case "", FisherEmpirical, FisherSampled, FisherExact:
	default:
		return fmt.Errorf("prune: unknown Fisher kind %q: want one of %s", f.Kind, strings.Join(FisherKinds, ", "))
	}
	if f.Samples < 0 {
		return fmt.Errorf("prune: %d Fisher samples per image: want ≥ 1 (0: 1)", f.Samples)
	}
	if f.Classes < 0 {
		return fmt.Errorf("prune: exact Fisher over %d classes per image: want ≥ 1 (0: %d)", f.Classes, DefaultExactClasses)
	}
	return nil
}

// kind returns f.Kind with "" as FisherEmpirical.
func (f FisherConfig) kind() string {
	if f.Kind == "" {
		return FisherEmpirical
	}
	return f.Kind
}

// Passes returns the number of forward and backward passes per batch a
// calibration with f makes on a model of the given number of classes:
// 1 for the empirical Fisher, Samples for the sampled one, and for the
// exact one min(Classes, classes), plus 1 when that leaves labels out.
func (f FisherConfig) Passes(classes int) int {
	switch f.kind() {
	case FisherSampled:
		return max(f.Samples, 1)
	case FisherExact:
		k := f.Classes
		if k == 0 {
			k = DefaultExactClasses
		}
		if k >= classes {
			return classes
		}
		return k + 1
	}
	return 1
}

// tagFisher keeps the label draws apart from data's shuffling and
// augmentation streams of the same seed.
const tagFisher uint64 = 0x4649534845522121 // "FISHER!!"

// fisherLabels returns, for one sample at position pos of the calibration
// sequence whose predicted distribution is p (len = classes, summing to
// 1), the label of each backward pass of f (len = f.Passes(len(p))) and
// the weight its squared gradient gets, so that Σ_j w_j·g(y_j)² is the
// sample's Fisher estimate. It is not used for FisherEmpirical.
//
//   - sampled: y_j ~ p drawn by inverse CDF from a PCG seeded with
//     (f.Seed ^ tagFisher, pos); w_j = 1/Samples.
//   - exact: the labels in order of decreasing p (ties by index), w_j =
//     p(y_j); when that stops after Classes labels, one more pass takes a
//     label drawn from the rest in proportion to p, with w = their total
//     probability.
func fisherLabels(f FisherConfig, p []float64, pos int, labels []int, weights []float64) ([]int, []float64) {
	labels, weights = labels[:0], weights[:0]
	rng := rand.New(rand.NewPCG(f.Seed^tagFisher, uint64(pos)))
	switch f.kind() {
	case FisherSampled:
		k := max(f.Samples, 1)
		for range k {
			labels = append(labels, drawFrom(p, nil, rng.Float64()))
			weights = append(weights, 1/float64(k))
		}
	case FisherExact:
		n := f.Passes(len(p))
		order := make([]int, len(p))
		for i := range order {
			order[i] = i
		}
		slices.SortStableFunc(order, func(a, b int) int {
			switch {
			case p[a] > p[b]:
				return -1
			case p[a] < p[b]:
				return 1
			}
			return 0
		})
		exact := min(n, len(p))
		if n < len(p) {
			exact = n - 1
		}
		for _, y := range order[:exact] {
			labels = append(labels, y)
			weights = append(weights, p[y])
		}
		if exact < len(p) {
			rest := order[exact:]
			var mass float64
			for _, y := range rest {
				mass += p[y]
			}
			labels = append(labels, drawFrom(p, rest, rng.Float64()))
			weights = append(weights, mass)
		}
	default:
		panic(fmt.Sprintf("prune: fisherLabels for Fisher kind %q", f.Kind))
	}
	return labels, weights
}

// drawFrom returns the label among among (all of p's when nil) whose
// cumulative probability, in that order and renormalised to the subset,
// first exceeds u ∈ [0, 1).
func drawFrom(p []float64, among []int, u float64) int {
	var total float64
	at := func(i int) int {
		if among == nil {
			return i
		}
		return among[i]
	}
	n := len(p)
	if among != nil {
		n = len(among)
	}
	for i := range n {
		total += p[at(i)]
	}
	if !(total > 0) {
		return at(0)
	}
	target := u * total
	var cum float64
	for i := range n {
		cum += p[at(i)]
		if target < cum {
			return at(i)
		}
	}
	// Rounding: the last label with positive probability.
	for i := n - 1; i >= 0; i-- {
		if p[at(i)] > 0 {
			return at(i)
		}
	}
	return at(n - 1)
}

// softmax64 writes the softmax of the logits row into p, in float64.
func softmax64(p []float64, row []float32) {
	m := math.Inf(-1)
	for _, v := range row {
		m = max(m, float64(v))
	}
	var s float64
	for i, v := range row {
		p[i] = math.Exp(float64(v) - m)
		s += p[i]
	}
	for i := range p {
		p[i] /= s
	}
}
