package optim

import (
	"fmt"
	"math"
	"slices"
	"sort"
)

// Schedule gives the learning rate as a function of the optimizer step: LR(k)
// is the rate of the update that follows k completed updates (k = 0 for the
// first), i.e. what a PyTorch scheduler stepped once per optimizer step
// holds in param_groups[0]["lr"] at that point. A resumed run needs only its
// step count. A negative step is treated as 0. Schedules are immutable and
// safe for concurrent use.
type Schedule interface {
	LR(step int) float64
}

// Constant returns the schedule that is lr at every step.
func Constant(lr float64) Schedule { return constant{lr} }

type constant struct{ lr float64 }

func (s constant) LR(int) float64 { return s.lr }

// String describes the schedule.
func (s constant) String() string { return fmt.Sprintf("constant(lr=%g)", s.lr) }

// MultiStep returns PyTorch's MultiStepLR in closed form: base·gamma^k at
// step s, where k is the number of milestones ≤ s. Milestones are in steps
// (ParseSchedule converts epochs); they are sorted, and a repeated milestone
// counts twice, as in PyTorch. It panics if a milestone is negative.
func MultiStep(base float64, milestones []int, gamma float64) Schedule {
	ms := slices.Clone(milestones)
	slices.Sort(ms)
	if len(ms) > 0 && ms[0] < 0 {
		panic(fmt.Sprintf("optim.MultiStep: negative milestone %d", ms[0]))
	}
	return multiStep{base: base, milestones: ms, gamma: gamma}
}

type multiStep struct {
	base       float64
	milestones []int
	gamma      float64
}

func (s multiStep) LR(step int) float64 {
	step = max(step, 0)
	k := sort.SearchInts(s.milestones, step+1) // bisect_right(milestones, step)
	return s.base * powInt(s.gamma, k)
}

// String describes the schedule.
func (s multiStep) String() string {
	return fmt.Sprintf("multistep(base=%g, milestones=%v steps, gamma=%g)", s.base, s.milestones, s.gamma)
}

// Cosine returns PyTorch's CosineAnnealingLR with T_max = totalSteps and
// eta_min = minLR, in its closed form
//
//	minLR + (base − minLR)·(1 + cos(π·step/totalSteps))/2,
//
// which falls from base at step 0 to minLR at step totalSteps. Beyond
// totalSteps it follows the same formula (the rate rises again, as
// PyTorch's does); ParseSchedule sizes it to the whole run. It panics if
// totalSteps < 1.
func Cosine(base float64, totalSteps int, minLR float64) Schedule {
	if totalSteps < 1 {
		panic(fmt.Sprintf("optim.Cosine: totalSteps %d < 1", totalSteps))
	}
	return cosine{base: base, total: totalSteps, min: minLR}
}

type cosine struct {
	base  float64
	total int
	min   float64
}

func (s cosine) LR(step int) float64 {
	step = max(step, 0)
	return s.min + (s.base-s.min)*(1+math.Cos(math.Pi*float64(step)/float64(s.total)))/2
}

// String describes the schedule.
func (s cosine) String() string {
	return fmt.Sprintf("cosine(base=%g, steps=%d, min=%g)", s.base, s.total, s.min)
}

// Warmup returns s preceded by warmupSteps steps of linear warm-up, like
// PyTorch's LinearLR(start_factor=startFactor, end_factor=1,
// total_iters=warmupSteps) chained with s by SequentialLR(milestones=
// [warmupSteps]): for step < warmupSteps the rate is
//
//	s.LR(0)·(startFactor + (1 − startFactor)·step/warmupSteps),
//
// and from then on s.LR(step − warmupSteps), so s starts afresh after the
// warm-up (size s to the steps that remain). With warmupSteps ≤ 0 it
// returns s.
func Warmup(s Schedule, warmupSteps int, startFactor float64) Schedule {
	if warmupSteps <= 0 {
		return s
	}
	return warmup{s: s, steps: warmupSteps, factor: startFactor}
}

type warmup struct {
	s      Schedule
	steps  int
	factor float64
}

func (w warmup) LR(step int) float64 {
	step = max(step, 0)
	if step >= w.steps {
		return w.s.LR(step - w.steps)
	}
	// LinearLR's closed form: base·(start + (end − start)·min(total, step)/total).
	return w.s.LR(0) * (w.factor + (1-w.factor)*float64(step)/float64(w.steps))
}

// String describes the schedule.
func (w warmup) String() string {
	return fmt.Sprintf("warmup(steps=%d, from=%g×) then %v", w.steps, w.factor, w.s)
}

// OneCycle returns PyTorch's OneCycleLR with cosine annealing and two phases
// (anneal_strategy="cos", three_phase=false): from maxLR/divFactor up to
// maxLR over the first pctStart·totalSteps − 1 steps, then down to
// maxLR/(divFactor·finalDivFactor) at step totalSteps − 1. Later steps keep
// that last rate (PyTorch raises an error there). Only the learning rate is
// scheduled: PyTorch's default cycle_momentum=True also cycles SGD's
// momentum or Adam's β1, which this does not. It panics if totalSteps < 1,
// pctStart is outside (0, 1) or a factor is not positive.
func OneCycle(maxLR float64, totalSteps int, pctStart, divFactor, finalDivFactor float64) Schedule {
	switch {
	case totalSteps < 1:
		panic(fmt.Sprintf("optim.OneCycle: totalSteps %d < 1", totalSteps))
	case !(pctStart > 0 && pctStart < 1):
		panic(fmt.Sprintf("optim.OneCycle: pctStart %v is outside (0, 1)", pctStart))
	case !(divFactor > 0) || !(finalDivFactor > 0):
		panic(fmt.Sprintf("optim.OneCycle: divFactor %v and finalDivFactor %v must be > 0", divFactor, finalDivFactor))
	}
	initial := maxLR / divFactor
	return oneCycle{
		max:      maxLR,
		total:    totalSteps,
		pct:      pctStart,
		div:      divFactor,
		finalDiv: finalDivFactor,
		initial:  initial,
		min:      initial / finalDivFactor,
		end1:     float64(pctStart*float64(totalSteps)) - 1, // no FMA: Python rounds the product
		end2:     float64(totalSteps - 1),
	}
}

type oneCycle struct {
	max                float64
	total              int
	pct, div, finalDiv float64
	initial, min       float64
	end1, end2         float64 // the phases' end steps, as PyTorch computes them
}

func (s oneCycle) LR(step int) float64 {
	step = min(max(step, 0), s.total-1)
	x := float64(step)
	if x <= s.end1 {
		return annealCos(s.initial, s.max, phasePct(x, 0, s.end1))
	}
	return annealCos(s.max, s.min, phasePct(x, s.end1, s.end2))
}

// phasePct is OneCycleLR's (step − start)/(end − start); an empty phase
// (where PyTorch divides by zero) counts as complete.
func phasePct(x, start, end float64) float64 {
	if end == start {
		return 1
	}
	return (x - start) / (end - start)
}

// annealCos is OneCycleLR._annealing_cos.
func annealCos(start, end, pct float64) float64 {
	cosOut := math.Cos(math.Pi*pct) + 1
	return end + float64((start-end)/2.0*cosOut) // the conversion forbids fusing into an FMA
}

// String describes the schedule.
func (s oneCycle) String() string {
	return fmt.Sprintf("onecycle(max=%g, steps=%d, pct_start=%g, div=%g, final_div=%g)",
		s.max, s.total, s.pct, s.div, s.finalDiv)
}
