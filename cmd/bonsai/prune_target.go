package main

import (
	"flag"
	"fmt"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/prune"
)

// targetFlag is -target KIND:F of bonsai prune: macs:F is -flops F (the
// fraction of MACs to remove), latency:F the fraction of the measured
// latency at -latency-batch (prune.RunConfig.Latency). It reads and writes
// the run's settings, so that a resumed run's flag shows the run's target.
type targetFlag struct{ o *pruneOpts }

func (t targetFlag) String() string {
	switch {
	case t.o == nil:
		return ""
	case t.o.Latency > 0:
		return "latency:" + strconv.FormatFloat(t.o.Latency, 'g', -1, 64)
	case t.o.FLOPs > 0:
		return "macs:" + strconv.FormatFloat(t.o.FLOPs, 'g', -1, 64)
	}
	return ""
}

func (t targetFlag) Set(s string) error {
	kind, f, ok := strings.Cut(s, ":")
	v, err := strconv.ParseFloat(f, 64)
	if !ok || err != nil || !(v > 0 && v < 1) {
		return fmt.Errorf("want macs:F or latency:F with F a fraction in (0, 1) to remove, e.g. latency:0.3")
	}
	switch kind {
	case "macs", "flops":
		t.o.FLOPs = v
	case "latency":
		t.o.Latency = v
	default:
		return fmt.Errorf("unknown kind %q: want macs:F or latency:F", kind)
	}
	return nil
}

// targetFlags registers -target, its short form -flops, -ratio and
// -latency-batch.
func targetFlags(fs *flag.FlagSet, o *pruneOpts) {
	fs.Var(targetFlag{o}, "target", "what to remove: macs:F (the fraction F of the MACs, as -flops F) or latency:F "+
		"(the fraction F of the model's latency measured at -latency-batch on this CPU, compiled form)")
	fs.Float64Var(&o.FLOPs, "flops", 0, "fraction of MACs to remove, e.g. 0.5 (short for -target macs:F)")
	fs.Float64Var(&o.Ratio, "ratio", 0, "fraction of channels to remove (instead of -target)")
	fs.IntVar(&o.LatencyBatch, "latency-batch", 1, "images per call at which a latency target and -ranking "+prune.GlobalLatency+" measure latency")
}

// checkTarget checks that exactly one target is given.
func (o pruneOpts) checkTarget() error {
	n := 0
	for _, v := range []float64{o.FLOPs, o.Latency, o.Ratio} {
		if v != 0 {
			n++
		}
	}
	switch {
	case n != 1:
		return usagef("give exactly one of -target (or -flops) and -ratio, a fraction in (0, 1)")
	case o.FLOPs >= 1 || o.Ratio >= 1 || o.FLOPs < 0 || o.Ratio < 0 || o.FLOPs != o.FLOPs || o.Ratio != o.Ratio:
		return usagef("-flops and -ratio are fractions in (0, 1)")
	case o.LatencyBatch < 0: // 0 is 1: the runs stored before -latency-batch existed
		return usagef("-latency-batch must be ≥ 1, got %d", o.LatencyBatch)
	}
	return nil
}

// oneTargetFlag fails when both -target and its short form -flops are
// given.
func oneTargetFlag(fs *flag.FlagSet) error {
	set := map[string]bool{}
	fs.Visit(func(f *flag.Flag) { set[f.Name] = true })
	if set["target"] && set["flops"] {
		return usagef("-flops F is short for -target macs:F: give one of them")
	}
	return nil
}
