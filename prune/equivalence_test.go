package prune

import (
	"math/rand/v2"
	"testing"

	"github.com/bonsai-dl/bonsai/nn"
)

// Issue 5, acceptance 1: for each topology, setting a group's randomly
// chosen channels to zero in every tensor of the group (after the
// operation that makes it) in the original model, and removing those
// channels by surgery, give the same outputs to 1e-5·max|ref|.

// equivalenceCase removes random channels of the groups whose String
// starts with one of prefixes (every prunable group when prefixes is nil)
// and compares with the zeroed reference.
func equivalenceCase(t *testing.T, tp topology, seed uint64, prefixes ...string) {
	t.Helper()
	rng := rand.New(rand.NewPCG(seed, 5))
	m := tp.model()
	g := tp.trace(t, m)
	var rs []removal
	if prefixes == nil {
		for _, gr := range g.Prunable() {
			rs = append(rs, removal{gr, randomChannels(rng, gr)})
		}
	}
	for _, p := range prefixes {
		gr := findGroup(t, g, p)
		rs = append(rs, removal{gr, randomChannels(rng, gr)})
	}
	x := tp.input()
	orig := run(m, x)
	ref := forwardZeroed(t, m, x, g, rs)
	checkEquivalent(t, m, x, rs, ref, orig)
	if t.Failed() {
		t.Logf("removed:\n%s", describe(rs))
	}
}

// equivalence runs the all-groups case and one case per prefix.
func equivalence(t *testing.T, tp topology, prefixes ...string) {
	t.Run("all_groups", func(t *testing.T) { equivalenceCase(t, tp, 1) })
	for i, p := range prefixes {
		t.Run(p, func(t *testing.T) { equivalenceCase(t, tp, uint64(10+i), p) })
	}
}

func TestEquivalenceVGG16(t *testing.T) {
	equivalence(t, zooTopology("vgg16_bn", 32, 2),
		"features.0 out", "features.24 out", "features.40 out") // the last one feeds the classifier through the flatten
}

func TestEquivalenceResNet20OptionA(t *testing.T) {
	tp := zooTopology("resnet20", 32, 2)
	equivalence(t, tp,
		"conv1 out",          // stage 1's stream, read by layer2.0's option-A shortcut
		"layer2.0.conv2 out", // stage 2's stream: written by that shortcut, read by layer3.0's
		"layer3.0.conv2 out", // stage 3's stream, read by the linear head
		"layer2.0.conv1 out") // a block's internal channels
	// Channels chosen so that the shortcut between stages 1 and 2 sees
	// every case: stage-1 channel 1 lands in stage-2 channel 9 and 12 in
	// 20 (both removed on both sides), 5 lands in 13 (kept: it becomes a
	// zero channel), and stage-2 channels 1 and 30 are padding (the zero
	// channels before and after move).
	t.Run("shortcut_both_sides", func(t *testing.T) {
		m := tp.model()
		g := tp.trace(t, m)
		rs := []removal{
			{findGroup(t, g, "conv1 out"), []int{1, 5, 12}},
			{findGroup(t, g, "layer2.0.conv2 out"), []int{1, 9, 20, 30}},
			{findGroup(t, g, "layer3.0.conv2 out"), []int{0, 20, 47, 63}},
		}
		x := tp.input()
		orig := run(m, x)
		ref := forwardZeroed(t, m, x, g, rs)
		checkEquivalent(t, m, x, rs, ref, orig)
		// Stage 1 keeps 0 2 3 4 6 … 11 13 14 15, landing in stage 2's 8 10 11
		// 12 14 … 19 21 22 23, renumbered past the removed 1 9 20 30; stage-2
		// channel 13 (from the removed 5) stays as a zero channel. Stage 2's
		// channels 4 and 31 land in removed stage-3 channels 20 and 47.
		for _, want := range []string{
			"LambdaLayer(x[:, :, ::2, ::2], channels to [7 8 9 10 12 13 14 15 16 17 18 19 20] of 28)",
			"LambdaLayer(x[:, :, ::2, ::2], channels to [15 17 18 -1 19 20 21 22 24 25 26 27 28 29 30 31 32 33 35 36 37 38 39 40 41 42 43 -1] of 60)",
		} {
			if !contains(m, want) {
				t.Errorf("no layer prints %s in\n%s", want, nn.Format(m))
			}
		}
	})
}

func TestEquivalenceResNet18OptionB(t *testing.T) {
	equivalence(t, zooTopology("resnet18", 64, 2),
		"conv1 out",          // stage 1's stream: the stem and two identity blocks
		"layer2.0.conv2 out", // stage 2's stream, with its downsample projection
		"layer4.0.conv2 out", // stage 4's stream, read by fc after avgpool and reshape
		"layer3.1.conv1 out")
}

func TestEquivalenceResNet50Bottleneck(t *testing.T) {
	equivalence(t, zooTopology("resnet50", 64, 1),
		"layer1.0.conv3 out", // stage 1's stream, the downsample writing it too
		"conv1 out",          // the stem: read by layer1.0.conv1 and the downsample
		"layer3.2.conv2 out")
}

func TestEquivalenceFlattenLinear(t *testing.T) {
	equivalence(t, tiny,
		"conv2 out", // each channel is 9 features of fc1
		"fc1 out",   // a Linear producer, through relu and dropout
		"conv1 out")
}

func TestEquivalenceMobileNetV2(t *testing.T) {
	equivalence(t, zooTopology("mobilenet_v2_cifar", 32, 2),
		"features.0.0 out",        // the stem, read by the first depthwise layer (nn.Shared) and its projection
		"features.2.conv.2",       // a residual stream of inverted residuals
		"features.5.conv.0.0 out", // an expansion, through its depthwise layer and ReLU6
		"features.18.0 out")       // the last 1×1 convolution, read by the classifier after pooling
}
