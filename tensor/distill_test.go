package tensor

import (
	"math"
	"math/rand/v2"
	"testing"
)

// TestDistillMatchesPyTorch checks Distill and DistillBackward against PyTorch 1.13 in
// float64 (scripts/golden/gen_distill.py prints these values): the batch mean of
// T²·KL(softmax(teacher/T) ‖ softmax(logits/T)) and its gradient, T = 4.
func TestDistillMatchesPyTorch(t *testing.T) {
	logits := FromSlice([]float32{4.622988224029541, -0.880286693572998, -6.536368370056152, 1.7052937746047974, -3.2535669803619385, -4.195785999298096, 1.21004056930542, 2.5140790939331055, -2.1577727794647217, -1.2100305557250977, -1.7899061441421509, 0.5461094379425049, -2.570023775100708, 3.3018124103546143, -3.21356201171875}, 3, 5)
	teacher := FromSlice([]float32{0.3681037127971649, -1.6989524364471436, 1.119343876838684, -2.6759860515594482, -4.527323246002197, 1.1111805438995361, 4.369507789611816, 2.819429636001587, 2.3245463371276855, 0.5756082534790039, 3.791384220123291, -3.871305227279663, -2.3733081817626953, -0.06263841688632965, -2.155440092086792}, 3, 5)
	const wantLoss = 6.315849930650141
	wantGrad := []float64{0.3146901399495015, -0.04911201352488847, -0.40905053376422706, 0.15734996343567226, -0.013877556096058346, -0.09461923236374523, -0.06071178206177451, 0.21899567486001287, -0.09859466616296078, 0.03493000572846751, -0.5081119263240448, 0.2034115249256358, -0.005912684914101017, 0.3453117587572888, -0.03469867244477892}
	if got := Distill(logits, teacher, 4); math.Abs(got-wantLoss) > 1e-9*wantLoss {
		t.Errorf("Distill = %.12g, PyTorch %.12g", got, wantLoss)
	}
	d := New(3, 5)
	DistillBackward(d, logits, teacher, 4, 1.0/3)
	for i, w := range wantGrad {
		if math.Abs(float64(d.Data[i])-w) > 1e-6*0.51 {
			t.Errorf("gradient[%d] = %.9g, PyTorch %.9g", i, d.Data[i], w)
		}
	}
}

// TestDistillFiniteDifferences checks DistillBackward against central differences of
// Distill, with 19 classes (more than the stack buffers) and a temperature of 2.5.
func TestDistillFiniteDifferences(t *testing.T) {
	rng := rand.New(rand.NewPCG(3, 4))
	const n, k, temp = 4, 19, 2.5
	logits, teacher := New(n, k), New(n, k)
	for i := range logits.Data {
		logits.Data[i] = float32(3 * rng.NormFloat64())
		teacher.Data[i] = float32(3 * rng.NormFloat64())
	}
	d := New(n, k)
	DistillBackward(d, logits, teacher, temp, 1.0/n)
	for i := range logits.Data {
		v := logits.Data[i]
		const h = 1e-2
		logits.Data[i] = v + h
		up := Distill(logits, teacher, temp)
		logits.Data[i] = v - h
		down := Distill(logits, teacher, temp)
		logits.Data[i] = v
		fd := (up - down) / (2 * h)
		if math.Abs(fd-float64(d.Data[i])) > 2e-4 {
			t.Errorf("gradient[%d] = %.6g, finite difference %.6g", i, d.Data[i], fd)
		}
	}
	if got := Distill(teacher, teacher, temp); math.Abs(got) > 1e-12 {
		t.Errorf("Distill of the teacher against itself = %g, want 0", got)
	}
}
