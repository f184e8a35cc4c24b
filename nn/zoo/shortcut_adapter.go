package zoo

import (
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
)

func init() { nn.RegisterAdapter[*ShortcutA](shortcutAdapter{}) }

// shortcutAdapter holds the rules of the option-A shortcut, a channel map
// with no parameters: its input channels are SideIn of the previous
// stage's group and its output channels SideOut of the next one's
// (Transform), so it couples two groups without merging them. Removing
// input channels deletes their entries of the map; removing output
// channels renumbers the others and drops the inputs that landed in them,
// so the zero channels before and after the mapped ones move with the
// removals.
type shortcutAdapter struct{ nn.Stateless[*ShortcutA] }

func (shortcutAdapter) Axes(s *ShortcutA) nn.Axes {
	return nn.Axes{Coupling: nn.Transform, In: s.In, Out: s.Out}
}

func (shortcutAdapter) Resize(s *ShortcutA, side nn.Side, c nn.Cut) {
	out, dst := s.ChannelMap()
	if side == nn.SideIn {
		nd := make([]int, len(c.Keep))
		for i, j := range c.Keep {
			nd[i] = dst[j]
		}
		s.SetChannelMap(out, nd)
		return
	}
	renum := make([]int, out)
	n := 0
	for o := range out {
		renum[o] = -1
		if !c.Removed[o] {
			renum[o] = n
			n++
		}
	}
	for j, o := range dst {
		if o >= 0 {
			dst[j] = renum[o]
		}
	}
	s.SetChannelMap(n, dst)
}

// shortcutWidths is the JSON form of a ShortcutA: its output channels and
// either the padding before its input channels or, after pruning, the
// output channel of each input channel (−1: dropped).
type shortcutWidths struct {
	In        int   `json:"in"`
	Out       int   `json:"out"`
	PadBefore *int  `json:"pad_before,omitempty"`
	Map       []int `json:"map,omitempty"`
}

// Widths is {"in": …, "out": …, "pad_before": …}, or {"in": …, "out": …,
// "map": [...]} once pruning made the map irregular.
func (shortcutAdapter) Widths(s *ShortcutA) any {
	w := shortcutWidths{In: s.In, Out: s.Out, Map: s.Map}
	if s.Map == nil {
		w.PadBefore = &s.PadBefore
	}
	return w
}

func (shortcutAdapter) SetWidths(s *ShortcutA, raw json.RawMessage) error {
	var w shortcutWidths
	d := json.NewDecoder(strings.NewReader(string(raw)))
	d.DisallowUnknownFields()
	if err := d.Decode(&w); err != nil {
		return fmt.Errorf("widths %s: %v", raw, err)
	}
	switch {
	case w.In <= 0 || w.Out <= 0:
		return fmt.Errorf("in %d, out %d: want positive channel counts", w.In, w.Out)
	case (w.PadBefore == nil) == (w.Map == nil):
		return errors.New(`want exactly one of "pad_before" and "map"`)
	case w.PadBefore != nil:
		if *w.PadBefore < 0 || *w.PadBefore+w.In > w.Out {
			return fmt.Errorf("%d channels padded by %d before do not fit %d", w.In, *w.PadBefore, w.Out)
		}
		s.In, s.PadBefore, s.Out, s.Map = w.In, *w.PadBefore, w.Out, nil
		return nil
	}
	if len(w.Map) != w.In {
		return fmt.Errorf("map of %d entries for %d input channels", len(w.Map), w.In)
	}
	seen := map[int]bool{}
	for j, o := range w.Map {
		if o >= w.Out || o < -1 || (o >= 0 && seen[o]) {
			return fmt.Errorf("map sends input channel %d to %d: want −1 or a distinct channel below %d", j, o, w.Out)
		}
		seen[o] = true
	}
	s.SetChannelMap(w.Out, w.Map)
	return nil
}
