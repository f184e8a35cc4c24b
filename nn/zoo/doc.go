// Package zoo builds the standard architectures with PyTorch's layouts and
// state-dict names, so that weights trained in PyTorch load unchanged:
//
//   - CIFAR ResNet-8/14/20/32/44/56/110 (He et al. 2016, the layout of
//     akamaster/pytorch_resnet_cifar10), with the "option A" shortcut
//     (subsample and zero-pad channels) or, as resnet20b etc., the
//     "option B" projection shortcut;
//   - CIFAR VGG-11/13/16/19 with BatchNorm (conv bias on, one 512→10 head);
//   - ImageNet ResNet-18/34/50/101/152 with torchvision's layout;
//   - MobileNetV2 (width 1.0) with torchvision's layout, and its CIFAR variant
//     (10 classes, the stem and the first 24-channel block at stride 1).
//
// New builds a model by name; Load builds one from a safetensors file and
// its metadata (see Meta), LoadInto loads a file into a model the caller
// built. A pruned model's file records its layers' widths (Widths, from
// each layer's nn.Adapter, ShortcutA's included), which Load applies
// before it loads the tensors. Meta.Normalization gives a model's input
// normalisation, CIFAR-10's when its file names none.
package zoo
