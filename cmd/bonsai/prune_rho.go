package main

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/bonsai-dl/bonsai/data"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// rhoOpts are the settings of one "bonsai prune-rho" study, stored in its
// directory (rho-opts.json) so that -resume continues the same study.
type rhoOpts struct {
	Weights, Arch, Data string
	TestRange           string
	Channels            int
	ChannelSeed         uint64
	Calib               []int
	Fisher              []string
	Augment             []bool
	FisherSamples       int
	FisherClasses       int
	Scopes              []string
	Seed                uint64
	CalibBatch, Batch   int
	Mean, Std           [3]float32
}

// rhoDelta is delta.json: the measured loss increase of each channel.
type rhoDelta struct {
	BaseLoss float64   `json:"base_loss"`
	Names    []string  `json:"channels"`
	Loss     []float64 `json:"loss_without"` // of the first len(Loss) channels
	Seconds  float64   `json:"seconds"`
}

// rhoStream is stream-FISHER-AUG.json: the scores of the chosen channels
// from one calibration pass, at each calibration size.
type rhoStream struct {
	Fisher  string  `json:"fisher"`
	Augment bool    `json:"augment"`
	Seconds float64 `json:"seconds"`
	// Loss[i] is the calibration loss over Calib[i] images; Scores[label][i]
	// the scores of the chosen channels from them.
	Loss   []float64              `json:"calib_loss"`
	Scores map[string][][]float64 `json:"scores"`
}

func runPruneRho(args []string, out, errOut io.Writer) error {
	fs := newFlags("prune-rho", errOut)
	o := rhoOpts{}
	fs.StringVar(&o.Weights, "weights", "", "model (safetensors)")
	fs.StringVar(&o.Arch, "arch", "", "architecture (optional when the weights file names one)")
	fs.StringVar(&o.Data, "data", "", "CIFAR-10 binary directory")
	fs.StringVar(&o.TestRange, "test-range", "0:5000", "test images FIRST:END whose mean loss a removal raises (the selection half by default)")
	fs.IntVar(&o.Channels, "channels", 0, "internal channels to measure, drawn with -channel-seed (0: all)")
	fs.Uint64Var(&o.ChannelSeed, "channel-seed", 1, "seed of the channel draw")
	calib := fs.String("calib", "2048,4096,8192,50000", "calibration sizes (one pass: the smaller sets are the first images of the largest)")
	fisher := fs.String("fisher", strings.Join(prune.FisherKinds, ","), "Fisher kinds of the sensitivity criterion")
	augment := fs.String("augment", "off,on", "calibration without (off) and with (on) the training crop and flip")
	fs.IntVar(&o.FisherSamples, "fisher-samples", 1, "labels drawn per image by the sampled Fisher")
	fs.IntVar(&o.FisherClasses, "fisher-classes", prune.DefaultExactClasses, "classes per image the exact Fisher sums exactly")
	scopes := fs.String("scope", prune.ScopeAll, "scopes of sensitivity and taylor: any of all, filter, channel (sensitivity only), e.g. all,channel")
	fs.Uint64Var(&o.Seed, "seed", 1, "seed of the calibration draw, augmentation and sampled labels (bonsai prune's step 1 with the same -seed)")
	fs.IntVar(&o.CalibBatch, "calib-batch", 128, "calibration batch size")
	fs.IntVar(&o.Batch, "batch", 500, "evaluation batch size")
	meanFlag := fs.String("mean", "", "input mean per channel (default: the weights file's)")
	stdFlag := fs.String("std", "", "input std per channel")
	dir := fs.String("out", "", "study directory (required)")
	resume := fs.Bool("resume", false, "continue the study in -out")
	every := fs.Duration("checkpoint-every", 5*time.Minute, "save an unfinished calibration pass this often")
	if err := parse(fs, args); err != nil {
		return err
	}
	if *dir == "" {
		return usagef("-out is required")
	}
	optsPath := filepath.Join(*dir, "rho-opts.json")
	if *resume {
		b, err := os.ReadFile(optsPath)
		if err != nil {
			return fmt.Errorf("-resume: %v", err)
		}
		if err := json.Unmarshal(b, &o); err != nil {
			return fmt.Errorf("%s: %v", optsPath, err)
		}
	} else {
		if _, err := os.Stat(optsPath); err == nil {
			return fmt.Errorf("%s already holds a study; use -resume or another -out", *dir)
		}
		var err error
		if o.Calib, err = parseInts(*calib); err != nil {
			return usagef("-calib %q: %v", *calib, err)
		}
		o.Fisher = strings.Split(*fisher, ",")
		o.Scopes = strings.Split(*scopes, ",")
		for _, a := range strings.Split(*augment, ",") {
			switch a {
			case "off":
				o.Augment = append(o.Augment, false)
			case "on":
				o.Augment = append(o.Augment, true)
			default:
				return usagef("-augment %q: want off, on or off,on", *augment)
			}
		}
	}
	m, meta, err := zoo.Load(o.Weights, o.Arch)
	if err != nil {
		return err
	}
	if !*resume {
		o.Arch = meta.Arch
		if o.Mean, o.Std, err = normalisation(meta, *meanFlag, *stdFlag, false); err != nil {
			return err
		}
	}
	if err := o.validate(); err != nil {
		return err
	}
	trainSet, testSet, err := loadData(o.Data, o.Arch)
	if err != nil {
		return err
	}
	if testSet, err = testRange(testSet, o.TestRange); err != nil {
		return err
	}
	if n := slices.Max(o.Calib); n > trainSet.Len() {
		return usagef("-calib %d: the training split has %d images", n, trainSet.Len())
	}
	if !*resume {
		if err := os.MkdirAll(*dir, 0o755); err != nil {
			return err
		}
		if err := writeJSON(optsPath, o); err != nil {
			return err
		}
	}
	s := &rhoStudy{o: o, dir: *dir, m: m, train: trainSet, test: testSet, log: out, every: *every}
	return s.run()
}

func (o rhoOpts) validate() error {
	if len(o.Calib) == 0 {
		return usagef("-calib: give at least one size")
	}
	top := slices.Max(o.Calib)
	for _, n := range o.Calib {
		if n < 1 || (n%o.CalibBatch != 0 && n != top) {
			return usagef("-calib %d: sizes must be positive multiples of -calib-batch %d (the largest need not be)", n, o.CalibBatch)
		}
	}
	if !slices.IsSorted(o.Calib) || len(slices.Compact(slices.Clone(o.Calib))) != len(o.Calib) {
		return usagef("-calib %v: give distinct sizes in increasing order", o.Calib)
	}
	for _, k := range o.Fisher {
		if err := (prune.FisherConfig{Kind: k, Samples: o.FisherSamples, Classes: o.FisherClasses}).Validate(); err != nil {
			return usageError{strings.TrimPrefix(err.Error(), "prune: ")}
		}
	}
	for _, s := range o.Scopes {
		if _, err := prune.NewCriterion(prune.Sensitivity, s, 0); err != nil {
			return usageError{strings.TrimPrefix(err.Error(), "prune: ")}
		}
	}
	if o.CalibBatch < 1 || o.Batch < 1 || o.Channels < 0 {
		return usagef("-calib-batch, -batch must be positive and -channels ≥ 0")
	}
	return nil
}

// rhoStudy carries out a study: the loss increases, then one calibration
// pass per Fisher kind and augmentation, each saved when done.
type rhoStudy struct {
	o           rhoOpts
	dir         string
	m           nn.Module
	train, test *data.Dataset
	log         io.Writer
	every       time.Duration // between checkpoints of a calibration pass

	g     *prune.Graph
	chs   []prune.ChannelRef
	delta rhoDelta
}

func (s *rhoStudy) run() error {
	var err error
	h, w := s.train.Size()
	if s.g, err = prune.Trace(s.m, data.Channels, h, w); err != nil {
		return err
	}
	all := prune.InternalChannels(s.g)
	s.chs = prune.SampleChannels(all, s.o.Channels, s.o.ChannelSeed)
	fmt.Fprintf(s.log, "%s: %d internal channels, measuring %d; %d test images (%s)\n", s.o.Arch, len(all), len(s.chs), s.test.Len(), s.o.TestRange)
	if err := s.measure(); err != nil {
		return err
	}
	for _, aug := range s.o.Augment {
		for _, kind := range s.o.Fisher {
			path := s.streamPath(kind, aug)
			if _, err := os.Stat(path); err == nil {
				continue
			}
			st, err := s.stream(kind, aug)
			if err != nil {
				return err
			}
			if err := writeJSON(path, st); err != nil {
				return err
			}
			if err := os.Remove(s.ckptPath(kind, aug)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return err
			}
			if err := s.report(); err != nil {
				return err
			}
		}
	}
	return s.report()
}

func (s *rhoStudy) streamPath(kind string, aug bool) string {
	return filepath.Join(s.dir, fmt.Sprintf("stream-%s-%s.json", kind, map[bool]string{false: "plain", true: "augmented"}[aug]))
}

// ckptPath is the checkpoint of an unfinished stream.
func (s *rhoStudy) ckptPath(kind string, aug bool) string {
	return strings.TrimSuffix(s.streamPath(kind, aug), ".json") + ".ckpt.json"
}

// measure fills s.delta, resuming delta.json, saving it every 16 channels.
func (s *rhoStudy) measure() error {
	path := filepath.Join(s.dir, "delta.json")
	names := make([]string, len(s.chs))
	for i, c := range s.chs {
		names[i] = c.String()
	}
	if b, err := os.ReadFile(path); err == nil {
		if err := json.Unmarshal(b, &s.delta); err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		if !slices.Equal(s.delta.Names, names) {
			return fmt.Errorf("%s lists other channels than the study's options draw", path)
		}
	} else if !errors.Is(err, os.ErrNotExist) {
		return err
	}
	probe := prune.NewLossProbe(s.m, s.test, s.o.Batch, s.o.Mean, s.o.Std)
	if s.delta.Names == nil {
		start := time.Now()
		s.delta = rhoDelta{BaseLoss: probe.Loss(), Names: names}
		s.delta.Seconds = time.Since(start).Seconds()
		fmt.Fprintf(s.log, "mean test loss %.6f\n", s.delta.BaseLoss)
	}
	start := time.Now().Add(-time.Duration(s.delta.Seconds * float64(time.Second)))
	for i := len(s.delta.Loss); i < len(s.chs); i++ {
		l, err := probe.LossWithout(s.chs[i])
		if err != nil {
			return err
		}
		s.delta.Loss = append(s.delta.Loss, l)
		if done := i + 1; done%16 == 0 || done == len(s.chs) {
			s.delta.Seconds = time.Since(start).Seconds()
			if err := writeJSON(path, s.delta); err != nil {
				return err
			}
			fmt.Fprintf(s.log, "loss increases: %d/%d channels, %.0f s\n", done, len(s.chs), s.delta.Seconds)
		}
	}
	return nil
}

// criteria returns the labels and criteria a stream of kind scores.
func (s *rhoStudy) criteria(kind string) ([]string, []prune.Criterion, error) {
	var labels []string
	var crits []prune.Criterion
	names := []string{prune.Sensitivity}
	if kind == prune.FisherEmpirical {
		names = append(names, prune.Taylor)
	}
	for _, name := range names {
		for _, scope := range s.o.Scopes {
			if name == prune.Taylor && scope == prune.ScopeChannel {
				continue
			}
			c, err := prune.NewCriterion(name, scope, 0)
			if err != nil {
				return nil, nil, err
			}
			labels, crits = append(labels, critLabel(name, kind, scope)), append(crits, c)
		}
	}
	return labels, crits, nil
}

// critLabel names a criterion in the tables: "sensitivity, exact Fisher",
// "taylor", with the scope when it is not "all".
func critLabel(name, kind, scope string) string {
	l := name
	if name == prune.Sensitivity {
		l += ", " + kind + " Fisher"
	}
	if scope != prune.ScopeAll {
		l += " (scope " + scope + ")"
	}
	return l
}

// stream calibrates once over the largest size with Fisher kind and
// augmentation aug, taking the scores at each size.
func (s *rhoStudy) stream(kind string, aug bool) (*rhoStream, error) {
	o := s.o
	cfg := prune.CalibConfig{N: slices.Max(o.Calib), Batch: o.CalibBatch, Seed: o.Seed, Mean: o.Mean, Std: o.Std, Augment: aug,
		Fisher: prune.FisherConfig{Kind: kind, Samples: o.FisherSamples, Classes: o.FisherClasses, Seed: o.Seed}}
	batches, err := cfg.Batches(s.train)
	if err != nil {
		return nil, err
	}
	labels, crits, err := s.criteria(kind)
	if err != nil {
		return nil, err
	}
	cal, err := prune.NewCalibration(s.m, s.g, cfg.Fisher)
	if err != nil {
		return nil, err
	}
	defer cal.Close()
	res := &rhoStream{Fisher: kind, Augment: aug, Scores: map[string][][]float64{}}
	fmt.Fprintf(s.log, "calibrating: %s Fisher, augmentation %v, %d images, %d pass(es) per batch\n", kind, aug, cfg.N, cfg.Fisher.Passes(classesOf(s.m, []int{3, 32, 32})))
	// A checkpoint of the running sums every few minutes: a resumed stream
	// continues from it and ends with the same numbers.
	ckptPath := s.ckptPath(kind, aug)
	var ck rhoCheckpoint
	if b, err := os.ReadFile(ckptPath); err == nil {
		if err := json.Unmarshal(b, &ck); err != nil {
			return nil, fmt.Errorf("%s: %v", ckptPath, err)
		}
		if err := cal.Restore(ck.State); err != nil {
			return nil, fmt.Errorf("%s: %v", ckptPath, err)
		}
		res = ck.Partial
		fmt.Fprintf(s.log, "  resuming after %d images\n", ck.State.N)
	}
	start := time.Now().Add(-time.Duration(res.Seconds * float64(time.Second)))
	lastSave := time.Now()
	next := len(res.Loss)
	seen := 0
	for x, l := range batches {
		if seen += x.Shape[0]; seen <= cal.N() {
			continue // done before the checkpoint
		}
		if err := cal.Add(x, l); err != nil {
			return nil, err
		}
		if cal.N() == o.Calib[next] {
			if err := s.snapshot(cal, res, labels, crits); err != nil {
				return nil, err
			}
			fmt.Fprintf(s.log, "  %d images: calibration loss %.5f, %.0f s\n", cal.N(), res.Loss[next], time.Since(start).Seconds())
			if next++; next == len(o.Calib) {
				break
			}
		}
		if time.Since(lastSave) >= s.every {
			res.Seconds = time.Since(start).Seconds()
			if err := writeJSON(ckptPath, rhoCheckpoint{State: cal.State(), Partial: res}); err != nil {
				return nil, err
			}
			lastSave = time.Now()
			fmt.Fprintf(s.log, "  %d images, %.0f s\n", cal.N(), res.Seconds)
		}
	}
	res.Seconds = time.Since(start).Seconds()
	return res, nil
}

// snapshot adds the calibration loss and the scores of the chosen
// channels from the statistics so far to res.
func (s *rhoStudy) snapshot(cal *prune.Calibration, res *rhoStream, labels []string, crits []prune.Criterion) error {
	st, err := cal.Stats()
	if err != nil {
		return err
	}
	res.Loss = append(res.Loss, st.Loss)
	for i, c := range crits {
		sc, err := c.Scores(s.g, st)
		if err != nil {
			return err
		}
		v := make([]float64, len(s.chs))
		for j, ch := range s.chs {
			v[j] = sc[ch.Group][ch.Index]
		}
		res.Scores[labels[i]] = append(res.Scores[labels[i]], v)
	}
	return nil
}

// rhoCheckpoint is a stream's checkpoint: the calibration's running sums
// and the scores of the sizes already reached.
type rhoCheckpoint struct {
	State   *prune.CalibState `json:"state"`
	Partial *rhoStream        `json:"partial"`
}

// report writes rho.md (the table of Spearman's ρ), rho.json and
// scores.csv from the files of the study so far.
func (s *rhoStudy) report() error {
	o := s.o
	n := len(s.delta.Loss)
	delta := make([]float64, n)
	for i, l := range s.delta.Loss {
		delta[i] = l - s.delta.BaseLoss
	}
	type row struct {
		Criterion string     `json:"criterion"`
		Augment   *bool      `json:"augment,omitempty"`
		Rho       []optFloat `json:"rho"` // per calibration size; one value for l1
		// Within is the mean of ρ within each layer (group), weighted by
		// the channels measured in it: what a uniform ranking depends on.
		Within  []optFloat `json:"rho_within_layers"`
		Seconds float64    `json:"calib_seconds,omitempty"`
	}
	var rows []row
	csvCols := []string{}
	csvVals := [][]float64{}
	l1, _ := prune.NewCriterion(prune.L1, "", 0)
	sc, err := l1.Scores(s.g, nil)
	if err != nil {
		return err
	}
	l1v := make([]float64, n)
	for j := range n {
		l1v[j] = sc[s.chs[j].Group][s.chs[j].Index]
	}
	rows = append(rows, row{Criterion: prune.L1, Rho: []optFloat{optFloat(prune.Spearman(l1v, delta))}, Within: []optFloat{optFloat(s.withinLayers(l1v, delta))}})
	csvCols, csvVals = append(csvCols, prune.L1), append(csvVals, l1v)
	var order []string // criterion labels in the order of the table
	streams := map[string]*rhoStream{}
	for _, aug := range o.Augment {
		for _, kind := range o.Fisher {
			b, err := os.ReadFile(s.streamPath(kind, aug))
			if err != nil {
				continue
			}
			st := new(rhoStream)
			if err := json.Unmarshal(b, st); err != nil {
				return fmt.Errorf("%s: %v", s.streamPath(kind, aug), err)
			}
			streams[fmt.Sprint(kind, aug)] = st
			labels, _, _ := s.criteria(kind)
			for _, l := range labels {
				if !slices.Contains(order, l) {
					order = append(order, l)
				}
			}
		}
	}
	for _, label := range order {
		for _, aug := range o.Augment {
			for _, kind := range o.Fisher {
				st := streams[fmt.Sprint(kind, aug)]
				if st == nil || st.Scores[label] == nil {
					continue
				}
				r := row{Criterion: label, Augment: &aug, Seconds: st.Seconds}
				for i, v := range st.Scores[label] {
					r.Rho = append(r.Rho, optFloat(prune.Spearman(v[:n], delta)))
					r.Within = append(r.Within, optFloat(s.withinLayers(v[:n], delta)))
					csvCols = append(csvCols, fmt.Sprintf("%s@%d%s", label, o.Calib[i], map[bool]string{true: "+aug"}[aug]))
					csvVals = append(csvVals, v)
				}
				rows = append(rows, r)
			}
		}
	}

	var b strings.Builder
	fmt.Fprintf(&b, "# Single-channel experiment: %s\n\n", o.Arch)
	fmt.Fprintf(&b, "Spearman's ρ between each criterion's score of a channel and the increase of the mean test loss (test images %s, %d of them; base loss %.5f) when that channel alone is removed, over %d internal channels",
		o.TestRange, s.test.Len(), s.delta.BaseLoss, n)
	if o.Channels > 0 {
		fmt.Fprintf(&b, " drawn with seed %d", o.ChannelSeed)
	}
	fmt.Fprintf(&b, " (of %d measured so far: %d). Calibration: seed %d, batch %d; the smaller sets are the first images of the largest; sampled Fisher %d label(s) per image, exact Fisher ≤ %d classes per image. Weights %s.\n\n",
		len(s.chs), n, o.Seed, o.CalibBatch, o.FisherSamples, o.FisherClasses, o.Weights)
	for t, within := range []bool{false, true} {
		if within {
			b.WriteString("\nThe mean of ρ within each layer (over the channels of one group, weighted by their number; layers with fewer than 3 measured channels left out), which is what a uniform ranking depends on:\n\n")
		}
		fmt.Fprintf(&b, "| criterion | augmented |")
		for _, c := range o.Calib {
			fmt.Fprintf(&b, " %d |", c)
		}
		if t == 0 {
			fmt.Fprintf(&b, " calibration time (s) |\n|---|---|")
		} else {
			b.WriteString("\n|---|---|")
		}
		for range o.Calib {
			b.WriteString("---:|")
		}
		if t == 0 {
			b.WriteString("---:|")
		}
		b.WriteString("\n")
		for _, r := range rows {
			aug := "—"
			if r.Augment != nil {
				aug = map[bool]string{false: "no", true: "yes"}[*r.Augment]
			}
			v := r.Rho
			if within {
				v = r.Within
			}
			fmt.Fprintf(&b, "| %s | %s |", r.Criterion, aug)
			for i := range o.Calib {
				switch {
				case r.Augment == nil: // l1 needs no calibration
					fmt.Fprintf(&b, " %.3f |", float64(v[0]))
				case i < len(v):
					fmt.Fprintf(&b, " %.3f |", float64(v[i]))
				default:
					b.WriteString(" |")
				}
			}
			switch {
			case within:
				b.WriteString("\n")
			case r.Seconds > 0:
				fmt.Fprintf(&b, " %.0f |\n", r.Seconds)
			default:
				b.WriteString(" |\n")
			}
		}
	}
	fmt.Fprintf(&b, "\nLoss increases measured in %.0f s.\n", s.delta.Seconds)
	if err := os.WriteFile(filepath.Join(s.dir, "rho.md"), []byte(b.String()), 0o644); err != nil {
		return err
	}
	if err := writeJSON(filepath.Join(s.dir, "rho.json"), rows); err != nil {
		return err
	}
	var csv strings.Builder
	csv.WriteString("channel,delta_loss")
	for _, c := range csvCols {
		fmt.Fprintf(&csv, ",%q", c)
	}
	csv.WriteString("\n")
	for j := range n {
		fmt.Fprintf(&csv, "%s,%.8g", s.delta.Names[j], delta[j])
		for _, v := range csvVals {
			fmt.Fprintf(&csv, ",%.8g", v[j])
		}
		csv.WriteString("\n")
	}
	if err := os.WriteFile(filepath.Join(s.dir, "scores.csv"), []byte(csv.String()), 0o644); err != nil {
		return err
	}
	fmt.Fprint(s.log, b.String())
	return nil
}

// withinLayers returns the mean of Spearman's ρ(scores, delta) over the
// channels of each group (the first len(delta) chosen channels), weighted
// by their number, leaving out groups with fewer than 3 of them; NaN when
// there are none.
func (s *rhoStudy) withinLayers(scores, delta []float64) float64 {
	idx := map[*prune.Group][]int{}
	var order []*prune.Group
	for j := range delta {
		gr := s.chs[j].Group
		if idx[gr] == nil {
			order = append(order, gr)
		}
		idx[gr] = append(idx[gr], j)
	}
	var sum float64
	var n int
	for _, gr := range order {
		js := idx[gr]
		if len(js) < 3 {
			continue
		}
		a, d := make([]float64, len(js)), make([]float64, len(js))
		for i, j := range js {
			a[i], d[i] = scores[j], delta[j]
		}
		if rho := prune.Spearman(a, d); !math.IsNaN(rho) {
			sum += rho * float64(len(js))
			n += len(js)
		}
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// optFloat is a float64 that encodes NaN (ρ of constant scores, or of
// too few channels) as JSON null.
type optFloat float64

func (f optFloat) MarshalJSON() ([]byte, error) {
	if math.IsNaN(float64(f)) {
		return []byte("null"), nil
	}
	return json.Marshal(float64(f))
}

// writeJSON writes v as indented JSON to path atomically (temp + rename).
func writeJSON(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// parseInts parses a comma-separated list of integers.
func parseInts(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil {
			return nil, err
		}
		out = append(out, n)
	}
	return out, nil
}

// classesOf returns the number of outputs of m for inputs of shape inShape.
func classesOf(m nn.Module, inShape []int) int {
	s := nn.Summarize(m, inShape...)
	out := s.Layers[len(s.Layers)-1].OutShape
	return out[len(out)-1]
}
