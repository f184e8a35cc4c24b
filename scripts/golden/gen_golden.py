"""Generate the PyTorch golden files that Bonsai's Go tests compare against.

Writes (paths relative to the repository root):

  nn/testdata/layers.safetensors
      Per-layer forward goldens. For every case CASE the file holds
      CASE.input, CASE.output and every parameter/buffer of the layer as
      CASE.<state-dict name>; the case's config is a JSON string stored in the
      safetensors __metadata__ under the key CASE.

  nn/zoo/testdata/<arch>.safetensors
      Whole-model logits: `input` and `logits` (both F32). Parameters, buffers
      and the input are NOT stored: both sides derive them from the shared
      deterministic init "bonsai-hash-v1" (see README.md / `hash_u` below).

All references are computed in float64 (`.double()` model and inputs, with the
stored float32 values converted exactly to float64) and stored as F32, so every
stored output is the float64 answer rounded once to float32.

Run from the repository root (needs Debian's python3-torch, python3-torchvision
and python3-numpy; the pyenv `python3` on PATH has no torch):

    /usr/bin/python3 scripts/golden/gen_golden.py

Output is deterministic: rerunning produces byte-identical files.
"""

import json
import zlib
import math
import os
import struct
import sys
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
LAYERS_PATH = os.path.join(ROOT, "nn", "testdata", "layers.safetensors")
ZOO_DIR = os.path.join(ROOT, "nn", "zoo", "testdata")

# --------------------------------------------------------------------------
# safetensors writer (no safetensors package in Debian)
# --------------------------------------------------------------------------


def write_safetensors(path, tensors, metadata):
    """Write {name: array} as F32 tensors in sorted-name order; keys ending in
    "num_batches_tracked" are written as I64, as PyTorch stores them.

    Header: 8-byte little-endian u64 N, then N bytes of JSON padded with
    spaces so that 8+N is a multiple of 8, then the little-endian data.
    """
    names = sorted(tensors)
    header = {}
    blobs = []
    off = 0
    for name in names:
        dt, code = ("<i8", "I64") if name.endswith("num_batches_tracked") else ("<f4", "F32")
        a = np.array(tensors[name], dtype=dt, order="C", copy=True)  # keeps 0-d shape
        b = a.tobytes()
        header[name] = {"dtype": code, "shape": list(a.shape), "data_offsets": [off, off + len(b)]}
        blobs.append(b)
        off += len(b)
    if metadata:
        for k, v in metadata.items():
            assert isinstance(k, str) and isinstance(v, str), (k, v)
        header["__metadata__"] = dict(sorted(metadata.items()))
    hj = json.dumps(header, separators=(",", ":"), sort_keys=False).encode("utf-8")
    pad = (-(8 + len(hj))) % 8
    hj += b" " * pad
    os.makedirs(os.path.dirname(path), exist_ok=True)
    with open(path, "wb") as f:
        f.write(struct.pack("<Q", len(hj)))
        f.write(hj)
        for b in blobs:
            f.write(b)
    return os.path.getsize(path)


def read_safetensors(path):
    """Minimal reader, used to self-check the writer."""
    with open(path, "rb") as f:
        data = f.read()
    (n,) = struct.unpack("<Q", data[:8])
    assert (8 + n) % 8 == 0
    header = json.loads(data[8 : 8 + n].decode("utf-8"))
    meta = header.pop("__metadata__", {})
    out = {}
    base = 8 + n
    for name, info in header.items():
        b, e = info["data_offsets"]
        dt = {"F32": "<f4", "I64": "<i8"}[info["dtype"]]
        out[name] = np.frombuffer(data[base + b : base + e], dtype=dt).reshape(info["shape"])
    return out, meta


# --------------------------------------------------------------------------
# Shared deterministic init "bonsai-hash-v1"
# --------------------------------------------------------------------------

M64 = 2**64
FNV_OFFSET = 0xCBF29CE484222325
FNV_PRIME = 0x100000001B3
GOLDEN = 0x9E3779B97F4A7C15
MIX1 = 0xBF58476D1CE4E5B9
MIX2 = 0x94D049BB133111EB


def fnv1a64(s):
    h = FNV_OFFSET
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * FNV_PRIME) % M64
    return h


def mix_py(z):
    z ^= z >> 30
    z = (z * MIX1) % M64
    z ^= z >> 27
    z = (z * MIX2) % M64
    z ^= z >> 31
    return z


def hash_u_py(name, i):
    """Reference (plain Python ints) u(name, i) in [0, 1)."""
    return (mix_py((fnv1a64(name) + (i + 1) * GOLDEN) % M64) >> 40) / 2.0**24


def hash_u(name, n):
    """Vectorised u(name, i) for i = 0..n-1 as float64 (exact)."""
    with np.errstate(over="ignore"):
        i1 = np.arange(1, n + 1, dtype=np.uint64)
        z = i1 * np.uint64(GOLDEN) + np.uint64(fnv1a64(name))
        z ^= z >> np.uint64(30)
        z *= np.uint64(MIX1)
        z ^= z >> np.uint64(27)
        z *= np.uint64(MIX2)
        z ^= z >> np.uint64(31)
    return (z >> np.uint64(40)).astype(np.float64) / 2.0**24


def _check_hash():
    for name in ("conv1.weight", "input", "layer1.0.bn1.running_var", "features.0.weight"):
        v = hash_u(name, 8)
        for i in range(8):
            assert v[i] == hash_u_py(name, i), (name, i, v[i], hash_u_py(name, i))


def init_value(name, shape):
    """float32 numpy array for state-dict entry `name` (or "input")."""
    shape = tuple(int(s) for s in shape)
    n = int(np.prod(shape)) if shape else 1
    if name.endswith(".num_batches_tracked"):
        return None  # left at 0
    u = hash_u(name, n)
    if name == "input":
        v = 2.0 * u - 1.0
    elif len(shape) >= 2:
        fan_in = n // shape[0]
        v = (2.0 * u - 1.0) * math.sqrt(3.0 / fan_in)
    elif name.endswith(".running_mean"):
        v = 0.2 * (2.0 * u - 1.0)
    elif name.endswith(".running_var"):
        v = 0.5 + u
    elif name.endswith(".weight") and len(shape) == 1:
        v = 0.5 + u
    elif name.endswith(".bias"):
        v = 0.2 * (2.0 * u - 1.0)
    else:
        raise ValueError("no init rule for %r shape %r" % (name, shape))
    return v.astype(np.float32).reshape(shape)


def apply_hash_init(model):
    """Overwrite every state-dict entry of a float64 model with the hash init."""
    sd = model.state_dict()
    new = {}
    for name, t in sd.items():
        v = init_value(name, t.shape)
        if v is None:
            assert t.dtype == torch.int64
            new[name] = torch.zeros_like(t)
        else:
            new[name] = torch.from_numpy(v.astype(np.float64))
    model.load_state_dict(new, strict=True)


# --------------------------------------------------------------------------
# Models
# --------------------------------------------------------------------------


class LambdaLayer(nn.Module):
    def __init__(self, fn):
        super().__init__()
        self.fn = fn

    def forward(self, x):
        return self.fn(x)


def shortcut_a(x, planes):
    return F.pad(x[:, :, ::2, ::2], (0, 0, 0, 0, planes // 4, planes // 4))


class BasicBlock(nn.Module):
    def __init__(self, in_planes, planes, stride=1, option="A"):
        super().__init__()
        self.conv1 = nn.Conv2d(in_planes, planes, 3, stride=stride, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(planes)
        self.conv2 = nn.Conv2d(planes, planes, 3, stride=1, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(planes)
        self.shortcut = nn.Sequential()
        if stride != 1 or in_planes != planes:
            if option == "A":
                self.shortcut = LambdaLayer(lambda x: shortcut_a(x, planes))
            else:
                self.shortcut = nn.Sequential(
                    nn.Conv2d(in_planes, planes, 1, stride=stride, bias=False),
                    nn.BatchNorm2d(planes),
                )

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.bn2(self.conv2(out))
        return F.relu(out + self.shortcut(x))


class CifarResNet(nn.Module):
    """akamaster/pytorch_resnet_cifar10 layout."""

    def __init__(self, depth, option="A", num_classes=10):
        super().__init__()
        assert (depth - 2) % 6 == 0
        n = (depth - 2) // 6
        self.in_planes = 16
        self.conv1 = nn.Conv2d(3, 16, 3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.layer1 = self._make_layer(16, n, 1, option)
        self.layer2 = self._make_layer(32, n, 2, option)
        self.layer3 = self._make_layer(64, n, 2, option)
        self.linear = nn.Linear(64, num_classes)

    def _make_layer(self, planes, n, stride, option):
        layers = []
        for s in [stride] + [1] * (n - 1):
            layers.append(BasicBlock(self.in_planes, planes, s, option))
            self.in_planes = planes
        return nn.Sequential(*layers)

    def forward(self, x):
        out = F.relu(self.bn1(self.conv1(x)))
        out = self.layer3(self.layer2(self.layer1(out)))
        out = F.avg_pool2d(out, out.size()[3])
        out = out.view(out.size(0), -1)
        return self.linear(out)


VGG_CFGS = {
    "vgg11_bn": [64, "M", 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg13_bn": [64, 64, "M", 128, 128, "M", 256, 256, "M", 512, 512, "M", 512, 512, "M"],
    "vgg16_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, "M", 512, 512, 512, "M", 512, 512, 512, "M"],
    "vgg19_bn": [64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M", 512, 512, 512, 512, "M",
                 512, 512, 512, 512, "M"],
}


class CifarVGG(nn.Module):
    def __init__(self, cfg, num_classes=10):
        super().__init__()
        layers = []
        c = 3
        for v in cfg:
            if v == "M":
                layers.append(nn.MaxPool2d(2, 2))
            else:
                layers += [nn.Conv2d(c, v, 3, padding=1), nn.BatchNorm2d(v), nn.ReLU(inplace=True)]
                c = v
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Linear(512, num_classes)

    def forward(self, x):
        x = self.features(x)
        x = torch.flatten(x, 1)
        return self.classifier(x)


CIFAR_SHAPE = (2, 3, 32, 32)
IMAGENET_SHAPE = (2, 3, 64, 64)

# name -> (constructor, input shape, expected parameter count or None)
MODELS = [
    ("resnet20", lambda: CifarResNet(20, "A"), CIFAR_SHAPE, 269722),
    ("resnet32", lambda: CifarResNet(32, "A"), CIFAR_SHAPE, None),
    ("resnet44", lambda: CifarResNet(44, "A"), CIFAR_SHAPE, None),
    ("resnet56", lambda: CifarResNet(56, "A"), CIFAR_SHAPE, 853018),
    ("resnet110", lambda: CifarResNet(110, "A"), CIFAR_SHAPE, None),
    ("resnet20b", lambda: CifarResNet(20, "B"), CIFAR_SHAPE, None),
    ("vgg11_bn", lambda: CifarVGG(VGG_CFGS["vgg11_bn"]), CIFAR_SHAPE, None),
    ("vgg13_bn", lambda: CifarVGG(VGG_CFGS["vgg13_bn"]), CIFAR_SHAPE, None),
    ("vgg16_bn", lambda: CifarVGG(VGG_CFGS["vgg16_bn"]), CIFAR_SHAPE, 14728266),
    ("vgg19_bn", lambda: CifarVGG(VGG_CFGS["vgg19_bn"]), CIFAR_SHAPE, None),
    ("resnet18", lambda: torchvision.models.resnet18(weights=None), IMAGENET_SHAPE, 11689512),
    ("resnet34", lambda: torchvision.models.resnet34(weights=None), IMAGENET_SHAPE, 21797672),
    ("resnet50", lambda: torchvision.models.resnet50(weights=None), IMAGENET_SHAPE, 25557032),
]


def gen_models():
    summary = []
    for name, ctor, shape, expect in MODELS:
        t0 = time.time()
        model = ctor()
        nparams = sum(p.numel() for p in model.parameters())
        if expect is not None:
            assert nparams == expect, (name, nparams, expect)
        model = model.double()
        apply_hash_init(model)
        model.eval()
        x32 = init_value("input", shape)
        with torch.no_grad():
            logits = model(torch.from_numpy(x32.astype(np.float64))).numpy()
        assert np.all(np.isfinite(logits)), name
        # Informative only (not stored): how far a float32 forward of the same
        # model lands from the float64 reference, and how different the two
        # batch samples are -- use these to pick test tolerances.
        m32 = model.float()
        with torch.no_grad():
            l32 = m32(torch.from_numpy(x32)).double().numpy()
        model = m32.double()
        err32 = float(np.max(np.abs(l32 - logits)))
        sep = float(np.max(np.abs(logits[0] - logits[1])))
        maxabs = float(np.max(np.abs(logits)))
        std = float(np.std(logits))
        path = os.path.join(ZOO_DIR, name + ".safetensors")
        meta = {
            "arch": name,
            "input_shape": ",".join(str(s) for s in shape),
            "init": "bonsai-hash-v1",
            "num_params": str(nparams),
        }
        size = write_safetensors(path, {"input": x32, "logits": logits.astype(np.float32)}, meta)
        back, _ = read_safetensors(path)
        assert np.array_equal(back["input"], x32)
        flag = "  <-- LARGE" if maxabs > 1e6 else ""
        print("%-10s params=%10d  logits%s max|logit|=%.6g std=%.6g  f32-vs-ref=%.2g  |l0-l1|max=%.3g"
              "  %6d bytes  %.1fs%s"
              % (name, nparams, list(logits.shape), maxabs, std, err32, sep, size, time.time() - t0, flag))
        summary.append((name, nparams, maxabs, std))
    return summary


# --------------------------------------------------------------------------
# Per-layer cases
# --------------------------------------------------------------------------


def f32(t):
    """Round a tensor to float32 (as a numpy array)."""
    return t.detach().to(torch.float32).numpy().copy()


def d64(a):
    return torch.from_numpy(np.asarray(a, dtype=np.float32).astype(np.float64))


def gen_layers():
    torch.manual_seed(20240601)
    tensors = {}
    meta = {}

    def add(case, cfg, **arrs):
        assert case not in meta
        meta[case] = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
        for k, v in arrs.items():
            tensors[case + "." + k] = np.asarray(v, dtype=np.int64 if k.endswith("num_batches_tracked") else np.float32)

    def randn(*shape):
        return torch.randn(*shape).numpy().copy()  # float32

    # Gradient cases: for each, grad of sum(output * upstream) with respect to
    # the input and the parameters, upstream drawn from a generator seeded by
    # the case name (so adding cases changes no other case).
    grad_jobs = []

    def grad_job(case, fn, params, rename=None):
        grad_jobs.append((case, fn, params, rename or {}))

    def module_case(case, cfg, module, x32, extra_state=None):
        """Forward a float64 copy of `module` (with float32-stored params)."""
        sd32 = {}
        for k, v in module.state_dict().items():
            sd32[k] = v.detach().to(torch.float32).numpy().copy() if v.is_floating_point() else v.numpy().astype(np.float32)
        m64 = module.double()
        m64.load_state_dict({k: (torch.from_numpy(sd32[k].astype(np.float64)) if v.is_floating_point() else v)
                             for k, v in m64.state_dict().items()})
        with torch.no_grad():
            y = m64(d64(x32))
        add(case, cfg, input=x32, output=f32(y), **sd32)
        grad_job(case, m64, dict(m64.named_parameters()))
        return m64

    # ---- conv2d ----
    conv_cases = [
        # name, cin, cout, k, s, p, bias, input shape
        ("conv_k3s1p1_bias", 3, 5, 3, 1, 1, True, (2, 3, 7, 9)),
        ("conv_k3s2p1", 4, 6, 3, 2, 1, False, (3, 4, 9, 8)),
        ("conv_k1s1p0_bias", 5, 7, 1, 1, 0, True, (2, 5, 6, 5)),
        ("conv_k1s2p0", 6, 4, 1, 2, 0, False, (2, 6, 7, 7)),
        ("conv_k7s2p3_stem", 3, 8, 7, 2, 3, False, (2, 3, 17, 15)),
        ("conv_k5s1p0_bias", 2, 3, 5, 1, 0, True, (1, 2, 9, 11)),
        ("conv_k3s2p0_even_bias", 4, 4, 3, 2, 0, True, (2, 4, 8, 8)),
        ("conv_k2s1p1", 3, 2, 2, 1, 1, False, (1, 3, 5, 5)),
    ]
    for case, cin, cout, k, s, p, bias, shp in conv_cases:
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, bias=bias)
        cfg = {"op": "conv2d", "in": cin, "out": cout, "kernel": k, "stride": s, "padding": p, "bias": bias}
        module_case(case, cfg, conv, randn(*shp))

    # ---- batchnorm2d eval ----
    bn = nn.BatchNorm2d(5)
    with torch.no_grad():
        bn.weight.copy_(1.0 + 0.3 * torch.randn(5))
        bn.bias.copy_(0.3 * torch.randn(5))
        bn.running_mean.copy_(0.5 * torch.randn(5))
        bn.running_var.copy_(0.5 + torch.rand(5))
    bn.eval()
    module_case("bn_eval", {"op": "batchnorm2d", "channels": 5, "eps": 1e-5, "momentum": 0.1, "training": False},
                bn, randn(3, 5, 4, 6))

    # ---- batchnorm2d train ----
    bn = nn.BatchNorm2d(3)
    with torch.no_grad():
        bn.weight.copy_(1.0 + 0.3 * torch.randn(3))
        bn.bias.copy_(0.3 * torch.randn(3))
        bn.running_mean.copy_(0.5 * torch.randn(3))
        bn.running_var.copy_(0.5 + torch.rand(3))
    bn.train()
    x = randn(4, 3, 5, 5) * 1.5 + 0.3
    m64 = module_case("bn_train", {"op": "batchnorm2d", "channels": 3, "eps": 1e-5, "momentum": 0.1,
                                   "training": True}, bn, x)
    add("bn_train", json.loads(meta.pop("bn_train")),
        new_running_mean=f32(m64.running_mean), new_running_var=f32(m64.running_var),
        new_num_batches_tracked=np.float32(m64.num_batches_tracked.item()))
    # cross-check the running-stat update by hand (unbiased variance)
    xd = d64(x)
    mu = xd.mean(dim=(0, 2, 3))
    var_unb = xd.var(dim=(0, 2, 3), unbiased=True)
    rm0 = d64(tensors["bn_train.running_mean"])
    rv0 = d64(tensors["bn_train.running_var"])
    assert torch.allclose(0.9 * rm0 + 0.1 * mu, m64.running_mean, rtol=0, atol=1e-12)
    assert torch.allclose(0.9 * rv0 + 0.1 * var_unb, m64.running_var, rtol=0, atol=1e-12)
    assert m64.num_batches_tracked.item() == 1

    # ---- relu ----
    x = randn(2, 3, 4, 5)
    add("relu", {"op": "relu"}, input=x, output=f32(F.relu(d64(x))))
    grad_job("relu", F.relu, {})

    # ---- pooling ----
    x = randn(2, 3, 7, 9)
    add("maxpool_k2s2", {"op": "maxpool2d", "kernel": 2, "stride": 2, "padding": 0, "ceil_mode": False},
        input=x, output=f32(F.max_pool2d(d64(x), 2, 2)))
    grad_job("maxpool_k2s2", lambda t: F.max_pool2d(t, 2, 2), {})
    x = randn(2, 3, 9, 10)
    add("maxpool_k3s2p1", {"op": "maxpool2d", "kernel": 3, "stride": 2, "padding": 1, "ceil_mode": False},
        input=x, output=f32(F.max_pool2d(d64(x), 3, 2, 1)))
    grad_job("maxpool_k3s2p1", lambda t: F.max_pool2d(t, 3, 2, 1), {})
    x = randn(2, 3, 8, 6)
    add("avgpool_k2s2", {"op": "avgpool2d", "kernel": 2, "stride": 2, "padding": 0},
        input=x, output=f32(F.avg_pool2d(d64(x), 2, 2)))
    grad_job("avgpool_k2s2", lambda t: F.avg_pool2d(t, 2, 2), {})
    x = randn(2, 5, 7, 3)
    add("adaptive_avgpool_1x1", {"op": "adaptive_avgpool2d", "output_size": [1, 1]},
        input=x, output=f32(F.adaptive_avg_pool2d(d64(x), (1, 1))))
    grad_job("adaptive_avgpool_1x1", lambda t: F.adaptive_avg_pool2d(t, (1, 1)), {})

    # ---- linear ----
    module_case("linear", {"op": "linear", "in": 7, "out": 5, "bias": True}, nn.Linear(7, 5), randn(3, 7))
    module_case("flatten_linear", {"op": "flatten_linear", "flatten_start_dim": 1, "in": 12, "out": 4,
                                   "bias": True},
                nn.Sequential(nn.Flatten(), nn.Linear(12, 4)), randn(2, 3, 2, 2))
    # rename Sequential keys "1.weight"/"1.bias" to "weight"/"bias"
    for k in ("weight", "bias"):
        tensors["flatten_linear." + k] = tensors.pop("flatten_linear.1." + k)
    fl = grad_jobs[-1]
    grad_jobs[-1] = (fl[0], fl[1], fl[2], {"1.weight": "weight", "1.bias": "bias"})

    # ---- option-A shortcut ----
    x = randn(2, 4, 7, 6)
    y = shortcut_a(d64(x), 8)
    assert tuple(y.shape) == (2, 8, 4, 3)
    add("shortcut_a", {"op": "shortcut_a", "in": 4, "planes": 8, "stride": 2, "pad_each_side": 2},
        input=x, output=f32(y))
    grad_job("shortcut_a", lambda t: shortcut_a(t, 8), {})

    # ---- cross entropy ----
    logits = randn(6, 10) * 2.0
    target = torch.randint(0, 10, (6,))
    ld = d64(logits).requires_grad_(True)
    loss = F.cross_entropy(ld, target, reduction="mean")
    (grad,) = torch.autograd.grad(loss, ld)
    per = F.cross_entropy(d64(logits), target, reduction="none")
    add("cross_entropy", {"op": "cross_entropy", "classes": 10, "reduction": "mean"},
        input=logits, target=target.numpy().astype(np.float32), output=np.float32(loss.item()),
        per_sample=f32(per), grad_input=f32(grad))

    for case, fn, params, rename in grad_jobs:
        xg = d64(tensors[case + ".input"]).requires_grad_(True)
        for p in params.values():
            p.grad = None
        y = fn(xg)
        gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        up32 = torch.randn(tuple(y.shape), generator=gen).numpy().copy()
        (y * d64(up32)).sum().backward()
        arrs = {"upstream": up32, "grad.input": f32(xg.grad)}
        for name, p in params.items():
            arrs["grad." + rename.get(name, name)] = f32(p.grad)
        for k, v in arrs.items():
            tensors[case + "." + k] = np.asarray(v, dtype=np.float32)

    size = write_safetensors(LAYERS_PATH, tensors, meta)
    back, bmeta = read_safetensors(LAYERS_PATH)
    assert set(back) == set(tensors) and bmeta == meta
    for k in tensors:
        assert np.array_equal(back[k], tensors[k]), k
    print("wrote %s: %d tensors, %d cases, %d bytes" % (os.path.relpath(LAYERS_PATH, ROOT), len(tensors), len(meta), size))
    for case in sorted(meta):
        keys = sorted(k for k in tensors if k.startswith(case + "."))
        print("  %-22s %s" % (case, meta[case]))
        for k in keys:
            print("      %-40s %s" % (k, list(tensors[k].shape)))


# --------------------------------------------------------------------------


def print_hash_reference():
    print("fnv1a64('conv1.weight') = 0x%016x" % fnv1a64("conv1.weight"))
    print("fnv1a64('input')        = 0x%016x" % fnv1a64("input"))
    for name in ("conv1.weight", "input"):
        u = hash_u(name, 4)
        print("u(%r, 0..3) = %s" % (name, ", ".join(repr(float(v)) for v in u)))
        print("   mix outputs: %s" % ", ".join("0x%016x" % mix_py((fnv1a64(name) + (i + 1) * GOLDEN) % M64)
                                                for i in range(4)))
        print("   u*2^24     : %s" % ", ".join(str(int(v * 2**24)) for v in u))
    x = init_value("input", (4,))
    print("input[0..3] (float32) = %s" % ", ".join(repr(float(v)) for v in x))
    w = init_value("conv1.weight", (16, 3, 3, 3)).reshape(-1)[:4]
    print("resnet20 conv1.weight[0..3] (shape [16,3,3,3], fan_in 27) = %s  bits %s"
          % (", ".join(repr(float(v)) for v in w), ", ".join("0x%08x" % v for v in w.view(np.uint32))))
    for name, shape in (("bn1.running_mean", (16,)), ("bn1.running_var", (16,)), ("bn1.weight", (16,)),
                        ("bn1.bias", (16,)), ("linear.bias", (10,))):
        v = init_value(name, shape)[:4]
        print("%s[0..3] = %s  bits %s" % (name, ", ".join(repr(float(a)) for a in v),
                                          ", ".join("0x%08x" % a for a in v.view(np.uint32))))


def main():
    t0 = time.time()
    _check_hash()
    print_hash_reference()
    gen_layers()
    gen_models()
    print("done in %.1fs" % (time.time() - t0))


if __name__ == "__main__":
    main()
