package optim

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Defaults of ParseSchedule.
const (
	// DefaultGamma is the decay factor of "multistep" without one.
	DefaultGamma = 0.1
	// DefaultWarmupFactor is the starting factor of "warmup:N" without one.
	DefaultWarmupFactor = 0.1
	// DefaultPctStart, DefaultDivFactor and DefaultFinalDivFactor are
	// OneCycleLR's defaults, used by "onecycle".
	DefaultPctStart       = 0.3
	DefaultDivFactor      = 25.0
	DefaultFinalDivFactor = 1e4
)

// ParseSchedule reads the command line's schedule syntax for a run of epochs
// epochs of stepsPerEpoch optimizer steps, with base learning rate base:
//
//	constant                    base throughout
//	multistep:91,136            ×0.1 at the start of epochs 91 and 136 (MultiStepLR)
//	multistep:91,136:0.2        the same with gamma 0.2
//	cosine                      cosine annealing to 0 at the end of the run (CosineAnnealingLR)
//	cosine:1e-4                 the same down to 1e-4
//	onecycle                    one cycle with maximum base, pct_start 0.3 (OneCycleLR)
//	onecycle:0.25               the same with pct_start 0.25
//	warmup:5+SCHEDULE           5 epochs of linear warm-up from 0.1·lr, then SCHEDULE
//	warmup:5:0.01+SCHEDULE      the same from 0.01·lr
//
// Epochs count from 0 and every schedule is evaluated per step (a cosine
// falls a little at every step, not once per epoch). After a warm-up, the
// schedule covers the remaining epochs: a cosine reaches its minimum at the
// end of the run, and multistep milestones stay epochs of the whole run
// ("warmup:5+multistep:91,136" still decays at epochs 91 and 136; every
// milestone must come after the warm-up). The one-cycle schedule has its own
// warm-up and takes no "warmup:" prefix. Errors name the bad part of spec.
func ParseSchedule(spec string, base float64, stepsPerEpoch, epochs int) (Schedule, error) {
	fail := func(format string, args ...any) (Schedule, error) {
		return nil, fmt.Errorf("optim: schedule %q: %s", spec, fmt.Sprintf(format, args...))
	}
	switch {
	case math.IsNaN(base) || math.IsInf(base, 0) || base < 0:
		return fail("base learning rate %v: want a finite value >= 0", base)
	case stepsPerEpoch < 1:
		return fail("%d steps per epoch: want at least 1", stepsPerEpoch)
	case epochs < 1:
		return fail("%d epochs: want at least 1", epochs)
	}

	body := spec
	warmEpochs, warmFactor := 0, DefaultWarmupFactor
	if rest, ok := strings.CutPrefix(spec, "warmup"); ok {
		head, after, found := strings.Cut(rest, "+")
		if !found || !strings.HasPrefix(head, ":") {
			return fail("want warmup:EPOCHS[:FACTOR]+SCHEDULE, e.g. warmup:5+cosine")
		}
		parts := strings.Split(head[1:], ":")
		if len(parts) > 2 {
			return fail("warm-up %q: want warmup:EPOCHS[:FACTOR]", "warmup"+head)
		}
		n, err := strconv.Atoi(parts[0])
		if err != nil || n < 0 {
			return fail("warm-up epochs %q: want an integer >= 0", parts[0])
		}
		if n >= epochs {
			return fail("warm-up of %d epochs leaves nothing of a %d-epoch run", n, epochs)
		}
		warmEpochs = n
		if len(parts) == 2 {
			f, err := strconv.ParseFloat(parts[1], 64)
			if err != nil || !(f > 0 && f <= 1) {
				return fail("warm-up factor %q: want a number in (0, 1]", parts[1])
			}
			warmFactor = f
		}
		body = after
	}

	kind, arg, hasArg := strings.Cut(body, ":")
	steps := (epochs - warmEpochs) * stepsPerEpoch // what the schedule after the warm-up covers
	var s Schedule
	switch kind {
	case "constant":
		if hasArg {
			return fail("constant takes no argument (got %q)", arg)
		}
		s = Constant(base)
	case "multistep":
		if !hasArg || arg == "" {
			return fail("multistep needs its milestone epochs, e.g. multistep:91,136")
		}
		list, g, hasGamma := strings.Cut(arg, ":")
		gamma := DefaultGamma
		if hasGamma {
			v, err := strconv.ParseFloat(g, 64)
			if err != nil || !(v > 0) || math.IsInf(v, 0) {
				return fail("multistep gamma %q: want a finite number > 0", g)
			}
			gamma = v
		}
		var milestones []int
		prev := -1
		for _, f := range strings.Split(list, ",") {
			e, err := strconv.Atoi(f)
			if err != nil || e < 1 {
				return fail("milestone %q: want an epoch number >= 1", f)
			}
			if e <= prev {
				return fail("milestone %d: milestones must increase", e)
			}
			if e <= warmEpochs {
				return fail("milestone %d: inside the %d-epoch warm-up", e, warmEpochs)
			}
			prev = e
			milestones = append(milestones, (e-warmEpochs)*stepsPerEpoch)
		}
		s = MultiStep(base, milestones, gamma)
	case "cosine":
		minLR := 0.0
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil || !(v >= 0) || math.IsInf(v, 0) {
				return fail("cosine minimum learning rate %q: want a finite number >= 0", arg)
			}
			if v > base {
				return fail("cosine minimum learning rate %v is above the base learning rate %v", v, base)
			}
			minLR = v
		}
		s = Cosine(base, steps, minLR)
	case "onecycle":
		if warmEpochs > 0 {
			return fail("onecycle has its own warm-up (pct_start): drop the warmup: prefix")
		}
		pct := DefaultPctStart
		if hasArg {
			v, err := strconv.ParseFloat(arg, 64)
			if err != nil || !(v > 0 && v < 1) {
				return fail("onecycle pct_start %q: want a number in (0, 1)", arg)
			}
			pct = v
		}
		s = OneCycle(base, steps, pct, DefaultDivFactor, DefaultFinalDivFactor)
	default:
		return fail("unknown schedule %q (want constant, multistep:EPOCHS[,...][:GAMMA], cosine[:MIN_LR] "+
			"or onecycle[:PCT_START], optionally after warmup:EPOCHS[:FACTOR]+)", kind)
	}
	return Warmup(s, warmEpochs*stepsPerEpoch, warmFactor), nil
}
