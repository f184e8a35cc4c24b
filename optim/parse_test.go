package optim

import (
	"math"
	"strings"
	"testing"
)

func TestParseSchedule(t *testing.T) {
	const spe, epochs, base = 391, 182, 0.1
	cases := []struct {
		spec string
		at   map[int]float64 // step → expected LR
	}{
		{"constant", map[int]float64{0: base, 1000: base, spe * epochs: base}},
		{"multistep:91,136", map[int]float64{
			0: base, 91*spe - 1: base, 91 * spe: base * 0.1, 136*spe - 1: base * 0.1, 136 * spe: base * 0.1 * 0.1}},
		{"multistep:91,136:0.2", map[int]float64{91 * spe: base * 0.2, 136 * spe: base * 0.2 * 0.2}},
		{"cosine", map[int]float64{0: base, spe * epochs / 2: base / 2, spe * epochs: 0}},
		{"cosine:1e-4", map[int]float64{0: base, spe * epochs: 1e-4}},
		{"onecycle", map[int]float64{0: base / 25, spe*epochs - 1: base / 25 / 1e4}},
		{"onecycle:0.25", map[int]float64{0: base / 25, spe*epochs - 1: base / 25 / 1e4}},
		{"warmup:5+cosine", map[int]float64{
			0: base * 0.1, 5 * spe / 2: base * (0.1 + 0.9*float64(5*spe/2)/float64(5*spe)), 5 * spe: base, spe * epochs: 0}},
		{"warmup:5:0.01+multistep:91,136", map[int]float64{
			0: base * 0.01, 5 * spe: base, 91*spe - 1: base, 91 * spe: base * 0.1, 136 * spe: base * 0.01}},
		{"warmup:0+constant", map[int]float64{0: base}},
	}
	for _, c := range cases {
		s, err := ParseSchedule(c.spec, base, spe, epochs)
		if err != nil {
			t.Errorf("%s: %v", c.spec, err)
			continue
		}
		for step, want := range c.at {
			if got := s.LR(step); math.Abs(got-want) > 1e-12*base {
				t.Errorf("%s (%v): LR(%d) = %.17g, want %.17g", c.spec, s, step, got, want)
			}
		}
	}
	// The one-cycle peak is at step pct·total − 1.
	s, _ := ParseSchedule("onecycle", base, 10, 10)
	if got := s.LR(29); got != base {
		t.Errorf("onecycle peak: LR(29) = %v", got)
	}
	if s.LR(100) != s.LR(99) || s.LR(-5) != s.LR(0) {
		t.Error("onecycle outside [0, total) is not clamped")
	}
}

func TestParseScheduleErrors(t *testing.T) {
	cases := []struct{ spec, want string }{
		{"", `unknown schedule ""`},
		{"linear", `unknown schedule "linear"`},
		{"constant:1", `constant takes no argument (got "1")`},
		{"multistep", "multistep needs its milestone epochs"},
		{"multistep:", "multistep needs its milestone epochs"},
		{"multistep:91,x", `milestone "x"`},
		{"multistep:91, 136", `milestone " 136"`},
		{"multistep:0", `milestone "0"`},
		{"multistep:136,91", "milestone 91: milestones must increase"},
		{"multistep:91,136:zero", `multistep gamma "zero"`},
		{"multistep:91,136:-0.1", `multistep gamma "-0.1"`},
		{"cosine:abc", `cosine minimum learning rate "abc"`},
		{"cosine:-1", `cosine minimum learning rate "-1"`},
		{"cosine:1", "cosine minimum learning rate 1 is above the base learning rate 0.1"},
		{"onecycle:1.5", `onecycle pct_start "1.5"`},
		{"onecycle:0", `onecycle pct_start "0"`},
		{"warmup:5", "want warmup:EPOCHS[:FACTOR]+SCHEDULE"},
		{"warmup+cosine", "want warmup:EPOCHS[:FACTOR]+SCHEDULE"},
		{"warmup:x+cosine", `warm-up epochs "x"`},
		{"warmup:-1+cosine", `warm-up epochs "-1"`},
		{"warmup:5:2+cosine", `warm-up factor "2"`},
		{"warmup:5:0.1:3+cosine", `warm-up "warmup:5:0.1:3"`},
		{"warmup:200+cosine", "warm-up of 200 epochs leaves nothing of a 182-epoch run"},
		{"warmup:5+", `unknown schedule ""`},
		{"warmup:5+cosin", `unknown schedule "cosin"`},
		{"warmup:5+onecycle", "onecycle has its own warm-up"},
		{"warmup:91+multistep:91,136", "milestone 91: inside the 91-epoch warm-up"},
	}
	for _, c := range cases {
		s, err := ParseSchedule(c.spec, 0.1, 391, 182)
		if err == nil {
			t.Errorf("%q: no error (got %v)", c.spec, s)
			continue
		}
		msg := err.Error()
		if !strings.Contains(msg, c.want) || !strings.HasPrefix(msg, `optim: schedule "`+c.spec+`": `) {
			t.Errorf("%q: error %q, want one naming the spec and containing %q", c.spec, msg, c.want)
		}
	}
	for _, c := range []struct {
		base        float64
		spe, epochs int
		want        string
	}{
		{-1, 10, 10, "base learning rate -1"},
		{math.NaN(), 10, 10, "base learning rate NaN"},
		{0.1, 0, 10, "0 steps per epoch"},
		{0.1, 10, 0, "0 epochs"},
	} {
		if _, err := ParseSchedule("cosine", c.base, c.spe, c.epochs); err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("ParseSchedule(cosine, %v, %d, %d): %v, want %q", c.base, c.spe, c.epochs, err, c.want)
		}
	}
}

func TestScheduleConstructors(t *testing.T) {
	mustPanic(t, "totalSteps 0", func() { Cosine(0.1, 0, 0) })
	mustPanic(t, "pctStart 1", func() { OneCycle(0.1, 10, 1, 25, 1e4) })
	mustPanic(t, "divFactor 0", func() { OneCycle(0.1, 10, 0.3, 0, 1e4) })
	mustPanic(t, "negative milestone", func() { MultiStep(0.1, []int{-1}, 0.1) })
	// Milestones are sorted and repeated ones count twice, as in PyTorch.
	s := MultiStep(1, []int{5, 2, 5}, 0.5)
	for step, want := range map[int]float64{0: 1, 1: 1, 2: 0.5, 4: 0.5, 5: 0.125, 100: 0.125} {
		if got := s.LR(step); got != want {
			t.Errorf("MultiStep LR(%d) = %v, want %v", step, got, want)
		}
	}
	if Warmup(Constant(1), 0, 0.1).LR(0) != 1 {
		t.Error("Warmup with 0 steps is not the inner schedule")
	}
	// An empty first phase (pct·total = 1) does not divide by zero.
	if got := OneCycle(1, 10, 0.1, 10, 10).LR(0); got != 1 {
		t.Errorf("OneCycle with an empty warm-up phase: LR(0) = %v, want the maximum", got)
	}
	for _, s := range []Schedule{Constant(1), MultiStep(1, []int{3}, 0.1), Cosine(1, 10, 0),
		OneCycle(1, 10, 0.3, 25, 1e4), Warmup(Cosine(1, 10, 0), 3, 0.1)} {
		if str, ok := s.(interface{ String() string }); !ok || str.String() == "" {
			t.Errorf("%T has no description", s)
		}
	}
}
