package prune

import (
	"errors"
	"math"

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
)

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
// one of FLOPs and Ratio is positive.
type PlanConfig struct {
	// FLOPs is the fraction of the model's MACs (nn.Summarize: Conv2d and
	// Linear) to remove, in (0, 1): 0.5 halves them.
	FLOPs float64
	// Ratio is the fraction of the eligible groups' channels to remove,
	// in (0, 1).
	Ratio float64
	// Ranking is Uniform, Global (the default, "") or GlobalFLOPs.
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

// Plan is a choice of channels to remove from a model, with its cost
// accounting. Apply carries it out.
type Plan struct {
	Model   nn.Module
	Graph   *Graph
	InShape []int // [C, H, W] the MACs are counted for
	Config  PlanConfig
	// Groups has one entry per group of Graph, in the Graph's order.
	Groups []GroupPlan
	// MACsBefore and MACsAfter are the model's MACs per sample
	// (nn.Summarize) now and after Apply; ParamsBefore and ParamsAfter
	// its learned parameters.
	MACsBefore, MACsAfter     int64
	ParamsBefore, ParamsAfter int64
	// ChannelsBefore and ChannelsAfter count the eligible groups'
	// channels.
	ChannelsBefore, ChannelsAfter int

	applied bool
}

// MakePlan chooses channels of g's groups to remove from m (g is a Trace
// of m) so that the MACs of m for inputs [N, inShape...] drop by at least
// c.FLOPs (MACs after ≤ (1 − FLOPs)·MACs before), or at least c.Ratio of
// the eligible channels go. scores holds one score per channel of every
// eligible group (a Criterion's Scores); lower scores go first.
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
// input and its output groups after each step. Ties go to the earlier
// group. A target that the limits make unreachable is an error that says
// how far the plan can go and which limits (the floor, the ceiling,
// residual groups excluded, rounding) stand in the way.
func MakePlan(m nn.Module, g *Graph, scores map[*Group][]float64, c PlanConfig, inShape ...int) (*Plan, error) {
	return nil, errors.New("prune: MakePlan: not implemented yet")
}

// Apply removes the planned channels from the model by surgery
// (Group.Remove), slicing opt's state too when opt is not nil, and checks
// that the model's MACs (nn.Summarize) are then the plan's MACsAfter. A
// plan applies once; the Graph stays valid for the next plan, but scores
// and Stats of the old widths are stale.
func (p *Plan) Apply(opt optim.Optimizer) error {
	return errors.New("prune: Apply: not implemented yet")
}

// String summarises the plan: "MACs 40.8M → 20.3M (−50.2 %), params
// 0.27M → 0.14M, 336 → 170 channels in 9 groups".
func (p *Plan) String() string { return "" }

// Schedule reaches a final target in Steps plans, for pruning with
// fine-tuning in between (`bonsai prune -steps k`). Step i of k
// (1-based) removes, counted from the model before step 1,
//
//	1 − (1 − T)^(i/k)
//
// of the MACs (or of the eligible channels), where T is Final.FLOPs (or
// Final.Ratio): every step removes the same fraction, 1 − (1 − T)^(1/k),
// of what the previous one left, so each step is an equally small change
// for the model as it then is, and step k reaches T exactly.
type Schedule struct {
	Final PlanConfig
	Steps int
	// BaseMACs and BaseChannels are the model's MACs and eligible
	// channels before step 1; Plan sets them at its first call when they
	// are 0. Keep them to resume a schedule in another process.
	BaseMACs     int64
	BaseChannels int
}

// Target returns the fraction of the base MACs (or channels) removed after
// step i of the schedule: 1 − (1 − T)^(i/Steps).
func (s *Schedule) Target(i int) float64 {
	t := s.Final.FLOPs
	if t == 0 {
		t = s.Final.Ratio
	}
	return 1 - math.Pow(1-t, float64(i)/float64(s.Steps))
}

// Plan makes the plan of step i (1 … Steps) for m as it is now (g its
// Graph, scores fresh scores of it): MakePlan with the step's target as a
// fraction of the base figures.
func (s *Schedule) Plan(i int, m nn.Module, g *Graph, scores map[*Group][]float64, inShape ...int) (*Plan, error) {
	return nil, errors.New("prune: Schedule.Plan: not implemented yet")
}
