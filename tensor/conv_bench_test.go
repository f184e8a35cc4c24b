package tensor

import (
	"math/rand/v2"
	"os"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

// benchPasses adds the data and weight gradients alone (bwddata, bwdfilter) to
// BenchmarkConv2d when BONSAI_BENCH_PASSES is set.
var benchPasses = os.Getenv("BONSAI_BENCH_PASSES") != ""

// convBenchShapes are the 3×3, padding-1 layers of the CIFAR ResNets at batch 128, named as
// in ../shared/bench/conv_torch.py (Cin-Cout@H, sS for stride S).
var convBenchShapes = []convBenchShape{
	{"c3-16@32", 3, 16, 32, 1, 3, 128, 1},
	{"c16@32", 16, 16, 32, 1, 3, 128, 1},
	{"c16-32s2", 16, 32, 32, 2, 3, 128, 1},
	{"c32@16", 32, 32, 16, 1, 3, 128, 1},
	{"c32-64s2", 32, 64, 16, 2, 3, 128, 1},
	{"c64@8", 64, 64, 8, 1, 3, 128, 1},
}

// imagenetConvShapes are the distinct convolutions of torchvision's ResNet-18, ResNet-50 and
// MobileNetV2 at 224×224, batch 1, in the order and syntax of SHAPES=imagenet of
// ../shared/bench/run_conv_torch.sh.
const imagenetConvShapes = "3-64@224s2k7n1,64-64@56n1,64-128@56s2n1,128-128@28n1,64-128@56s2k1n1,128-256@28s2n1," +
	"256-256@14n1,128-256@28s2k1n1,256-512@14s2n1,512-512@7n1,256-512@14s2k1n1,64-64@56k1n1,64-256@56k1n1," +
	"256-64@56k1n1,256-128@56k1n1,128-128@56s2n1,128-512@28k1n1,256-512@56s2k1n1,512-128@28k1n1," +
	"512-256@28k1n1,256-256@28s2n1,256-1024@14k1n1,512-1024@28s2k1n1,1024-256@14k1n1,1024-512@14k1n1," +
	"512-512@14s2n1,512-2048@7k1n1,1024-2048@14s2k1n1,2048-512@7k1n1," + mobilenetV2ConvShapes

// mobilenetV2ConvShapes are the distinct convolutions of torchvision's MobileNetV2 at
// 224×224, batch 1 (those of ResNet-18 and -50 aside), in the order of imagenetConvShapes;
// the depthwise layers have groups gG.
const mobilenetV2ConvShapes = "3-32@224s2n1,32-32@112g32n1,32-16@112k1n1,16-96@112k1n1,96-96@112s2g96n1,96-24@56k1n1," +
	"24-144@56k1n1,144-144@56g144n1,144-24@56k1n1,144-144@56s2g144n1,144-32@28k1n1,32-192@28k1n1," +
	"192-192@28g192n1,192-32@28k1n1,192-192@28s2g192n1,192-64@14k1n1,64-384@14k1n1,384-384@14g384n1," +
	"384-64@14k1n1,384-96@14k1n1,96-576@14k1n1,576-576@14g576n1,576-96@14k1n1,576-576@14s2g576n1," +
	"576-160@7k1n1,160-960@7k1n1,960-960@7g960n1,960-160@7k1n1,960-320@7k1n1,320-1280@7k1n1"

// convBenchShape is one benchmarked layer: Cin→Cout channels on hw×hw inputs, a k×k kernel
// with padding k/2, batch n, g groups (0: 1).
type convBenchShape struct {
	name          string
	cin, cout, hw int
	stride        int
	k, n          int
	g             int
}

// params returns the layer's geometry.
func (s convBenchShape) params() ConvParams {
	return ConvParams{Stride: [2]int{s.stride, s.stride}, Padding: [2]int{s.k / 2, s.k / 2}, Groups: max(s.g, 1)}
}

// flops returns 2·N·Cout·H'·W'·(Cin/G)·k², the floating-point operations of one forward.
func (s convBenchShape) flops() float64 {
	ho, wo := s.params().OutSize(s.hw, s.hw, s.k, s.k)
	return 2 * float64(s.n) * float64(s.cout*ho*wo) * float64(s.cin/max(s.g, 1)*s.k*s.k)
}

var shapeSyntax = regexp.MustCompile(`^(\d+)-(\d+)@(\d+)(?:s(\d+))?(?:k(\d+))?(?:g(\d+))?(?:n(\d+))?$`)

// benchShapes returns convBenchShapes, or the shapes listed in BONSAI_CONV_SHAPES:
// comma-separated, each Cin-Cout@H[sS][kK][gG][nN] with stride S (default 1), kernel K (3,
// padding K/2), groups G (1) and batch N (128), e.g. "16-7@32,32-64@16s2,3-64@224s2k7n1,
// 144-144@56g144n1", the syntax of ../shared/bench/run_conv_torch.sh, or "imagenet" for
// imagenetConvShapes.
func benchShapes(b *testing.B) []convBenchShape {
	list := os.Getenv("BONSAI_CONV_SHAPES")
	if list == "" {
		return convBenchShapes
	}
	if list == "imagenet" {
		list = imagenetConvShapes
	}
	var shapes []convBenchShape
	for _, f := range strings.Split(list, ",") {
		m := shapeSyntax.FindStringSubmatch(strings.TrimSpace(f))
		if m == nil {
			b.Fatalf("BONSAI_CONV_SHAPES: %q is not Cin-Cout@H[sS][kK][gG][nN]", f)
		}
		v := make([]int, len(m))
		for i, d := range []int{0, 0, 0, 0, 1, 3, 1, 128} {
			v[i] = d
			if m[i] != "" && i > 0 {
				v[i], _ = strconv.Atoi(m[i])
			}
		}
		s := convBenchShape{name: strings.TrimSpace(f), cin: v[1], cout: v[2], hw: v[3], stride: v[4], k: v[5], g: v[6], n: v[7]}
		if s.cin < 1 || s.cout < 1 || s.hw < 1 || s.stride < 1 || s.k < 1 || s.n < 1 || s.g < 1 {
			b.Fatalf("BONSAI_CONV_SHAPES: %q: sizes must be positive", f)
		}
		if s.cin%s.g != 0 || s.cout%s.g != 0 {
			b.Fatalf("BONSAI_CONV_SHAPES: %q: %d groups do not divide %d and %d channels", f, s.g, s.cin, s.cout)
		}
		shapes = append(shapes, s)
	}
	return shapes
}

// BenchmarkPreparedConv times PreparedConv.Forward (the compiled inference form's
// convolution, with a bias and a ReLU) on the shapes of benchShapes, with the algorithm
// ChooseConvAlgo picks, or each algorithm BONSAI_CONV_ALGO lists (comma-separated: gemm,
// winograd, direct, im2col, depthwise, grouped) that handles the shape; BONSAI_CONV_CLIP
// sets PreparedConv.Clip (6: ReLU6). GFLOP/s counts 2·N·Cout·H'·W'·(Cin/G)·k².
func BenchmarkPreparedConv(b *testing.B) {
	var algos []ConvAlgo
	if list := os.Getenv("BONSAI_CONV_ALGO"); list != "" {
		for _, name := range strings.Split(list, ",") {
			a, err := ParseConvAlgo(name)
			if err != nil {
				b.Fatal(err)
			}
			algos = append(algos, a)
		}
	}
	for _, s := range benchShapes(b) {
		p := s.params()
		ho, wo := p.OutSize(s.hw, s.hw, s.k, s.k)
		flops := s.flops()
		rng := rand.New(rand.NewPCG(1, 2))
		x := randTensor(rng, s.n, s.cin, s.hw, s.hw)
		w := randTensor(rng, s.cout, s.cin/p.Groups, s.k, s.k)
		bias := randTensor(rng, s.cout).Data
		y := New(s.n, s.cout, ho, wo)
		try := algos
		if try == nil {
			try = []ConvAlgo{ChooseConvAlgo(s.cin, s.cout, s.hw, s.hw, s.k, s.k, p)}
		}
		for _, algo := range try {
			if !ConvAlgoApplies(algo, s.cin, s.cout, s.hw, s.hw, s.k, s.k, p) {
				continue
			}
			pc := PrepareConvAlgo(w, bias, p, s.hw, s.hw, algo)
			if c := os.Getenv("BONSAI_CONV_CLIP"); c != "" {
				v, err := strconv.ParseFloat(c, 32)
				if err != nil {
					b.Fatalf("BONSAI_CONV_CLIP=%q: %v", c, err)
				}
				pc.Clip = float32(v)
			}
			var ws ConvWorkspace
			b.Run(s.name+"/"+algo.String(), func(b *testing.B) {
				pc.Forward(y, x, nil, true, &ws)
				b.ReportAllocs()
				b.ResetTimer()
				for range b.N {
					pc.Forward(y, x, nil, true, &ws)
				}
				b.ReportMetric(flops*float64(b.N)/b.Elapsed().Seconds()/1e9, "GFLOP/s")
			})
		}
	}
}

// BenchmarkConv2d times a convolution (by default 3×3, padding 1, no bias, batch 128;
// grouped ones too, see benchShapes) on the current asm path: fwd is Conv2dForward; fwdbwd adds the data gradient (Conv2dBackwardData) and
// the weight gradient (Conv2dBackwardFilter), as one training step of the layer does.
// GFLOP/s counts 2·N·Cout·H'·W'·(Cin/G)·k² per forward (and per gradient) and 3× that for
// fwdbwd, as ../shared/bench/run_conv_torch.sh does. BONSAI_BENCH_PASSES=1 also times the
// two gradients alone (bwddata, bwdfilter). BONSAI_CONV_SHAPES replaces the shapes (see
// benchShapes).
func BenchmarkConv2d(b *testing.B) {
	for _, s := range benchShapes(b) {
		n, k := s.n, s.k
		p := s.params()
		ho, wo := p.OutSize(s.hw, s.hw, k, k)
		flops := s.flops()
		rng := rand.New(rand.NewPCG(1, 2))
		x := randTensor(rng, n, s.cin, s.hw, s.hw)
		w := randTensor(rng, s.cout, s.cin/p.Groups, k, k)
		y := New(n, s.cout, ho, wo)
		dy := randTensor(rng, n, s.cout, ho, wo)
		dx := New(n, s.cin, s.hw, s.hw)
		dw := New(w.Shape...)
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
			{"bwddata", func() { Conv2dBackwardData(dx, dy, w, p, &ws, 1) }},
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
				Conv2dBackwardData(dx, dy, w, p, &ws, 1)
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
