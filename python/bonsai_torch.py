"""PyTorch bridge for Bonsai models: safetensors in, torch.nn.Module out, and back.

Bonsai writes a model as a safetensors file whose metadata names its architecture
("arch"), its input normalisation ("mean", "std"), its class names ("classes") and,
once pruned, the widths of its layers ("widths": a JSON object from each layer's
state-dict path to its widths). This module builds a torch.nn.Module of any zoo
architecture at the widths of the file, loads the weights, and writes a
(fine-tuned) model back with the metadata Bonsai needs, so `bonsai eval`,
`bonsai prune` and the embedding API read it again:

    import bonsai_torch
    model, meta = bonsai_torch.load("pruned.safetensors")   # eval mode
    ...                                                     # fine-tune
    bonsai_torch.save(model, "tuned.safetensors", meta)

Architectures: the CIFAR ResNets resnet8 ... resnet110 (option-A shortcuts, or
option B with a "b" suffix), vgg11_bn ... vgg19_bn (CIFAR), mobilenet_v2 and
mobilenet_v2_cifar, and torchvision's resnet18 ... resnet152. The state-dict keys
are Bonsai's, which are PyTorch's (torchvision's for the ImageNet models).

Run as a program it fine-tunes a Bonsai model with DistributedDataParallel under
torchrun (see `python3 bonsai_torch.py finetune -h`):

    torchrun --nproc_per_node=8 bonsai_torch.py finetune \\
        --weights pruned.safetensors --data imagefolder:/data/imagenet \\
        --epochs 30 --lr 0.01 --batch 64 --out tuned.safetensors

Needs PyTorch >= 1.13 and torchvision, nothing else: the safetensors format
(8-byte little-endian header length, JSON header, raw little-endian tensor data)
is read and written here.
"""

import argparse
import json
import math
import os
import struct
import sys
import time

import torch
import torch.nn as nn
import torch.nn.functional as F

__all__ = ["load", "save", "build", "read_safetensors", "write_safetensors", "ShortcutA"]

# ---------------------------------------------------------------------------
# safetensors

_DTYPES = {
    "F64": torch.float64, "F32": torch.float32, "F16": torch.float16, "BF16": torch.bfloat16,
    "I64": torch.int64, "I32": torch.int32, "I16": torch.int16, "I8": torch.int8,
    "U8": torch.uint8, "BOOL": torch.bool,
}
_NAMES = {v: k for k, v in _DTYPES.items()}


def read_safetensors(path):
    """Returns (tensors, metadata) of the safetensors file at path: a dict from
    name to a CPU tensor, and the header's "__metadata__" dict (str -> str)."""
    with open(path, "rb") as f:
        raw = f.read()
    if len(raw) < 8:
        raise ValueError(f"{path}: {len(raw)} bytes, too short for a safetensors file")
    (n,) = struct.unpack("<Q", raw[:8])
    if 8 + n > len(raw):
        raise ValueError(f"{path}: header of {n} bytes runs past the end of the file ({len(raw)} bytes)")
    header = json.loads(raw[8:8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", None) or {}
    body = memoryview(raw)[8 + n:]
    tensors = {}
    for name, info in header.items():
        dtype = _DTYPES.get(info["dtype"])
        if dtype is None:
            raise ValueError(f"{path}: tensor {name!r}: unsupported dtype {info['dtype']}")
        begin, end = info["data_offsets"]
        shape = info["shape"]
        count = math.prod(shape)
        size = torch.empty((), dtype=dtype).element_size()
        if not (0 <= begin <= end <= len(body)) or end - begin != count * size:
            raise ValueError(f"{path}: tensor {name!r}: data [{begin}, {end}) does not hold shape {shape} of {info['dtype']}")
        buf = bytearray(body[begin:end])
        t = torch.frombuffer(buf, dtype=dtype) if count else torch.empty(0, dtype=dtype)
        if sys.byteorder != "little" and size > 1:
            t = t.byteswap()  # pragma: no cover (big-endian hosts)
        tensors[name] = t.reshape(shape)
    return tensors, meta


def write_safetensors(path, tensors, metadata):
    """Writes tensors (name -> tensor) and metadata (str -> str) to path in the
    safetensors format, atomically (a temporary file renamed over path)."""
    header = {"__metadata__": {str(k): str(v) for k, v in metadata.items()}}
    blobs, offset = [], 0
    for name in sorted(tensors):
        t = tensors[name].detach().to("cpu").contiguous()
        if t.dtype not in _NAMES:
            raise ValueError(f"tensor {name!r}: dtype {t.dtype} has no safetensors name")
        b = t.numpy().tobytes() if t.dtype != torch.bfloat16 else t.view(torch.int16).numpy().tobytes()
        header[name] = {"dtype": _NAMES[t.dtype], "shape": list(t.shape), "data_offsets": [offset, offset + len(b)]}
        blobs.append(b)
        offset += len(b)
    h = json.dumps(header, separators=(",", ":")).encode("utf-8")
    h += b" " * (-len(h) % 8)
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(struct.pack("<Q", len(h)))
        f.write(h)
        for b in blobs:
            f.write(b)
        f.flush()
        os.fsync(f.fileno())
    os.replace(tmp, path)


# ---------------------------------------------------------------------------
# layers whose widths come from the file


class _Widths:
    """Reads layer widths from a state dict and the "widths" metadata record."""

    def __init__(self, tensors, widths):
        self.t, self.w = tensors, widths

    def _get(self, key):
        if key not in self.t:
            raise ValueError(f"the file has no tensor {key!r}")
        return self.t[key]

    def conv(self, name, k, stride=1, padding=0, depthwise=False, bias=False):
        w = self._get(name + ".weight")
        if w.dim() != 4 or w.shape[2] != k or w.shape[3] != k:
            raise ValueError(f"{name}.weight: shape {list(w.shape)}, want [out, in/groups, {k}, {k}]")
        rec = self.w.get(name)
        if isinstance(rec, list) and len(rec) == 3:
            groups = rec[2]
        elif depthwise:
            groups = w.shape[0]
        else:
            groups = 1
        return nn.Conv2d(w.shape[1] * groups, w.shape[0], k, stride=stride, padding=padding, groups=groups, bias=bias)

    def bn(self, name):
        return nn.BatchNorm2d(self._get(name + ".weight").shape[0])

    def linear(self, name):
        w = self._get(name + ".weight")
        return nn.Linear(w.shape[1], w.shape[0], bias=True)


class ShortcutA(nn.Module):
    """The option-A shortcut of the CIFAR ResNets: x[:, :, ::stride, ::stride], with
    its `cin` channels placed among `cout` zero channels: after `pad_before` zero
    channels, or, once pruning made the placement irregular, input channel j at
    output channel `channel_map[j]` (-1: dropped). No parameters.
    Shape: [N, cin, H, W] -> [N, cout, ceil(H/stride), ceil(W/stride)]."""

    def __init__(self, stride, cin, cout, pad_before=None, channel_map=None):
        super().__init__()
        self.stride, self.cin, self.cout = stride, cin, cout
        self.pad_before, self.channel_map = pad_before, channel_map
        if channel_map is not None:
            keep = [j for j, o in enumerate(channel_map) if o >= 0]
            self.register_buffer("_keep", torch.tensor(keep, dtype=torch.long), persistent=False)
            self.register_buffer("_dst", torch.tensor([channel_map[j] for j in keep], dtype=torch.long), persistent=False)

    def forward(self, x):
        x = x[:, :, ::self.stride, ::self.stride]
        if self.channel_map is None:
            return F.pad(x, (0, 0, 0, 0, self.pad_before, self.cout - self.cin - self.pad_before))
        out = x.new_zeros(x.shape[0], self.cout, x.shape[2], x.shape[3])
        return out.index_copy(1, self._dst, x.index_select(1, self._keep))

    def widths(self):
        """The "widths" record of this layer, as Bonsai writes it."""
        if self.channel_map is None:
            return {"in": self.cin, "out": self.cout, "pad_before": self.pad_before}
        return {"in": self.cin, "out": self.cout, "map": list(self.channel_map)}

    def extra_repr(self):
        where = f"pad_before={self.pad_before}" if self.channel_map is None else f"map={self.channel_map}"
        return f"stride={self.stride}, in={self.cin}, out={self.cout}, {where}"


# ---------------------------------------------------------------------------
# CIFAR ResNet (He et al. 2016), as nn/zoo's CIFARResNet


class CIFARBasicBlock(nn.Module):
    def __init__(self, W, name, planes, stride, has_shortcut, option_b):
        super().__init__()
        self.conv1 = W.conv(name + ".conv1", 3, stride, 1)
        self.bn1 = W.bn(name + ".bn1")
        self.conv2 = W.conv(name + ".conv2", 3, 1, 1)
        self.bn2 = W.bn(name + ".bn2")
        self.shortcut = None
        if has_shortcut and option_b:
            self.shortcut = nn.Sequential(W.conv(name + ".shortcut.0", 1, stride), W.bn(name + ".shortcut.1"))
        elif has_shortcut:
            rec = W.w.get(name + ".shortcut")
            if rec is None:
                cin = self.conv1.in_channels
                rec = {"in": cin, "out": self.conv2.out_channels, "pad_before": planes // 4}
            self.shortcut = ShortcutA(stride, rec["in"], rec["out"], rec.get("pad_before"), rec.get("map"))

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + (x if self.shortcut is None else self.shortcut(x)))


class CIFARResNet(nn.Module):
    def __init__(self, W, depth, option_b):
        super().__init__()
        if depth < 8 or (depth - 2) % 6:
            raise ValueError(f"CIFAR ResNet depth {depth} is not 6n+2")
        n = (depth - 2) // 6
        self.conv1 = W.conv("conv1", 3, 1, 1)
        self.bn1 = W.bn("bn1")
        inp = 16
        for s, (planes, stride) in enumerate([(16, 1), (32, 2), (64, 2)]):
            blocks = []
            for i in range(n):
                st = stride if i == 0 else 1
                blocks.append(CIFARBasicBlock(W, f"layer{s + 1}.{i}", planes, st, st != 1 or inp != planes, option_b))
                inp = planes
            setattr(self, f"layer{s + 1}", nn.Sequential(*blocks))
        self.linear = W.linear("linear")

    def forward(self, x):
        x = F.relu(self.bn1(self.conv1(x)))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.linear(x.mean((2, 3)))


# ---------------------------------------------------------------------------
# torchvision ResNets


class BasicBlock(nn.Module):
    def __init__(self, W, name, stride, down):
        super().__init__()
        self.conv1 = W.conv(name + ".conv1", 3, stride, 1)
        self.bn1 = W.bn(name + ".bn1")
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = W.conv(name + ".conv2", 3, 1, 1)
        self.bn2 = W.bn(name + ".bn2")
        self.downsample = down

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


class Bottleneck(nn.Module):
    def __init__(self, W, name, stride, down):
        super().__init__()
        self.conv1 = W.conv(name + ".conv1", 1)
        self.bn1 = W.bn(name + ".bn1")
        self.conv2 = W.conv(name + ".conv2", 3, stride, 1)
        self.bn2 = W.bn(name + ".bn2")
        self.conv3 = W.conv(name + ".conv3", 1)
        self.bn3 = W.bn(name + ".bn3")
        self.relu = nn.ReLU(inplace=True)
        self.downsample = down

    def forward(self, x):
        out = self.relu(self.bn1(self.conv1(x)))
        out = self.relu(self.bn2(self.conv2(out)))
        out = self.bn3(self.conv3(out))
        return self.relu(out + (x if self.downsample is None else self.downsample(x)))


_RESNET = {18: ([2, 2, 2, 2], False), 34: ([3, 4, 6, 3], False), 50: ([3, 4, 6, 3], True),
           101: ([3, 4, 23, 3], True), 152: ([3, 8, 36, 3], True)}


class ResNet(nn.Module):
    def __init__(self, W, depth):
        super().__init__()
        blocks, bottleneck = _RESNET[depth]
        self.conv1 = W.conv("conv1", 7, 2, 3)
        self.bn1 = W.bn("bn1")
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.MaxPool2d(3, 2, 1)
        for s, n in enumerate(blocks):
            layer = []
            for i in range(n):
                name, st = f"layer{s + 1}.{i}", (2 if s > 0 and i == 0 else 1)
                down = None
                if name + ".downsample.0.weight" in W.t:
                    down = nn.Sequential(W.conv(name + ".downsample.0", 1, st), W.bn(name + ".downsample.1"))
                layer.append((Bottleneck if bottleneck else BasicBlock)(W, name, st, down))
            setattr(self, f"layer{s + 1}", nn.Sequential(*layer))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = W.linear("fc")

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return self.fc(torch.flatten(self.avgpool(x), 1))


# ---------------------------------------------------------------------------
# VGG (CIFAR) and MobileNetV2

_VGG = {
    11: [64, 0, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    13: [64, 64, 0, 128, 128, 0, 256, 256, 0, 512, 512, 0, 512, 512, 0],
    16: [64, 64, 0, 128, 128, 0, 256, 256, 256, 0, 512, 512, 512, 0, 512, 512, 512, 0],
    19: [64, 64, 0, 128, 128, 0, 256, 256, 256, 256, 0, 512, 512, 512, 512, 0, 512, 512, 512, 512, 0],
}


class VGG(nn.Module):
    def __init__(self, W, depth):
        super().__init__()
        layers = []
        for v in _VGG[depth]:
            if v == 0:
                layers.append(nn.MaxPool2d(2, 2))
                continue
            i = len(layers)
            layers += [W.conv(f"features.{i}", 3, 1, 1, bias=True), W.bn(f"features.{i + 1}"), nn.ReLU(inplace=True)]
        self.features = nn.Sequential(*layers)
        self.classifier = W.linear("classifier")

    def forward(self, x):
        return self.classifier(torch.flatten(self.features(x), 1))


def _conv_bn_relu6(W, name, k, stride, depthwise=False):
    return nn.Sequential(W.conv(name + ".0", k, stride, (k - 1) // 2, depthwise=depthwise),
                         W.bn(name + ".1"), nn.ReLU6(inplace=True))


class InvertedResidual(nn.Module):
    def __init__(self, W, name, stride, t, residual):
        super().__init__()
        layers = []
        if t != 1:
            layers.append(_conv_bn_relu6(W, f"{name}.conv.0", 1, 1))
        i = len(layers)
        layers += [_conv_bn_relu6(W, f"{name}.conv.{i}", 3, stride, depthwise=True),
                   W.conv(f"{name}.conv.{i + 1}", 1), W.bn(f"{name}.conv.{i + 2}")]
        self.conv = nn.Sequential(*layers)
        self.use_res_connect = residual

    def forward(self, x):
        return x + self.conv(x) if self.use_res_connect else self.conv(x)


_MOBILENET_V2 = [(1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1)]


class MobileNetV2(nn.Module):
    def __init__(self, W, cifar):
        super().__init__()
        layers = [_conv_bn_relu6(W, "features.0", 3, 1 if cifar else 2)]
        inp = 32
        for t, c, n, stride in _MOBILENET_V2:
            for i in range(n):
                st = stride if i == 0 else 1
                if cifar and len(layers) == 2:
                    st = 1  # features.2, the first 24-channel block, keeps 32x32
                layers.append(InvertedResidual(W, f"features.{len(layers)}", st, t, st == 1 and inp == c))
                inp = c
        layers.append(_conv_bn_relu6(W, f"features.{len(layers)}", 1, 1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), W.linear("classifier.1"))

    def forward(self, x):
        return self.classifier(self.features(x).mean((2, 3)))


# ---------------------------------------------------------------------------
# the API


def _arch_key(name):
    return name.lower().replace("-", "_")


def build(arch, tensors, widths=None):
    """Returns the torch.nn.Module of the zoo architecture `arch` (as Bonsai names
    it) with the layer widths of `tensors` (name -> tensor, as in the file) and of
    the "widths" record `widths` (a dict, or its JSON string), weights not loaded."""
    if isinstance(widths, str):
        widths = json.loads(widths)
    W = _Widths(tensors, widths or {})
    a = _arch_key(arch)
    if a.startswith("resnet"):
        rest = a[len("resnet"):]
        option_b = rest.endswith("b")
        depth = int(rest.rstrip("b")) if rest.rstrip("b").isdigit() else None
        if depth in (8, 14, 20, 32, 44, 56, 110):
            return CIFARResNet(W, depth, option_b)
        if depth in _RESNET and not option_b:
            return ResNet(W, depth)
    if a.startswith("vgg") and a.endswith("_bn") and a[3:-3].isdigit() and int(a[3:-3]) in _VGG:
        return VGG(W, int(a[3:-3]))
    if a in ("mobilenet_v2", "mobilenet_v2_cifar"):
        return MobileNetV2(W, a.endswith("cifar"))
    raise ValueError(f"unknown architecture {arch!r}: the bridge knows resnet8...resnet110 (b), "
                     "vgg11_bn...vgg19_bn, mobilenet_v2, mobilenet_v2_cifar, resnet18...resnet152")


def load(path, arch=None):
    """Reads the Bonsai model file at path: returns (model, meta), the model in
    eval mode on the CPU with the file's weights, and meta the file's metadata
    (a dict of strings; "arch", "mean", "std", "classes", "widths"...). `arch`
    names the architecture when the file does not. Keys under "optim." (optimizer
    state of a checkpoint) are ignored; a missing num_batches_tracked is zero."""
    tensors, meta = read_safetensors(path)
    arch = arch or meta.get("arch")
    if not arch:
        raise ValueError(f"{path}: the file names no architecture (metadata \"arch\"): pass arch=")
    tensors = {k: v for k, v in tensors.items() if not k.startswith("optim.")}
    model = build(arch, tensors, meta.get("widths"))
    want = model.state_dict()
    for k, v in want.items():
        if k.endswith("num_batches_tracked") and k not in tensors:
            tensors[k] = torch.zeros_like(v)
    missing = sorted(set(want) - set(tensors))
    extra = sorted(set(tensors) - set(want))
    if missing or extra:
        raise ValueError(f"{path}: tensors do not fit {arch}: missing {missing[:5]}, unexpected {extra[:5]}")
    for k, v in want.items():
        if tensors[k].shape != v.shape:
            raise ValueError(f"{path}: tensor {k!r}: shape {list(tensors[k].shape)}, the model wants {list(v.shape)}")
    model.load_state_dict({k: tensors[k].to(want[k].dtype) for k in want})
    meta = dict(meta)
    meta["arch"] = arch
    return model.eval(), meta


def widths_of(model):
    """Returns the "widths" record of model as Bonsai writes it: [out, in] (and
    groups when not 1) of each Conv2d and Linear, [channels] of each BatchNorm2d,
    and the channel map of each option-A shortcut, by state-dict path."""
    m = model.module if hasattr(model, "module") else model
    w = {}
    for name, l in m.named_modules():
        if isinstance(l, nn.Conv2d):
            w[name] = [l.out_channels, l.in_channels] + ([l.groups] if l.groups != 1 else [])
        elif isinstance(l, nn.Linear):
            w[name] = [l.out_features, l.in_features]
        elif isinstance(l, nn.BatchNorm2d):
            w[name] = [l.num_features]
        elif isinstance(l, ShortcutA):
            w[name] = l.widths()
    return w


def save(model, path, meta):
    """Writes model (or a DistributedDataParallel wrapping one) to path as a Bonsai
    safetensors file with meta (the dict load returned: "arch", "mean", "std",
    "classes" are kept) and the widths of its layers. The write is atomic."""
    m = model.module if hasattr(model, "module") else model
    meta = {k: v for k, v in meta.items() if k != "widths"}
    if "arch" not in meta:
        raise ValueError("save: meta has no \"arch\"")
    meta["widths"] = json.dumps(widths_of(m), separators=(",", ":"), sort_keys=True)
    write_safetensors(path, m.state_dict(), meta)


def normalization(meta, default=((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616))):
    """Returns (mean, std) of the metadata, three floats each (Bonsai's CIFAR-10
    defaults when the file names none)."""
    mean = [float(v) for v in meta["mean"].split(",")] if "mean" in meta else list(default[0])
    std = [float(v) for v in meta["std"].split(",")] if "std" in meta else list(default[1])
    return mean, std


# ---------------------------------------------------------------------------
# fine-tuning under torchrun


def _cifar_binary(d, train, tf):
    import numpy as np

    files = [f"data_batch_{i}.bin" for i in range(1, 6)] if train else ["test_batch.bin"]
    raw = np.concatenate([np.fromfile(os.path.join(d, f), dtype=np.uint8).reshape(-1, 3073) for f in files])
    images = torch.from_numpy(raw[:, 1:].reshape(-1, 3, 32, 32).copy())
    labels = torch.from_numpy(raw[:, 0].astype(np.int64))

    class Set(torch.utils.data.Dataset):
        def __len__(self):
            return len(labels)

        def __getitem__(self, i):
            return tf(images[i].float().div(255)), labels[i]

    return Set()


def _datasets(spec, size, mean, std):
    """Training and evaluation sets of a -data spec: imagefolder:DIR (DIR/train
    and DIR/val, one folder per class) or a CIFAR-10 binary directory."""
    import torchvision.transforms as T

    norm = T.Normalize(mean, std)
    if spec.startswith("imagefolder:"):
        import torchvision.datasets as D

        root = spec[len("imagefolder:"):]
        if size <= 32:
            train_tf = T.Compose([T.Resize((size, size)), T.RandomCrop(size, padding=4), T.RandomHorizontalFlip(), T.ToTensor(), norm])
            val_tf = T.Compose([T.Resize((size, size)), T.ToTensor(), norm])
        else:
            train_tf = T.Compose([T.RandomResizedCrop(size), T.RandomHorizontalFlip(), T.ToTensor(), norm])
            val_tf = T.Compose([T.Resize(round(size * 256 / 224)), T.CenterCrop(size), T.ToTensor(), norm])
        return D.ImageFolder(os.path.join(root, "train"), train_tf), D.ImageFolder(os.path.join(root, "val"), val_tf)
    train_tf = T.Compose([T.RandomCrop(32, padding=4), T.RandomHorizontalFlip(), norm])
    return _cifar_binary(spec, True, train_tf), _cifar_binary(spec, False, norm)


def finetune(argv=None):
    """`finetune`: SGD with momentum and a cosine schedule, DistributedDataParallel
    over the processes torchrun starts (NCCL on GPUs, gloo on CPUs), rank 0 writes
    the result."""
    p = argparse.ArgumentParser(prog="bonsai_torch.py finetune", description=finetune.__doc__)
    p.add_argument("--weights", required=True, help="Bonsai safetensors model (pruned or not)")
    p.add_argument("--data", required=True, help="imagefolder:DIR (DIR/train, DIR/val) or a CIFAR-10 binary directory")
    p.add_argument("--out", required=True, help="safetensors file to write")
    p.add_argument("--epochs", type=int, default=1)
    p.add_argument("--max-steps", type=int, default=0, help="stop after this many steps (0: no limit)")
    p.add_argument("--batch", type=int, default=64, help="images per process and step")
    p.add_argument("--lr", type=float, default=0.01, help="learning rate for a global batch of 256, scaled linearly")
    p.add_argument("--momentum", type=float, default=0.9)
    p.add_argument("--wd", type=float, default=1e-4)
    p.add_argument("--workers", type=int, default=4)
    p.add_argument("--size", type=int, default=0, help="input size (default: 32 for CIFAR models, else 224)")
    p.add_argument("--no-eval", action="store_true", help="skip the evaluation after training")
    a = p.parse_args(argv)

    distributed = "WORLD_SIZE" in os.environ
    cuda = torch.cuda.is_available()
    if distributed:
        torch.distributed.init_process_group("nccl" if cuda else "gloo")
    rank = torch.distributed.get_rank() if distributed else 0
    world = torch.distributed.get_world_size() if distributed else 1
    local = int(os.environ.get("LOCAL_RANK", 0))
    device = torch.device(f"cuda:{local}" if cuda else "cpu")
    if cuda:
        torch.cuda.set_device(device)
    torch.manual_seed(rank)

    model, meta = load(a.weights)
    size = a.size or (32 if isinstance(model, (CIFARResNet, VGG)) or _arch_key(meta["arch"]).endswith("cifar") else 224)
    mean, std = normalization(meta)
    train_set, val_set = _datasets(a.data, size, mean, std)
    model = model.to(device).train()
    net = torch.nn.parallel.DistributedDataParallel(model, device_ids=[local] if cuda else None) if distributed else model

    sampler = torch.utils.data.distributed.DistributedSampler(train_set, shuffle=True) if distributed else None
    loader = torch.utils.data.DataLoader(train_set, batch_size=a.batch, sampler=sampler, shuffle=sampler is None,
                                         num_workers=a.workers, drop_last=True, pin_memory=cuda)
    steps = a.epochs * len(loader)
    if a.max_steps:
        steps = min(steps, a.max_steps)
    lr = a.lr * a.batch * world / 256
    decay = [p for n, p in net.named_parameters() if p.dim() > 1]
    no_decay = [p for n, p in net.named_parameters() if p.dim() <= 1]
    opt = torch.optim.SGD([{"params": decay, "weight_decay": a.wd}, {"params": no_decay, "weight_decay": 0}],
                          lr=lr, momentum=a.momentum, nesterov=True)
    sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 0.5 * (1 + math.cos(math.pi * s / max(steps, 1))))
    step, start = 0, time.time()
    for epoch in range(a.epochs):
        if sampler is not None:
            sampler.set_epoch(epoch)
        for x, y in loader:
            if step >= steps:
                break
            x, y = x.to(device, non_blocking=True), y.to(device, non_blocking=True)
            loss = F.cross_entropy(net(x), y)
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            if rank == 0 and (step % 100 == 0 or step == steps):
                print(f"epoch {epoch + 1} step {step}/{steps} loss {loss.item():.4f} lr {sched.get_last_lr()[0]:.5f} "
                      f"{time.time() - start:.0f} s", flush=True)
    model.eval()
    if rank == 0:
        save(model, a.out, meta)
        print(f"wrote {a.out} ({step} steps on {world} processes)", flush=True)
        if not a.no_eval:
            vl = torch.utils.data.DataLoader(val_set, batch_size=256, num_workers=a.workers)
            correct = total = 0
            with torch.no_grad():
                for x, y in vl:
                    correct += (model(x.to(device)).argmax(1).cpu() == y).sum().item()
                    total += len(y)
            print(f"validation: {correct}/{total} correct ({100 * correct / max(total, 1):.2f} %)", flush=True)
    if distributed:
        torch.distributed.barrier()
        torch.distributed.destroy_process_group()


def _logits(argv):
    """`logits MODEL INPUT OUT...`: for each triple, reads tensor "input" [N, 3, H, W]
    from the safetensors file INPUT and writes the model's logits to OUT as tensor
    "logits"."""
    for i in range(0, len(argv), 3):
        model, _ = load(argv[i])
        tensors, _ = read_safetensors(argv[i + 1])
        with torch.no_grad():
            y = model(tensors["input"].float())
        write_safetensors(argv[i + 2], {"logits": y}, {})


_IMAGENET_MEAN, _IMAGENET_STD = "0.485,0.456,0.406", "0.229,0.224,0.225"


def from_torchvision(argv=None):
    """`from-torchvision NAME --out FILE [--weights W]`: writes torchvision's NAME
    (resnet18 ... resnet152, mobilenet_v2), with its published weights W (e.g.
    IMAGENET1K_V1; default: none, random initialisation), as a Bonsai file with
    ImageNet's normalisation and class count, and checks that the file loads back
    in the bridge with the same logits."""
    import torchvision

    p = argparse.ArgumentParser(prog="bonsai_torch.py from-torchvision", description=from_torchvision.__doc__)
    p.add_argument("name", choices=[f"resnet{d}" for d in _RESNET] + ["mobilenet_v2"])
    p.add_argument("--out", required=True)
    p.add_argument("--weights", default=None, help="torchvision weights name, e.g. IMAGENET1K_V1")
    a = p.parse_args(argv)
    tv = getattr(torchvision.models, a.name)(weights=a.weights).eval()
    meta = {"arch": a.name, "mean": _IMAGENET_MEAN, "std": _IMAGENET_STD}
    if a.weights:
        cats = getattr(torchvision.models, {"mobilenet_v2": "MobileNet_V2_Weights"}.get(
            a.name, f"ResNet{a.name[6:]}_Weights"))[a.weights].meta.get("categories")
        if cats:
            meta["classes"] = json.dumps(cats, separators=(",", ":"))
    save(tv, a.out, meta)
    model, _ = load(a.out)
    x = torch.randn(2, 3, 224, 224, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        want, got = tv(x), model(x)
    diff, scale = (want - got).abs().max().item(), want.abs().max().item()
    print(f"wrote {a.out}: logits of the file's model within {diff:.3g} of torchvision's (max |y| {scale:.3g})")
    if not diff <= 1e-5 * scale:
        raise SystemExit(f"{a.out}: the bridge's {a.name} differs from torchvision's")


def main(argv=None):
    argv = sys.argv[1:] if argv is None else argv
    if argv[:1] == ["finetune"]:
        return finetune(argv[1:])
    if argv[:1] == ["from-torchvision"]:
        return from_torchvision(argv[1:])
    if argv[:1] == ["logits"] and len(argv) > 1 and len(argv) % 3 == 1:
        return _logits(argv[1:])
    if argv[:1] == ["info"] and len(argv) == 2:
        model, meta = load(argv[1])
        print(model)
        print({k: v for k, v in meta.items() if k != "widths"})
        print(f"{sum(p.numel() for p in model.parameters())} parameters")
        return None
    print("usage: bonsai_torch.py finetune --weights FILE --data DATA --out FILE [...]\n"
          "       bonsai_torch.py from-torchvision NAME --out FILE [--weights W]\n"
          "       bonsai_torch.py info FILE\n"
          "       bonsai_torch.py logits MODEL INPUT OUT [MODEL INPUT OUT...]", file=sys.stderr)
    return 2


if __name__ == "__main__":
    sys.exit(main())
