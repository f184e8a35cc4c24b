package zoo

import (
	"fmt"
	"slices"
	"strings"

	"github.com/bonsai-dl/bonsai/nn"
)

// Arch describes a buildable architecture.
type Arch struct {
	Name       string
	InputShape []int // [C, H, W] of the input it is usually run at
	Classes    int
	build      func() (nn.Module, error)
	graph      string // a Graph's spec (JSON), for MetaGraph; empty for the zoo's own
}

var archs = func() map[string]Arch {
	m := map[string]Arch{}
	cifar := []int{3, 32, 32}
	for _, d := range []int{8, 14, 20, 32, 44, 56, 110} {
		for _, sc := range []struct {
			suffix string
			sc     Shortcut
		}{{"", OptionA}, {"b", OptionB}} {
			name := fmt.Sprintf("resnet%d%s", d, sc.suffix)
			m[name] = Arch{Name: name, InputShape: cifar, Classes: 10, build: func() (nn.Module, error) { return NewCIFARResNet(d, 10, sc.sc) }}
		}
	}
	for _, d := range []int{11, 13, 16, 19} {
		name := fmt.Sprintf("vgg%d_bn", d)
		m[name] = Arch{Name: name, InputShape: cifar, Classes: 10, build: func() (nn.Module, error) { return NewVGG(d, 10) }}
	}
	m["mobilenet_v2"] = Arch{Name: "mobilenet_v2", InputShape: []int{3, 224, 224}, Classes: 1000,
		build: func() (nn.Module, error) { return NewMobileNetV2(1000, false) }}
	m["mobilenet_v2_cifar"] = Arch{Name: "mobilenet_v2_cifar", InputShape: cifar, Classes: 10,
		build: func() (nn.Module, error) { return NewMobileNetV2(10, true) }}
	for _, d := range []int{18, 34, 50, 101, 152} {
		name := fmt.Sprintf("resnet%d", d)
		m[name] = Arch{Name: name, InputShape: []int{3, 224, 224}, Classes: 1000, build: func() (nn.Module, error) { return NewResNet(d, 1000) }}
	}
	return m
}()

// Names lists the zoo's architectures, sorted (not the graphs RegisterGraph added).
func Names() []string {
	graphMu.Lock()
	defer graphMu.Unlock()
	var n []string
	for k, a := range archs {
		if a.graph == "" {
			n = append(n, k)
		}
	}
	slices.Sort(n)
	return n
}

// Lookup returns the architecture called name: resnet8, resnet14, resnet20…resnet110 (CIFAR,
// option A; a "b" suffix selects option B), vgg11_bn…vgg19_bn (CIFAR), resnet18…resnet152
// (ImageNet, torchvision), mobilenet_v2 (ImageNet, torchvision) or mobilenet_v2_cifar.
// Case and "-" for "_" are accepted ("VGG16-BN").
func Lookup(name string) (Arch, error) {
	key := strings.ReplaceAll(strings.ToLower(name), "-", "_")
	graphMu.Lock()
	defer graphMu.Unlock()
	if a, ok := archs[key]; ok {
		return a, nil
	}
	var known []string
	for k, a := range archs {
		if a.graph == "" {
			known = append(known, k)
		}
	}
	slices.Sort(known)
	hint := ""
	if strings.HasPrefix(key, "graph_") {
		hint = "; a graph architecture is known once a file that holds it (metadata \"graph\", or an ONNX file) is loaded"
	}
	return Arch{}, fmt.Errorf("zoo: unknown architecture %q (known: %s)%s", name, strings.Join(known, ", "), hint)
}

// New builds the architecture called name (see Lookup) in evaluation mode
// with PyTorch-default initial weights.
func New(name string) (nn.Module, error) {
	a, err := Lookup(name)
	if err != nil {
		return nil, err
	}
	return a.Build()
}

// Build returns a fresh model of the architecture, in evaluation mode.
func (a Arch) Build() (nn.Module, error) {
	m, err := a.build()
	if err != nil {
		return nil, err
	}
	nn.SetTraining(m, false)
	return m, nil
}
