package prune

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/autograd"
	"github.com/bonsai-dl/bonsai/nn"
)

// planner holds the state of MakePlan: every group's current width in the
// plan and the cost model that turns widths into MACs and parameters.
type planner struct {
	m       nn.Module
	g       *Graph
	c       PlanConfig
	inShape []int

	gs []pgroup // one per group of g, in g's order
	ch []int    // each group's channels now
	w  []int    // each group's width in the plan

	macTerms, paramTerms []term
	layers               []nn.LayerStat // the layer of each MAC term
	axes                 []nn.Axes      // its axes
	sides                [][2]int       // the groups of its input and output channels (−1: none)
	sideShares           [][2][]share   // or their shares, for a side that reads a concatenation
	termsOf              [][]int        // the MAC terms each group takes part in
	paramsConst          int64          // parameters no group touches
	macs0, params0       int64          // the model's figures now

	latTerms   []latTerm // the layers of the latency table (with Timing)
	latTermsOf [][]int   // the latency terms each group takes part in
	latOffset  float64   // the latency the table does not model, plus the correction
	lat0       float64   // the predicted latency now
}

// latTerm is a layer's time from the latency table at the widths of its
// input and output channels: the widths in and out now, scaled by the
// groups a (input) and b (output) as terms are (−1: no group).
type latTerm struct {
	e       *LayerLatency
	in, out int
	a, b    int
}

// pgroup is one group as the planner sees it.
type pgroup struct {
	gr       *Group
	eligible bool
	why      string
	minKeep  int       // the fewest channels the limits let it keep
	order    []int     // channels by ascending score, ties by index
	scores   []float64 // nil unless eligible
}

// term is one count (a layer's MACs, a parameter's elements) that scales
// with the widths of up to two groups: base·(w_a/C_a)·(w_b/C_b), a or b
// −1 for a side no group changes. The layers' adapters say which sides
// scale a layer's MACs (nn.Axes.MACs) and a parameter's size (the sides
// whose channel tensors list it): every count of a Conv2d (groups 1) or
// Linear is bilinear in its input and output widths, so the model is
// exact.
type term struct {
	base int64
	a, b int
	// sa and sb, when not nil, split side a or b among several groups: the
	// side reads a concatenation (nn.Concat), and its width is
	// Σ c·w_g/C_g over its shares, of C = Σ c channels now.
	sa, sb []share
}

// share is c channels of a side that reads a concatenation, those of group g
// (−1: channels no group changes).
type share struct{ g, c int }

// newPlanner checks the inputs and builds the cost model of m for inputs
// [1, inShape...] (g.InShape when inShape is empty).
func newPlanner(m nn.Module, g *Graph, scores map[*Group][]float64, c PlanConfig, inShape []int) (*planner, error) {
	if g == nil || g.Model != m {
		return nil, errors.New("prune: planning needs the Graph traced from the same model")
	}
	if len(inShape) == 0 {
		inShape = g.InShape
	}
	p := &planner{m: m, g: g, c: c, inShape: slices.Clone(inShape)}
	index := map[depKey]int{}
	split := map[depKey][]share{} // sides that read a concatenation
	total := map[depKey]int{}
	for i, gr := range g.Groups {
		for _, d := range gr.Deps {
			k := depKey{d.Module, d.Side}
			if d.at.v == nil {
				index[k] = i
				continue
			}
			split[k] = append(split[k], share{i, d.at.v.l.sizes[d.at.i] * d.Span})
			total[k] = d.at.v.features()
		}
		p.ch = append(p.ch, gr.Channels)
	}
	for k, sh := range split {
		n := 0
		for _, s := range sh {
			n += s.c
		}
		if n < total[k] {
			split[k] = append(sh, share{-1, total[k] - n})
		}
	}
	p.w = slices.Clone(p.ch)
	side := func(m nn.Module, s Side) int {
		if i, ok := index[depKey{m, s}]; ok {
			return i
		}
		return -1
	}
	shares := func(m nn.Module, s Side) []share { return split[depKey{m, s}] }

	restore := nn.EvalMode(m)
	s, err := summarize(m, p.inShape)
	restore()
	if err != nil {
		return nil, err
	}
	p.macs0, p.params0 = s.MACs, s.Params
	p.termsOf = make([][]int, len(g.Groups))
	for _, l := range s.Layers {
		if l.MACs == 0 {
			continue
		}
		t, ax := term{base: l.MACs, a: -1, b: -1}, nn.Axes{}
		if a, ok := nn.AdapterOf(l.Layer); ok {
			ax = a.Axes(l.Layer)
			for i, sd := range ax.MACs[:min(len(ax.MACs), 2)] {
				if i == 0 {
					t.a, t.sa = side(l.Layer, sd), shares(l.Layer, sd)
				} else {
					t.b, t.sb = side(l.Layer, sd), shares(l.Layer, sd)
				}
			}
		}
		for _, gi := range t.groups() {
			if !slices.Contains(p.termsOf[gi], len(p.macTerms)) {
				p.termsOf[gi] = append(p.termsOf[gi], len(p.macTerms))
			}
		}
		p.macTerms = append(p.macTerms, t)
		p.layers = append(p.layers, l)
		p.axes = append(p.axes, ax)
		p.sides = append(p.sides, [2]int{side(l.Layer, In), side(l.Layer, Out)})
		p.sideShares = append(p.sideShares, [2][]share{shares(l.Layer, In), shares(l.Layer, Out)})
	}
	p.paramsConst = p.params0
	nn.Walk(m, func(_ string, l nn.Module) {
		a, ok := nn.AdapterOf(l)
		if !ok {
			return
		}
		// Each learned tensor scales with the groups of the sides that list it.
		var vars []*autograd.Var
		groups := map[*autograd.Var][]int{}
		splits := map[*autograd.Var][][]share{}
		for _, sd := range []Side{In, Out, Channel} {
			for _, ct := range a.Tensors(l, sd) {
				if !ct.Role.Learned() {
					continue
				}
				if _, seen := groups[ct.Var]; !seen {
					vars = append(vars, ct.Var)
				}
				groups[ct.Var] = append(groups[ct.Var], side(l, sd))
				splits[ct.Var] = append(splits[ct.Var], shares(l, sd))
			}
		}
		for _, v := range vars {
			t := term{base: int64(v.Value.Numel()), a: groups[v][0], sa: splits[v][0], b: -1}
			if len(groups[v]) > 1 {
				t.b, t.sb = groups[v][1], splits[v][1]
			}
			p.paramTerms = append(p.paramTerms, t)
			p.paramsConst -= t.base
		}
	})

	if c.Latency > 0 || c.Ranking == GlobalLatency {
		if err := p.latencyTerms(); err != nil {
			return nil, err
		}
	}

	p.gs = make([]pgroup, len(g.Groups))
	for i, gr := range g.Groups {
		pg := pgroup{gr: gr}
		switch {
		case !gr.Prunable:
			pg.why = "not prunable: " + gr.Reason
		case gr.Residual && !c.PruneResidual:
			pg.why = "residual stream"
		default:
			pg.eligible = true
			sc, ok := scores[gr]
			if !ok {
				return nil, fmt.Errorf("prune: plan: no scores for group %s", gr)
			}
			if len(sc) != gr.Channels {
				return nil, fmt.Errorf("prune: plan: %d scores for group %s of %d channels (scores of an earlier width?)", len(sc), gr, gr.Channels)
			}
			for ch, v := range sc {
				if math.IsNaN(v) {
					return nil, fmt.Errorf("prune: plan: the score of channel %d of group %s is NaN", ch, gr)
				}
			}
			pg.scores = sc
			pg.order = make([]int, gr.Channels)
			for ch := range pg.order {
				pg.order[ch] = ch
			}
			slices.SortStableFunc(pg.order, func(x, y int) int {
				switch {
				case sc[x] < sc[y]:
					return -1
				case sc[x] > sc[y]:
					return 1
				}
				return 0
			})
		}
		pg.minKeep = minKeep(gr.Channels, c)
		p.gs[i] = pg
	}
	return p, nil
}

// latencyTerms builds the latency model from c.Timing: a term per layer
// of the table, with the groups of its sides.
func (p *planner) latencyTerms() error {
	tm := p.c.Timing
	if tm == nil || tm.Table == nil {
		return fmt.Errorf("prune: plan: a latency target or the %s ranking needs a latency table (PlanConfig.Timing)", GlobalLatency)
	}
	p.latTermsOf = make([][]int, len(p.g.Groups))
	var sum float64
	for i, l := range p.layers {
		e, ok := tm.Table.Layers[l.Name]
		if !ok {
			continue
		}
		// A side that reads a concatenation (sd −1 and shares) counts at its
		// width now: the table has one width per side.
		ax, sd := p.axes[i], p.sides[i]
		t := latTerm{e: e, in: ax.In, out: ax.Out, a: sd[0], b: sd[1]}
		if ax.Coupling == nn.Shared {
			t.a = -1 // the output width sets both sides
		}
		for _, gi := range []int{t.a, t.b} {
			if gi >= 0 && !slices.Contains(p.latTermsOf[gi], len(p.latTerms)) {
				p.latTermsOf[gi] = append(p.latTermsOf[gi], len(p.latTerms))
			}
		}
		p.latTerms = append(p.latTerms, t)
		sum += p.latValue(t, p.w)
	}
	if len(p.latTerms) == 0 {
		return errors.New("prune: plan: the latency table has none of the model's layers (a table of another model?)")
	}
	p.latOffset = tm.Measured - sum + tm.Correction
	p.lat0 = p.latency(p.w)
	return nil
}

// latValue returns a latency term's time at widths w.
func (p *planner) latValue(t latTerm, w []int) float64 {
	in, out := float64(t.in), float64(t.out)
	if t.a >= 0 {
		in = in * float64(w[t.a]) / float64(p.ch[t.a])
	}
	if t.b >= 0 {
		out = out * float64(w[t.b]) / float64(p.ch[t.b])
	}
	return t.e.At(in, out)
}

// latency returns the predicted latency at widths w, in milliseconds.
func (p *planner) latency(w []int) float64 {
	v := p.latOffset
	for _, t := range p.latTerms {
		v += p.latValue(t, w)
	}
	return v
}

// targetLatency is the most latency the plan may leave.
func (p *planner) targetLatency() float64 {
	base := p.c.BaseLatency
	if base == 0 {
		base = p.c.Timing.Measured
	}
	return (1 - p.c.Latency) * base
}

// deltaLatency returns the time saved by taking group i from w[i] to nw.
func (p *planner) deltaLatency(i, nw int) float64 {
	var before, after float64
	old := p.w[i]
	for _, ti := range p.latTermsOf[i] {
		before += p.latValue(p.latTerms[ti], p.w)
	}
	p.w[i] = nw
	for _, ti := range p.latTermsOf[i] {
		after += p.latValue(p.latTerms[ti], p.w)
	}
	p.w[i] = old
	return before - after
}

// summarize is nn.Summarize, with a panic (an input of the wrong shape)
// turned into an error.
func summarize(m nn.Module, inShape []int) (s nn.Summary, err error) {
	defer func() {
		if r := recover(); r != nil {
			err = fmt.Errorf("prune: counting the MACs of %s for an input of shape %v: %v", m, inShape, r)
		}
	}()
	return nn.Summarize(m, inShape...), nil
}

// minKeep returns the fewest of C channels the limits of c let a group
// keep: at least MinChannels and C − ⌊MaxRatio·C⌋, rounded up to a
// multiple of RoundTo, at most C.
func minKeep(C int, c PlanConfig) int {
	k := max(c.MinChannels, C-int(math.Floor(c.MaxRatio*float64(C)+1e-9)), 1)
	if r := c.RoundTo; r > 1 {
		k = (k + r - 1) / r * r
	}
	return min(k, C)
}

// groups returns the groups whose widths a term scales with.
func (t term) groups() []int {
	var gs []int
	for _, g := range []int{t.a, t.b} {
		if g >= 0 {
			gs = append(gs, g)
		}
	}
	for _, sh := range [][]share{t.sa, t.sb} {
		for _, s := range sh {
			if s.g >= 0 && !slices.Contains(gs, s.g) {
				gs = append(gs, s.g)
			}
		}
	}
	return gs
}

// splitFrac returns the width of a side that reads a concatenation at
// widths w, as a fraction of its width now.
func (p *planner) splitFrac(sh []share, w []int) float64 {
	var now, then float64
	for _, s := range sh {
		now += float64(s.c)
		if s.g < 0 {
			then += float64(s.c)
		} else {
			then += float64(s.c) * float64(w[s.g]) / float64(p.ch[s.g])
		}
	}
	return then / now
}

// value returns a term's count at widths w.
func (p *planner) value(t term, w []int) int64 {
	if t.sa != nil || t.sb != nil {
		v := float64(t.base)
		for _, s := range []struct {
			g  int
			sh []share
		}{{t.a, t.sa}, {t.b, t.sb}} {
			switch {
			case s.sh != nil:
				v *= p.splitFrac(s.sh, w)
			case s.g >= 0:
				v = v * float64(w[s.g]) / float64(p.ch[s.g])
			}
		}
		return int64(math.Round(v))
	}
	v, div := t.base, int64(1)
	if t.a >= 0 {
		v *= int64(w[t.a])
		div *= int64(p.ch[t.a])
	}
	if t.b >= 0 {
		v *= int64(w[t.b])
		div *= int64(p.ch[t.b])
	}
	return v / div
}

// macs returns the model's MACs per sample at widths w.
func (p *planner) macs(w []int) int64 {
	var n int64
	for _, t := range p.macTerms {
		n += p.value(t, w)
	}
	return n
}

// params returns the model's learned parameters at widths w.
func (p *planner) params(w []int) int64 {
	n := p.paramsConst
	for _, t := range p.paramTerms {
		n += p.value(t, w)
	}
	return n
}

// eligibleChannels returns the channels of the eligible groups now.
func (p *planner) eligibleChannels() int {
	n := 0
	for i, pg := range p.gs {
		if pg.eligible {
			n += p.ch[i]
		}
	}
	return n
}

// removed returns the channels the plan removes at widths w.
func (p *planner) removed(w []int) int {
	n := 0
	for i := range p.gs {
		n += p.ch[i] - w[i]
	}
	return n
}

// targetMACs is the most MACs the plan may leave; needRemoved the fewest
// channels it must remove.
func (p *planner) targetMACs() int64 {
	base := p.c.BaseMACs
	if base == 0 {
		base = p.macs0
	}
	return int64(math.Floor((1 - p.c.FLOPs) * float64(base)))
}

func (p *planner) needRemoved() int {
	base, already := p.c.BaseChannels, 0
	if base == 0 {
		base = p.eligibleChannels()
	} else {
		already = base - p.eligibleChannels()
	}
	return int(math.Ceil(p.c.Ratio*float64(base)-1e-9)) - already
}

// met reports whether widths w reach the target.
func (p *planner) met(w []int) bool {
	switch {
	case p.c.FLOPs > 0:
		return p.macs(w) <= p.targetMACs()
	case p.c.Latency > 0:
		return p.latency(w) <= p.targetLatency()
	}
	return p.removed(w) >= p.needRemoved()
}

// next returns the next width below w that group i may have, or −1.
func (p *planner) next(i, w int) int {
	nw := w - 1
	if r := p.c.RoundTo; r > 1 {
		nw = (w - 1) / r * r
	}
	if nw < p.gs[i].minKeep || nw < 1 {
		return -1
	}
	return nw
}

// deltaMACs returns the MACs saved by taking group i from w[i] to nw.
func (p *planner) deltaMACs(i, nw int) int64 {
	var before, after int64
	old := p.w[i]
	for _, ti := range p.termsOf[i] {
		before += p.value(p.macTerms[ti], p.w)
	}
	p.w[i] = nw
	for _, ti := range p.termsOf[i] {
		after += p.value(p.macTerms[ti], p.w)
	}
	p.w[i] = old
	return before - after
}

// run sets the plan's widths by the configured ranking.
func (p *planner) run() error {
	if p.met(p.w) {
		return nil
	}
	if p.c.Ranking == Uniform {
		return p.uniform()
	}
	return p.greedy()
}

// greedy removes one step at a time, the cheapest by the ranking.
func (p *planner) greedy() error {
	for !p.met(p.w) {
		best, bestKey, bestW := -1, math.Inf(1), 0
		for i, pg := range p.gs {
			if !pg.eligible {
				continue
			}
			nw := p.next(i, p.w[i])
			if nw < 0 {
				continue
			}
			var sum float64
			for _, ch := range pg.order[p.ch[i]-p.w[i] : p.ch[i]-nw] {
				sum += pg.scores[ch]
			}
			var dm int64
			if p.c.FLOPs > 0 || p.c.Ranking == GlobalFLOPs {
				dm = p.deltaMACs(i, nw)
				if p.c.FLOPs > 0 && dm <= 0 {
					continue // saves no MACs
				}
			}
			key := sum / float64(p.w[i]-nw)
			switch p.c.Ranking {
			case GlobalFLOPs:
				key = math.Inf(1)
				if dm > 0 {
					key = sum / float64(dm)
				}
			case GlobalLatency:
				key, nw = p.latencyStep(i)
			}
			if best < 0 || key < bestKey {
				best, bestKey, bestW = i, key, nw
			}
		}
		if best < 0 {
			return p.unreachable()
		}
		p.w[best] = bestW
	}
	return nil
}

// latencyLookahead is the most steps of one group that a GlobalLatency
// step looks ahead.
const latencyLookahead = 16

// latencyStep returns the GlobalLatency step of group i: of the widths up
// to latencyLookahead steps below its current one, the one with the least
// summed score of the channels removed per millisecond saved, and that
// key (+Inf when none saves time). Looking ahead lets the ranking cross a
// plateau of the latency table (where the time falls only at the next
// multiple of a kernel's block), on which a single channel saves nothing.
func (p *planner) latencyStep(i int) (float64, int) {
	pg := p.gs[i]
	bestKey, bestW := math.Inf(1), p.next(i, p.w[i])
	var sum float64
	for k, cur := 0, p.w[i]; k < latencyLookahead; k++ {
		nw := p.next(i, cur)
		if nw < 0 {
			break
		}
		for _, ch := range pg.order[p.ch[i]-cur : p.ch[i]-nw] {
			sum += pg.scores[ch]
		}
		if dl := p.deltaLatency(i, nw); dl > 0 && sum/dl < bestKey {
			bestKey, bestW = sum/dl, nw
		}
		cur = nw
	}
	return bestKey, bestW
}

// uniformWidths returns the widths of removing round(f·C) channels of
// every eligible group, rounded up to an allowed width and clamped to the
// group's floor.
func (p *planner) uniformWidths(f float64) []int {
	w := slices.Clone(p.ch)
	for i, pg := range p.gs {
		if !pg.eligible {
			continue
		}
		C := p.ch[i]
		keep := C - int(math.Floor(f*float64(C)+0.5))
		if r := p.c.RoundTo; r > 1 && keep < C {
			keep = min((keep+r-1)/r*r, C)
		}
		w[i] = max(keep, pg.minKeep)
	}
	return w
}

// uniform bisects for the smallest fraction that meets the target.
func (p *planner) uniform() error {
	if !p.met(p.uniformWidths(1)) {
		return p.unreachable()
	}
	lo, hi := 0.0, 1.0
	for range 60 {
		mid := (lo + hi) / 2
		if p.met(p.uniformWidths(mid)) {
			hi = mid
		} else {
			lo = mid
		}
	}
	p.w = p.uniformWidths(hi)
	return nil
}

// reach returns the widths of removing as much as the limits of c allow.
func (p *planner) reach(c PlanConfig) []int {
	w := slices.Clone(p.ch)
	for i, pg := range p.gs {
		if pg.gr.Prunable && (!pg.gr.Residual || c.PruneResidual) {
			w[i] = minKeep(p.ch[i], c)
		}
	}
	return w
}

// unreachable explains why the target cannot be met: how far the limits
// let the plan go, and how far it would go with each limit relaxed.
func (p *planner) unreachable() error {
	frac := func(w []int) float64 {
		switch {
		case p.c.FLOPs > 0:
			return 1 - float64(p.macs(w))/float64(p.macs0)
		case p.c.Latency > 0:
			return 1 - p.latency(w)/p.lat0
		}
		n := 0
		for i, pg := range p.gs {
			if pg.eligible {
				n += p.ch[i]
			}
		}
		return float64(p.removed(w)) / float64(n)
	}
	var want, what string
	switch {
	case p.c.Latency > 0:
		what = "of the predicted latency"
		want = fmt.Sprintf("cannot bring the predicted latency to %.3g ms (%.1f %% below %.3g ms; %.3g ms now)",
			p.targetLatency(), 100*p.c.Latency, p.targetLatency()/(1-p.c.Latency), p.lat0)
	case p.c.FLOPs > 0:
		what = "of the MACs"
		want = fmt.Sprintf("cannot remove %.1f %% of the MACs (%s → at most %s)", 100*p.c.FLOPs, si(p.macs0), si(p.targetMACs()))
		if p.c.BaseMACs != 0 {
			want = fmt.Sprintf("cannot bring the MACs to %s (%.1f %% below %s; the model has %s now)",
				si(p.targetMACs()), 100*p.c.FLOPs, si(p.c.BaseMACs), si(p.macs0))
		}
	default:
		what = "of the eligible channels"
		want = fmt.Sprintf("cannot remove %d of %d eligible channels (%.1f %%)", p.needRemoved(), p.eligibleChannels(), 100*p.c.Ratio)
	}
	residual := 0
	for _, pg := range p.gs {
		if pg.gr.Prunable && pg.gr.Residual {
			residual++
		}
	}
	limits := fmt.Sprintf("min-channels %d, max-ratio %g", p.c.MinChannels, p.c.MaxRatio)
	if p.c.RoundTo > 1 {
		limits += fmt.Sprintf(", round-to %d", p.c.RoundTo)
	}
	if residual > 0 && !p.c.PruneResidual {
		limits += fmt.Sprintf(", %d residual-stream groups excluded", residual)
	}
	msg := fmt.Sprintf("prune: plan: %s: the limits (%s) let at most %.1f %% %s go", want, limits, 100*frac(p.reach(p.c)), what)
	var alt []string
	try := func(name string, c PlanConfig) {
		alt = append(alt, fmt.Sprintf("%s: %.1f %%", name, 100*frac(p.reach(c))))
	}
	if p.c.MinChannels > 1 {
		c := p.c
		c.MinChannels = 1
		try("min-channels 1", c)
	}
	if p.c.MaxRatio < 1 {
		c := p.c
		c.MaxRatio = 1
		try("max-ratio 1", c)
	}
	if p.c.RoundTo > 1 {
		c := p.c
		c.RoundTo = 1
		try("no rounding", c)
	}
	if residual > 0 && !p.c.PruneResidual {
		c := p.c
		c.PruneResidual = true
		try("pruning residual streams", c)
	}
	if len(alt) > 0 {
		msg += "; with one limit relaxed: " + strings.Join(alt, ", ")
	}
	return errors.New(msg)
}

// plan writes the planner's widths as a Plan.
func (p *planner) plan() *Plan {
	pl := &Plan{Model: p.m, Graph: p.g, InShape: p.inShape, Config: p.c,
		MACsBefore: p.macs0, MACsAfter: p.macs(p.w), ParamsBefore: p.params0, ParamsAfter: p.params(p.w)}
	if p.latTerms != nil {
		pl.LatencyBefore, pl.LatencyAfter = p.lat0, p.latency(p.w)
	}
	for i, pg := range p.gs {
		gp := GroupPlan{Group: pg.gr, Eligible: pg.eligible, Why: pg.why, Before: p.ch[i], After: p.w[i], Scores: pg.scores}
		if pg.eligible {
			gp.Remove = slices.Clone(pg.order[:p.ch[i]-p.w[i]])
			slices.Sort(gp.Remove)
			for _, ch := range gp.Remove {
				gp.RemovedScore += pg.scores[ch]
			}
			pl.ChannelsBefore += gp.Before
			pl.ChannelsAfter += gp.After
		}
		pl.Groups = append(pl.Groups, gp)
	}
	for i, t := range p.macTerms {
		l := p.layers[i]
		lp := LayerPlan{Name: l.Name, Layer: l.Layer, MACsBefore: t.base, MACsAfter: p.value(t, p.w),
			InBefore: p.axes[i].In, OutBefore: p.axes[i].Out}
		lp.InAfter = int(p.value(term{base: int64(lp.InBefore), a: p.sides[i][0], b: -1, sa: p.sideShares[i][0]}, p.w))
		lp.OutAfter = int(p.value(term{base: int64(lp.OutBefore), a: -1, b: p.sides[i][1], sb: p.sideShares[i][1]}, p.w))
		pl.Layers = append(pl.Layers, lp)
	}
	return pl
}
