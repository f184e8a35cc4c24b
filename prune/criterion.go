package prune

import (
	"fmt"
	"math"
	"math/rand/v2"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
)

// Criterion scores the channels of a model's groups: the lower a
// channel's score, the less removing it is expected to cost.
type Criterion interface {
	// Name is the criterion's name as NewCriterion takes it
	// ("sensitivity", "l1", …).
	Name() string
	// Scores returns, for every prunable group of g, one non-negative
	// score per channel (len = the group's Channels). s holds the
	// calibration statistics; criteria that need them return an error
	// when s is nil or stale, and the others ignore it.
	Scores(g *Graph, s *Stats) (map[*Group][]float64, error)
}

// Criterion names, as NewCriterion takes them.
const (
	Sensitivity = "sensitivity" // OBD: Σ ½·F_ii·w_i² over the channel's parameters; needs Stats
	L1          = "l1"          // ‖producer filters‖₁
	L2          = "l2"          // ‖producer filters‖₂
	BNScale     = "bn-scale"    // Σ |γ| over the group's BatchNorm2d layers
	Taylor      = "taylor"      // Molchanov et al. 2019, (Σ g·w)² averaged over batches; needs Stats
	Random      = "random"      // uniform in [0, 1), seeded
)

// Scopes of the sensitivity and taylor criteria.
const (
	// ScopeAll sums over every parameter element that disappears with the
	// channel (Group.Params): producers' filters and biases, BatchNorm γ
	// and β, consumers' input slices. The default.
	ScopeAll = "all"
	// ScopeFilter sums over the producers' (Side Out) Conv2d and Linear
	// filters and biases only, OBD's literal per-filter form.
	ScopeFilter = "filter"
	// ScopeChannel (sensitivity only) takes OBD's saliency of the channel
	// as a whole, ½·F_c of its mask (Stats.Channel), instead of a sum of
	// diagonal saliencies; it scores the groups that are not residual
	// streams, so it cannot rank with -prune-residual.
	ScopeChannel = "channel"
)

// Scopes lists the scopes, as NewCriterion takes them.
var Scopes = []string{ScopeAll, ScopeFilter, ScopeChannel}

// CriterionNames lists the criteria NewCriterion knows, in the order the
// CLI documents them.
var CriterionNames = []string{Sensitivity, L1, L2, BNScale, Taylor, Random}

// NeedsStats reports whether the named criterion reads calibration
// statistics (sensitivity, taylor).
func NeedsStats(name string) bool { return name == Sensitivity || name == Taylor }

// NewCriterion returns the named criterion (see CriterionNames). scope is
// ScopeAll (or "", the default) or ScopeFilter; it changes what sensitivity
// and taylor sum over and is ignored by the others. seed seeds random
// and is ignored by the others.
func NewCriterion(name, scope string, seed uint64) (Criterion, error) {
	switch scope {
	case "":
		scope = ScopeAll
	case ScopeAll, ScopeFilter:
	case ScopeChannel:
		if name != Sensitivity {
			return nil, fmt.Errorf("prune: scope %s is for criterion %s only", scope, Sensitivity)
		}
	default:
		return nil, fmt.Errorf("prune: unknown scope %q: want %s", scope, strings.Join(Scopes, ", "))
	}
	switch name {
	case Sensitivity:
		if scope == ScopeChannel {
			return channelSensitivity{}, nil
		}
		return sensitivity{filter: scope == ScopeFilter}, nil
	case L1:
		return norm{p: 1}, nil
	case L2:
		return norm{p: 2}, nil
	case BNScale:
		return bnScale{}, nil
	case Taylor:
		return taylor{filter: scope == ScopeFilter}, nil
	case Random:
		return random{seed: seed}, nil
	}
	return nil, fmt.Errorf("prune: unknown criterion %q: want one of %s", name, strings.Join(CriterionNames, ", "))
}

// sensitivity is OBD's saliency: for each parameter element
// s_i = ½·F_ii·w_i², summed over the channel's elements. Its unit is loss,
// so channels of different groups compare directly.
type sensitivity struct{ filter bool }

func (c sensitivity) Name() string { return Sensitivity }

func (c sensitivity) Scores(g *Graph, s *Stats) (map[*Group][]float64, error) {
	if err := s.check(g, Sensitivity); err != nil {
		return nil, err
	}
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		sc := make([]float64, gr.Channels)
		for ch := range gr.Channels {
			ps := gr.Params(ch)
			if c.filter {
				ps = filterParams(ps)
			}
			for _, p := range ps {
				f, ok := s.Fisher[p.Name]
				if !ok {
					return nil, fmt.Errorf("prune: criterion sensitivity: no Fisher statistics for parameter %s (its layer does not track per-sample squared gradients)", p.Name)
				}
				if len(f.Data) != len(p.Var.Value.Data) {
					return nil, fmt.Errorf("prune: criterion sensitivity: the statistics of %s are stale (shape %v, the parameter has %v); calibrate again",
						p.Name, f.Shape, p.Var.Value.Shape)
				}
				w := p.Var.Value.Data
				for _, i := range p.Index {
					sc[ch] += 0.5 * float64(f.Data[i]) * float64(w[i]) * float64(w[i])
				}
			}
		}
		out[gr] = sc
	}
	return out, nil
}

// channelSensitivity is ½·F_c of each channel's mask (Stats.Channel), for
// the groups that are not residual streams.
type channelSensitivity struct{}

func (channelSensitivity) Name() string { return Sensitivity }

func (channelSensitivity) Scores(g *Graph, s *Stats) (map[*Group][]float64, error) {
	if err := s.check(g, Sensitivity); err != nil {
		return nil, err
	}
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		if gr.Residual {
			continue
		}
		f, ok := s.Channel[gr]
		if !ok || len(f) != gr.Channels {
			return nil, fmt.Errorf("prune: criterion sensitivity, scope channel: no channel-mask statistics for group %s; calibrate again", gr)
		}
		sc := make([]float64, gr.Channels)
		for c, v := range f {
			sc[c] = 0.5 * v
		}
		out[gr] = sc
	}
	return out, nil
}

// norm is the Lp norm (p = 1, 2) of a channel's producer filters: the
// weights of every Side Out Conv2d and Linear of the group, taken together
// as one vector (biases excluded).
type norm struct{ p int }

func (c norm) Name() string { return map[int]string{1: L1, 2: L2}[c.p] }

func (c norm) Scores(g *Graph, _ *Stats) (map[*Group][]float64, error) {
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		sc := make([]float64, gr.Channels)
		for ch := range gr.Channels {
			n := 0
			for _, p := range filterParams(gr.Params(ch)) {
				if p.Role != nn.RoleWeight {
					continue
				}
				n++
				for _, i := range p.Index {
					w := math.Abs(float64(p.Var.Value.Data[i]))
					if c.p == 1 {
						sc[ch] += w
					} else {
						sc[ch] += w * w
					}
				}
			}
			if n == 0 {
				return nil, fmt.Errorf("prune: criterion %s: group %s has no Conv2d, Linear or other layer whose weights produce its channels", c.Name(), gr)
			}
			if c.p == 2 {
				sc[ch] = math.Sqrt(sc[ch])
			}
		}
		out[gr] = sc
	}
	return out, nil
}

// bnScale sums |γ| of the group's BatchNorm2d layers (Liu et al. 2017,
// network slimming): of every per-channel scale (nn.RoleScale) a layer of
// the group has.
type bnScale struct{}

func (bnScale) Name() string { return BNScale }

func (bnScale) Scores(g *Graph, _ *Stats) (map[*Group][]float64, error) {
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		sc, n := make([]float64, gr.Channels), 0
		for _, d := range gr.Deps {
			for _, t := range d.tensors() {
				if t.Role != nn.RoleScale {
					continue
				}
				n++
				for ch := range sc {
					lo, hi := d.Indices(ch)
					for _, i := range blockIndices(t.Var.Value.Shape, t.Axis, lo, hi) {
						sc[ch] += math.Abs(float64(t.Var.Value.Data[i]))
					}
				}
			}
		}
		if n == 0 {
			return nil, fmt.Errorf("prune: criterion bn-scale: group %s has no BatchNorm2d (no per-channel scale); use another criterion", gr)
		}
		out[gr] = sc
	}
	return out, nil
}

// taylor reads Stats.Taylor (or TaylorFilter).
type taylor struct{ filter bool }

func (taylor) Name() string { return Taylor }

func (c taylor) Scores(g *Graph, s *Stats) (map[*Group][]float64, error) {
	if err := s.check(g, Taylor); err != nil {
		return nil, err
	}
	if s.Taylor == nil {
		return nil, fmt.Errorf("prune: criterion taylor needs the true labels' batch gradients, and the statistics are of the %s Fisher: calibrate with the empirical Fisher", s.FisherKind)
	}
	src := s.Taylor
	if c.filter {
		src = s.TaylorFilter
	}
	out := map[*Group][]float64{}
	for _, gr := range g.Prunable() {
		t, ok := src[gr]
		if !ok || len(t) != gr.Channels {
			return nil, fmt.Errorf("prune: criterion taylor: no statistics for group %s; calibrate again", gr)
		}
		out[gr] = append([]float64(nil), t...)
	}
	return out, nil
}

// random draws each score uniformly from [0, 1) with a PCG seeded by
// (seed, the group's index in the Graph), so scores depend on the seed and
// the graph only.
type random struct{ seed uint64 }

func (random) Name() string { return Random }

func (c random) Scores(g *Graph, _ *Stats) (map[*Group][]float64, error) {
	out := map[*Group][]float64{}
	for i, gr := range g.Groups {
		if !gr.Prunable {
			continue
		}
		r := rand.New(rand.NewPCG(c.seed, uint64(i)))
		sc := make([]float64, gr.Channels)
		for ch := range sc {
			sc[ch] = r.Float64()
		}
		out[gr] = sc
	}
	return out, nil
}
