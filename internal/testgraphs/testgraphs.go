// Package testgraphs holds small zoo.Graph architectures that the tests of several
// packages share: the operations ONNX import adds to the graph (concatenations,
// squeeze-and-excitation gates, per-channel scales) in the shapes CNNs use them.
package testgraphs

import "github.com/bonsai-dl/bonsai/nn/zoo"

// Inception is an Inception/DenseNet-like block: a stem, three branches concatenated
// (a 1×1 conv, a 3×3 conv with BatchNorm, a max pooling of the stem), a BatchNorm and a
// per-channel scale over the concatenation, a second concatenation that nests the first
// with a new branch, then a 1×1 conv and a linear head.
func Inception() zoo.GraphSpec {
	return zoo.GraphSpec{Input: []int{3, 8, 8}, Classes: 4, Output: "logits", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "stem", Inputs: []string{"input"}, Output: "s0", In: 3, Out: 6, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "stem_bn", Inputs: []string{"s0"}, Output: "s1", Out: 6},
		{Op: zoo.GraphReLU, Inputs: []string{"s1"}, Output: "s"},
		{Op: zoo.GraphConv, Name: "b1", Inputs: []string{"s"}, Output: "b1c", In: 6, Out: 4, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"b1c"}, Output: "b1"},
		{Op: zoo.GraphConv, Name: "b2", Inputs: []string{"s"}, Output: "b2c", In: 6, Out: 5, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "b2_bn", Inputs: []string{"b2c"}, Output: "b2n", Out: 5},
		{Op: zoo.GraphReLU, Inputs: []string{"b2n"}, Output: "b2"},
		{Op: zoo.GraphMaxPool, Name: "b3", Inputs: []string{"s"}, Output: "b3", Kernel: 3, Stride: 1, Padding: 1},
		{Op: zoo.GraphConcat, Inputs: []string{"b1", "b2", "b3"}, Output: "cat1"},
		{Op: zoo.GraphBatchNorm, Name: "cat_bn", Inputs: []string{"cat1"}, Output: "cat1n", Out: 15},
		{Op: zoo.GraphChannelScale, Name: "cat_scale", Inputs: []string{"cat1n"}, Output: "cat1s", Out: 15},
		{Op: zoo.GraphReLU, Inputs: []string{"cat1s"}, Output: "cat1r"},
		{Op: zoo.GraphConv, Name: "c", Inputs: []string{"cat1r"}, Output: "cc", In: 15, Out: 3, Kernel: 3, Stride: 2, Padding: 1, Groups: 1},
		{Op: zoo.GraphMaxPool, Name: "down", Inputs: []string{"cat1r"}, Output: "down", Kernel: 2, Stride: 2},
		{Op: zoo.GraphConcat, Inputs: []string{"down", "cc"}, Output: "cat2"},
		{Op: zoo.GraphConv, Name: "d", Inputs: []string{"cat2"}, Output: "dc", In: 18, Out: 7, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"dc"}, Output: "dr"},
		{Op: zoo.GraphFlatten, Inputs: []string{"dr"}, Output: "flat"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"flat"}, Output: "logits", In: 7 * 16, Out: 4, Bias: true},
	}}
}

// SqueezeExcitation has two squeeze-and-excitation blocks: one of linear layers on the pooled
// features (a view back to [N, C, 1, 1] before the gating), one of 1×1 convolutions on
// the pooled map (torchvision's SqueezeExcitation); the head reads a concatenation of
// the gated tensor and a flatten.
func SqueezeExcitation() zoo.GraphSpec {
	return zoo.GraphSpec{Input: []int{3, 6, 6}, Classes: 3, Output: "logits", Nodes: []zoo.GraphNode{
		{Op: zoo.GraphConv, Name: "conv1", Inputs: []string{"input"}, Output: "c1", In: 3, Out: 8, Kernel: 3, Stride: 1, Padding: 1, Groups: 1},
		{Op: zoo.GraphBatchNorm, Name: "bn1", Inputs: []string{"c1"}, Output: "n1", Out: 8},
		{Op: zoo.GraphReLU, Inputs: []string{"n1"}, Output: "x1"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"x1"}, Output: "p1"},
		{Op: zoo.GraphLinear, Name: "se1.fc1", Inputs: []string{"p1"}, Output: "f1", In: 8, Out: 3, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"f1"}, Output: "f1r"},
		{Op: zoo.GraphLinear, Name: "se1.fc2", Inputs: []string{"f1r"}, Output: "f2", In: 3, Out: 8, Bias: true},
		{Op: zoo.GraphSigmoid, Inputs: []string{"f2"}, Output: "g1"},
		{Op: zoo.GraphView, Inputs: []string{"g1"}, Output: "g1v", Shape: []int{-1, 1, 1}},
		{Op: zoo.GraphMulChannels, Inputs: []string{"x1", "g1v"}, Output: "y1"},
		{Op: zoo.GraphConv, Name: "conv2", Inputs: []string{"y1"}, Output: "c2", In: 8, Out: 6, Kernel: 3, Stride: 2, Padding: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"c2"}, Output: "x2"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"x2"}, Output: "p2"},
		{Op: zoo.GraphView, Inputs: []string{"p2"}, Output: "p2v", Shape: []int{-1, 1, 1}},
		{Op: zoo.GraphConv, Name: "se2.fc1", Inputs: []string{"p2v"}, Output: "h1", In: 6, Out: 2, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphReLU, Inputs: []string{"h1"}, Output: "h1r"},
		{Op: zoo.GraphConv, Name: "se2.fc2", Inputs: []string{"h1r"}, Output: "h2", In: 2, Out: 6, Kernel: 1, Stride: 1, Groups: 1, Bias: true},
		{Op: zoo.GraphSigmoid, Inputs: []string{"h2"}, Output: "g2"},
		{Op: zoo.GraphMulChannels, Inputs: []string{"x2", "g2"}, Output: "y2"},
		{Op: zoo.GraphFlatten, Inputs: []string{"y2"}, Output: "flat"},
		{Op: zoo.GraphGlobalAvgPool, Inputs: []string{"y1"}, Output: "p3"},
		{Op: zoo.GraphConcat, Inputs: []string{"flat", "p3"}, Output: "head"},
		{Op: zoo.GraphLinear, Name: "fc", Inputs: []string{"head"}, Output: "logits", In: 6*9 + 8, Out: 3, Bias: true},
	}}
}
