#!/usr/bin/env python3
"""Export models from PyTorch 1.13 to ONNX with reference logits, for package onnx's tests.

usage: export_torch.py OUTDIR SPEC ...
  SPEC: MODEL:OPSET:BN
    MODEL  resnet18 | resnet50 | mobilenet_v2   torchvision, 224×224, weights drawn from seed 0
           cifar-resnetN                        CIFAR ResNet-N (option A), weights from seed 0
           FILE.safetensors                     a CIFAR ResNet (option A) with these weights
    OPSET  11 … 17
    BN     kept   BatchNormalization nodes (do_constant_folding=False, TrainingMode.PRESERVE)
           folded BatchNorm folded into the convolutions (do_constant_folding=True, EVAL)
Writes OUTDIR/NAME-oOPSET-BN.onnx (input "input" [N, 3, H, W] with a dynamic N, output
"logits") and OUTDIR/NAME-oOPSET-BN.ref.safetensors with the tensors "input" (4 images drawn
from seed 1) and "logits" (PyTorch's, evaluation mode). Prints the ONNX paths. The files
carry no metadata_props (as most exporters write them): give -mean and -std to bonsai.
Needs /usr/bin/python3 with Debian's python3-torch and python3-torchvision; nothing else.
"""
import json, os, struct, sys
import numpy as np, torch, torch.nn as nn, torch.nn.functional as F


def load_safetensors(path):
    b = open(path, "rb").read()
    n = struct.unpack("<Q", b[:8])[0]
    h = json.loads(b[8:8 + n])
    out = {}
    for k, v in h.items():
        if k == "__metadata__":
            continue
        dt = {"F32": np.float32, "I64": np.int64}[v["dtype"]]
        s, e = v["data_offsets"]
        out[k] = torch.from_numpy(np.frombuffer(b[8 + n + s:8 + n + e], dtype=dt).reshape(v["shape"]).copy())
    return out


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k, t in tensors.items():
        a = t.detach().numpy().astype("<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


class Block(nn.Module):
    """The CIFAR BasicBlock of akamaster/pytorch_resnet_cifar10, option A shortcut."""
    def __init__(self, cin, planes, stride):
        super().__init__()
        self.conv1 = nn.Conv2d(cin, planes, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.short = stride != 1 or cin != planes
        self.planes = planes

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        if self.short:
            p = self.planes // 4
            x = F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, p, p), "constant", 0)
        return F.relu(out + x)


class CifarResNet(nn.Module):
    def __init__(self, depth):
        super().__init__()
        n = (depth - 2) // 6
        self.conv1 = nn.Conv2d(3, 16, 3, 1, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        cin, layers = 16, []
        for planes, stride in ((16, 1), (32, 2), (64, 2)):
            blocks = []
            for i in range(n):
                blocks.append(Block(cin, planes, stride if i == 0 else 1))
                cin = planes
            layers.append(nn.Sequential(*blocks))
        self.layer1, self.layer2, self.layer3 = layers
        self.linear = nn.Linear(64, 10)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, int(out.size()[3]))
        return self.linear(out.view(out.size(0), -1))


def randomize_bn(m, g):
    """Give BatchNorm layers non-trivial statistics, so that the tests see them."""
    for l in m.modules():
        if isinstance(l, nn.BatchNorm2d):
            c = l.num_features
            l.weight.data = 0.5 + torch.rand(c, generator=g)
            l.bias.data = 0.2 * torch.randn(c, generator=g)
            l.running_mean.data = 0.2 * torch.randn(c, generator=g)
            l.running_var.data = 0.5 + torch.rand(c, generator=g)


def build(model):
    import torchvision
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    if model in ("resnet18", "resnet50", "mobilenet_v2"):
        m = getattr(torchvision.models, model)()
        randomize_bn(m, g)
        return m, 224, model
    if model.startswith("cifar-resnet"):
        m = CifarResNet(int(model[len("cifar-resnet"):]))
        randomize_bn(m, g)
        return m, 32, model
    sd = {k: v for k, v in load_safetensors(model).items() if not k.startswith("optim.")}
    depth = 2 + 6 * len([k for k in sd if k.startswith("layer1.") and k.endswith("conv1.weight")])
    m = CifarResNet(depth)
    m.load_state_dict(sd)
    name = os.path.basename(model).rsplit(".", 1)[0]
    return m, 32, name


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for spec in sys.argv[2:]:
        model, opset, bn = spec.rsplit(":", 2)
        m, size, name = build(model)
        m.eval()
        path = os.path.join(out, f"{name}-o{opset}-{bn}.onnx")
        x = torch.randn(4, 3, size, size, generator=torch.Generator().manual_seed(1))
        kept = bn == "kept"
        with torch.no_grad():
            torch.onnx.export(m, x[:1], path, opset_version=int(opset),
                              input_names=["input"], output_names=["logits"],
                              dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                              do_constant_folding=not kept,
                              training=torch.onnx.TrainingMode.PRESERVE if kept else torch.onnx.TrainingMode.EVAL)
            y = m(x)
        save_safetensors(path[:-len(".onnx")] + ".ref.safetensors", {"input": x, "logits": y})
        print(path, flush=True)


if __name__ == "__main__":
    main()
