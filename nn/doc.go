// Package nn holds Bonsai's layers: Conv2d, BatchNorm2d, ReLU, pooling,
// Linear, Flatten, Dropout and Sequential, with PyTorch's semantics and
// PyTorch's state-dict names, so that weights move between the two.
//
// A Module computes its forward pass in a Ctx, which owns the scratch memory
// of the pass. Containers name their children (Sequential names them "0",
// "1", …), and the dotted path of a parameter is its state-dict key, e.g.
// "layer1.0.conv1.weight". Walk, Parameters and State enumerate them in
// registration order; LoadState and SaveState move them to and from
// safetensors files; Summarize counts parameters and multiply-accumulates
// (MACs) per layer; Format prints the layer tree.
package nn
