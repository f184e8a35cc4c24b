package main

import (
	"fmt"
	"image/color"

	"gonum.org/v1/plot"
	"gonum.org/v1/plot/plotter"
	"gonum.org/v1/plot/vg"
)

// barChart draws one or two series of bars over named categories into a
// PNG file: e.g. channels per layer before and after pruning.
func barChart(path, title, ylabel string, names []string, series []namedSeries) error {
	p := plot.New()
	p.Title.Text = title
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	w := vg.Points(max(2, 200/float64(max(len(names), 1))))
	colors := []color.Color{color.RGBA{R: 160, G: 160, B: 160, A: 255}, color.RGBA{R: 46, G: 125, B: 50, A: 255}}
	for i, s := range series {
		bars, err := plotter.NewBarChart(plotter.Values(s.values), w)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		bars.LineStyle.Width = 0
		bars.Color = colors[i%len(colors)]
		bars.Offset = vg.Length(float64(i)-float64(len(series)-1)/2) * w
		p.Add(bars)
		p.Legend.Add(s.name, bars)
	}
	p.NominalX(names...)
	p.X.Tick.Label.Rotation = 1.2
	p.X.Tick.Label.XAlign = -1
	p.X.Tick.Label.YAlign = -0.5
	p.X.Tick.Label.Font.Size = vg.Points(min(9, max(4, 600/float64(max(len(names), 1)))))
	return p.Save(vg.Length(max(16, 0.35*float64(len(names))))*vg.Centimeter, 10*vg.Centimeter, path)
}

type namedSeries struct {
	name   string
	values []float64
}

// lineChart draws y against x (1, 2, …) into a PNG file: e.g. accuracy per
// fine-tuning epoch.
func lineChart(path, title, xlabel, ylabel string, series []namedSeries) error {
	p := plot.New()
	p.Title.Text = title
	p.X.Label.Text = xlabel
	p.Y.Label.Text = ylabel
	p.Legend.Top = true
	p.Legend.Left = true
	for i, s := range series {
		pts := make(plotter.XYs, len(s.values))
		for j, v := range s.values {
			pts[j].X, pts[j].Y = float64(j+1), v
		}
		l, err := plotter.NewLine(pts)
		if err != nil {
			return fmt.Errorf("%s: %v", path, err)
		}
		l.Color = []color.Color{color.RGBA{R: 46, G: 125, B: 50, A: 255}, color.RGBA{R: 30, G: 90, B: 200, A: 255}}[i%2]
		l.Width = vg.Points(1.5)
		p.Add(l)
		p.Legend.Add(s.name, l)
	}
	return p.Save(16*vg.Centimeter, 10*vg.Centimeter, path)
}
