package tensor

import (
	"fmt"
	"math"
)

// ConcatChannels sets y to the concatenation of xs along dimension 1 (torch.cat(xs, 1)).
// xs[i]: [N, C_i, rest...] with one N and rest → y: [N, ΣC_i, rest...]. y must not alias
// an input.
func ConcatChannels(y *Tensor, xs []*Tensor) {
	n, per, c := concatShape("ConcatChannels", y, xs)
	off := 0
	for _, x := range xs {
		k := x.Shape[1] * per
		for i := range n {
			copy(y.Data[(i*c)*per+off:(i*c)*per+off+k], x.Data[i*k:(i+1)*k])
		}
		off += k
	}
}

// ConcatChannelsBackward sets (set) or adds into dx the part of dy, the gradient of a
// ConcatChannels output, that belongs to an input of dx's shape whose channels start at
// channel offset of the output. dy: [N, C, rest...], dx: [N, C_x, rest...].
func ConcatChannelsBackward(dx, dy *Tensor, offset int, set bool) {
	n, c := dy.Shape[0], dy.Shape[1]
	if dx.Dims() != dy.Dims() || dx.Shape[0] != n || offset < 0 || offset+dx.Shape[1] > c {
		panic(fmt.Sprintf("tensor.ConcatChannelsBackward: dx %v at channel %d of dy %v", dx.Shape, offset, dy.Shape))
	}
	per := dy.Numel() / max(n*c, 1)
	k := dx.Shape[1] * per
	for i := range n {
		src := dy.Data[i*c*per+offset*per : i*c*per+offset*per+k]
		dst := dx.Data[i*k : (i+1)*k]
		if set {
			copy(dst, src)
			continue
		}
		for j, g := range src {
			dst[j] += g
		}
	}
}

// concatShape checks the shapes of a concatenation and returns N, the elements per
// channel and the output's channels.
func concatShape(op string, y *Tensor, xs []*Tensor) (n, per, c int) {
	if len(xs) == 0 || y.Dims() < 2 {
		panic(fmt.Sprintf("tensor.%s: %d inputs into %v", op, len(xs), y.Shape))
	}
	n = y.Shape[0]
	per = 1
	for _, d := range y.Shape[2:] {
		per *= d
	}
	for _, x := range xs {
		if x.Dims() != y.Dims() || x.Shape[0] != n || x.Numel() != n*x.Shape[1]*per {
			panic(fmt.Sprintf("tensor.%s: input %v does not fit the output %v", op, x.Shape, y.Shape))
		}
		c += x.Shape[1]
	}
	if c != y.Shape[1] {
		panic(fmt.Sprintf("tensor.%s: inputs of %d channels in all, output %v", op, c, y.Shape))
	}
	return n, per, c
}

// Sigmoid sets y = 1/(1 + e^(−x)) element-wise (computed in float64 and rounded once, so
// the result of an element does not depend on the others); y may alias x. Same shape.
func Sigmoid(y, x *Tensor) {
	mustSameShape("Sigmoid", y, x)
	for i, v := range x.Data[:len(y.Data)] {
		y.Data[i] = float32(1 / (1 + math.Exp(-float64(v))))
	}
}

// SigmoidBackward sets (set) or adds into dx the gradient of y = Sigmoid(x):
// dy·y·(1 − y). dx, dy, y: same shape.
func SigmoidBackward(dx, dy, y *Tensor, set bool) {
	mustSameShape("SigmoidBackward", dx, dy, y)
	for i, v := range y.Data {
		g := dy.Data[i] * v * (1 - v)
		if set {
			dx.Data[i] = g
		} else {
			dx.Data[i] += g
		}
	}
}

// ScaleChannels sets y[n, c, …] = x[n, c, …]·s[c] (len(s) = C: one scale per channel) or
// x[n, c, …]·s[n·C + c] (len(s) = N·C: a gate per image and channel, squeeze-and-excitation).
// x, y: [N, C, rest...]; y may alias x.
func ScaleChannels(y, x *Tensor, s []float32) {
	mustSameShape("ScaleChannels", y, x)
	n, c, per := scaleShape("ScaleChannels", x, s)
	for i := range n {
		for k := range c {
			v := s[k]
			if len(s) != c {
				v = s[i*c+k]
			}
			lo := (i*c + k) * per
			for j, a := range x.Data[lo : lo+per] {
				y.Data[lo+j] = a * v
			}
		}
	}
}

// ScaleChannelsBackward is the gradient of y = ScaleChannels(x, s): it sets (setX) or adds
// into dx (when not nil) dy·s, and adds into ds (when not nil, of s's length) Σ dy·x over
// each scale's elements. With sq not nil (len(s) = C only), it also adds into sq, for each
// image n, (sqScale·Σ_{h,w} dy·x)², the per-sample squared gradient of s (see
// SquaredGrads).
func ScaleChannelsBackward(dx, ds []float32, dy, x *Tensor, s []float32, setX bool, sq []float32, sqScale float32) {
	mustSameShape("ScaleChannelsBackward", dy, x)
	n, c, per := scaleShape("ScaleChannelsBackward", x, s)
	perImage := len(s) != c
	for i := range n {
		for k := range c {
			j := k
			if perImage {
				j = i*c + k
			}
			lo := (i*c + k) * per
			g, xs := dy.Data[lo:lo+per], x.Data[lo:lo+per]
			if dx != nil {
				d := dx[lo : lo+per]
				if setX {
					for e, v := range g {
						d[e] = v * s[j]
					}
				} else {
					for e, v := range g {
						d[e] += v * s[j]
					}
				}
			}
			if ds == nil && sq == nil {
				continue
			}
			var sum float64
			for e, v := range g {
				sum += float64(v) * float64(xs[e])
			}
			if ds != nil {
				ds[j] += float32(sum)
			}
			if sq != nil && !perImage {
				v := float64(sqScale) * sum
				sq[k] += float32(v * v)
			}
		}
	}
}

func scaleShape(op string, x *Tensor, s []float32) (n, c, per int) {
	if x.Dims() < 2 {
		panic(fmt.Sprintf("tensor.%s: input %v has no channels", op, x.Shape))
	}
	n, c = x.Shape[0], x.Shape[1]
	if len(s) != c && len(s) != n*c {
		panic(fmt.Sprintf("tensor.%s: %d scales for an input %v", op, len(s), x.Shape))
	}
	return n, c, x.Numel() / max(n*c, 1)
}
