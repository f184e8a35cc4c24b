package onnx

import (
	"path/filepath"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testenv"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
)

// TestExportZoo exports every zoo architecture (ResNet-152 aside; random weights from a
// seed, BatchNorm statistics drawn too) with BatchNorm folded and kept, runs the files in
// ONNX Runtime and compares the logits with Bonsai's within 1e-4·max|y|; it imports each
// file back and compares again.
func TestExportZoo(t *testing.T) {
	archs := []string{"resnet8", "resnet20b", "mobilenet_v2_cifar"}
	if !testing.Short() {
		archs = nil
		for _, a := range zoo.Names() {
			if a != "resnet152" {
				archs = append(archs, a)
			}
		}
	}
	for _, name := range archs {
		t.Run(name, func(t *testing.T) {
			a, err := zoo.Lookup(name)
			if err != nil {
				t.Fatal(err)
			}
			m, err := a.Build()
			if err != nil {
				t.Fatal(err)
			}
			zoo.InitWeights(m, 1)
			drawBN(m, 2)
			x := randomInput(2, a.InputShape, 3)
			want := logits(m, x)
			for _, keep := range []bool{false, true} {
				path := filepath.Join(t.TempDir(), name+".onnx")
				if err := Export(path, m, a.InputShape, zoo.Meta{Arch: a.Name}, ExportOptions{KeepBatchNorm: keep}); err != nil {
					t.Fatal(err)
				}
				g, meta, err := Import(path)
				if err != nil {
					t.Fatal(err)
				}
				if meta.Extra["source_arch"] != a.Name {
					t.Errorf("imported metadata %+v: want source_arch %q", meta, a.Name)
				}
				within(t, "import of the export", logits(g, x), want, 1e-4)
				if testenv.InCI() || !testing.Short() || name == "resnet8" {
					within(t, "onnxruntime", runORT(t, path, x), want, 1e-4)
				}
			}
		})
	}
}

// drawBN gives every BatchNorm2d of m statistics and affine parameters drawn from seed, so
// that folding them is tested.
func drawBN(m nn.Module, seed uint64) {
	rng := nn.NewRand(seed)
	nn.Walk(m, func(_ string, l nn.Module) {
		if bn, ok := l.(*nn.BatchNorm2d); ok {
			for k := range bn.C {
				bn.Weight.Value.Data[k] = float32(0.5 + rng.Float64())
				bn.Bias.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningMean.Value.Data[k] = float32(0.2 * rng.NormFloat64())
				bn.RunningVar.Value.Data[k] = float32(0.5 + rng.Float64())
			}
		}
	})
}
