package onnx

import (
	"fmt"
	"math"
	"slices"

	"github.com/bonsai-dl/bonsai/onnx/internal/onnxpb"
)

// The shape arithmetic that exporters emit runs at import when every input of a node is
// known (foldable); the result is a konst. Only small tensors take these paths.

// foldable lists the operators fold evaluates.
var foldable = map[string]bool{
	"Constant": true, "Identity": true, "Cast": true, "Shape": true, "Gather": true,
	"Unsqueeze": true, "Squeeze": true, "Concat": true, "ConstantOfShape": true,
	"Reshape": true, "Slice": true, "Transpose": true, "Add": true, "Sub": true, "Mul": true,
	"Div": true, "Neg": true, "Flatten": true,
}

// maxFold bounds the size of a tensor that folding creates.
const maxFold = 1 << 24

// fold evaluates node n of opset on the known inputs in (nil for an absent optional one).
func fold(n *onnxpb.NodeProto, opset int, in []*konst) (*konst, error) {
	at := attrs(n)
	need := func(k int) error {
		if len(in) < k || slices.Contains(in[:k], nil) {
			return fmt.Errorf("wants %d inputs, has %d", k, len(in))
		}
		return nil
	}
	switch n.GetOpType() {
	case "Constant":
		switch {
		case at["value"] != nil:
			return decodeTensor(at["value"].GetT())
		case at["value_float"] != nil:
			return floatKonst(nil, []float32{at["value_float"].GetF()}), nil
		case at["value_floats"] != nil:
			v := at["value_floats"].GetFloats()
			return floatKonst([]int{len(v)}, slices.Clone(v)), nil
		case at["value_int"] != nil:
			return intKonst(nil, []int64{at["value_int"].GetI()}), nil
		case at["value_ints"] != nil:
			v := at["value_ints"].GetInts()
			return intKonst([]int{len(v)}, slices.Clone(v)), nil
		}
		return nil, fmt.Errorf("a Constant with no supported value attribute")
	case "Identity":
		if err := need(1); err != nil {
			return nil, err
		}
		return in[0], nil
	case "Cast":
		if err := need(1); err != nil {
			return nil, err
		}
		switch onnxpb.TensorProto_DataType(at.i("to", 0)) {
		case onnxpb.TensorProto_FLOAT, onnxpb.TensorProto_DOUBLE, onnxpb.TensorProto_FLOAT16:
			return floatKonst(in[0].shape, in[0].floats()), nil
		case onnxpb.TensorProto_INT64, onnxpb.TensorProto_INT32, onnxpb.TensorProto_INT8, onnxpb.TensorProto_UINT8, onnxpb.TensorProto_BOOL:
			return intKonst(in[0].shape, in[0].ints()), nil
		}
		return nil, fmt.Errorf("Cast to type %d is not supported", at.i("to", 0))
	case "Shape":
		if err := need(1); err != nil {
			return nil, err
		}
		return shapeOf(in[0].shape, at, opset), nil
	case "Gather":
		if err := need(2); err != nil {
			return nil, err
		}
		return gather(in[0], in[1], int(at.i("axis", 0)))
	case "Unsqueeze", "Squeeze":
		if err := need(1); err != nil {
			return nil, err
		}
		axes := at.ints("axes")
		if opset >= 13 && len(in) > 1 && in[1] != nil {
			axes = in[1].ints()
		}
		return squeeze(in[0], axes, n.GetOpType() == "Unsqueeze")
	case "Concat":
		return concat(in, int(at.i("axis", 0)))
	case "ConstantOfShape":
		if err := need(1); err != nil {
			return nil, err
		}
		shape, err := toShape(in[0].ints(), nil)
		if err != nil {
			return nil, err
		}
		fill := floatKonst(nil, []float32{0})
		if t := at["value"]; t != nil {
			if fill, err = decodeTensor(t.GetT()); err != nil {
				return nil, err
			}
			if fill.size() != 1 {
				return nil, fmt.Errorf("ConstantOfShape value has %d elements, want 1", fill.size())
			}
		}
		if fill.isFloat {
			return floatKonst(shape, repeat(fill.f[0], prod(shape))), nil
		}
		return intKonst(shape, repeat(fill.i[0], prod(shape))), nil
	case "Reshape":
		if err := need(2); err != nil {
			return nil, err
		}
		shape, err := toShape(in[1].ints(), in[0].shape)
		if err != nil {
			return nil, err
		}
		if prod(shape) != in[0].size() {
			return nil, fmt.Errorf("Reshape of %v to %v changes the size", in[0].shape, shape)
		}
		return &konst{shape: shape, isFloat: in[0].isFloat, i: in[0].i, f: in[0].f}, nil
	case "Flatten":
		if err := need(1); err != nil {
			return nil, err
		}
		ax, err := axis(int(at.i("axis", 1)), len(in[0].shape)+1)
		if err != nil {
			return nil, err
		}
		return &konst{shape: []int{prod(in[0].shape[:ax]), prod(in[0].shape[ax:])}, isFloat: in[0].isFloat, i: in[0].i, f: in[0].f}, nil
	case "Slice":
		if err := need(3); err != nil {
			return nil, err
		}
		sl, err := sliceArgs(in, in[0].shape)
		if err != nil {
			return nil, err
		}
		return sliceKonst(in[0], sl), nil
	case "Transpose":
		if err := need(1); err != nil {
			return nil, err
		}
		return transpose(in[0], at.ints("perm"))
	case "Add", "Sub", "Mul", "Div":
		if err := need(2); err != nil {
			return nil, err
		}
		return arith(n.GetOpType(), in[0], in[1])
	case "Neg":
		if err := need(1); err != nil {
			return nil, err
		}
		return arith("Sub", &konst{isFloat: in[0].isFloat, i: []int64{0}, f: []float32{0}}, in[0])
	}
	return nil, fmt.Errorf("operator %s cannot be folded", n.GetOpType())
}

func repeat[T any](v T, n int) []T {
	out := make([]T, n)
	for j := range out {
		out[j] = v
	}
	return out
}

// shapeOf is the Shape operator on a tensor of shape s (start and end attributes from
// opset 15).
func shapeOf(s []int, at attrMap, opset int) *konst {
	v := make([]int64, len(s))
	for j, d := range s {
		v[j] = int64(d)
	}
	if opset >= 15 {
		r := int64(len(s))
		clamp := func(x int64) int64 {
			if x < 0 {
				x += r
			}
			return min(max(x, 0), r)
		}
		start, end := clamp(at.i("start", 0)), clamp(at.i("end", r))
		if start > end {
			start = end
		}
		v = v[start:end]
	}
	return intKonst([]int{len(v)}, v)
}

// toShape turns a Reshape or ConstantOfShape shape (0: copy from like, −1: inferred)
// into dimensions; like nil allows neither.
func toShape(v []int64, like []int) ([]int, error) {
	out := make([]int, len(v))
	infer, known := -1, 1
	for j, d := range v {
		switch {
		case d == 0 && like != nil:
			if j >= len(like) {
				return nil, fmt.Errorf("shape %v copies dimension %d of %v", v, j, like)
			}
			out[j] = like[j]
		case d == -1 && like != nil && infer < 0:
			infer = j
			continue
		case d < 0 || d > maxFold:
			return nil, fmt.Errorf("shape %v has an invalid dimension", v)
		default:
			out[j] = int(d)
		}
		known *= out[j]
		if known > maxFold {
			return nil, fmt.Errorf("shape %v is too large to fold", v)
		}
	}
	if infer >= 0 {
		if known == 0 || prod(like)%known != 0 {
			return nil, fmt.Errorf("shape %v does not fit %v", v, like)
		}
		out[infer] = prod(like) / known
	}
	return out, nil
}

// axis normalises a possibly negative axis of a tensor of rank r.
func axis(a, r int) (int, error) {
	if a < 0 {
		a += r
	}
	if a < 0 || a >= r {
		return 0, fmt.Errorf("axis %d out of range for rank %d", a, r)
	}
	return a, nil
}

// strides returns the row-major strides of shape.
func strides(shape []int) []int {
	s := make([]int, len(shape))
	n := 1
	for j := len(shape) - 1; j >= 0; j-- {
		s[j] = n
		n *= shape[j]
	}
	return s
}

// pick builds a tensor of shape out whose element at index idx is k's element src(idx).
func pick(k *konst, out []int, src func(idx []int) int) *konst {
	n := prod(out)
	r := &konst{shape: out, isFloat: k.isFloat}
	idx := make([]int, len(out))
	for e := 0; e < n; e++ {
		rem := e
		for j := len(out) - 1; j >= 0; j-- {
			idx[j] = rem % out[j]
			rem /= out[j]
		}
		s := src(idx)
		if k.isFloat {
			r.f = append(r.f, k.f[s])
		} else {
			r.i = append(r.i, k.i[s])
		}
	}
	if r.isFloat && r.f == nil {
		r.f = []float32{}
	}
	return r
}

func gather(data, ind *konst, ax int) (*konst, error) {
	a, err := axis(ax, len(data.shape))
	if err != nil {
		return nil, err
	}
	dimA := data.shape[a]
	ids := ind.ints()
	for j, v := range ids {
		if v < 0 {
			v += int64(dimA)
		}
		if v < 0 || v >= int64(dimA) {
			return nil, fmt.Errorf("Gather index %d out of range [0, %d)", ids[j], dimA)
		}
	}
	out := append(append(slices.Clone(data.shape[:a]), ind.shape...), data.shape[a+1:]...)
	st := strides(data.shape)
	ist := strides(ind.shape)
	return pick(data, out, func(idx []int) int {
		off := 0
		for j := 0; j < a; j++ {
			off += idx[j] * st[j]
		}
		ii := 0
		for j := range ind.shape {
			ii += idx[a+j] * ist[j]
		}
		v := int(ids[ii])
		if v < 0 {
			v += dimA
		}
		off += v * st[a]
		for j := a + 1; j < len(data.shape); j++ {
			off += idx[len(ind.shape)+j-1] * st[j]
		}
		return off
	}), nil
}

func squeeze(k *konst, axes []int64, unsq bool) (*konst, error) {
	shape := slices.Clone(k.shape)
	if unsq {
		r := len(shape) + len(axes)
		ax := make([]int, len(axes))
		for j, a := range axes {
			v, err := axis(int(a), r)
			if err != nil {
				return nil, err
			}
			ax[j] = v
		}
		slices.Sort(ax)
		for _, a := range ax {
			shape = slices.Insert(shape, a, 1)
		}
	} else {
		var out []int
		drop := map[int]bool{}
		for _, a := range axes {
			v, err := axis(int(a), len(shape))
			if err != nil {
				return nil, err
			}
			drop[v] = true
		}
		for j, d := range shape {
			if (len(axes) == 0 && d == 1) || drop[j] {
				if d != 1 {
					return nil, fmt.Errorf("Squeeze of dimension %d of size %d", j, d)
				}
				continue
			}
			out = append(out, d)
		}
		shape = out
	}
	return &konst{shape: shape, isFloat: k.isFloat, i: k.i, f: k.f}, nil
}

func concat(in []*konst, ax int) (*konst, error) {
	if len(in) == 0 || slices.Contains(in, nil) {
		return nil, fmt.Errorf("Concat of no or absent inputs")
	}
	a, err := axis(ax, len(in[0].shape))
	if err != nil {
		return nil, err
	}
	out := slices.Clone(in[0].shape)
	out[a] = 0
	isFloat := false
	for _, k := range in {
		if len(k.shape) != len(out) {
			return nil, fmt.Errorf("Concat of ranks %d and %d", len(out), len(k.shape))
		}
		for j := range out {
			if j != a && k.shape[j] != out[j] {
				return nil, fmt.Errorf("Concat of shapes %v and %v", in[0].shape, k.shape)
			}
		}
		out[a] += k.shape[a]
		isFloat = isFloat || k.isFloat
	}
	r := &konst{shape: out, isFloat: isFloat}
	outer := prod(out[:a])
	for o := range outer {
		for _, k := range in {
			inner := k.shape[a] * prod(k.shape[a+1:])
			if isFloat {
				r.f = append(r.f, k.floats()[o*inner:(o+1)*inner]...)
			} else {
				r.i = append(r.i, k.i[o*inner:(o+1)*inner]...)
			}
		}
	}
	return r, nil
}

// slicing is a Slice operator's arguments resolved for a tensor shape: per dimension,
// start, step and count of the kept elements.
type slicing struct {
	start, step, count []int
}

// sliceArgs resolves Slice's inputs (data, starts, ends, axes, steps) for shape.
func sliceArgs(in []*konst, shape []int) (slicing, error) {
	r := len(shape)
	sl := slicing{start: make([]int, r), step: make([]int, r), count: slices.Clone(shape)}
	for j := range sl.step {
		sl.step[j] = 1
	}
	starts, ends := in[1].ints(), in[2].ints()
	axes := make([]int64, len(starts))
	for j := range axes {
		axes[j] = int64(j)
	}
	if len(in) > 3 && in[3] != nil {
		axes = in[3].ints()
	}
	steps := repeat(int64(1), len(starts))
	if len(in) > 4 && in[4] != nil {
		steps = in[4].ints()
	}
	if len(ends) != len(starts) || len(axes) != len(starts) || len(steps) != len(starts) {
		return sl, fmt.Errorf("Slice with %d starts, %d ends, %d axes, %d steps", len(starts), len(ends), len(axes), len(steps))
	}
	for j := range starts {
		a, err := axis(int(axes[j]), r)
		if err != nil {
			return sl, err
		}
		d, st := int64(shape[a]), steps[j]
		if st == 0 {
			return sl, fmt.Errorf("Slice step 0")
		}
		s, e := starts[j], ends[j]
		if s < 0 {
			s += d
		}
		if e < 0 && e > math.MinInt64/2 {
			e += d
		}
		if st > 0 {
			s, e = min(max(s, 0), d), min(max(e, 0), d)
		} else {
			s, e = min(max(s, -1), d-1), min(max(e, -1), d-1)
		}
		n := int64(0)
		if st > 0 && e > s {
			n = (e - s + st - 1) / st
		} else if st < 0 && s > e {
			n = (s - e - st - 1) / -st
		}
		sl.start[a], sl.step[a], sl.count[a] = int(s), int(st), int(n)
	}
	return sl, nil
}

func sliceKonst(k *konst, sl slicing) *konst {
	st := strides(k.shape)
	return pick(k, sl.count, func(idx []int) int {
		off := 0
		for j, v := range idx {
			off += (sl.start[j] + v*sl.step[j]) * st[j]
		}
		return off
	})
}

func transpose(k *konst, perm []int64) (*konst, error) {
	r := len(k.shape)
	if perm == nil {
		for j := r - 1; j >= 0; j-- {
			perm = append(perm, int64(j))
		}
	}
	if len(perm) != r {
		return nil, fmt.Errorf("Transpose perm %v for rank %d", perm, r)
	}
	out := make([]int, r)
	seen := map[int64]bool{}
	for j, p := range perm {
		if p < 0 || p >= int64(r) || seen[p] {
			return nil, fmt.Errorf("Transpose perm %v is not a permutation", perm)
		}
		seen[p] = true
		out[j] = k.shape[p]
	}
	st := strides(k.shape)
	return pick(k, out, func(idx []int) int {
		off := 0
		for j, v := range idx {
			off += v * st[perm[j]]
		}
		return off
	}), nil
}

// arith is numpy-broadcast element-wise arithmetic.
func arith(op string, a, b *konst) (*konst, error) {
	r := max(len(a.shape), len(b.shape))
	pad := func(s []int) []int { return append(repeat(1, r-len(s)), s...) }
	as, bs := pad(a.shape), pad(b.shape)
	out := make([]int, r)
	for j := range out {
		switch {
		case as[j] == bs[j] || bs[j] == 1:
			out[j] = as[j]
		case as[j] == 1:
			out[j] = bs[j]
		default:
			return nil, fmt.Errorf("%s of shapes %v and %v", op, a.shape, b.shape)
		}
	}
	if prod(out) > maxFold {
		return nil, fmt.Errorf("%s result %v is too large to fold", op, out)
	}
	ast, bst := strides(as), strides(bs)
	off := func(idx, shape, st []int) int {
		o := 0
		for j, v := range idx {
			if shape[j] != 1 {
				o += v * st[j]
			}
		}
		return o
	}
	isFloat := a.isFloat || b.isFloat
	res := &konst{shape: out, isFloat: isFloat}
	af, bf := a.floats(), b.floats()
	n := prod(out)
	idx := make([]int, r)
	for e := 0; e < n; e++ {
		rem := e
		for j := r - 1; j >= 0; j-- {
			idx[j] = rem % out[j]
			rem /= out[j]
		}
		ia, ib := off(idx, as, ast), off(idx, bs, bst)
		if isFloat {
			x, y := af[ia], bf[ib]
			var v float32
			switch op {
			case "Add":
				v = x + y
			case "Sub":
				v = x - y
			case "Mul":
				v = x * y
			default:
				v = x / y
			}
			res.f = append(res.f, v)
			continue
		}
		x, y := a.i[ia], b.i[ib]
		if x == batchDim || y == batchDim {
			return nil, fmt.Errorf("%s on the batch size cannot be folded", op)
		}
		var v int64
		switch op {
		case "Add":
			v = x + y
		case "Sub":
			v = x - y
		case "Mul":
			v = x * y
		default:
			if y == 0 {
				return nil, fmt.Errorf("integer division by zero")
			}
			v = x / y
		}
		res.i = append(res.i, v)
	}
	if isFloat && res.f == nil {
		res.f = []float32{}
	}
	return res, nil
}

// attrMap holds a node's attributes by name.
type attrMap map[string]*onnxpb.AttributeProto

func attrs(n *onnxpb.NodeProto) attrMap {
	m := attrMap{}
	for _, a := range n.GetAttribute() {
		m[a.GetName()] = a
	}
	return m
}

func (m attrMap) i(name string, def int64) int64 {
	if a := m[name]; a != nil {
		return a.GetI()
	}
	return def
}

func (m attrMap) f(name string, def float32) float32 {
	if a := m[name]; a != nil {
		return a.GetF()
	}
	return def
}

func (m attrMap) s(name, def string) string {
	if a := m[name]; a != nil {
		return string(a.GetS())
	}
	return def
}

func (m attrMap) ints(name string) []int64 {
	if a := m[name]; a != nil {
		return a.GetInts()
	}
	return nil
}
