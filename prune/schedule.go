package prune

import (
	"fmt"
	"math"

	"github.com/bonsai-dl/bonsai/nn"
)

// Schedule reaches a final target in Steps plans, for pruning with
// fine-tuning in between (`bonsai prune -steps k`). Step i of k
// (1-based) removes, counted from the model before step 1,
//
//	1 − (1 − T)^(i/k)
//
// of the MACs (or of the latency, or of the eligible channels), where T is
// Final.FLOPs (or Final.Latency, or Final.Ratio): every step removes the same fraction, 1 − (1 − T)^(1/k),
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

// Target returns the fraction of the base MACs (latency, channels) removed after
// step i of the schedule: 1 − (1 − T)^(i/Steps).
func (s *Schedule) Target(i int) float64 {
	t := max(s.Final.FLOPs, s.Final.Latency, s.Final.Ratio) // the one that is set
	return 1 - math.Pow(1-t, float64(i)/float64(s.Steps))
}

// Plan makes the plan of step i (1 … Steps) for m as it is now (g its
// Graph, scores fresh scores of it): MakePlan with the step's target as a
// fraction of the base figures.
func (s *Schedule) Plan(i int, m nn.Module, g *Graph, scores map[*Group][]float64, inShape ...int) (*Plan, error) {
	if s.Steps < 1 || i < 1 || i > s.Steps {
		return nil, fmt.Errorf("prune: schedule step %d of %d: want 1 ≤ step ≤ steps", i, s.Steps)
	}
	c, err := s.Final.normalise()
	if err != nil {
		return nil, err
	}
	if s.BaseMACs == 0 || s.BaseChannels == 0 {
		pl, err := newPlanner(m, g, scores, c, inShape)
		if err != nil {
			return nil, err
		}
		s.BaseMACs, s.BaseChannels = pl.macs(pl.w), pl.eligibleChannels()
	}
	c = s.Final
	c.BaseMACs, c.BaseChannels = s.BaseMACs, s.BaseChannels
	switch {
	case c.FLOPs != 0:
		c.FLOPs = s.Target(i)
	case c.Latency != 0:
		c.Latency = s.Target(i)
	default:
		c.Ratio = s.Target(i)
	}
	return MakePlan(m, g, scores, c, inShape...)
}
