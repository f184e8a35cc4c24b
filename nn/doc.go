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
//
// Every layer type has an Adapter, registered with RegisterAdapter: its
// rules for channel pruning (its channel axes and how they couple, the
// tensors that shrink with a channel, the rest of a resize), its widths
// record in a pruned model's file and its initialisation, all in one
// place (adapter_conv.go holds Conv2d's). Package prune, zoo's widths,
// ResetParameters, Reinit and TrackSquaredGrads read layers only through
// them, so a layer type defined elsewhere is pruned, saved and reloaded
// like these once it registers its own; a layer with none is never pruned.
// A layer defined outside this package records its operation with
// Ctx.RecordOp and reports its call with Ctx.Observed.
package nn
