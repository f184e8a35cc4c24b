package main

import (
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"testing"
)

// countColor returns how many pixels of the PNG file have colour c (each
// channel within 40: antialiased text is lighter).
func countColor(t *testing.T, path string, c color.RGBA) int {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	img, err := png.Decode(f)
	if err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	n := 0
	b := img.Bounds()
	for y := b.Min.Y; y < b.Max.Y; y++ {
		for x := b.Min.X; x < b.Max.X; x++ {
			r, g, bl, _ := img.At(x, y).RGBA()
			if near(r>>8, c.R) && near(g>>8, c.G) && near(bl>>8, c.B) {
				n++
			}
		}
	}
	return n
}

func TestCharts(t *testing.T) {
	dir := t.TempDir()
	names := []string{"conv1", "layer1.0.conv1", "layer1.0.conv2"}
	bar := filepath.Join(dir, "bar.png")
	if err := barChart(bar, "channels", "channels", "", names, []namedSeries{{"before", []float64{16, 16, 16}}, {"after", []float64{16, 8, 12}}}, nil); err != nil {
		t.Fatal(err)
	}
	sens := filepath.Join(dir, "sens.png")
	if err := barChart(sens, "sensitivity", "sensitivity", "no bar: …", names, []namedSeries{{"s", []float64{0, 3, 0}}},
		map[int]string{0: "residual stream", 2: "residual stream"}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bar, sens} {
		if countColor(t, p, colGreen) < 100 {
			t.Errorf("%s: no green bars", p)
		}
	}
	if countColor(t, sens, colGrey) < 20 {
		t.Errorf("%s: no notes where the bars are missing", sens)
	}

	// A one-epoch run draws its curve (pruned point → epoch 1) and the
	// pruned point.
	acc := filepath.Join(dir, "accuracy.png")
	if err := accuracyChart(acc, 0.92, []stepCurve{{macs: 2e7, pruned: 0.6, finetune: []float64{0.9}}}); err != nil {
		t.Fatal(err)
	}
	if g, r := countColor(t, acc, colGreen), countColor(t, acc, colRed); g < 100 || r < 20 {
		t.Errorf("one-epoch accuracy plot: %d green and %d red pixels: nothing drawn", g, r)
	}
	if err := accuracyChart(acc, 0.92, []stepCurve{{macs: 2e7, pruned: 0.6}}); err == nil {
		t.Error("accuracy plot without epochs: no error")
	}
	steps := []stepCurve{{macs: 3e7, pruned: 0.8, finetune: []float64{0.85, 0.9}}, {macs: 2e7, pruned: 0.5, finetune: []float64{0.8, 0.88}}}
	trade := filepath.Join(dir, "tradeoff.png")
	if err := tradeoffChart(trade, 4e7, 0.92, steps); err != nil {
		t.Fatal(err)
	}
	if g, r := countColor(t, trade, colGreen), countColor(t, trade, colRed); g < 100 || r < 20 {
		t.Errorf("trade-off plot: %d green and %d red pixels", g, r)
	}
	// Without fine-tuning the curve runs through the pruned points.
	if err := tradeoffChart(trade, 4e7, 0.92, []stepCurve{{macs: 3e7, pruned: 0.8}}); err != nil {
		t.Fatal(err)
	}
	if r := countColor(t, trade, colRed); r < 100 {
		t.Errorf("trade-off plot without fine-tuning: %d red pixels", r)
	}
}

func near(v uint32, c uint8) bool { return int(v)-int(c) < 40 && int(c)-int(v) < 40 }
