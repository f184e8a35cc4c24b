// Package prune removes channels from trained networks for real: it finds
// which channels are coupled and shrinks every tensor they live in.
//
// # Dependency graph
//
// Trace runs one forward pass of any model built from nn layers with a
// tape (nn.Ctx.Record) and reads the recorded operations. Each tensor's
// channels (dimension 1) belong to a set of coupled channels; the
// operations join or split these sets:
//
//   - conv2d and linear end one set (their input channels: Side In) and
//     start another (their output channels: Side Out, the producer);
//   - batchnorm2d (Side Channel), relu, dropout, maxpool2d, avgpool2d and
//     global_avgpool pass channels through;
//   - add and add_relu join their inputs' sets: a residual stream, such as
//     every block output of a ResNet stage, is one group;
//   - a flatten (reshape [N, C, H, W] → [N, C·H·W]) passes channel c on as
//     the features c·H·W … (c+1)·H·W − 1, so the Linear after it has a
//     Side In dependency with Span H·W; reshapes that keep dimension 1 and
//     the size per channel ([N, C, 1, 1] → [N, C]) pass channels through;
//   - the option-A shortcut (subsample_pad_channels, or
//     subsample_map_channels once pruned, from a ChannelMapper such as
//     zoo.ShortcutA) sends input channel j to output channel j + padBefore
//     and fills the rest with zeros: its input side is a
//     consumer in the previous stage's group and its output side a
//     producer in the next stage's group; the zero channels belong to no
//     input channel. Each stage's stream stays a group of its own.
//
// Every set of coupled channels that touches a layer is a Group: a list of
// Dep records (layer by state-dict path, side, index mapping) that prints
// like "layer1.0.conv1 out ⇒ layer1.0.bn1 ⇒ layer1.0.conv2 in". A group is
// not prunable when it holds the network input, the model output, or a
// tensor of an operation the tracer does not know; Group.Reason says which.
// Explain and Graph.String list all groups.
//
// # Surgery
//
// Group.Remove (or Keep) deletes channels of a prunable group: the output
// channels (weight rows and bias) of each producer Conv2d and Linear, the
// four per-channel tensors of each BatchNorm2d, the input channels of each
// consumer Conv2d, the input features of a Linear (Span per channel), and
// the entries of an option-A shortcut's channel map (removing a shortcut's
// output channels renumbers the rest, so the zero padding before and after
// the mapped channels moves; removing its input channels leaves zero
// channels where they landed). The layers' In, Out and C fields follow, so
// nn.Format and nn.Summarize show the new widths and MACs. The parameters'
// Vars stay the same objects with new values; with an optimizer, the state
// of every shrunken parameter that has the parameter's shape (momentum
// buffers, Adam moments) is sliced the same way through ParamState, and
// scalar state such as Adam's step is left alone.
//
// Removing channels of one group leaves the other groups of the same Graph
// valid: indices never move across groups. Removing channels is exact: the
// pruned model computes what the original computes when every tensor of
// the group is zero in those channels (the package tests check this for
// VGG, CIFAR ResNet with option-A shortcuts, torchvision ResNet-18 and -50
// and a model with a flatten of 2×2 maps).
//
// # Saliency
//
// Group.Params lists, for one channel, every learned parameter element
// that disappears with it (producer filter and bias, BatchNorm γ and β,
// consumers' input slices), so a criterion can sum per-element saliency
// over a channel.
//
// # Files
//
// Save writes a pruned model with its layer widths in the safetensors
// metadata (zoo.MetaWidths); zoo.Load applies them before loading the
// tensors, so a pruned file loads with no extra flags.
package prune
