package main

import (
	"fmt"
	"image/color"
	"math"
	"os"
	"slices"
	"strconv"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
	"gonum.org/v1/plot/vg/draw"
	"gonum.org/v1/plot/vg/vgimg"
)

// The plots' colours: grey for the original model, green for what
// fine-tuning gives, red for the model right after pruning, blue for a
// second measure.
var (
	colGrey  = color.RGBA{R: 150, G: 150, B: 150, A: 255}
	colGreen = color.RGBA{R: 46, G: 125, B: 50, A: 255}
	colRed   = color.RGBA{R: 198, G: 40, B: 40, A: 255}
	colBlue  = color.RGBA{R: 30, G: 90, B: 200, A: 255}
)

type namedSeries struct {
	name   string
	values []float64
}

// barChart draws one or two series of bars over named categories into a
// PNG file (e.g. channels per layer before and after pruning). The bars
// stay inside the axes and the legend (of two or more series) is drawn
// beside them. A category that notes names has no bar and gets that note,
// written upwards from the axis (e.g. why a layer has no score); xlabel,
// when not empty, explains the notes under the axis.
func barChart(path, title, ylabel, xlabel string, names []string, series []namedSeries, notes map[int]string) error {
	n := max(len(names), 1)
	width, height := vg.Length(max(16, 0.55*float64(n)))*vg.Centimeter, 11*vg.Centimeter
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.X.Label.Text = xlabel
	leg := plot.NewLegend()
	top := 0.0
	for _, s := range series {
		for _, v := range s.values {
			top = max(top, v)
		}
	}
	if top <= 0 {
		top = 1
	}
	// The data area is the canvas less the y axis (~2 cm); each category
	// gets 80 % of its share, split among the series.
	slot := (width - 2*vg.Centimeter) / vg.Length(n)
	w := slot * 0.8 / vg.Length(max(len(series), 1))
	colors := []color.Color{colGrey, colGreen}
	if len(series) == 1 {
		colors = []color.Color{colGreen}
	}
	for i, s := range series {
		bars, err := plotter.NewBarChart(plotter.Values(s.values), w)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = colors[i%len(colors)]
		bars.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(bars)
		leg.Add(s.name, bars)
	}
	if len(notes) > 0 {
		var xys plotter.XYLabels
		for i := range names {
			if note, ok := notes[i]; ok {
				xys.XYs = append(xys.XYs, plotter.XY{X: float64(i), Y: top * 0.02})
				xys.Labels = append(xys.Labels, note)
			}
		}
		labels, err := plotter.NewLabels(xys)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].Rotation = math.Pi / 2
			labels.TextStyle[i].XAlign = draw.XLeft
			labels.TextStyle[i].YAlign = draw.YCenter
			labels.TextStyle[i].Color = colGrey
			labels.TextStyle[i].Font.Size = vg.Points(min(9, max(6, float64(slot)/2)))
		}
		p.Add(labels)
	}
	// The ranges are set after the plotters, which widen them: the bars
	// stay inside the axes.
	p.Y.Min, p.Y.Max = 0, top*1.05
	p.Y.Tick.Marker = niceTicks{}
	p.X.Min, p.X.Max = -0.5, float64(n)-0.5
	p.X.Label.TextStyle.Font.Size = vg.Points(9)
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 1.2
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.5
	p.X.Tick.Label.Font.Size = vg.Points(min(9, max(5, 600/float64(n))))
	if len(series) < 2 {
		return savePlot(p, nil, width, height, path)
	}
	return savePlot(p, &leg, width, height, path)
}

// stepCurve is what the accuracy plots draw of one pruning step.
type stepCurve struct {
	macs     float64   // the model's MACs after the step
	pruned   float64   // test accuracy right after the step's pruning
	finetune []float64 // test accuracy after each fine-tuning epoch
}

// accuracyChart draws test accuracy (fractions, drawn as percentages)
// against the fine-tuning epoch across the steps: each step's curve
// starts at the model right after its pruning (red) and runs through its
// epochs, the steps' boundaries are dashed vertical lines, and the
// original model's accuracy is a dashed horizontal line. No line joins
// one step's last epoch to the next step's pruned model: the drop there
// is the pruning's, shown by the red point.
func accuracyChart(path string, before float64, steps []stepCurve) error {
	p := plot.New()
	p.Title.Text = "Test accuracy per fine-tuning epoch"
	p.X.Label.Text = "fine-tuning epoch"
	if len(steps) > 1 {
		p.X.Label.Text += " (dashed lines: pruning steps)"
	}
	p.Y.Label.Text = "test accuracy (%)"
	leg := plot.NewLegend()
	total, lo, hi := 0, 100*before, 100*before
	for _, s := range steps {
		total += len(s.finetune)
		for _, v := range append([]float64{s.pruned}, s.finetune...) {
			lo, hi = min(lo, 100*v), max(hi, 100*v)
		}
	}
	if total == 0 {
		return fmt.Errorf("%s: no fine-tuning epochs to draw", path)
	}
	span := max(hi-lo, 1)
	ylo, yhi := max(0, lo-0.08*span), min(100, hi+0.05*span)
	p.X.Tick.Marker = intTicks{}

	ref, err := plotter.NewLine(plotter.XYs{{X: 0, Y: 100 * before}, {X: float64(total), Y: 100 * before}})
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	ref.Color, ref.Dashes, ref.Width = colGrey, []vg.Length{vg.Points(4), vg.Points(3)}, vg.Points(1)
	p.Add(ref)
	leg.Add(fmt.Sprintf("before pruning (%.2f %%)", 100*before), ref)

	var prunedPts plotter.XYs
	var stepLabels plotter.XYLabels
	x0 := 0
	for i, s := range steps {
		pts := plotter.XYs{{X: float64(x0), Y: 100 * s.pruned}}
		for e, v := range s.finetune {
			pts = append(pts, plotter.XY{X: float64(x0 + e + 1), Y: 100 * v})
		}
		line, points, err := plotter.NewLinePoints(pts)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		line.Color, line.Width = colGreen, vg.Points(1.5)
		points.Color, points.Shape, points.Radius = colGreen, draw.CircleGlyph{}, vg.Points(2)
		p.Add(line, points)
		if i == 0 {
			leg.Add("fine-tuning", line, points)
		}
		prunedPts = append(prunedPts, pts[0])
		if i > 0 {
			b, err := plotter.NewLine(plotter.XYs{{X: float64(x0), Y: ylo}, {X: float64(x0), Y: yhi}})
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			b.Color, b.Dashes, b.Width = colGrey, []vg.Length{vg.Points(2), vg.Points(2)}, vg.Points(0.75)
			p.Add(b)
		}
		stepLabels.XYs = append(stepLabels.XYs, plotter.XY{X: float64(x0), Y: ylo})
		stepLabels.Labels = append(stepLabels.Labels, fmt.Sprintf("step %d", i+1))
		x0 += len(s.finetune)
	}
	sc, err := plotter.NewScatter(prunedPts)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	sc.Color, sc.Shape, sc.Radius = colRed, draw.CircleGlyph{}, vg.Points(3.5)
	p.Add(sc)
	leg.Add("right after pruning", sc)
	if len(steps) > 1 {
		labels, err := plotter.NewLabels(stepLabels)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		for i := range labels.TextStyle {
			labels.TextStyle[i].YAlign = draw.YBottom
			labels.TextStyle[i].Color = colGrey
			labels.TextStyle[i].Font.Size = vg.Points(8)
		}
		labels.Offset = vg.Point{X: vg.Points(3), Y: vg.Points(2)}
		p.Add(labels)
	}
	p.Y.Min, p.Y.Max = ylo, yhi
	p.X.Min, p.X.Max = 0, float64(total)
	return savePlot(p, &leg, 16*vg.Centimeter, 10*vg.Centimeter, path)
}

// tradeoffChart draws test accuracy against MACs (millions) across the
// steps: the original model, each step right after pruning (red) and after
// its fine-tuning (green), the fine-tuned points joined into the
// trade-off curve (or the pruned ones, without fine-tuning), and a dotted
// line from each pruned point to its fine-tuned one.
func tradeoffChart(path string, macs0 int64, before float64, steps []stepCurve) error {
	p := plot.New()
	p.Title.Text = "Accuracy against MACs across the pruning steps"
	p.X.Label.Text = "MACs per image (millions)"
	p.Y.Label.Text = "test accuracy (%)"
	leg := plot.NewLegend()
	orig := plotter.XY{X: float64(macs0) / 1e6, Y: 100 * before}
	curve := plotter.XYs{orig}
	var pruned plotter.XYs
	var names plotter.XYLabels
	finetuned := false
	lo, hi := orig.Y, orig.Y
	for i, s := range steps {
		x := s.macs / 1e6
		pt := plotter.XY{X: x, Y: 100 * s.pruned}
		pruned = append(pruned, pt)
		end := pt
		if n := len(s.finetune); n > 0 {
			end.Y = 100 * s.finetune[n-1]
			finetuned = true
			rec, err := plotter.NewLine(plotter.XYs{pt, end})
			if err != nil {
				return fmt.Errorf("%s: %v", path, err)
			}
			rec.Color, rec.Dashes, rec.Width = colGrey, []vg.Length{vg.Points(1), vg.Points(2)}, vg.Points(1)
			p.Add(rec)
		}
		curve = append(curve, end)
		names.XYs = append(names.XYs, end)
		names.Labels = append(names.Labels, fmt.Sprintf("step %d", i+1))
		lo, hi = min(lo, pt.Y, end.Y), max(hi, pt.Y, end.Y)
	}
	span := max(hi-lo, 1)
	xs := []float64{orig.X}
	for _, s := range steps {
		xs = append(xs, s.macs/1e6)
	}
	xlo, xhi := slices.Min(xs), slices.Max(xs)

	line, points, err := plotter.NewLinePoints(curve)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	line.Color, line.Width = colGreen, vg.Points(1.5)
	points.Color, points.Shape, points.Radius = colGreen, draw.CircleGlyph{}, vg.Points(3)
	if !finetuned {
		line.Color, points.Color = colRed, colRed
	}
	p.Add(line, points)
	if finetuned {
		leg.Add("after fine-tuning", line, points)
		sc, err := plotter.NewScatter(pruned)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		sc.Color, sc.Shape, sc.Radius = colRed, draw.CircleGlyph{}, vg.Points(3)
		p.Add(sc)
		leg.Add("right after pruning", sc)
	} else {
		leg.Add("right after pruning (no fine-tuning)", line, points)
	}
	o, err := plotter.NewScatter(plotter.XYs{orig})
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	o.Color, o.Shape, o.Radius = color.Black, draw.SquareGlyph{}, vg.Points(3.5)
	p.Add(o)
	leg.Add(fmt.Sprintf("original (%.2f %%)", orig.Y), o)
	labels, err := plotter.NewLabels(names)
	if err != nil {
		return fmt.Errorf("%s: %v", path, err)
	}
	for i := range labels.TextStyle {
		labels.TextStyle[i].Font.Size = vg.Points(8)
		labels.TextStyle[i].YAlign = draw.YBottom
	}
	labels.Offset = vg.Point{X: vg.Points(4), Y: vg.Points(3)}
	p.Add(labels)
	p.Y.Min, p.Y.Max = max(0, lo-0.08*span), min(100, hi+0.1*span)
	p.X.Min, p.X.Max = max(0, xlo-0.1*(xhi-xlo+1e-9)), xhi+0.15*(xhi-xlo+1e-9)
	return savePlot(p, &leg, 16*vg.Centimeter, 10*vg.Centimeter, path)
}

// savePlot writes p as a PNG file of width × height, with leg (when not
// nil) to the right of the plot, outside its axes, so that it never
// covers data; the canvas widens by the legend's width.
func savePlot(p *plot.Plot, leg *plot.Legend, width, height vg.Length, path string) error {
	var lw vg.Length
	if leg != nil {
		lw = leg.Rectangle(draw.New(vgimg.New(width, height))).Size().X + 0.6*vg.Centimeter
	}
	img := vgimg.New(width+lw, height)
	dc := draw.New(img)
	p.Draw(draw.Crop(dc, 0, -lw, 0, 0))
	if leg != nil {
		leg.Top, leg.Left = true, true
		top := p.Title.TextStyle.Rectangle(p.Title.Text).Size().Y + p.Title.Padding
		leg.Draw(draw.Crop(dc, width+0.3*vg.Centimeter, 0, 0, -top))
	}
	tmp := path + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if _, err := (vgimg.PngCanvas{Canvas: img}).WriteTo(f); err != nil {
		f.Close()
		return fmt.Errorf("%s: %v", path, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}

// intTicks marks whole numbers only, about ten of them.
type intTicks struct{}

func (intTicks) Ticks(lo, hi float64) []plot.Tick {
	step := max(1, int(math.Ceil((hi-lo)/10)))
	var t []plot.Tick
	for v := int(math.Ceil(lo)); float64(v) <= hi; v += step {
		t = append(t, plot.Tick{Value: float64(v), Label: fmt.Sprint(v)})
	}
	return t
}

// niceTicks marks about five round values (1, 2 or 5 × 10^k apart),
// labelled without trailing zeros, with unlabelled ticks between them.
type niceTicks struct{}

func (niceTicks) Ticks(lo, hi float64) []plot.Tick {
	if !(hi > lo) {
		return []plot.Tick{{Value: lo, Label: strconv.FormatFloat(lo, 'g', 4, 64)}}
	}
	raw := (hi - lo) / 5
	mag := math.Pow(10, math.Floor(math.Log10(raw)))
	step := mag
	for _, m := range []float64{2, 5, 10} {
		if step >= raw {
			break
		}
		step = m * mag
	}
	var t []plot.Tick
	for k := math.Ceil(lo / step * 2); k*step/2 <= hi*(1+1e-9); k++ {
		v := k * step / 2
		if int64(k)%2 == 0 {
			t = append(t, plot.Tick{Value: v, Label: strconv.FormatFloat(v, 'g', 6, 64)})
		} else {
			t = append(t, plot.Tick{Value: v})
		}
	}
	return t
}
