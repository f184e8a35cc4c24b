package nn_test

import (
	"bytes"
	"math"
	"strings"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
	"github.com/bonsai-dl/bonsai/tensor/safetensors"
)

// smallNet is conv → BN → ReLU → pool → flatten → linear for [N, 3, 4, 4] inputs.
func smallNet() *nn.Sequential {
	return nn.NewSequential(
		nn.NewConv2d(3, 4, 3, nn.ConvOpts{Padding: 1, Bias: true}),
		nn.NewBatchNorm2d(4),
		nn.NewReLU(),
		nn.NewMaxPool2d(2, 0, 0),
		nn.NewFlatten(),
		nn.NewLinear(4*2*2, 3, true),
	)
}

func TestStateKeysAndOrder(t *testing.T) {
	var keys []string
	for _, e := range nn.State(smallNet()) {
		keys = append(keys, e.Key)
	}
	want := "0.weight 0.bias 1.weight 1.bias 1.running_mean 1.running_var 1.num_batches_tracked 5.weight 5.bias"
	if got := strings.Join(keys, " "); got != want {
		t.Errorf("keys %q\nwant %q", got, want)
	}
}

func TestSaveLoadRoundTrip(t *testing.T) {
	a, b := smallNet(), smallNet()
	nn.ResetParameters(a, 7)
	a.Layers[1].(*nn.BatchNorm2d).RunningVar.Value.Data[2] = 3.5
	a.Layers[1].(*nn.BatchNorm2d).NumBatchesTracked = 42
	var buf bytes.Buffer
	if err := nn.SaveState(a, map[string]string{"arch": "small"}).Encode(&buf); err != nil {
		t.Fatal(err)
	}
	f, err := safetensors.Decode(buf.Bytes())
	if err != nil {
		t.Fatal(err)
	}
	if f.Tensors["1.num_batches_tracked"].DType != safetensors.I64 || len(f.Tensors["1.num_batches_tracked"].Shape) != 0 {
		t.Errorf("num_batches_tracked saved as %s %v, want a 0-d I64", f.Tensors["1.num_batches_tracked"].DType, f.Tensors["1.num_batches_tracked"].Shape)
	}
	if err := nn.LoadState(b, f, nn.LoadOptions{}); err != nil {
		t.Fatal(err)
	}
	sa, sb := nn.State(a), nn.State(b)
	for i := range sa {
		if sa[i].Kind == nn.Counter {
			if *sa[i].Count != *sb[i].Count {
				t.Errorf("%s: %d, want %d", sa[i].Key, *sb[i].Count, *sa[i].Count)
			}
			continue
		}
		if !slicesEqual(sa[i].Var.Value.Data, sb[i].Var.Value.Data) {
			t.Errorf("%s differs after the round trip", sa[i].Key)
		}
	}
	// Older PyTorch files have no num_batches_tracked.
	delete(f.Tensors, "1.num_batches_tracked")
	if err := nn.LoadState(smallNet(), f, nn.LoadOptions{}); err != nil {
		t.Errorf("without num_batches_tracked: %v", err)
	}
}

func slicesEqual(a, b []float32) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func TestLoadStateNamesEveryProblem(t *testing.T) {
	f := nn.SaveState(smallNet(), nil)
	delete(f.Tensors, "0.bias")
	f.Tensors["5.weight"] = safetensors.FromFloat32([]int{3, 15}, make([]float32, 45))
	f.Tensors["1.weight"] = safetensors.FromInt64([]int{4}, make([]int64, 4))
	f.Tensors["extra"] = safetensors.FromFloat32([]int{1}, []float32{0})
	f.Tensors["optim.0.weight.momentum"] = safetensors.FromFloat32([]int{1}, []float32{0})
	err := nn.LoadState(smallNet(), f, nn.LoadOptions{IgnorePrefixes: []string{"optim."}})
	if err == nil {
		t.Fatal("no error")
	}
	for _, want := range []string{`missing key "0.bias"`, `key "5.weight": shape [3 15] in file, model wants [3 16]`,
		`key "1.weight": dtype I64`, `unexpected key "extra"`} {
		if !strings.Contains(err.Error(), want) {
			t.Errorf("error %q lacks %q", err, want)
		}
	}
	if strings.Contains(err.Error(), "optim.") {
		t.Errorf("error %q mentions an ignored key", err)
	}
}

func TestResetParametersDeterministic(t *testing.T) {
	a, b := smallNet(), smallNet()
	nn.ResetParameters(a, 3)
	nn.ResetParameters(b, 3)
	w := a.Layers[0].(*nn.Conv2d).Weight.Value.Data
	if !slicesEqual(w, b.Layers[0].(*nn.Conv2d).Weight.Value.Data) {
		t.Error("same seed, different weights")
	}
	bound := float32(1 / 5.196152422706632) // 1/√27
	for _, v := range w {
		if v < -bound || v > bound {
			t.Fatalf("weight %v outside ±1/√fan_in", v)
		}
	}
}

func TestFormat(t *testing.T) {
	m := smallNet()
	nn.SetTraining(m, false)
	got := nn.Format(m)
	want := `Sequential(
  (0): Conv2d(3, 4, kernel_size=(3, 3), stride=(1, 1), padding=(1, 1), bias=True)
  (1): BatchNorm2d(4, eps=1e-05, momentum=0.1, affine=True, track_running_stats=True)
  (2): ReLU()
  (3): MaxPool2d(kernel_size=2, stride=2, padding=0, dilation=1, ceil_mode=False)
  (4): Flatten(start_dim=1, end_dim=-1)
  (5): Linear(in_features=16, out_features=3, bias=True)
)`
	if got != want {
		t.Errorf("Format:\n%s\nwant:\n%s", got, want)
	}
}

func TestSummarize(t *testing.T) {
	m := smallNet()
	nn.SetTraining(m, false)
	s := nn.Summarize(m, 3, 4, 4)
	if len(s.Layers) != 6 {
		t.Fatalf("%d layer calls, want 6", len(s.Layers))
	}
	conv, lin := s.Layers[0], s.Layers[5]
	if conv.Name != "0" || conv.MACs != 4*3*9*16 || conv.Params != 4*27+4 {
		t.Errorf("conv: %+v", conv)
	}
	if lin.Name != "5" || lin.MACs != 16*3 || lin.Params != 16*3+3 {
		t.Errorf("linear: %+v", lin)
	}
	if s.MACs != conv.MACs+lin.MACs || s.Params != conv.Params+lin.Params+8 {
		t.Errorf("totals: %d MACs, %d params", s.MACs, s.Params)
	}
}

// TestLoadNonFinite checks that a NaN or an infinity in a parameter or a
// buffer is refused, naming the key and the first bad element.
func TestLoadNonFinite(t *testing.T) {
	for _, tc := range []struct {
		key  string
		at   int
		val  float32
		want string
	}{
		{"0.weight", 13, float32(math.NaN()), `key "0.weight": NaN at index [0 1 1 1] (element 13 of 108)`},
		{"5.bias", 2, float32(math.Inf(-1)), `key "5.bias": -Inf at index [2] (element 2 of 3)`},
		{"1.running_var", 0, float32(math.Inf(1)), `key "1.running_var": +Inf at index [0] (element 0 of 4)`},
	} {
		a := smallNet()
		f := nn.SaveState(a, nil)
		v, _ := f.Tensors[tc.key].Float32s()
		if tc.at+1 < len(v) {
			v[len(v)-1] = float32(math.NaN()) // a later one is not named
		}
		v[tc.at] = tc.val
		f.Tensors[tc.key] = safetensors.FromFloat32(f.Tensors[tc.key].Shape, v)
		err := nn.LoadState(smallNet(), f, nn.LoadOptions{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: error %v, want one containing %q", tc.key, err, tc.want)
		}
	}
	m := smallNet()
	if err := nn.CheckFinite(m); err != nil {
		t.Errorf("CheckFinite of a fresh model: %v", err)
	}
	m.Layers[1].(*nn.BatchNorm2d).RunningMean.Value.Data[3] = float32(math.Inf(1))
	if err := nn.CheckFinite(m); err == nil || err.Error() != `buffer "1.running_mean": +Inf at index [3] (element 3 of 4); the values must be finite` {
		t.Errorf("CheckFinite: %v", err)
	}
}
