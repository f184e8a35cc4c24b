package nn

// Operation names: what the layers and functions of this package record on
// a tape (autograd.Node.Op) and pass to Ctx.ObserveOp. Code that follows a
// recorded pass (prune's tracer) matches these constants, not strings.
const (
	OpConv2d    = "conv2d"      // Conv2d: x [N, C, H, W] → y [N, K, H', W']; Node.Source is the *Conv2d
	OpLinear    = "linear"      // Linear: x [N, in] → y [N, out]; Node.Source is the *Linear
	OpBatchNorm = "batchnorm2d" // BatchNorm2d: per-channel, shape kept; Node.Source is the *BatchNorm2d
	OpReLU      = "relu"        // ReLU, alone or fused after a BatchNorm2d; shape kept
	OpReLU6     = "relu6"       // ReLU6: min(max(x, 0), 6); shape kept
	OpDropout   = "dropout"     // Dropout; shape kept
	OpMaxPool   = "maxpool2d"   // MaxPool2d: [N, C, H, W] → [N, C, H', W']
	OpAvgPool   = "avgpool2d"   // AvgPool2d: [N, C, H, W] → [N, C, H', W']
	// OpGlobalAvgPool averages each channel: [N, C, H, W] → [N, C, 1, 1]
	// (AdaptiveAvgPool2d) or [N, C] (GlobalAvgPool).
	OpGlobalAvgPool = "global_avgpool"
	// OpAdd and OpAddReLU add two tensors of one shape (a residual
	// join), the second then applying ReLU.
	OpAdd     = "add"
	OpAddReLU = "add_relu"
	// OpReshape changes the shape, keeping the element order (Flatten:
	// [N, C, H, W] → [N, C·H·W]).
	OpReshape = "reshape"
	// OpSubsamplePad and OpSubsampleMap are the option-A shortcut:
	// subsample by 2 and place the C input channels among K output
	// channels (zero-padded); Node.Source is a channel mapper.
	OpSubsamplePad = "subsample_pad_channels"
	OpSubsampleMap = "subsample_map_channels"
	// OpConcat concatenates along dimension 1 (Concat): [N, C_i, …] → [N, ΣC_i, …].
	OpConcat = "concat"
	// OpSigmoid is 1/(1 + e^(−x)) (Sigmoid); shape kept.
	OpSigmoid = "sigmoid"
	// OpMulChannels multiplies x [N, C, …] by a gate [N, C] or [N, C, 1, 1] of the same
	// channels (MulChannels: squeeze-and-excitation).
	OpMulChannels = "mul_channels"
	// OpChannelScale multiplies each channel by a learned scale; Node.Source is the
	// *ChannelScale.
	OpChannelScale = "channel_scale"
	// OpCrossEntropy and OpDistillCrossEntropy are the losses: logits
	// [N, classes] → a scalar.
	OpCrossEntropy        = "cross_entropy"
	OpDistillCrossEntropy = "distill_cross_entropy"
)
