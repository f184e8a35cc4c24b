package onnx

import (
	"fmt"
	"path/filepath"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/internal/testgraphs"
	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/nn/zoo"
	"github.com/bonsai-dl/bonsai/prune"
	"github.com/bonsai-dl/bonsai/tensor"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// opsModels are the committed models of testdata/gen_ops_models.py: Concat (Inception and
// DenseNet), Sigmoid and Mul (squeeze-and-excitation), Mul by per-channel constants.
var opsModels = []string{"inception", "se", "scale"}

// opsRef reads a model's reference input and PyTorch logits.
func opsRef(t *testing.T, model string) (x *tensor.Tensor, want []float32) {
	t.Helper()
	ref, err := safetensors.ReadFile(filepath.Join("testdata", "ops", model+".ref.safetensors"))
	if err != nil {
		t.Fatal(err)
	}
	xs, err := ref.Tensors["input"].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	ys, err := ref.Tensors["logits"].Float32s()
	if err != nil {
		t.Fatal(err)
	}
	return tensor.FromSlice(xs, ref.Tensors["input"].Shape...), ys
}

// TestImportOps imports the models of Concat, Sigmoid and Mul exported by PyTorch 1.13 at
// opsets 13 and 17 in both BatchNorm forms and compares the logits within 1e-4·max|y|;
// each traces into prunable groups with no operation it cannot follow.
func TestImportOps(t *testing.T) {
	for _, model := range opsModels {
		x, want := opsRef(t, model)
		for _, form := range []string{"o13-kept", "o13-folded", "o17-kept", "o17-folded"} {
			t.Run(model+"-"+form, func(t *testing.T) {
				g, _, err := Import(filepath.Join("testdata", "ops", model+"-"+form+".onnx"))
				if err != nil {
					t.Fatal(err)
				}
				within(t, "import", logits(g, x), want, 1e-4)
				gr, err := prune.Trace(g, g.Spec.Input...)
				if err != nil {
					t.Fatal(err)
				}
				for _, grp := range gr.Groups {
					if strings.Contains(grp.Reason, "unsupported") {
						t.Errorf("group %s: %s", grp, grp.Reason)
					}
				}
				if n := len(gr.Prunable()); n < 2 {
					t.Errorf("%d prunable groups:\n%s", n, gr)
				}
			})
		}
	}
}

// TestExportOpsRoundTrip prunes each imported model (a quarter of the channels of every
// prunable group), exports it, and compares the export imported back and in ONNX Runtime
// with Bonsai's logits within 1e-4·max|y|; it also exports the graphs of
// internal/testgraphs (a per-channel scale and a gate of [N, C] values, which PyTorch
// does not write).
func TestExportOpsRoundTrip(t *testing.T) {
	check := func(t *testing.T, m nn.Module, inShape []int, x *tensor.Tensor) {
		want := logits(m, x)
		for _, keep := range []bool{false, true} {
			path := filepath.Join(t.TempDir(), fmt.Sprintf("m-%v.onnx", keep))
			if err := Export(path, m, inShape, zoo.Meta{}, ExportOptions{KeepBatchNorm: keep}); err != nil {
				t.Fatal(err)
			}
			g, _, err := Import(path)
			if err != nil {
				t.Fatal(err)
			}
			within(t, "import of the export", logits(g, x), want, 1e-4)
			within(t, "onnxruntime", runORT(t, path, x), want, 1e-4)
		}
	}
	for _, model := range opsModels {
		t.Run(model, func(t *testing.T) {
			g, meta, err := Import(filepath.Join("testdata", "ops", model+"-o13-kept.onnx"))
			if err != nil {
				t.Fatal(err)
			}
			x, _ := opsRef(t, model)
			before := logits(g, x)
			gr, err := prune.Trace(g, g.Spec.Input...)
			if err != nil {
				t.Fatal(err)
			}
			for _, grp := range gr.Prunable() {
				var idx []int
				for c := 0; c < grp.Channels; c += 4 {
					idx = append(idx, c)
				}
				if err := grp.Remove(idx, nil); err != nil {
					t.Fatal(err)
				}
			}
			if d := diff(logits(g, x), before); d == 0 {
				t.Fatalf("pruning changed nothing")
			}
			// The pruned model saves and reloads with its widths (the graph in its metadata).
			saved := filepath.Join(t.TempDir(), "pruned.safetensors")
			if err := prune.Save(saved, g, meta); err != nil {
				t.Fatal(err)
			}
			back, _, err := zoo.Load(saved, "")
			if err != nil {
				t.Fatal(err)
			}
			within(t, "pruned.safetensors reloaded", logits(back, x), logits(g, x), 0)
			check(t, g, g.Spec.Input, x)
		})
	}
	for name, spec := range map[string]zoo.GraphSpec{"testgraph-inception": testgraphs.Inception(), "testgraph-se": testgraphs.SqueezeExcitation()} {
		t.Run(name, func(t *testing.T) {
			g, err := zoo.NewGraph(spec)
			if err != nil {
				t.Fatal(err)
			}
			zoo.InitWeights(g, 3)
			drawBN(g, 4)
			nn.Walk(g, func(_ string, l nn.Module) {
				if s, ok := l.(*nn.ChannelScale); ok {
					for k := range s.Weight.Value.Data {
						s.Weight.Value.Data[k] = 0.5 + float32(k)/8
					}
				}
			})
			check(t, g, spec.Input, randomInput(2, spec.Input, 5))
		})
	}
}

func diff(a, b []float32) float64 {
	d := 0.0
	for i := range a {
		d = max(d, float64(a[i]-b[i]), float64(b[i]-a[i]))
	}
	return d
}
