package tensor

import (
	"fmt"
	"math/rand/v2"
	"os"
	"strings"
	"testing"
)

// benchPasses adds the data and weight gradients alone (bwddata, bwdfilter) to
// BenchmarkConv2d when BONSAI_BENCH_PASSES is set.
var benchPasses = os.Getenv("BONSAI_BENCH_PASSES") != ""

// convBenchShapes are the 3×3, padding-1 layers of the CIFAR ResNets at batch 128, named as
// in ../shared/bench/conv_torch.py (Cin-Cout@H, sS for stride S).
var convBenchShapes = []convBenchShape{
	{"c3-16@32", 3, 16, 32, 1},
	{"c16@32", 16, 16, 32, 1},
	{"c16-32s2", 16, 32, 32, 2},
	{"c32@16", 32, 32, 16, 1},
	{"c32-64s2", 32, 64, 16, 2},
	{"c64@8", 64, 64, 8, 1},
}

// convBenchShape is one benchmarked layer: Cin→Cout channels on hw×hw inputs.
type convBenchShape struct {
	name          string
	cin, cout, hw int
	stride        int
}

// benchShapes returns convBenchShapes, or the shapes listed in BONSAI_CONV_SHAPES
// (comma-separated, each Cin-Cout@H with an optional sS for stride S, e.g.
// "16-7@32,7-16@32,32-64@16s2"), for timing the odd widths a pruned model has.
func benchShapes(b *testing.B) []convBenchShape {
	list := os.Getenv("BONSAI_CONV_SHAPES")
	if list == "" {
		return convBenchShapes
	}
	var shapes []convBenchShape
	for _, f := range strings.Split(list, ",") {
		s := convBenchShape{name: f, stride: 1}
		var tail string
		if n, _ := fmt.Sscanf(f, "%d-%d@%d%s", &s.cin, &s.cout, &s.hw, &tail); n < 3 {
			b.Fatalf("BONSAI_CONV_SHAPES: %q is not Cin-Cout@H[sS]", f)
		}
		if tail != "" {
			if _, err := fmt.Sscanf(tail, "s%d", &s.stride); err != nil {
				b.Fatalf("BONSAI_CONV_SHAPES: %q: stride %q is not sS", f, tail)
			}
		}
		if s.cin < 1 || s.cout < 1 || s.hw < 1 || s.stride < 1 {
			b.Fatalf("BONSAI_CONV_SHAPES: %q: sizes must be positive", f)
		}
		shapes = append(shapes, s)
	}
	return shapes
}

// BenchmarkConv2d times a 3×3 convolution (padding 1, no bias, batch 128) on the current
// asm path: fwd is Conv2dForward; fwdbwd adds the data gradient (Conv2dBackwardData) and
// the weight gradient (Conv2dBackwardFilter), as one training step of the layer does.
// GFLOP/s counts 2·N·Cout·H'·W'·Cin·9 per forward (and per gradient) and 3× that for
// fwdbwd, as ../shared/bench/run_conv_torch.sh does. BONSAI_BENCH_PASSES=1 also times the
// two gradients alone (bwddata, bwdfilter). BONSAI_CONV_SHAPES replaces the shapes (see
// benchShapes).
func BenchmarkConv2d(b *testing.B) {
	const n = 128
	for _, s := range benchShapes(b) {
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
