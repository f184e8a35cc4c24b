package main

import (
	"math"
	"math/rand/v2"

	"github.com/bonsai-dl/bonsai/data"
)

// demoClasses is the number of classes of the demo's data set.
const demoClasses = 6

// demoDataset draws n 32×32 RGB images of oriented stripes: class k has
// stripes at angle k·180°/demoClasses, with a random period, phase,
// colours and noise, so that a small CNN must learn orientation, not colour
// or brightness. The same seed gives the same images.
func demoDataset(n int, seed uint64) *data.Dataset {
	rng := rand.New(rand.NewPCG(seed, 0x64656d6f))
	d := &data.Dataset{Images: make([]byte, n*data.ImageBytes), Labels: make([]uint8, n)}
	for i := range n {
		k := rng.IntN(demoClasses)
		d.Labels[i] = uint8(k)
		angle := (float64(k) + 0.3*(rng.Float64()-0.5)) * math.Pi / demoClasses
		cos, sin := math.Cos(angle), math.Sin(angle)
		period := 4 + 4*rng.Float64()
		phase := 2 * math.Pi * rng.Float64()
		var fg, bg [3]float64
		for c := range 3 {
			fg[c], bg[c] = 255*rng.Float64(), 255*rng.Float64()
		}
		img := d.Images[i*data.ImageBytes : (i+1)*data.ImageBytes]
		for y := range data.ImageSize {
			for x := range data.ImageSize {
				t := 0.5 + 0.5*math.Sin(2*math.Pi*(float64(x)*cos+float64(y)*sin)/period+phase)
				for c := range 3 {
					v := bg[c] + (fg[c]-bg[c])*t + 40*rng.NormFloat64()
					img[c*1024+y*32+x] = uint8(max(0, min(255, v)))
				}
			}
		}
	}
	return d
}
