package main

import (
	"flag"
	"strconv"
	"strings"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/prune"
)

// calibFlags registers the calibration flags of bonsai prune that choose
// the Fisher estimate and the images (see prune.FisherConfig and
// prune.CalibConfig.Augment).
func calibFlags(fs *flag.FlagSet, o *pruneOpts) {
	fs.StringVar(&o.Fisher, "fisher", "", "Fisher diagonal of -criterion sensitivity, from per-sample squared gradients: "+
		"empirical (true labels), sampled (labels drawn from the model's softmax) or exact (Σ over the classes weighted by the softmax) (default: exact)")
	fs.IntVar(&o.FisherSamples, "fisher-samples", 1, "labels drawn per image by -fisher sampled")
	fs.IntVar(&o.FisherClasses, "fisher-classes", prune.DefaultExactClasses,
		"classes per image -fisher exact sums exactly (the most probable; the rest by one drawn label): one backward pass each")
	fs.BoolVar(&o.CalibAugment, "calib-augment", false, "give calibration images the training crop and flip (default: true for -criterion sensitivity)")
}

// fillDefaults sets the choices the command line left open (given holds
// the flags it set) to the configuration that pruned best when chosen on
// the first half of the CIFAR-10 test set (README, "Does second-order
// sensitivity prune better?"): for -criterion sensitivity the exact
// Fisher, the channel scope and augmented calibration images; the
// global-flops ranking for the criteria whose scores compare across
// layers (sensitivity, taylor) and the uniform one for the norms, whose
// scale differs from layer to layer; global-latency with a latency target.
// A resumed run replaces all of these with its own values.
func (o *pruneOpts) fillDefaults(given map[string]string) {
	sens := o.Criterion == prune.Sensitivity
	if o.Scope == "" {
		o.Scope = prune.ScopeAll
		if sens && !o.PruneResidual {
			o.Scope = prune.ScopeChannel
		}
	}
	if o.Fisher == "" && sens {
		o.Fisher = prune.FisherExact
	}
	if _, ok := given["calib-augment"]; !ok && sens {
		o.CalibAugment = true
	}
	if o.Ranking == "" {
		switch {
		case o.Latency > 0:
			o.Ranking = prune.GlobalLatency
		case sens || o.Criterion == prune.Taylor:
			o.Ranking = prune.GlobalFLOPs
		default:
			o.Ranking = prune.Uniform
		}
	}
}

// validateCalib checks the calibration flags.
func (o pruneOpts) validateCalib() error {
	f := prune.RunConfig(o).FisherConfig(0)
	if err := f.Validate(); err != nil {
		return usageError{strings.TrimPrefix(err.Error(), "prune: ") + " (-fisher, -fisher-samples, -fisher-classes)"}
	}
	if o.Fisher != "" && o.Fisher != prune.FisherEmpirical && o.Criterion != prune.Sensitivity {
		return usagef("-fisher %s is for -criterion %s; %s does not read the Fisher diagonal", o.Fisher, prune.Sensitivity, o.Criterion)
	}
	if o.Scope == prune.ScopeChannel && (o.Criterion != prune.Sensitivity || o.PruneResidual) {
		return usagef("-scope %s is for -criterion %s without -prune-residual: it scores channels that are not residual streams", o.Scope, prune.Sensitivity)
	}
	if o.TestRange != "" && o.TestImages > 0 {
		return usagef("give -test-range or -test-images, not both")
	}
	return nil
}

// checkCalibSize fails when -calib asks for more images than the training
// split holds (the whole split, 50,000 for CIFAR-10, is allowed).
func (o pruneOpts) checkCalibSize(train *data.Dataset) error {
	if prune.NeedsStats(o.Criterion) && o.Calib > train.Len() {
		return usagef("-calib %d: the training split has %d images", o.Calib, train.Len())
	}
	return nil
}

// testRangeNote describes the test images the accuracies are taken on.
func testRangeNote(o pruneOpts) string {
	if o.TestRange == "" {
		return ""
	}
	return " (test images " + o.TestRange + ")"
}

// parseRange parses "A:B" into 0 ≤ A < B ≤ n; an empty string is 0:n.
func parseRange(s string, n int) (int, int, error) {
	if s == "" {
		return 0, n, nil
	}
	a, b, ok := strings.Cut(s, ":")
	lo, err1 := strconv.Atoi(a)
	hi, err2 := strconv.Atoi(b)
	if !ok || err1 != nil || err2 != nil {
		return 0, 0, usagef("-test-range %q: want FIRST:END, e.g. 0:5000", s)
	}
	if lo < 0 || lo >= hi || hi > n {
		return 0, 0, usagef("-test-range %s: want 0 ≤ FIRST < END ≤ %d, the size of the test set", s, n)
	}
	return lo, hi, nil
}

// testRange returns images FIRST … END−1 of d for the flag value s
// ("FIRST:END"; empty: all of d), sharing d's storage.
func testRange(d *data.Dataset, s string) (*data.Dataset, error) {
	lo, hi, err := parseRange(s, d.Len())
	if err != nil {
		return nil, err
	}
	return d.Slice(lo, hi), nil
}
