package prune

import (
	"bufio"
	"encoding/json"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/bonsai-dl/bonsai/infer"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor"
)

// LatencyFile is the file of a prune run's directory that holds the
// latency table the run measured (LatencyTable): a resumed run reads it
// instead of measuring again, so that it plans with the same costs even on
// another CPU.
const LatencyFile = "latency.json"

// LatencyTable is the measured time of each layer with MACs of a model,
// as a function of its input and output widths: the cost model of a
// latency target (PlanConfig.Latency) and of the GlobalLatency ranking.
// Each layer's stand-in (nn.Adapter.Probe) is compiled alone (package
// infer) and timed at a grid of widths, on inputs of the layer's spatial
// size, at Batch images per call, as HALP's latency lookup table; a width
// between grid points is interpolated (LayerLatency.At). Layers of the
// same configuration are timed once.
type LatencyTable struct {
	// CPU is the processor the table was measured on (/proc/cpuinfo's
	// model name), Threads GOMAXPROCS then, Batch the images per call.
	CPU     string `json:"cpu"`
	Threads int    `json:"threads"`
	Batch   int    `json:"batch"`
	// Layers holds one entry per layer with MACs, by its state-dict path
	// in the model the table was measured for.
	Layers map[string]*LayerLatency `json:"layers"`
}

// LayerLatency is one layer's measured time on a grid of widths.
type LayerLatency struct {
	// Probe describes the stand-in at the layer's widths when measured and
	// its input, "Conv2d(16, 16, …) on [16 32 32]".
	Probe string `json:"probe"`
	// In and Out are the input and output widths measured, ascending; a
	// side no prunable group changes has one.
	In  []int `json:"in"`
	Out []int `json:"out"`
	// MS[i][j] is the median time of one call, in milliseconds, at widths
	// In[i], Out[j].
	MS [][]float64 `json:"ms"`
}

// At returns the layer's predicted time in milliseconds at input width in
// and output width out: bilinear between the grid points around them,
// linear beyond the grid's ends (from its two outermost points), never
// below zero.
func (l *LayerLatency) At(in, out float64) float64 {
	i0, i1, fi := bracket(l.In, in)
	j0, j1, fj := bracket(l.Out, out)
	v := (1-fi)*((1-fj)*l.MS[i0][j0]+fj*l.MS[i0][j1]) + fi*((1-fj)*l.MS[i1][j0]+fj*l.MS[i1][j1])
	return max(v, 0)
}

// bracket returns the indices of grid points around x and x's fraction of
// the way from the first to the second (outside [0, 1] beyond the ends).
func bracket(grid []int, x float64) (int, int, float64) {
	n := len(grid)
	if n == 1 {
		return 0, 0, 0
	}
	k := sort.Search(n, func(k int) bool { return float64(grid[k]) >= x })
	k = min(max(k, 1), n-1)
	a, b := float64(grid[k-1]), float64(grid[k])
	return k - 1, k, (x - a) / (b - a)
}

// LatencyModel predicts a model's latency at other widths: the latency
// table of its layers, and the model's measured latency now, of which the
// part the table does not cover (the steps of the compiled form that are
// not layers with MACs, the gaps between steps) is taken as constant.
type LatencyModel struct {
	Table *LatencyTable
	// Measured is the model's latency as it is now, in milliseconds per
	// call of Table.Batch images (MeasureLatency).
	Measured float64
	// Correction, in milliseconds, is added to every prediction: the
	// error of an earlier prediction, found by measuring its plan.
	Correction float64
}

// latencyGrid returns the widths to measure of a side of c channels: all
// of 1 … c when c ≤ n, else n widths evenly spaced from c/n to c; a side
// that does not vary has the one width c.
func latencyGrid(c, n int, varies bool) []int {
	if !varies || c <= 1 {
		return []int{c}
	}
	if c <= n {
		g := make([]int, c)
		for i := range g {
			g[i] = i + 1
		}
		return g
	}
	var g []int
	for k := 1; k <= n; k++ {
		w := int(math.Round(float64(c) * float64(k) / float64(n)))
		if len(g) == 0 || w > g[len(g)-1] {
			g = append(g, w)
		}
	}
	return g
}

// MeasureLatencyTable times the layers with MACs of m (g a Trace of m) on
// this CPU at batch images per call: each layer's stand-in (its adapter's
// Probe) at a grid of widths of the sides that a group the plans may
// change feeds (eligible: prunable, and not a residual stream unless
// pruneResidual) — 16 widths when one side varies, 8 × 8 when both — and
// at its own widths on the other sides. A layer whose adapter has no
// probe is left out (its time counts as constant). log, when not nil,
// receives a line of progress.
func MeasureLatencyTable(m nn.Module, g *Graph, inShape []int, batch int, pruneResidual bool, log func(string)) (*LatencyTable, error) {
	if batch < 1 {
		return nil, fmt.Errorf("prune: latency table: batch %d, want ≥ 1", batch)
	}
	if g == nil || g.Model != m {
		return nil, fmt.Errorf("prune: latency table: needs the Graph traced from the same model")
	}
	eligible := map[depKey]bool{}
	for _, gr := range g.Groups {
		for _, d := range gr.Deps {
			if d.at.v != nil {
				continue // a side that reads a concatenation is timed at its width now
			}
			eligible[depKey{d.Module, d.Side}] = gr.Prunable && (!gr.Residual || pruneResidual)
		}
	}
	restore := nn.EvalMode(m)
	s, err := summarize(m, inShape)
	restore()
	if err != nil {
		return nil, err
	}
	t := &LatencyTable{CPU: CPUName(), Threads: runtime.GOMAXPROCS(0), Batch: batch, Layers: map[string]*LayerLatency{}}
	cache := map[string]float64{}
	start, probes := time.Now(), 0
	for _, l := range s.Layers {
		a, ok := nn.AdapterOf(l.Layer)
		if l.MACs == 0 || !ok {
			continue
		}
		ax := a.Axes(l.Layer)
		full := a.Probe(l.Layer, ax.In, ax.Out)
		if full == nil {
			continue
		}
		n := 16
		inVaries, outVaries := eligible[depKey{l.Layer, In}], eligible[depKey{l.Layer, Out}]
		if ax.Coupling == nn.Shared {
			inVaries = false // the output width sets both
		}
		if inVaries && outVaries {
			n = 8
		}
		spatial := l.InShape[2:]
		e := &LayerLatency{Probe: fmt.Sprintf("%s on %v", full, append([]int{ax.In}, spatial...)),
			In: latencyGrid(ax.In, n, inVaries), Out: latencyGrid(ax.Out, n, outVaries)}
		if ax.Coupling == nn.Shared {
			e.In = []int{ax.In}
		}
		for _, wi := range e.In {
			row := make([]float64, len(e.Out))
			for j, wo := range e.Out {
				in := wi
				if ax.Coupling == nn.Shared {
					in = wo
				}
				pm := a.Probe(l.Layer, in, wo)
				shape := append([]int{in}, spatial...)
				key := fmt.Sprintf("%s on %v", pm, shape)
				v, ok := cache[key]
				if !ok {
					if v, err = timeCompiled(pm, shape, batch, 21, 15*time.Millisecond); err != nil {
						return nil, fmt.Errorf("prune: latency table: %s: %w", l.Name, err)
					}
					cache[key] = v
					probes++
				}
				row[j] = v
			}
			e.MS = append(e.MS, row)
		}
		t.Layers[l.Name] = e
	}
	if log != nil {
		log(fmt.Sprintf("latency table: %d layers, %d stand-ins timed at batch %d in %.1f s on %s",
			len(t.Layers), probes, batch, time.Since(start).Seconds(), t.CPU))
	}
	return t, nil
}

// MeasureLatency returns the median time in milliseconds of the compiled
// form of m (package infer, planned for batch images) running batch random
// images, over at least 15 calls and about half a second.
func MeasureLatency(m nn.Module, inShape []int, batch int) (float64, error) {
	return timeCompiled(m, inShape, batch, 15, 500*time.Millisecond)
}

// AlternateLatency compiles each model (for batch images per call) and
// times them call by call in turns on the same random images, so that a
// drift of the machine's speed affects them alike, and returns each one's
// median time in milliseconds: after two rounds to warm up, at least 31
// rounds and as many as fit in about a second (at most 2000).
func AlternateLatency(models []nn.Module, inShape []int, batch int) ([]float64, error) {
	runners := make([]*infer.Runner, len(models))
	for i, m := range models {
		cm, err := infer.Compile(m, inShape, infer.Options{Batch: batch})
		if err != nil {
			return nil, err
		}
		runners[i] = cm.NewRunner(batch)
	}
	x := tensor.New(append([]int{batch}, inShape...)...)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for _, r := range runners {
		for range 2 {
			if _, err := r.Run(x); err != nil {
				return nil, err
			}
		}
	}
	ts := make([][]time.Duration, len(runners))
	for start := time.Now(); len(ts[0]) < 31 || (time.Since(start) < time.Second && len(ts[0]) < 2000); {
		for i, r := range runners {
			t0 := time.Now()
			r.Run(x)
			ts[i] = append(ts[i], time.Since(t0))
		}
	}
	out := make([]float64, len(ts))
	for i, t := range ts {
		slices.Sort(t)
		out[i] = float64(t[len(t)/2].Nanoseconds()) / 1e6
	}
	return out, nil
}

// timeCompiled compiles m for inputs [batch, inShape...] and returns the
// median time of a call in milliseconds: after two calls to warm up, at
// least reps calls and as many as fit in budget (at most 1000).
func timeCompiled(m nn.Module, inShape []int, batch, reps int, budget time.Duration) (float64, error) {
	cm, err := infer.Compile(m, inShape, infer.Options{Batch: batch})
	if err != nil {
		return 0, err
	}
	r := cm.NewRunner(batch)
	x := tensor.New(append([]int{batch}, inShape...)...)
	rng := rand.New(rand.NewPCG(5, 6))
	for i := range x.Data {
		x.Data[i] = float32(rng.NormFloat64())
	}
	for range 2 {
		if _, err := r.Run(x); err != nil {
			return 0, err
		}
	}
	var ts []time.Duration
	for start := time.Now(); len(ts) < reps || (time.Since(start) < budget && len(ts) < 1000); {
		t0 := time.Now()
		r.Run(x)
		ts = append(ts, time.Since(t0))
	}
	slices.Sort(ts)
	return float64(ts[len(ts)/2].Nanoseconds()) / 1e6, nil
}

// CPUName returns the processor's model name from /proc/cpuinfo, or
// GOOS/GOARCH where there is none.
func CPUName() string {
	if f, err := os.Open("/proc/cpuinfo"); err == nil {
		defer f.Close()
		sc := bufio.NewScanner(f)
		for sc.Scan() {
			k, v, ok := strings.Cut(sc.Text(), ":")
			if ok && strings.TrimSpace(k) == "model name" {
				return strings.TrimSpace(v)
			}
		}
	}
	return runtime.GOOS + "/" + runtime.GOARCH
}

// ReadLatencyTable reads the latency table of the run in dir; an error
// that wraps fs.ErrNotExist means there is none.
func ReadLatencyTable(dir string) (*LatencyTable, error) {
	path := filepath.Join(dir, LatencyFile)
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	t := new(LatencyTable)
	if err := json.Unmarshal(b, t); err != nil {
		return nil, fmt.Errorf("%s: %v", path, err)
	}
	for name, e := range t.Layers {
		if e == nil || len(e.In) == 0 || len(e.Out) == 0 || len(e.MS) != len(e.In) ||
			slices.ContainsFunc(e.MS, func(r []float64) bool { return len(r) != len(e.Out) }) {
			return nil, fmt.Errorf("%s: layer %s: the grid of times does not match its widths", path, name)
		}
	}
	return t, nil
}

// Write saves t as dir's LatencyFile, atomically.
func (t *LatencyTable) Write(dir string) error {
	b, err := json.MarshalIndent(t, "", " ")
	if err != nil {
		return err
	}
	tmp := filepath.Join(dir, LatencyFile+".tmp")
	if err := os.WriteFile(tmp, b, 0o644); err != nil {
		return err
	}
	return os.Rename(tmp, filepath.Join(dir, LatencyFile))
}
