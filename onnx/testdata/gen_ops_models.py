#!/usr/bin/env python3
"""Generate the small ONNX models of package onnx's tests of Concat, Sigmoid and Mul.

usage: /usr/bin/python3 onnx/testdata/gen_ops_models.py   (from the repository root)

Writes onnx/testdata/ops/MODEL-oOPSET-BN.onnx for three tiny CNNs, exported by PyTorch
1.13 at opsets 13 and 17 with BatchNorm kept (do_constant_folding=False,
TrainingMode.PRESERVE) and folded (do_constant_folding=True, EVAL), and
onnx/testdata/ops/MODEL.ref.safetensors with "input" (2 images [3, 16, 16] drawn from
seed 1) and "logits" (PyTorch's, evaluation mode, float32):

  inception  an Inception block (1×1, 1×1→3×3 and pool→1×1 branches, torch.cat on the
             channels), then a DenseNet step: BatchNorm, ReLU and a conv over the
             concatenation, concatenated to it; a 1×1 conv and a linear head
  se         a squeeze-and-excitation block of linear layers (pool, flatten, fc, ReLU, fc,
             sigmoid, view to [N, C, 1, 1], x * s) and torchvision's SqueezeExcitation
             (1×1 convolutions on the pooled map, scale * input)
  scale      Mul by per-channel constants: a parameter [1, C, 1, 1], a buffer [C, 1, 1]
             and a scalar

Weights are drawn from seed 0, BatchNorm statistics too. Needs Debian's python3-torch and
python3-torchvision (0.14) only. Small on purpose: the files are committed.
"""
import json, os, struct, sys
import torch, torch.nn as nn, torch.nn.functional as F
import torchvision
from export_torch import randomize_bn  # the same BatchNorm statistics as the other exports

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "ops")


def save_safetensors(path, tensors):
    header, blobs, off = {}, [], 0
    for k in sorted(tensors):
        a = tensors[k].detach().numpy().astype("<f4")
        header[k] = {"dtype": "F32", "shape": list(a.shape), "data_offsets": [off, off + a.nbytes]}
        blobs.append(a.tobytes())
        off += a.nbytes
    h = json.dumps(header, sort_keys=True).encode()
    h += b" " * ((8 - len(h) % 8) % 8)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(h)) + h + b"".join(blobs))


def cbr(cin, cout, k, stride=1):
    return nn.Sequential(nn.Conv2d(cin, cout, k, stride, k // 2, bias=False), nn.BatchNorm2d(cout), nn.ReLU())


class Inception(nn.Module):
    def __init__(self):
        super().__init__()
        self.stem = cbr(3, 8, 3)
        self.b1 = nn.Sequential(nn.Conv2d(8, 4, 1), nn.ReLU())
        self.b2 = nn.Sequential(cbr(8, 4, 1), cbr(4, 6, 3))
        self.b3 = nn.Sequential(nn.MaxPool2d(3, 1, 1), nn.Conv2d(8, 3, 1), nn.ReLU())
        self.dense = nn.Sequential(nn.BatchNorm2d(13), nn.ReLU(), nn.Conv2d(13, 5, 3, 1, 1, bias=False))
        self.head = nn.Sequential(nn.Conv2d(18, 12, 1), nn.ReLU())
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.stem(x)
        x = torch.cat([self.b1(x), self.b2(x), self.b3(x)], 1)
        x = torch.cat([x, self.dense(x)], 1)
        x = F.adaptive_avg_pool2d(self.head(x), 1)
        return self.fc(torch.flatten(x, 1))


class SE(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = cbr(3, 8, 3)
        self.fc1, self.fc2 = nn.Linear(8, 3), nn.Linear(3, 8)
        self.conv2 = cbr(8, 12, 3, 2)
        self.se2 = torchvision.ops.SqueezeExcitation(12, 4)
        self.fc = nn.Linear(12, 10)

    def forward(self, x):
        x = self.conv1(x)
        b, c = x.shape[:2]
        s = torch.flatten(F.adaptive_avg_pool2d(x, 1), 1)
        s = torch.sigmoid(self.fc2(F.relu(self.fc1(s))))
        x = x * s.view(b, c, 1, 1)
        x = self.se2(self.conv2(x))
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


class Scale(nn.Module):
    def __init__(self):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 8, 3, 1, 1)
        self.scale = nn.Parameter(0.5 + torch.rand(1, 8, 1, 1))
        self.conv2 = nn.Conv2d(8, 8, 3, 1, 1, bias=False)
        self.bn = nn.BatchNorm2d(8)
        self.register_buffer("gamma", 0.5 + torch.rand(8, 1, 1))
        self.fc = nn.Linear(8, 10)

    def forward(self, x):
        x = F.relu(self.conv1(x)) * self.scale
        x = F.relu(self.bn(self.conv2(x)) * self.gamma) * 0.5
        return self.fc(torch.flatten(F.adaptive_avg_pool2d(x, 1), 1))


def main():
    os.makedirs(OUT, exist_ok=True)
    for name, cls in (("inception", Inception), ("se", SE), ("scale", Scale)):
        torch.manual_seed(0)
        m = cls()
        randomize_bn(m, torch.Generator().manual_seed(0))
        m.eval()
        x = torch.randn(2, 3, 16, 16, generator=torch.Generator().manual_seed(1))
        with torch.no_grad():
            y = m(x)
        save_safetensors(os.path.join(OUT, name + ".ref.safetensors"), {"input": x, "logits": y})
        for opset in (13, 17):
            for bn in ("kept", "folded"):
                kept = bn == "kept"
                path = os.path.join(OUT, f"{name}-o{opset}-{bn}.onnx")
                with torch.no_grad():
                    torch.onnx.export(m, x[:1], path, opset_version=opset,
                                      input_names=["input"], output_names=["logits"],
                                      dynamic_axes={"input": {0: "batch"}, "logits": {0: "batch"}},
                                      do_constant_folding=not kept,
                                      training=torch.onnx.TrainingMode.PRESERVE if kept else torch.onnx.TrainingMode.EVAL)
                print(path, os.path.getsize(path))


if __name__ == "__main__":
    main()
