package main

import (
	"bytes"
	"os"
	"path/filepath"
	"testing"
)

func TestCharts(t *testing.T) {
	dir := t.TempDir()
	names := []string{"conv1", "layer1.0.conv1", "layer1.0.conv2"}
	bar := filepath.Join(dir, "bar.png")
	if err := barChart(bar, "channels", "channels", names, []namedSeries{{"before", []float64{16, 16, 16}}, {"after", []float64{16, 8, 12}}}); err != nil {
		t.Fatal(err)
	}
	line := filepath.Join(dir, "line.png")
	if err := lineChart(line, "accuracy", "epoch", "test accuracy", []namedSeries{{"fine-tuning", []float64{0.5, 0.7, 0.8}}}); err != nil {
		t.Fatal(err)
	}
	for _, p := range []string{bar, line} {
		b, err := os.ReadFile(p)
		if err != nil || !bytes.HasPrefix(b, []byte("\x89PNG")) {
			t.Errorf("%s is not a PNG (%v)", p, err)
		}
	}
}
