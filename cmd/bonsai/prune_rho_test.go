package main

import (
	"encoding/csv"
	"encoding/json"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
)

// rhoArgs are the arguments of a small study of a random ResNet-8.
func rhoArgs(t *testing.T, cifar string) []string {
	m, err := zoo.New("resnet8")
	if err != nil {
		t.Fatal(err)
	}
	zoo.InitWeights(m, 4)
	w := filepath.Join(t.TempDir(), "resnet8.safetensors")
	if err := prune.Save(w, m, zoo.Meta{Arch: "resnet8", Mean: []float32{0.5, 0.5, 0.5}, Std: []float32{0.25, 0.25, 0.25}}); err != nil {
		t.Fatal(err)
	}
	return []string{"prune-rho", "-weights", w, "-data", cifar, "-test-range", "100:300", "-channels", "12", "-calib", "64,128",
		"-calib-batch", "32", "-fisher", "empirical,exact", "-fisher-classes", "2", "-augment", "off,on", "-scope", "all,channel", "-batch", "100"}
}

// A small single-channel study runs, tabulates every criterion at every
// size, its ρ values are Spearman's of scores.csv, and a study killed in
// the middle of a calibration pass and resumed gives the same scores and
// loss increases as an uninterrupted one.
func TestPruneRho(t *testing.T) {
	testenv.Short(t, "calibrates and evaluates on CIFAR-10")
	cifar := testenv.CIFAR10(t)
	args := rhoArgs(t, cifar)
	whole := t.TempDir()
	code, out, errOut := bonsai(append(args, "-out", whole)...)
	if code != 0 {
		t.Fatalf("exit %d: %s\n%s", code, out, errOut)
	}
	var rows []struct {
		Criterion string     `json:"criterion"`
		Augment   *bool      `json:"augment"`
		Rho       []float64  `json:"rho"`
		Within    []*float64 `json:"rho_within_layers"`
	}
	b, _ := os.ReadFile(filepath.Join(whole, "rho.json"))
	if err := json.Unmarshal(b, &rows); err != nil {
		t.Fatal(err)
	}
	// l1; sensitivity (empirical; scopes all and channel), taylor (all), sensitivity (exact; all,
	// channel), each plain and augmented.
	if len(rows) != 11 {
		t.Fatalf("%d rows in rho.json, want 11:\n%s", len(rows), b)
	}
	table := readCSV(t, filepath.Join(whole, "scores.csv"))
	if len(table["channel"]) != 12 {
		t.Fatalf("scores.csv has %d channels, want 12", len(table["channel"]))
	}
	col := func(name string) []float64 {
		var v []float64
		for _, s := range table[name] {
			f, err := strconv.ParseFloat(s, 64)
			if err != nil {
				t.Fatal(err)
			}
			v = append(v, f)
		}
		return v
	}
	delta := col("delta_loss")
	for _, r := range rows {
		want := 2
		if r.Augment == nil {
			want = 1
		}
		if len(r.Rho) != want || len(r.Within) != want {
			t.Errorf("%s: %d values, %d within layers, want %d", r.Criterion, len(r.Rho), len(r.Within), want)
			continue
		}
		for i, rho := range r.Rho {
			name := r.Criterion
			if r.Augment != nil {
				name += "@" + []string{"64", "128"}[i]
				if *r.Augment {
					name += "+aug"
				}
			}
			// scores.csv has 8 significant digits: ties may differ, so allow a little.
			if got := prune.Spearman(col(name), delta); math.IsNaN(rho) || math.Abs(got-rho) > 0.02 {
				t.Errorf("%s: ρ %.4f in rho.json, %.4f from scores.csv", name, rho, got)
			}
			if got, w := withinFromCSV(table["channel"], col(name), delta), r.Within[i]; (w == nil) != math.IsNaN(got) || w != nil && math.Abs(got-*w) > 0.02 {
				t.Errorf("%s: ρ within layers %v in rho.json, %.4f from scores.csv", name, w, got)
			}
		}
	}
	md, _ := os.ReadFile(filepath.Join(whole, "rho.md"))
	if !strings.Contains(string(md), "| sensitivity, exact Fisher (scope channel) | yes |") || !strings.Contains(string(md), "mean of ρ within each layer") {
		t.Errorf("rho.md lacks the augmented exact-Fisher row:\n%s", md)
	}

	// Killed after a checkpoint of a calibration pass, then resumed.
	bin := filepath.Join(t.TempDir(), "bonsai")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	parts := t.TempDir()
	cmd := exec.Command(bin, append(args, "-out", parts, "-checkpoint-every", "0s")...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	ckpt := filepath.Join(parts, "stream-exact-plain.ckpt.json")
	deadline := time.Now().Add(2 * time.Minute)
	for time.Now().Before(deadline) {
		if _, err := os.Stat(ckpt); err == nil {
			break
		}
		time.Sleep(2 * time.Millisecond)
	}
	cmd.Process.Kill()
	cmd.Wait()
	if _, err := os.Stat(filepath.Join(parts, "stream-exact-plain.json")); err == nil {
		t.Log("the pass finished before the kill; the resume starts from the next one")
	}
	if out, err := exec.Command(bin, "prune-rho", "-resume", "-out", parts).CombinedOutput(); err != nil {
		t.Fatalf("resumed study: %v\n%s", err, out)
	}
	a, _ := os.ReadFile(filepath.Join(whole, "scores.csv"))
	c, _ := os.ReadFile(filepath.Join(parts, "scores.csv"))
	if len(a) == 0 || string(a) != string(c) {
		t.Errorf("scores.csv differs between the uninterrupted and the killed-and-resumed study:\n%s\n---\n%s", a, c)
	}
	if code, _, errOut := bonsai(append(args, "-out", whole)...); code != 1 || !strings.Contains(errOut, "already holds a study") {
		t.Errorf("a second study in the same directory: exit %d, %s", code, errOut)
	}
}

// withinFromCSV is the weighted mean of ρ within layers, the layer being
// the channel's name up to "[", over layers with at least 3 channels.
func withinFromCSV(names []string, scores, delta []float64) float64 {
	by := map[string][]int{}
	for i, n := range names {
		l, _, _ := strings.Cut(n, "[")
		by[l] = append(by[l], i)
	}
	var sum, n float64
	for _, js := range by {
		if len(js) < 3 {
			continue
		}
		var a, d []float64
		for _, j := range js {
			a, d = append(a, scores[j]), append(d, delta[j])
		}
		if r := prune.Spearman(a, d); !math.IsNaN(r) {
			sum += r * float64(len(js))
			n += float64(len(js))
		}
	}
	return sum / n
}

// readCSV returns the columns of a CSV file with a header, by name.
func readCSV(t *testing.T, path string) map[string][]string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recs, err := csv.NewReader(f).ReadAll()
	if err != nil {
		t.Fatal(err)
	}
	cols := map[string][]string{}
	for _, r := range recs[1:] {
		for i, name := range recs[0] {
			cols[name] = append(cols[name], r[i])
		}
	}
	return cols
}

func TestPruneRhoFlagErrors(t *testing.T) {
	model := writeModel(t, map[string]string{"arch": "resnet20", "mean": "0.5,0.5,0.5", "std": "0.25,0.25,0.25"}, nil)
	base := []string{"prune-rho", "-weights", model, "-data", "/nonexistent", "-out", t.TempDir()}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"-calib", "4096,2048"}, "increasing order"},
		{[]string{"-calib", "100,4096"}, "multiples of -calib-batch 128"},
		{[]string{"-calib", "x"}, `-calib "x"`},
		{[]string{"-fisher", "empirical,true"}, `unknown Fisher kind "true"`},
		{[]string{"-augment", "maybe"}, `-augment "maybe"`},
		{[]string{"-scope", "filters"}, `unknown scope "filters"`},
	} {
		code, _, errOut := bonsai(append(base, tc.args...)...)
		if code != 2 || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, %q; want 2 and %q", tc.args, code, errOut, tc.want)
		}
	}
}
