package tensor

import (
	"math"
	"sync"

	"github.com/bonsai-dl/bonsai/asm"
)

// Batch normalisation in parallel over channels: each channel is computed entirely by one
// goroutine, in the same order whatever their number, with the float64 kernels of package
// asm (SIMD, fixed order). One task struct serves all calls, one call at a time (they
// would wait for each other in parallelFor anyway), so that the calls do not allocate.

var bn struct {
	mu   sync.Mutex
	task bnTask
}

type bnTask struct {
	train bool // forward in training mode (else backward)
	relu  bool // forward: y = relu(bn(x)); backward: dy is the gradient of y = relu(bn(x))
	add   bool // backward: add into dx (else set it)

	x, y, dx, dy                *Tensor
	gamma, beta, mean, variance []float32
	eps                         float32
	training                    bool
	dgamma, dbeta               []float32
	sq                          *SquaredGrads
}

// bnParts is the number of parts the c channels are cut into (channels per part are
// consecutive; the cut does not affect the results).
func bnParts(c int) int { return min(c, 4*maxProcs()) }

func (t *bnTask) part(_, i int) {
	_, c, _, _ := t.x.NCHW()
	c0, c1 := split(c, bnParts(c), i)
	for ch := c0; ch < c1; ch++ {
		if t.train {
			t.forward(ch)
		} else {
			t.backward(ch)
		}
	}
}

// forward normalises channel ch of x into y with the batch's statistics (BatchNormTrain).
func (t *bnTask) forward(ch int) {
	n, c, h, w := t.x.NCHW()
	plane := h * w
	x := t.x.Data
	// Moments about the channel's first element (near the mean: no cancellation).
	var piv float64
	if n > 0 && plane > 0 {
		piv = float64(x[ch*plane])
	}
	var m asm.Sums64
	for i := range n {
		m.AddSq(x[(i*c+ch)*plane:(i*c+ch+1)*plane], piv)
	}
	s, q := m.Result()
	count := float64(n * plane)
	d := s / count
	mu := piv + d
	v := max(q/count-d*d, 0)
	t.mean[ch], t.variance[ch] = float32(mu), float32(v)
	alpha := float64(t.gamma[ch]) / math.Sqrt(v+float64(t.eps))
	shift := float32(float64(t.beta[ch]) - mu*alpha)
	for i := range n {
		off := (i*c + ch) * plane
		if t.relu {
			asm.ScaleShiftRelu(t.y.Data[off:off+plane], x[off:off+plane], float32(alpha), shift)
		} else {
			asm.ScaleShift(t.y.Data[off:off+plane], x[off:off+plane], float32(alpha), shift)
		}
	}
}

// backward computes channel ch of BatchNormBackward.
func (t *bnTask) backward(ch int) {
	n, c, h, w := t.x.NCHW()
	plane := h * w
	m := float64(n * plane)
	mu := float64(t.mean[ch])
	invstd := 1 / math.Sqrt(float64(t.variance[ch])+float64(t.eps))
	x, dy, sq := t.x.Data, t.dy.Data, t.sq
	var y []float32 // the ReLU's output, whose mask applies to dy
	if t.relu {
		y = t.y.Data
	}
	// The sums over the batch; sample by sample when per-sample squared gradients are
	// wanted, else in one set of partial sums over all samples.
	var sdy, sdyx float64
	var sums asm.Sums64
	for i := range n {
		off := (i*c + ch) * plane
		var ys []float32
		if y != nil {
			ys = y[off : off+plane]
		}
		if sq == nil {
			if ys != nil {
				sums.AddDotCenteredRelu(dy[off:off+plane], ys, x[off:off+plane], mu)
			} else {
				sums.AddDotCentered(dy[off:off+plane], x[off:off+plane], mu)
			}
			continue
		}
		var one asm.Sums64
		if ys != nil {
			one.AddDotCenteredRelu(dy[off:off+plane], ys, x[off:off+plane], mu)
		} else {
			one.AddDotCentered(dy[off:off+plane], x[off:off+plane], mu)
		}
		s, sx := one.Result()
		sx *= invstd
		sdy += s
		sdyx += sx
		if sq.W != nil {
			v := float64(sq.Scale) * sx
			sq.W[ch] += float32(v * v)
		}
		if sq.B != nil {
			v := float64(sq.Scale) * s
			sq.B[ch] += float32(v * v)
		}
	}
	if sq == nil {
		s, sx := sums.Result()
		sdy, sdyx = s, sx*invstd
	}
	if t.dgamma != nil {
		t.dgamma[ch] += float32(sdyx)
	}
	if t.dbeta != nil {
		t.dbeta[ch] += float32(sdy)
	}
	if t.dx == nil {
		return
	}
	k := float64(t.gamma[ch]) * invstd
	mdy, mdyx := sdy/m, sdyx/m
	for i := range n {
		off := (i*c + ch) * plane
		dxs, dys := t.dx.Data[off:off+plane], dy[off:off+plane]
		var ys []float32
		if y != nil {
			ys = y[off : off+plane]
		}
		if !t.training {
			for j, g := range dys {
				if ys != nil {
					g = reluKeep(g, ys[j])
				}
				v := float32(k * float64(g))
				if t.add {
					dxs[j] += v
				} else {
					dxs[j] = 0 + v
				}
			}
			continue
		}
		asm.BatchNormGradTo64(dxs, dys, ys, x[off:off+plane], k, mdy, mu, invstd, mdyx, t.add)
	}
}

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
