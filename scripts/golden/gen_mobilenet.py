"""Generate the PyTorch golden files of grouped convolutions, ReLU6 and MobileNetV2.

Writes (paths relative to the repository root):

  nn/testdata/grouped.safetensors
      Per-layer goldens in the format of nn/testdata/layers.safetensors (see
      gen_golden.py): for every case CASE, CASE.input, CASE.output, the layer's
      parameters as CASE.<state-dict name>, CASE.upstream and the gradients of
      sum(output * upstream) as CASE.grad.input and CASE.grad.<parameter>; the
      case's config (JSON) in __metadata__[CASE].

  nn/zoo/testdata/mobilenet_v2_64.safetensors       batch 2 at 64x64
  nn/zoo/testdata/mobilenet_v2_224.safetensors      batch 1 at 224x224 (input not stored)
  nn/zoo/testdata/mobilenet_v2_cifar_32.safetensors batch 2 at 32x32
      Whole-model logits of torchvision's MobileNetV2 (width 1.0; the CIFAR
      variant with 10 classes, features.0.0 and features.2.conv.1.0 at stride 1)
      with the shared deterministic init "bonsai-hash-v1" (gen_golden.py): tensors
      `logits` and, except at 224, `input`; metadata arch, input_shape, init,
      num_params.

References are computed in float64 and stored as F32, as gen_golden.py does.
Run from the repository root with Debian's PyTorch 1.13 and torchvision 0.14:

    /usr/bin/python3 scripts/golden/gen_mobilenet.py

Output is deterministic: rerunning produces byte-identical files.
"""

import json
import os
import sys
import time
import zlib

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import (ROOT, ZOO_DIR, apply_hash_init, d64, f32, init_value,  # noqa: E402
                        read_safetensors, write_safetensors)

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

GROUPED_PATH = os.path.join(ROOT, "nn", "testdata", "grouped.safetensors")


def gen_grouped():
    torch.manual_seed(20250301)
    tensors, meta, jobs = {}, {}, []

    def randn(*shape):
        return torch.randn(*shape).numpy().copy()

    def add(case, cfg, **arrs):
        assert case not in meta
        meta[case] = json.dumps(cfg, sort_keys=True, separators=(",", ":"))
        for k, v in arrs.items():
            tensors[case + "." + k] = np.asarray(v, dtype=np.float32)

    # name, cin, cout, kernel, stride, padding, groups, bias, input shape
    convs = [
        ("dw_k3s1p1_bias", 5, 5, 3, 1, 1, 5, True, (2, 5, 7, 9)),
        ("dw_k3s2p1", 6, 6, 3, 2, 1, 6, False, (2, 6, 9, 8)),
        ("dw_k3s2p1_even", 4, 4, 3, 2, 1, 4, True, (1, 4, 10, 12)),
        ("dw_k3s1p1_wide", 3, 3, 3, 1, 1, 3, False, (1, 3, 5, 37)),
        ("dw_k5s1p2", 4, 4, 5, 1, 2, 4, False, (2, 4, 8, 7)),
        ("dw_mult2_k3s1p1", 3, 6, 3, 1, 1, 3, True, (2, 3, 6, 5)),
        ("grouped_g2_k3s1p1_bias", 6, 4, 3, 1, 1, 2, True, (2, 6, 5, 6)),
        ("grouped_g3_k1", 6, 9, 1, 1, 0, 3, False, (2, 6, 4, 5)),
    ]
    for case, cin, cout, k, s, p, g, bias, shape in convs:
        conv = nn.Conv2d(cin, cout, k, stride=s, padding=p, groups=g, bias=bias)
        sd32 = {n: v.detach().numpy().copy() for n, v in conv.state_dict().items()}
        m64 = conv.double()
        x = randn(*shape)
        with torch.no_grad():
            y = m64(d64(x))
        add(case, {"op": "conv2d", "in": cin, "out": cout, "kernel": k, "stride": s, "padding": p,
                   "groups": g, "bias": bias}, input=x, output=f32(y), **sd32)
        jobs.append((case, m64, dict(m64.named_parameters())))

    x = randn(2, 3, 4, 5) * 4
    x.reshape(-1)[:4] = [0.0, 6.0, -0.0, 6.5]  # the gradient is zero at 0 and 6
    add("relu6", {"op": "relu6"}, input=x, output=f32(F.relu6(d64(x))))
    jobs.append(("relu6", F.relu6, {}))

    for case, fn, params in jobs:
        xg = d64(tensors[case + ".input"]).requires_grad_(True)
        y = fn(xg)
        gen = torch.Generator().manual_seed(zlib.crc32(case.encode()))
        up = torch.randn(tuple(y.shape), generator=gen).numpy().copy()
        (y * d64(up)).sum().backward()
        arrs = {"upstream": up, "grad.input": f32(xg.grad)}
        for name, p in params.items():
            arrs["grad." + name] = f32(p.grad)
        for k, v in arrs.items():
            tensors[case + "." + k] = np.asarray(v, dtype=np.float32)

    size = write_safetensors(GROUPED_PATH, tensors, meta)
    back, bmeta = read_safetensors(GROUPED_PATH)
    assert set(back) == set(tensors) and bmeta == meta
    print("wrote %s: %d tensors, %d cases, %d bytes" % (os.path.relpath(GROUPED_PATH, ROOT), len(tensors), len(meta), size))


def mobilenet_v2(cifar):
    """torchvision's MobileNetV2 (width 1.0), or its CIFAR variant."""
    if not cifar:
        return torchvision.models.mobilenet_v2(weights=None)
    m = torchvision.models.mobilenet_v2(weights=None, num_classes=10)
    m.features[0][0].stride = (1, 1)
    m.features[2].conv[1][0].stride = (1, 1)
    return m


def gen_models():
    # file name, arch, input shape, store the input
    cases = [
        ("mobilenet_v2_64", "mobilenet_v2", (2, 3, 64, 64), True),
        ("mobilenet_v2_224", "mobilenet_v2", (1, 3, 224, 224), False),
        ("mobilenet_v2_cifar_32", "mobilenet_v2_cifar", (2, 3, 32, 32), True),
    ]
    for fname, arch, shape, store_input in cases:
        t0 = time.time()
        model = mobilenet_v2(arch.endswith("_cifar")).double().eval()
        apply_hash_init(model)
        nparams = sum(p.numel() for p in model.parameters())
        x32 = init_value("input", shape)
        with torch.no_grad():
            logits = model(torch.from_numpy(x32.astype(np.float64))).numpy()
            l32 = model.float()(torch.from_numpy(x32)).double().numpy()
        meta = {"arch": arch, "input_shape": ",".join(str(s) for s in shape), "init": "bonsai-hash-v1",
                "num_params": str(nparams)}
        out = {"logits": logits.astype(np.float32)}
        if store_input:
            out["input"] = x32
        path = os.path.join(ZOO_DIR, fname + ".safetensors")
        size = write_safetensors(path, out, meta)
        maxabs = float(np.max(np.abs(logits)))
        sep = float(np.max(np.abs(logits[0] - logits[-1]))) if shape[0] > 1 else float("nan")
        print("%-22s params=%9d max|logit|=%.4g std=%.4g f32-vs-ref=%.2g |l0-l1|max=%.3g %7d bytes %.1fs"
              % (fname, nparams, maxabs, float(np.std(logits)), float(np.max(np.abs(l32 - logits))), sep, size,
                 time.time() - t0))


def main():
    gen_grouped()
    gen_models()


if __name__ == "__main__":
    main()
