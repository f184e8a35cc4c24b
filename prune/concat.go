package prune

import "fmt"

// layout is the channel layout of a tensor made by concatenating tensors along
// dimension 1 (nn.Concat): its channels are pieces of the channels of several sets, one
// after the other. Removing channels of a group shrinks the pieces that are the group's,
// so the pieces after them start earlier: a Dep through a layout computes its offset
// from the sizes now, and the indices of other groups stay valid.
type layout struct {
	sizes  []int // channels of each piece now
	spaces []int // the tracer's set of each piece (while tracing)
}

// view is a tensor's placement of a layout: the features of each piece's channels
// (1 each for [N, C, H, W] tensors, H·W after a flatten; they may differ when
// flattened tensors were concatenated).
type view struct {
	l     *layout
	spans []int
}

// features returns the tensor's features along dimension 1 now.
func (v *view) features() int {
	n := 0
	for j, s := range v.l.sizes {
		n += s * v.spans[j]
	}
	return n
}

// piece is piece i of a view (v nil: none, the side holds the group's channels alone).
type piece struct {
	v *view
	i int
}

// offset returns the first feature of the piece in its tensor now (0 for none).
func (p piece) offset() int {
	if p.v == nil {
		return 0
	}
	n := 0
	for j, s := range p.v.l.sizes[:p.i] {
		n += s * p.v.spans[j]
	}
	return n
}

// concat places the output of a concatenation of ins: a new layout of their pieces,
// nested concatenations flattened.
func (t *tracer) concat(ins []varInfo) varInfo {
	l := &layout{}
	v := &view{l: l}
	for _, in := range ins {
		if in.v == nil {
			l.sizes = append(l.sizes, t.spaces[t.find(in.space)].channels)
			l.spaces = append(l.spaces, in.space)
			v.spans = append(v.spans, in.span)
			continue
		}
		l.sizes = append(l.sizes, in.v.l.sizes...)
		l.spaces = append(l.spaces, in.v.l.spaces...)
		v.spans = append(v.spans, in.v.spans...)
	}
	for j, s := range l.spaces {
		sp := t.spaces[t.find(s)]
		sp.pieces = append(sp.pieces, piece{v, j})
	}
	return varInfo{space: -1, span: 1, v: v}
}

// spacesOf returns the sets whose channels a tensor carries: one, or a
// concatenation's pieces'.
func (t *tracer) spacesOf(v varInfo) []int {
	if v.v == nil {
		if v.space < 0 {
			return nil
		}
		return []int{t.find(v.space)}
	}
	var s []int
	for _, sp := range v.v.l.spaces {
		s = append(s, t.find(sp))
	}
	return s
}

// cutOf turns a removal of a group's channels (keep, removed, span features each) into
// one of the features of the whole side that reads a concatenation (at: the group's
// pieces in it, one or more): the features of every other piece stay. It returns the
// features to keep and, per feature, whether it goes.
func cutOf(at []piece, keep []int, removed []bool) ([]int, []bool) {
	v := at[0].v
	mine := map[int]bool{}
	for _, p := range at {
		mine[p.i] = true
	}
	var fk []int
	var fr []bool
	off := 0
	for j, s := range v.l.sizes {
		for c := range s {
			gone := mine[j] && removed[c]
			for f := range v.spans[j] {
				if !gone {
					fk = append(fk, off+f)
				}
				fr = append(fr, gone)
			}
			off += v.spans[j]
		}
	}
	return fk, fr
}

// pieceString describes where a dep's channels sit in a concatenation: "@8" (from
// feature 8 on), "" for a dep not through one.
func pieceString(p piece) string {
	if p.v == nil {
		return ""
	}
	return fmt.Sprintf(" @%d", p.offset())
}
