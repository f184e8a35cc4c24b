package tensor

import (
	"fmt"
	"math"
)

// CrossEntropy computes each sample's cross-entropy loss
// −log softmax(logits[i])[target[i]] into loss and returns their mean, as
// torch.nn.functional.cross_entropy (reduction 'none' and 'mean').
// logits: [N, classes], target: [N] class indices, loss: [N] or nil.
// It panics on a target outside [0, classes).
func CrossEntropy(loss []float32, logits *Tensor, target []int) float64 {
	if logits.Dims() != 2 || logits.Shape[0] != len(target) {
		panic(fmt.Sprintf("tensor.CrossEntropy: logits %v for %d targets", logits.Shape, len(target)))
	}
	n, k := logits.Shape[0], logits.Shape[1]
	var sum float64
	for i := range n {
		row := logits.Data[i*k : (i+1)*k]
		t := target[i]
		if t < 0 || t >= k {
			panic(fmt.Sprintf("tensor.CrossEntropy: target %d of sample %d outside [0, %d)", t, i, k))
		}
		l := float64(LogSumExp(row) - row[t])
		if loss != nil {
			loss[i] = float32(l)
		}
		sum += l
	}
	if n == 0 {
		return math.NaN()
	}
	return sum / float64(n)
}

// LogSumExp returns log Σ exp(x[i]), computed stably around max(x).
func LogSumExp(x []float32) float32 {
	m := float32(math.Inf(-1))
	for _, v := range x {
		m = max(m, v)
	}
	if math.IsInf(float64(m), 0) {
		return m
	}
	var s float64
	for _, v := range x {
		s += math.Exp(float64(v - m))
	}
	return m + float32(math.Log(s))
}

// Argmax returns, for each row of x: [N, K], the index of its largest value
// (the first one on ties) into idx: [N].
func Argmax(idx []int, x *Tensor) {
	n, k := x.Shape[0], x.Numel()/max(x.Shape[0], 1)
	for i := range n {
		row := x.Data[i*k : (i+1)*k]
		best := 0
		for j, v := range row {
			if v > row[best] {
				best = j
			}
		}
		idx[i] = best
	}
}

// CrossEntropySmoothed is CrossEntropy with label smoothing ε, as
// torch.nn.functional.cross_entropy(label_smoothing=ε): the target of
// sample i is (1−ε)·onehot(target[i]) + ε/K, and its loss
// −Σ_k q_k·log softmax(logits[i])_k. It returns the mean and writes each
// sample's loss into loss (may be nil).
func CrossEntropySmoothed(loss []float32, logits *Tensor, target []int, eps float32) float64 {
	if eps == 0 {
		return CrossEntropy(loss, logits, target)
	}
	n, k := logits.Shape[0], logits.Shape[1]
	var sum float64
	for i := range n {
		row := logits.Data[i*k : (i+1)*k]
		t := target[i]
		if t < 0 || t >= k {
			panic(fmt.Sprintf("tensor.CrossEntropy: target %d of sample %d outside [0, %d)", t, i, k))
		}
		lse := float64(LogSumExp(row))
		var l float64
		for j, v := range row {
			q := float64(eps) / float64(k)
			if j == t {
				q += 1 - float64(eps)
			}
			l -= q * (float64(v) - lse)
		}
		if loss != nil {
			loss[i] = float32(l)
		}
		sum += l
	}
	return sum / float64(n)
}

// CrossEntropyBackward adds scale·(softmax(logits[i]) − q_i) into
// dlogits[i] for every sample, where q_i is the (label-smoothed) target
// distribution: the gradient of scale·Σ_i loss_i. For the mean loss over N
// samples, scale = upstream/N. logits, dlogits: [N, K].
func CrossEntropyBackward(dlogits, logits *Tensor, target []int, eps, scale float32) {
	mustSameShape("CrossEntropyBackward", dlogits, logits)
	n, k := logits.Shape[0], logits.Shape[1]
	for i := range n {
		row := logits.Data[i*k : (i+1)*k]
		d := dlogits.Data[i*k : (i+1)*k]
		lse := LogSumExp(row)
		for j, v := range row {
			q := eps / float32(k)
			if j == target[i] {
				q += 1 - eps
			}
			p := float32(math.Exp(float64(v - lse)))
			d[j] += scale * (p - q)
		}
	}
}
