package tensor

import (
	"math/rand/v2"
	"os"
	"testing"
)

// benchPasses adds the data and weight gradients alone (bwddata, bwdfilter) to
// BenchmarkConv2d when BONSAI_BENCH_PASSES is set.
var benchPasses = os.Getenv("BONSAI_BENCH_PASSES") != ""

// convBenchShapes are the 3×3, padding-1 layers of the CIFAR ResNets at batch 128, named as
// in ../shared/bench/conv_torch.py (Cin-Cout@H, sS for stride S).
var convBenchShapes = []struct {
	name          string
	cin, cout, hw int
	stride        int
}{
	{"c3-16@32", 3, 16, 32, 1},
	{"c16@32", 16, 16, 32, 1},
	{"c16-32s2", 16, 32, 32, 2},
	{"c32@16", 32, 32, 16, 1},
	{"c32-64s2", 32, 64, 16, 2},
	{"c64@8", 64, 64, 8, 1},
}

// BenchmarkConv2d times a 3×3 convolution (padding 1, no bias, batch 128) on the current
// asm path: fwd is Conv2dForward; fwdbwd adds the data gradient (Conv2dBackwardData) and
// the weight gradient (Conv2dBackwardFilter), as one training step of the layer does.
// GFLOP/s counts 2·N·Cout·H'·W'·Cin·9 per forward (and per gradient) and 3× that for
// fwdbwd, as ../shared/bench/run_conv_torch.sh does. BONSAI_BENCH_PASSES=1 also times the
// two gradients alone (bwddata, bwdfilter).
func BenchmarkConv2d(b *testing.B) {
	const n = 128
	for _, s := range convBenchShapes {
		p := ConvParams{Stride: [2]int{s.stride, s.stride}, Padding: [2]int{1, 1}}
		ho, wo := p.OutSize(s.hw, s.hw, 3, 3)
		flops := 2 * float64(n) * float64(s.cout*ho*wo) * float64(s.cin*9)
		rng := rand.New(rand.NewPCG(1, 2))
		x := randTensor(rng, n, s.cin, s.hw, s.hw)
		w := randTensor(rng, s.cout, s.cin, 3, 3)
		y := New(n, s.cout, ho, wo)
		dy := randTensor(rng, n, s.cout, ho, wo)
		dx := New(n, s.cin, s.hw, s.hw)
		dw := New(s.cout, s.cin, 3, 3)
		var ws ConvWorkspace
		b.Run(s.name+"/fwd", func(b *testing.B) {
			Conv2dForward(y, x, w, nil, p, &ws) // warm up the workspace
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				Conv2dForward(y, x, w, nil, p, &ws)
			}
			b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
		for _, pass := range []struct {
			name string
			f    func()
		}{
			{"bwddata", func() { Conv2dBackwardData(dx, dy, w, p, &ws) }},
			{"bwdfilter", func() { Conv2dBackwardFilter(dw, nil, x, dy, p, &ws, nil) }},
		} {
			if !benchPasses {
				break
			}
			b.Run(s.name+"/"+pass.name, func(b *testing.B) {
				pass.f()
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					pass.f()
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
		b.Run(s.name+"/fwdbwd", func(b *testing.B) {
			step := func() {
				Conv2dForward(y, x, w, nil, p, &ws)
				Conv2dBackwardData(dx, dy, w, p, &ws)
				Conv2dBackwardFilter(dw, nil, x, dy, p, &ws, nil)
			}
			step()
			b.ReportAllocs()
			b.ResetTimer()
			for range b.N {
				step()
			}
			b.ReportMetric(3*flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
		})
	}
}
