package tensor

import (
	"fmt"
	"math"
)

// softmaxT writes softmax(row/t) into p, in float64.
func softmaxT(p []float64, row []float32, t float64) {
	m := math.Inf(-1)
	for _, v := range row {
		m = max(m, float64(v)/t)
	}
	var z float64
	for j, v := range row {
		p[j] = math.Exp(float64(v)/t - m)
		z += p[j]
	}
	for j := range p {
		p[j] /= z
	}
}

// probBuffers returns two slices of k float64s, in buf when they fit (no allocation for
// up to 16 classes).
func probBuffers(buf *[32]float64, k int) (a, b []float64) {
	if k > 16 {
		return make([]float64, k), make([]float64, k)
	}
	return buf[:k], buf[16 : 16+k]
}

// Distill returns the mean over the N samples of the knowledge-distillation loss of
// Hinton et al. (2015) at temperature t,
//
//	t² · KL(softmax(teacher[i]/t) ‖ softmax(logits[i]/t)),
//
// computed in float64. logits, teacher: [N, K].
func Distill(logits, teacher *Tensor, t float64) float64 {
	mustSameShape("Distill", logits, teacher)
	if !(t > 0) {
		panic(fmt.Sprintf("tensor.Distill: temperature %v is not positive", t))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	var buf [32]float64
	ps, pt := probBuffers(&buf, k)
	var sum float64
	for i := range n {
		softmaxT(ps, logits.Data[i*k:(i+1)*k], t)
		softmaxT(pt, teacher.Data[i*k:(i+1)*k], t)
		for j := range k {
			if pt[j] > 0 {
				sum += pt[j] * (math.Log(pt[j]) - math.Log(ps[j]))
			}
		}
	}
	return t * t * sum / float64(n)
}

// DistillBackward adds scale·t·(softmax(logits[i]/t) − softmax(teacher[i]/t)) into
// dlogits[i] for every sample: the gradient of scale·Σ_i loss_i with loss_i the
// sample's term of Distill. For the mean loss over N samples, scale = upstream/N.
// logits, teacher, dlogits: [N, K].
func DistillBackward(dlogits, logits, teacher *Tensor, t float64, scale float32) {
	mustSameShape("DistillBackward", dlogits, logits)
	mustSameShape("DistillBackward", teacher, logits)
	n, k := logits.Shape[0], logits.Shape[1]
	var buf [32]float64
	ps, pt := probBuffers(&buf, k)
	for i := range n {
		softmaxT(ps, logits.Data[i*k:(i+1)*k], t)
		softmaxT(pt, teacher.Data[i*k:(i+1)*k], t)
		d := dlogits.Data[i*k : (i+1)*k]
		for j := range k {
			d[j] += scale * float32(t*(ps[j]-pt[j]))
		}
	}
}
