package prune

import (
	"errors"
	"fmt"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/optim"
)

// Rankings, as PlanConfig.Ranking takes them.
const (
	// Uniform removes the same fraction of channels from every eligible
	// group (the lowest-scored channels of each group).
	Uniform = "uniform"
	// Global ranks every channel of every eligible group by its score in
	// one list and removes from the bottom. Needs scores that compare
	// across groups (sensitivity is in units of loss).
	Global = "global"
	// GlobalFLOPs ranks by score per MAC saved: a channel's score divided
	// by the MACs its removal saves at the current widths.
	GlobalFLOPs = "global-flops"
	// GlobalLatency ranks by score per millisecond saved: a channel's
	// score divided by the time its removal saves at the current widths,
	// as the latency table predicts it (PlanConfig.Timing), after HALP.
	GlobalLatency = "global-latency"
)

// Rankings lists the rankings MakePlan knows.
var Rankings = []string{Uniform, Global, GlobalFLOPs, GlobalLatency}

// Defaults of PlanConfig's zero fields.
const (
	DefaultMinChannels = 1
	// DefaultMaxRatio is the ceiling on the fraction of a group's
	// channels one plan removes when PlanConfig.MaxRatio is 0: 0.9, so a
	// global ranking cannot quietly reduce a layer to a sliver that then
	// cannot recover in fine-tuning; set MaxRatio to 1 to lift it (the
	// floor MinChannels still holds).
	DefaultMaxRatio = 0.9
)

// PlanConfig is what a plan aims for and the limits it respects. Exactly
// one of FLOPs, Latency and Ratio is positive.
type PlanConfig struct {
	// FLOPs is the fraction of the model's MACs (nn.Summarize: Conv2d and
	// Linear) to remove, in (0, 1): 0.5 halves them.
	FLOPs float64
	// Latency is the fraction of the model's measured latency to remove,
	// in (0, 1), as Timing predicts it.
	Latency float64
	// Ratio is the fraction of the eligible groups' channels to remove,
	// in (0, 1).
	Ratio float64
	// Ranking is Uniform, Global (the default, ""), GlobalFLOPs or
	// GlobalLatency.
	Ranking string
	// MinChannels is the fewest channels a group keeps (0: 1).
	MinChannels int
	// MaxRatio is the largest fraction of a group's channels the plan
	// removes, in (0, 1] (0: DefaultMaxRatio). A group of C channels keeps
	// at least C − ⌊MaxRatio·C⌋.
	MaxRatio float64
	// RoundTo makes every kept width a multiple of RoundTo (0 or 1: any
	// width); a group whose width is not a multiple of it may also stay
	// as it is. The floors above round up to a multiple.
	RoundTo int
	// PruneResidual lets the plan remove channels of residual-stream
	// groups too; by default only the other groups (the internal channels
	// of each block) are eligible.
	PruneResidual bool
	// BaseMACs and BaseChannels, when not 0, are the MACs and eligible
	// channels that FLOPs and Ratio are fractions of, instead of the
	// model's as it is now: the original model's, for the later steps of
	// a Schedule.
	BaseMACs     int64
	BaseChannels int
	// BaseLatency, when not 0, is the latency in milliseconds that
	// Latency is a fraction of, instead of Timing.Measured.
	BaseLatency float64
	// Timing predicts the latency at other widths: a Latency target and
	// the GlobalLatency ranking need it.
	Timing *LatencyModel `json:"-"`
}

// GroupPlan is the plan for one group of the Graph.
type GroupPlan struct {
	Group *Group
	// Eligible reports whether the plan may remove channels of the group;
	// Why says why not ("residual stream", "not prunable: …").
	Eligible bool
	Why      string
	// Before and After are the group's channels now and after the plan.
	Before, After int
	// Remove lists the channels to remove (ascending), len Before − After.
	Remove []int
	// Scores are the group's channel scores the plan used (nil when the
	// group is not eligible); RemovedScore sums those of Remove.
	Scores       []float64
	RemovedScore float64
}

// LayerPlan is the accounting of one Conv2d or Linear call in a plan.
type LayerPlan struct {
	Name  string // state-dict path, "layer1.0.conv1"
	Layer nn.Module
	// In and Out are the layer's input and output channels (features for
	// a Linear) before and after the plan.
	InBefore, InAfter, OutBefore, OutAfter int
	// MACs per sample before and after the plan.
	MACsBefore, MACsAfter int64
}

// Plan is a choice of channels to remove from a model, with its cost
// accounting. Apply carries it out.
type Plan struct {
	Model   nn.Module
	Graph   *Graph
	InShape []int // [C, H, W] the MACs are counted for
	Config  PlanConfig
	// Groups has one entry per group of Graph, in the Graph's order.
	Groups []GroupPlan
	// Layers has one entry per Conv2d and Linear call of a forward pass,
	// in its order (as nn.Summarize lists them).
	Layers []LayerPlan
	// MACsBefore and MACsAfter are the model's MACs per sample
	// (nn.Summarize) now and after Apply; ParamsBefore and ParamsAfter
	// its learned parameters.
	MACsBefore, MACsAfter     int64
	ParamsBefore, ParamsAfter int64
	// ChannelsBefore and ChannelsAfter count the eligible groups'
	// channels.
	ChannelsBefore, ChannelsAfter int
	// LatencyBefore and LatencyAfter are the latency in milliseconds that
	// Config.Timing predicts now and after Apply (0 without Timing).
	LatencyBefore, LatencyAfter float64

	applied bool
}

// MakePlan chooses channels of g's groups to remove from m (g is a Trace
// of m) so that the MACs of m for inputs [N, inShape...] drop by at least
// c.FLOPs (MACs after ≤ (1 − FLOPs)·MACs before), or its latency as
// c.Timing predicts it by at least c.Latency, or at least c.Ratio of the
// eligible channels go. scores holds one score per channel of every
// eligible group (a Criterion's Scores); lower scores go first. inShape
// ([C, H, W]) defaults to g.InShape.
//
// Uniform searches the smallest fraction r such that removing round(r·C)
// channels of every eligible group (then rounded and clamped to the
// group's limits) meets the target. Global and GlobalFLOPs remove channels
// greedily, one step at a time: a step takes a group from its current
// width to the next allowed one below (one channel, or down to the next
// multiple of RoundTo), removing its lowest-scored remaining channels;
// Global picks the step with the lowest mean score per channel,
// GlobalFLOPs the lowest summed score per MAC the step saves, where the
// MACs of every layer are recomputed from the current widths of both its
// input and its output groups after each step; GlobalLatency the lowest
// summed score per millisecond saved, from the latency table at the
// current widths of both sides of every layer, where a step may take a
// group down by up to 16 allowed widths at once (the jump of least score
// per millisecond), so that a plateau of the table, where one channel
// saves nothing, does not stop it (steps that save no time come last). Ties go to the earlier
// group. A target that the limits make unreachable is an error that says
// how far the plan can go and which limits (the floor, the ceiling,
// residual groups excluded, rounding) stand in the way.
func MakePlan(m nn.Module, g *Graph, scores map[*Group][]float64, c PlanConfig, inShape ...int) (*Plan, error) {
	c, err := c.normalise()
	if err != nil {
		return nil, err
	}
	pl, err := newPlanner(m, g, scores, c, inShape)
	if err != nil {
		return nil, err
	}
	if err := pl.run(); err != nil {
		return nil, err
	}
	return pl.plan(), nil
}

// normalise checks c and fills in the defaults of its zero fields.
func (c PlanConfig) normalise() (PlanConfig, error) {
	targets := 0
	for _, t := range []float64{c.FLOPs, c.Latency, c.Ratio} {
		if t != 0 {
			targets++
		}
	}
	switch {
	case targets > 1:
		return c, fmt.Errorf("prune: plan: give one target, not both: a MACs fraction (%g), a latency fraction (%g) or a channel ratio (%g)", c.FLOPs, c.Latency, c.Ratio)
	case targets == 0:
		return c, errors.New("prune: plan: no target: set FLOPs (fraction of MACs to remove), Latency (fraction of the latency) or Ratio (fraction of channels)")
	case c.FLOPs != 0 && !(c.FLOPs > 0 && c.FLOPs < 1):
		return c, fmt.Errorf("prune: plan: FLOPs target %g: want a fraction of the MACs to remove in (0, 1)", c.FLOPs)
	case c.Latency != 0 && !(c.Latency > 0 && c.Latency < 1):
		return c, fmt.Errorf("prune: plan: latency target %g: want a fraction of the latency to remove in (0, 1)", c.Latency)
	case c.Ratio != 0 && !(c.Ratio > 0 && c.Ratio < 1):
		return c, fmt.Errorf("prune: plan: channel ratio %g: want a fraction to remove in (0, 1)", c.Ratio)
	case c.BaseLatency < 0:
		return c, fmt.Errorf("prune: plan: negative base latency %g ms", c.BaseLatency)
	}
	switch c.Ranking {
	case "":
		c.Ranking = Global
	case Uniform, Global, GlobalFLOPs, GlobalLatency:
	default:
		return c, fmt.Errorf("prune: plan: unknown ranking %q: want %s", c.Ranking, strings.Join(Rankings, ", "))
	}
	if c.MinChannels < 0 || c.RoundTo < 0 || c.BaseMACs < 0 || c.BaseChannels < 0 {
		return c, fmt.Errorf("prune: plan: negative min-channels (%d), round-to (%d) or base (%d MACs, %d channels)",
			c.MinChannels, c.RoundTo, c.BaseMACs, c.BaseChannels)
	}
	if c.MinChannels == 0 {
		c.MinChannels = DefaultMinChannels
	}
	if c.MaxRatio == 0 {
		c.MaxRatio = DefaultMaxRatio
	}
	if !(c.MaxRatio > 0 && c.MaxRatio <= 1) {
		return c, fmt.Errorf("prune: plan: max-ratio %g: want a fraction in (0, 1]", c.MaxRatio)
	}
	if c.RoundTo == 0 {
		c.RoundTo = 1
	}
	return c, nil
}

// Apply removes the planned channels from the model by surgery
// (Group.Remove), slicing opt's state too when opt is not nil, and checks
// that the model's MACs (nn.Summarize) and parameters are then the plan's
// MACsAfter and ParamsAfter. A plan applies once; the Graph stays valid for
// the next plan, but scores and Stats of the old widths are stale.
func (p *Plan) Apply(opt optim.Optimizer) error {
	if p.applied {
		return errors.New("prune: the plan was applied already")
	}
	for _, gp := range p.Groups {
		if gp.Group.Channels != gp.Before {
			return fmt.Errorf("prune: plan for group %s: it has %d channels, the plan was made for %d (was the model changed?)",
				gp.Group, gp.Group.Channels, gp.Before)
		}
	}
	p.applied = true
	for _, gp := range p.Groups {
		if len(gp.Remove) == 0 {
			continue
		}
		if err := gp.Group.Remove(gp.Remove, opt); err != nil {
			return err
		}
	}
	restore := nn.EvalMode(p.Model)
	s := nn.Summarize(p.Model, p.InShape...)
	restore()
	if s.MACs != p.MACsAfter || s.Params != p.ParamsAfter {
		return fmt.Errorf("prune: after surgery the model has %d MACs and %d parameters, the plan expected %d and %d",
			s.MACs, s.Params, p.MACsAfter, p.ParamsAfter)
	}
	return nil
}

// String summarises the plan: "MACs 40.55M → 20.21M (−50.2 %), params
// 269.7k → 140.1k (−48.0 %), 336 → 170 channels, 9 of 9 eligible groups
// pruned".
func (p *Plan) String() string {
	changed, eligible := 0, 0
	for _, gp := range p.Groups {
		if gp.Eligible {
			eligible++
		}
		if gp.After != gp.Before {
			changed++
		}
	}
	return fmt.Sprintf("MACs %s → %s (−%.1f %%), params %s → %s (−%.1f %%), %d → %d channels, %d of %d eligible groups pruned",
		si(p.MACsBefore), si(p.MACsAfter), 100*(1-float64(p.MACsAfter)/float64(p.MACsBefore)),
		si(p.ParamsBefore), si(p.ParamsAfter), 100*(1-float64(p.ParamsAfter)/float64(p.ParamsBefore)),
		p.ChannelsBefore, p.ChannelsAfter, changed, eligible)
}

// si writes n with a k, M or G suffix and four significant digits.
func si(n int64) string {
	v := float64(n)
	switch {
	case v >= 1e9:
		return fmt.Sprintf("%.4gG", v/1e9)
	case v >= 1e6:
		return fmt.Sprintf("%.4gM", v/1e6)
	case v >= 1e3:
		return fmt.Sprintf("%.4gk", v/1e3)
	}
	return fmt.Sprint(n)
}
