"""Generate the PyTorch goldens of the operations ONNX import brings to package nn:
channel concatenation, sigmoid, the squeeze-and-excitation gate and a per-channel scale.

Writes nn/testdata/ops.safetensors: for every case CASE, the inputs CASE.input0,
CASE.input1, … (and CASE.weight for the per-channel scale), CASE.output, CASE.upstream
and the gradients of sum(output * upstream) as CASE.grad.input0, … and
CASE.grad.weight; the case's config (JSON: {"op": …}) in __metadata__[CASE].

References are computed in float64 and stored as F32, as gen_golden.py does. Run from
the repository root with Debian's PyTorch 1.13:

    /usr/bin/python3 scripts/golden/gen_ops.py

Output is deterministic: rerunning produces byte-identical files.
"""

import json
import os
import sys
import zlib

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from gen_golden import ROOT, d64, f32, read_safetensors, write_safetensors  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

OPS_PATH = os.path.join(ROOT, "nn", "testdata", "ops.safetensors")


def main():
    torch.manual_seed(20261207)
    tensors, meta = {}, {}

    def randn(*shape, scale=1.0):
        return (torch.randn(*shape) * scale).numpy().copy()

    def case(name, op, fn, inputs, weight=None):
        meta[name] = json.dumps({"op": op}, sort_keys=True, separators=(",", ":"))
        xs = [d64(x).requires_grad_(True) for x in inputs]
        w = None if weight is None else d64(weight).requires_grad_(True)
        y = fn(*xs) if w is None else fn(xs[0], w)
        gen = torch.Generator().manual_seed(zlib.crc32(name.encode()))
        up = torch.randn(tuple(y.shape), generator=gen, dtype=torch.float64)
        (y * up).sum().backward()
        arrs = {"output": f32(y.detach()), "upstream": f32(up)}
        for i, (x, x64) in enumerate(zip(inputs, xs)):
            arrs["input%d" % i] = x
            arrs["grad.input%d" % i] = f32(x64.grad)
        if w is not None:
            arrs["weight"] = weight
            arrs["grad.weight"] = f32(w.grad)
        for k, v in arrs.items():
            tensors[name + "." + k] = np.asarray(v, dtype=np.float32)

    case("concat3", "concat", lambda a, b, c: torch.cat([a, b, c], 1),
         [randn(2, 3, 4, 5), randn(2, 2, 4, 5), randn(2, 1, 4, 5)])
    case("concat_flat", "concat", lambda a, b: torch.cat([a, b], 1), [randn(3, 4), randn(3, 2)])
    case("sigmoid", "sigmoid", torch.sigmoid, [randn(2, 3, 4, 5, scale=4.0)])
    case("mul_channels", "mul_channels", lambda x, g: x * g, [randn(2, 4, 3, 5), randn(2, 4, 1, 1)])
    case("mul_channels_flat_gate", "mul_channels", lambda x, g: x * g.view(g.shape[0], g.shape[1], 1, 1),
         [randn(3, 2, 4, 4), randn(3, 2)])
    case("channel_scale", "channel_scale", lambda x, w: x * w.view(1, -1, 1, 1), [randn(2, 4, 3, 3)], weight=randn(4))

    size = write_safetensors(OPS_PATH, tensors, meta)
    back, bmeta = read_safetensors(OPS_PATH)
    assert set(back) == set(tensors) and bmeta == meta
    print("wrote %s: %d tensors, %d cases, %d bytes" % (os.path.relpath(OPS_PATH, ROOT), len(tensors), len(meta), size))


if __name__ == "__main__":
    main()
