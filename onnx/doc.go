// Package onnx reads ONNX models into Bonsai and writes Bonsai models as ONNX.
//
// Import reads an ONNX file (opsets 11–17) into a zoo.Graph: a graph of package nn's layers
// (Conv2d with groups, BatchNorm2d, ReLU6, MaxPool2d, AvgPool2d, Linear, ChannelScale for
// a Mul by per-channel constants, the functional ReLU, Sigmoid, Add, Concat on the
// channels, MulChannels for a squeeze-and-excitation gate, GlobalAvgPool, views and
// flatten) and zoo.ShortcutA, with the weights loaded, so an
// imported CNN trains, is pruned (prune traces it like a zoo model) and compiles (package
// infer) as one coded in Go. The shape arithmetic exporters emit (Constant, Shape, Gather,
// Unsqueeze, Cast, ConstantOfShape, Transpose, Concat, Reshape and Slice of known values)
// is folded at import; PyTorch's option-A shortcut — x[:, :, ::2, ::2] then a channel
// F.pad — becomes a ShortcutA. The graph's architecture is registered with zoo
// (zoo.RegisterGraph), so files saved from it (pruned.safetensors, checkpoints) carry it
// in their metadata and reload without this package.
//
// Export writes any model of those layers — a zoo architecture, pruned or not, or an
// imported one — as ONNX opset 13 with a dynamic batch dimension, input "input" and output
// "logits", BatchNorm folded into the convolutions or kept.
//
// Importing this package registers the ".onnx" extension with zoo.Load (as image/png
// registers PNG with image.Decode), so that `bonsai eval -weights model.onnx` and every
// other reader of model files take ONNX; programs that do not import it do not link
// protobuf. Metadata travels in metadata_props: "arch", "mean", "std" and "classes", as in
// Bonsai's safetensors files.
//
// The protobuf code in internal/onnxpb is generated from ONNX 1.12's onnx.proto (Debian's
// libonnx-dev) by protoc 3.21 and protoc-gen-go (onnx/_gen/gen.sh).
package onnx
