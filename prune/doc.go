// Package prune removes channels from trained networks for real: it finds
// which channels are coupled and shrinks every tensor they live in.
//
// # Dependency graph
//
// Trace runs one forward pass of any model built from layers with an
// adapter (nn.Adapter: one per layer type, holding all of its pruning
// rules) with a tape (nn.Ctx.Record) and reads the recorded operations.
// Each tensor's channels (dimension 1) belong to a set of coupled
// channels; the operations join or split these sets, as the adapter of the
// layer that recorded each says (nn.Axes), or nn.OpCoupling for an
// operation no layer recorded:
//
//   - conv2d and linear end one set (their input channels: Side In) and
//     start another (their output channels: Side Out, the producer)
//     (nn.Transform);
//   - batchnorm2d (Side Channel, nn.PerChannel), relu, dropout,
//     maxpool2d, avgpool2d and global_avgpool (nn.Pass) pass channels
//     through;
//   - a layer that computes each output channel from its own input
//     channel with weights of its own (a depthwise convolution,
//     nn.Shared) has both sides in its input's set: in MobileNetV2 each
//     inverted residual's expansion 1×1 output, its depthwise 3×3 and the
//     projection 1×1's input are one group;
//   - a grouped convolution with 1 < groups < channels is not pruned:
//     removing a channel would have to remove a whole group of them on
//     both sides, which Bonsai does not do, so its adapter reports it
//     (nn.Unsupported) and the sets on both its sides are not prunable,
//     Reason naming it ("grouped convolution, 2 groups of 4 → 4
//     channels");
//   - add and add_relu join their inputs' sets (nn.Join): a residual
//     stream, such as every block output of a ResNet stage, is one group;
//   - a flatten (reshape [N, C, H, W] → [N, C·H·W]) passes channel c on as
//     the features c·H·W … (c+1)·H·W − 1, so the Linear after it has a
//     Side In dependency with Span H·W; reshapes that keep dimension 1 and
//     the size per channel ([N, C, 1, 1] → [N, C]) pass channels through;
//   - concat (nn.Concatenated) lays its inputs' channels one after the
//     other: each input's set stays a group of its own, and a layer that
//     reads the concatenation (or a tensor made from it by per-channel
//     layers, pooling or a flatten) has one dependency in each input's
//     group, whose indices start at that input's offset as it is now
//     ("d in @13"), so removing channels of one input moves the offsets of
//     the inputs after it and every group stays valid; the planner splits
//     such a side's MACs and parameters among the groups of its pieces;
//     add or mul_channels of a concatenation is not followed;
//   - mul_channels (nn.Gate), a squeeze-and-excitation gate x·g, joins the
//     gate's channels with x's, as add does, without making a residual
//     stream: the gate's producer (the excitation's last layer) loses a
//     channel with the tensor it gates; channel_scale (nn.ChannelScale, a
//     per-channel constant) is per-channel state like batchnorm2d's, and
//     sigmoid passes channels through;
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
// tensor of an operation the tracer cannot follow: one with no rule, or
// from a layer with no adapter, or whose adapter's axes disagree with its
// tensors; Group.Reason says which. Explain and Graph.String list all
// groups.
//
// # Surgery
//
// Group.Remove (or Keep) deletes channels of a prunable group from every
// tensor the layers' adapters list for their side (nn.Adapter.Tensors),
// then lets each adapter resize the rest of its layer (Resize): the output
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
// Calibrate (or CalibrateFrom and CalibrateFisher, for any source of
// batches) runs N images of the training split, drawn with a seed (with
// the training crop and flip when CalibConfig.Augment), with BatchNorm in
// evaluation mode, forward and backward through the mean cross-entropy
// with the tape's SampleScale set to the batch size, so the
// squared-gradient hooks (nn.TrackSquaredGrads) give per-sample gradients
// of each sample's own loss. Stats holds the empirical Fisher diagonal
// F_ii = (1/N)·Σ_n (∂ℓ_n/∂w_i)² of every parameter and, per channel, the
// Taylor statistic (Σ_{s ∈ channel} g_s·w_s)² of the batch-mean gradient,
// averaged over batches. The model is left as it was found: modes,
// gradients, no squared-gradient buffers.
//
// On data a model fits, the true labels' per-sample gradients nearly
// vanish and the empirical Fisher rests on the few misfit samples
// (Kunstner et al. 2019). FisherConfig chooses the labels instead: the
// sampled Fisher draws them from the model's own softmax (seeded, k per
// image), the exact Fisher sums over all of them weighted by p(y|x) (one
// backward pass per class, capped for models with many classes by an
// unbiased drawn tail). Each pass hands the network the per-sample
// gradient √w·(p − e_y) of its logits, so the same squared-gradient hooks
// give Σ_y w_y·(∂ log p(y|x)/∂w)², still sample by sample. The same
// passes give the Fisher information of a mask on each whole channel,
// E_n[(Σ_{h,w} a·∂ℓ_n/∂a)²] over the tensor its consumers read
// (Stats.Channel, the sensitivity criterion's scope "channel"), which
// keeps the correlations between a channel's weights that a diagonal
// drops. A Calibration takes the statistics of nested calibration sets
// from one pass, and its CalibState lets a long one continue in another
// process.
//
// A Criterion (NewCriterion) turns a Graph and Stats into one score per
// channel of every prunable group: sensitivity (OBD, Σ ½·F_ii·w_i² over
// the channel's parameters, scope "all", or over the producers' filters
// and biases, scope "filter", or ½·F_c of the channel's mask, scope
// "channel"; in units of loss, so groups compare directly), l1 and l2 (norms of the producers' filters), bn-scale (Σ|γ|),
// taylor (Molchanov et al. 2019) and random. Criteria that need Stats say
// so when there are none or they are stale (the model was pruned since).
//
// # Planning
//
// MakePlan chooses the channels to remove for a target, a fraction of the
// MACs (PlanConfig.FLOPs), of the measured latency (Latency) or of the
// eligible channels (Ratio), by a ranking: uniform (the same fraction of
// every group), global (one ranking of every channel), global-flops (score
// per MAC saved) or global-latency (score per millisecond saved), within a floor
// (MinChannels), a ceiling (MaxRatio), rounding of the kept widths
// (RoundTo), and with residual-stream groups left alone unless
// PruneResidual. The MACs and parameters of every width are computed from
// a bilinear model of each layer in its input and output groups' widths
// (the sides its adapter names for its MACs, and for each parameter the
// sides that list it), which is exact for Conv2d and Linear, so a
// removal's saving accounts for both sides of a layer. Latency comes from
// a LatencyTable: each layer's stand-in (nn.Adapter.Probe) compiled and
// timed at a grid of its input and output widths on this CPU
// (MeasureLatencyTable), interpolated, plus the measured rest of the model
// taken as constant (LatencyModel); the Driver checks each latency plan by
// timing the planned model and plans again with the error as a correction.
// Plan.Apply does the surgery and checks the result with
// nn.Summarize. Schedule splits a target into k steps with
// 1 − (1 − T)^(i/k) of the original MACs gone after step i. Spearman
// compares a criterion's scores with measured losses: LossProbe measures
// the loss with one channel at a time removed (InternalChannels,
// SampleChannels choose them), the single-channel experiment of bonsai
// prune-rho.
//
// # Runs
//
// A Driver carries out a whole prune run in a directory, what `bonsai
// prune` runs between parsing its flags and printing its report: Steps
// times trace, calibrate, score, plan the step's share of the target
// (Schedule), apply and fine-tune (package train), saving a RunState and
// a model file after every stage, so that a run stopped at any point (its
// context canceled) continues with the same results from the State that
// ReadRunState reads. RunConfig holds the settings and validates them
// (ConfigError names the field); the directory is locked while a Driver
// uses it, and a new run that fails before its first pruned step leaves
// nothing behind (Driver.Close).
//
// # Files
//
// Save writes a pruned model with its layer widths in the safetensors
// metadata (zoo.MetaWidths); zoo.Load applies them before loading the
// tensors, so a pruned file loads with no extra flags.
package prune
