package tensor

import (
	"math"
	"sync"

	"github.com/bonsai-dl/bonsai/internal/asm"
)

// Batch normalisation in parallel over channels: each channel is computed entirely by one
// goroutine, in the same order whatever their number, with the float64 kernels of package
// asm (SIMD, fixed order). One task struct serves all calls, one call at a time (they
// would wait for each other in parallelFor anyway), so that the calls do not allocate.
//
// The fused forms: a ReLU after the normalisation (y = relu(bn(x))), and the tail of a
// residual block (y = relu(bn(x) + s)). Their backward passes apply the ReLU's mask to dy on
// the fly: recomputed from x with the per-channel scale and shift the forward pass used
// (relu(bn(x))), or read from y (relu(bn(x) + s), which also gives s its gradient).

var bn struct {
	mu   sync.Mutex
	task bnTask
}

type bnTask struct {
	train bool // forward in training mode (else backward)
	relu  bool // y = relu(bn(x) [+ s])
	add   bool // backward: add into dx (else set it)
	addS  bool // backward: add into ds (else set it)

	x, y, s, dx, ds, dy         *Tensor // y: backward, the mask's source when s is set
	gamma, beta, mean, variance []float32
	scale, shift                []float32 // forward: out (may be nil); backward: the mask of relu(bn(x))
	eps                         float32
	training                    bool
	dgamma, dbeta               []float32
	sq                          *SquaredGrads
}

// bnParts is the number of parts the c channels are cut into (channels per part are
// consecutive; the cut does not affect the results).
func bnParts(c int) int { return min(c, 4*maxProcs()) }

// bnGroup is the number of channels a part works on at once: within a group the planes are
// visited sample by sample, channel by channel (each channel's values in the same order
// whatever the group). One channel at a time measured best for CIFAR ResNets at batch 128:
// the second pass over a channel then finds it in the L2 cache (a group's planes would
// stream better, but do not fit); the loops take larger groups should that change.
const bnGroup = 1

func (t *bnTask) Part(_, i int) {
	_, c, _, _ := t.x.NCHW()
	c0, c1 := split(c, bnParts(c), i)
	for g := c0; g < c1; g += bnGroup {
		if t.train {
			t.forward(g, min(g+bnGroup, c1))
		} else {
			t.backward(g, min(g+bnGroup, c1))
		}
	}
}

// forward normalises channels c0…c1-1 (at most bnGroup) of x into y with the batch's
// statistics (BatchNormTrain).
func (t *bnTask) forward(c0, c1 int) {
	n, c, h, w := t.x.NCHW()
	plane := h * w
	x := t.x.Data
	// Moments about each channel's first element (near the mean: no cancellation).
	var piv [bnGroup]float64
	var m [bnGroup]asm.Sums64
	if n > 0 && plane > 0 {
		for ch := c0; ch < c1; ch++ {
			piv[ch-c0] = float64(x[ch*plane])
		}
	}
	for i := range n {
		t.prefetch((i+1)*c+c0, (c1-c0)*plane, plane, t.x)
		for ch := c0; ch < c1; ch++ {
			off := (i*c + ch) * plane
			m[ch-c0].AddSq(x[off:off+plane], piv[ch-c0])
		}
	}
	var alphas, shifts [bnGroup]float32
	for ch := c0; ch < c1; ch++ {
		s, q := m[ch-c0].Result()
		count := float64(n * plane)
		d := s / count
		mu := piv[ch-c0] + d
		v := max(q/count-d*d, 0)
		t.mean[ch], t.variance[ch] = float32(mu), float32(v)
		alpha := float64(t.gamma[ch]) / math.Sqrt(v+float64(t.eps))
		shift := float32(float64(t.beta[ch]) - mu*alpha)
		alphas[ch-c0], shifts[ch-c0] = float32(alpha), shift
		if t.scale != nil {
			t.scale[ch], t.shift[ch] = float32(alpha), shift
		}
	}
	for i := range n {
		t.prefetch((i+1)*c+c0, (c1-c0)*plane, plane, t.x, t.s)
		for ch := c0; ch < c1; ch++ {
			off := (i*c + ch) * plane
			t.apply(off, off+plane, alphas[ch-c0], shifts[ch-c0])
		}
	}
}

// apply writes y[lo:hi] from x[lo:hi] (and s) with the channel's scale and shift.
func (t *bnTask) apply(lo, hi int, alpha, shift float32) {
	y, x := t.y.Data[lo:hi], t.x.Data[lo:hi]
	switch {
	case t.s != nil:
		asm.ScaleShiftAddRelu(y, x, t.s.Data[lo:hi], alpha, shift)
	case t.relu:
		asm.ScaleShiftRelu(y, x, alpha, shift)
	default:
		asm.ScaleShift(y, x, alpha, shift)
	}
}

// bnChan is what the backward pass of one channel needs between its two passes.
type bnChan struct {
	mu, invstd, k, mdy, mdyx float64
	scale, shift             float32
	sums                     asm.Sums64
	sdy, sdyx                float64
}

// backward computes channels c0…c1-1 (at most bnGroup) of the backward pass
// (BatchNormBackward and the fused forms).
func (t *bnTask) backward(c0, c1 int) {
	n, c, h, w := t.x.NCHW()
	plane := h * w
	m := float64(n * plane)
	x, dy, sq := t.x.Data, t.dy.Data, t.sq
	// The ReLU's mask: from y (maskY), or recomputed from x (maskX), or none.
	var maskY []float32
	maskX := t.relu && t.y == nil
	if t.relu && !maskX {
		maskY = t.y.Data
	}
	// In training mode with ds and dx both set, the first pass also sets ds to the masked
	// dy, and the second reads it there instead of dy and y.
	dsFirst := maskY != nil && t.ds != nil && t.training && !t.add && !t.addS
	var chans [bnGroup]bnChan
	for ch := c0; ch < c1; ch++ {
		b := &chans[ch-c0]
		b.mu = float64(t.mean[ch])
		b.invstd = 1 / math.Sqrt(float64(t.variance[ch])+float64(t.eps))
		if maskX {
			b.scale, b.shift = t.scale[ch], t.shift[ch]
		}
	}
	sums := func(m *asm.Sums64, b *bnChan, lo, hi int) {
		switch {
		case dsFirst:
			m.AddDotCenteredReluDs(dy[lo:hi], maskY[lo:hi], x[lo:hi], t.ds.Data[lo:hi], b.mu)
		case maskX:
			m.AddDotCenteredReluX(dy[lo:hi], x[lo:hi], b.mu, b.scale, b.shift)
		case maskY != nil:
			m.AddDotCenteredRelu(dy[lo:hi], maskY[lo:hi], x[lo:hi], b.mu)
		default:
			m.AddDotCentered(dy[lo:hi], x[lo:hi], b.mu)
		}
	}
	// The sums over the batch; sample by sample when per-sample squared gradients are
	// wanted, else in one set of partial sums over all samples.
	for i := range n {
		t.prefetch((i+1)*c+c0, (c1-c0)*plane, plane, t.dy, t.x, t.y)
		for ch := c0; ch < c1; ch++ {
			b := &chans[ch-c0]
			off := (i*c + ch) * plane
			if sq == nil {
				sums(&b.sums, b, off, off+plane)
				continue
			}
			var one asm.Sums64
			sums(&one, b, off, off+plane)
			s, sx := one.Result()
			sx *= b.invstd
			b.sdy += s
			b.sdyx += sx
			if sq.W != nil {
				v := float64(sq.Scale) * sx
				sq.W[ch] += float32(v * v)
			}
			if sq.B != nil {
				v := float64(sq.Scale) * s
				sq.B[ch] += float32(v * v)
			}
		}
	}
	for ch := c0; ch < c1; ch++ {
		b := &chans[ch-c0]
		if sq == nil {
			s, sx := b.sums.Result()
			b.sdy, b.sdyx = s, sx*b.invstd
		}
		if t.dgamma != nil {
			t.dgamma[ch] += float32(b.sdyx)
		}
		if t.dbeta != nil {
			t.dbeta[ch] += float32(b.sdy)
		}
		b.k = float64(t.gamma[ch]) * b.invstd
		b.mdy, b.mdyx = b.sdy/m, b.sdyx/m
	}
	if t.dx == nil {
		if t.ds != nil && !dsFirst { // y = relu(bn(x) + s) where only s wants a gradient
			for i := range n {
				lo := (i*c + c0) * plane
				t.sGrad(lo, lo+(c1-c0)*plane)
			}
		}
		return
	}
	for i := range n {
		if dsFirst {
			t.prefetch((i+1)*c+c0, (c1-c0)*plane, plane, t.ds, t.x)
		} else {
			t.prefetch((i+1)*c+c0, (c1-c0)*plane, plane, t.dy, t.x, t.y)
		}
		for ch := c0; ch < c1; ch++ {
			b := &chans[ch-c0]
			lo := (i*c + ch) * plane
			hi := lo + plane
			t.grad(b, lo, hi, maskX, maskY, dsFirst)
		}
	}
}

// grad writes dx[lo:hi] (and ds[lo:hi]) for one plane of a channel.
func (t *bnTask) grad(b *bnChan, lo, hi int, maskX bool, maskY []float32, dsFirst bool) {
	dxs, dys, xs := t.dx.Data[lo:hi], t.dy.Data[lo:hi], t.x.Data[lo:hi]
	var ys []float32
	if maskY != nil {
		ys = maskY[lo:hi]
	}
	switch {
	case !t.training:
		k := b.k
		for j, g := range dys {
			switch {
			case maskX: // branch-free: the mask follows the data's signs
				g = reluKeep(g, reluBits(float32(xs[j]*b.scale)+b.shift))
			case ys != nil:
				g = reluKeep(g, ys[j])
			}
			if t.ds != nil {
				if t.addS {
					t.ds.Data[lo+j] += g
				} else {
					t.ds.Data[lo+j] = 0 + g
				}
			}
			v := float32(k * float64(g))
			if t.add {
				dxs[j] += v
			} else {
				dxs[j] = 0 + v
			}
		}
	case dsFirst: // ds holds the masked dy
		asm.BatchNormGradTo64(dxs, t.ds.Data[lo:hi], nil, xs, b.k, b.mdy, b.mu, b.invstd, b.mdyx, false)
	case maskX:
		asm.BatchNormGradReluX64(dxs, dys, xs, b.k, b.mdy, b.mu, b.invstd, b.mdyx, b.scale, b.shift, t.add)
	case t.ds != nil && !t.add && !t.addS:
		asm.BatchNormGradReluDs64(dxs, t.ds.Data[lo:hi], dys, ys, xs, b.k, b.mdy, b.mu, b.invstd, b.mdyx)
	case t.ds != nil:
		t.sGrad(lo, hi)
		asm.BatchNormGradTo64(dxs, dys, ys, xs, b.k, b.mdy, b.mu, b.invstd, b.mdyx, t.add)
	default:
		asm.BatchNormGradTo64(dxs, dys, ys, xs, b.k, b.mdy, b.mu, b.invstd, b.mdyx, t.add)
	}
}

// sGrad sets or adds the gradient of s in y = relu(bn(x) + s) into ds[lo:hi].
func (t *bnTask) sGrad(lo, hi int) {
	if t.addS {
		asm.ReluBackward(t.ds.Data[lo:hi], t.dy.Data[lo:hi], t.y.Data[lo:hi])
	} else {
		asm.ReluBackwardSet(t.ds.Data[lo:hi], t.dy.Data[lo:hi], t.y.Data[lo:hi])
	}
}

// prefetch asks for n elements from plane p (element p·plane) of each tensor that is not nil
// (and not t.y unless it is read): the next sample's planes of a channel, which the hardware
// prefetchers, working within pages, do not fetch ahead by themselves.
func (t *bnTask) prefetch(p, n, plane int, ts ...*Tensor) {
	if n < bnPrefetchMin {
		return // small planes: the calls cost more than they save
	}
	for _, u := range ts {
		if u != nil {
			asm.PrefetchRows(u.Data, p*plane, 1, n, n)
		}
	}
}

// reluBits returns max(v, 0) as asm.Relu computes it (+0 for NaN and −0), without a branch:
// v > 0 exactly when its bits b satisfy 1 ≤ b ≤ 0x7f800000.
func reluBits(v float32) float32 {
	b := math.Float32bits(v)
	return math.Float32frombits(b & uint32((int64(b)-0x7f800001)>>63))
}

// bnPrefetchMin is the smallest run of elements prefetch fetches (one page).
const bnPrefetchMin = 1024

// runBN runs t over the channels.
func runBN(t bnTask) {
	_, c, _, _ := t.x.NCHW()
	bn.mu.Lock()
	defer bn.mu.Unlock()
	bn.task = t
	parallelFor(bnParts(c), &bn.task)
	bn.task = bnTask{}
}

// reluKeep returns g where the ReLU output y is positive as an int32, +0 elsewhere: the
// gradient asm.ReluBackward passes on.
func reluKeep(g, y float32) float32 {
	b := int32(math.Float32bits(y))
	keep := uint32((-b)>>31) &^ uint32(b>>31)
	return math.Float32frombits(math.Float32bits(g) & keep)
}
