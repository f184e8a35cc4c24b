"""Generate the PyTorch golden file for Bonsai's `optim` package.

Writes (path relative to the repository root):

  optim/testdata/optim.safetensors

Optimizer cases (torch.optim.SGD / torch.optim.AdamW, PyTorch 1.13, float32 on
the CPU, single-tensor implementation). Every case runs STEPS updates on two
parameters, "layer.weight" [5, 7] (35 elements: two 16-wide vector blocks and
a 3-element scalar tail in PyTorch's AVX2 kernels) and "layer.bias" [5] (scalar
tail only), with a learning rate that changes every step and one step in which
"layer.bias" has no gradient (grad None, skipped by PyTorch). For case CASE:

  CASE.init.<param>          the parameter before the first step
  CASE.grad<k>.<param>       the gradient used by step k (k = 0..STEPS-1; absent when None)
  CASE.param<k>.<param>      the parameter after step k
  CASE.state.<param>.<name>  the optimizer state after the last step
                             (momentum_buffer; exp_avg, exp_avg_sq, step — step as a 0-d F32,
                             as PyTorch keeps it)

and __metadata__[CASE] is a JSON object: {"optimizer", the constructor
arguments, "lr": [lr of step k], "none_grad": {"<param>": [k, ...]}}.

Schedule cases (metadata only): __metadata__[SCHED] is a JSON object with the
scheduler arguments, "base" (the optimizer's lr) and "lr": [N float64 values],
param_groups[0]["lr"] before optimizer step k (k = 0..N-1) while the
torch.optim.lr_scheduler.* object is stepped once per optimizer step; with
"spec", "steps_per_epoch" and "epochs" when the same schedule is also written
in Bonsai's CLI syntax for optim.ParseSchedule.

Run from the repository root:

    /usr/bin/python3 scripts/golden/gen_optim.py

Output is deterministic: rerunning produces a byte-identical file.
"""

import json
import math
import os
import sys
import warnings

import numpy as np
import torch

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import gen_golden as g  # noqa: E402

torch.set_num_threads(1)
torch.use_deterministic_algorithms(True)

ROOT = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))
OUT_PATH = os.path.join(ROOT, "optim", "testdata", "optim.safetensors")

STEPS = 6
PARAMS = (("layer.weight", (5, 7)), ("layer.bias", (5,)))
NONE_GRAD = {"layer.bias": [2]}  # step 2: layer.bias.grad is None


# --------------------------------------------------------------------------
# safetensors writer (no safetensors package in Debian), as in gen_golden.py
# --------------------------------------------------------------------------


# The safetensors writer and reader are gen_golden.py's.
write_safetensors = g.write_safetensors
read_safetensors = g.read_safetensors


# --------------------------------------------------------------------------
# Optimizers
# --------------------------------------------------------------------------


def np32(t):
    return t.detach().numpy().astype(np.float32).copy()


def run_optimizer(case, make, cfg, lrs, tensors, meta):
    gen = torch.Generator().manual_seed(abs(hash_name(case)))
    params = []
    for name, shape in PARAMS:
        p = torch.randn(shape, generator=gen, dtype=torch.float32).requires_grad_()
        tensors["%s.init.%s" % (case, name)] = np32(p)
        params.append((name, p))
    opt = make([p for _, p in params])
    assert len(lrs) == STEPS
    for k in range(STEPS):
        for g in opt.param_groups:
            g["lr"] = lrs[k]
        for name, p in params:
            # Gradients of a few different magnitudes, as in training.
            g = torch.randn(p.shape, generator=gen, dtype=torch.float32) * (0.5 + k * 0.25)
            if k in NONE_GRAD.get(name, []):
                p.grad = None
            else:
                p.grad = g
                tensors["%s.grad%d.%s" % (case, k, name)] = np32(g)
        opt.step()
        for name, p in params:
            tensors["%s.param%d.%s" % (case, k, name)] = np32(p)
    for name, p in params:
        for sname, sval in sorted(opt.state[p].items()):
            if sval is None:  # SGD without momentum keeps momentum_buffer = None
                continue
            tensors["%s.state.%s.%s" % (case, name, sname)] = np32(sval)
    m = dict(cfg)
    m["lr"] = lrs
    m["none_grad"] = NONE_GRAD
    meta[case] = json.dumps(m, sort_keys=True)


def hash_name(s):
    """A fixed seed from a name (Python's hash() is salted per process)."""
    h = 0xCBF29CE484222325
    for b in s.encode("utf-8"):
        h ^= b
        h = (h * 0x100000001B3) % 2**64
    return h >> 33


def gen_optimizers(tensors, meta):
    sgd_lrs = [0.1, 0.1, 0.05, 0.05, 0.02, 0.01]
    for case, kw in (
        ("sgd_momentum", dict(momentum=0.9, weight_decay=5e-4)),
        ("sgd_nesterov", dict(momentum=0.9, weight_decay=5e-4, nesterov=True)),
        ("sgd_dampening", dict(momentum=0.9, dampening=0.1, weight_decay=5e-4)),
        ("sgd_plain", dict(weight_decay=5e-4)),
    ):
        full = dict(momentum=0.0, dampening=0.0, weight_decay=0.0, nesterov=False)
        full.update(kw)
        cfg = dict(optimizer="sgd", **full)
        run_optimizer(case, lambda ps: torch.optim.SGD(ps, lr=sgd_lrs[0], foreach=False, **full),
                      cfg, sgd_lrs, tensors, meta)
    adam_lrs = [1e-3, 2e-3, 3e-3, 3e-3, 1e-3, 5e-4]
    for case, kw in (
        ("adamw", dict(betas=(0.9, 0.999), eps=1e-8, weight_decay=0.01)),
        ("adamw_big_lr", dict(betas=(0.8, 0.99), eps=1e-6, weight_decay=0.1)),
    ):
        lrs = adam_lrs if case == "adamw" else [10 * x for x in adam_lrs]
        cfg = dict(optimizer="adamw", beta1=kw["betas"][0], beta2=kw["betas"][1], eps=kw["eps"],
                   weight_decay=kw["weight_decay"])
        run_optimizer(case, lambda ps: torch.optim.AdamW(ps, lr=lrs[0], foreach=False, **kw),
                      cfg, lrs, tensors, meta)


# --------------------------------------------------------------------------
# Schedules
# --------------------------------------------------------------------------


def schedule_lrs(base, make, n):
    p = torch.zeros(1, requires_grad=True)
    opt = torch.optim.SGD([p], lr=base)
    sched = make(opt)
    out = []
    for _ in range(n):
        out.append(opt.param_groups[0]["lr"])
        opt.step()  # p.grad is None: nothing changes, but the scheduler sees a step
        sched.step()
    return out


def gen_schedules(tensors, meta):
    S = torch.optim.lr_scheduler
    cases = []

    # Per-step MultiStepLR, milestones in steps.
    cases.append(("multistep", 0.1, dict(kind="multistep", milestones=[3, 7], gamma=0.1), 12,
                  lambda o: S.MultiStepLR(o, milestones=[3, 7], gamma=0.1)))
    # The CLI form "multistep:2,3:0.2" with 4 steps per epoch, 5 epochs.
    cases.append(("multistep_spec", 0.05,
                  dict(kind="multistep", milestones=[8, 12], gamma=0.2,
                       spec="multistep:2,3:0.2", steps_per_epoch=4, epochs=5), 20,
                  lambda o: S.MultiStepLR(o, milestones=[8, 12], gamma=0.2)))
    cases.append(("cosine", 0.1, dict(kind="cosine", total_steps=20, min_lr=0.0,
                                      spec="cosine", steps_per_epoch=4, epochs=5), 21,
                  lambda o: S.CosineAnnealingLR(o, T_max=20, eta_min=0.0)))
    cases.append(("cosine_min", 0.1, dict(kind="cosine", total_steps=30, min_lr=1e-4,
                                          spec="cosine:1e-4", steps_per_epoch=10, epochs=3), 31,
                  lambda o: S.CosineAnnealingLR(o, T_max=30, eta_min=1e-4)))
    cases.append(("onecycle", 0.1, dict(kind="onecycle", total_steps=50, pct_start=0.3, div_factor=25.0,
                                        final_div_factor=1e4, spec="onecycle", steps_per_epoch=10,
                                        epochs=5), 50,
                  lambda o: S.OneCycleLR(o, max_lr=0.1, total_steps=50, pct_start=0.3,
                                         anneal_strategy="cos", cycle_momentum=False, div_factor=25.0,
                                         final_div_factor=1e4, three_phase=False)))
    cases.append(("onecycle_pct", 0.4, dict(kind="onecycle", total_steps=37, pct_start=0.25, div_factor=25.0,
                                            final_div_factor=1e4, spec="onecycle:0.25", steps_per_epoch=37,
                                            epochs=1), 37,
                  lambda o: S.OneCycleLR(o, max_lr=0.4, total_steps=37, pct_start=0.25,
                                         anneal_strategy="cos", cycle_momentum=False, div_factor=25.0,
                                         final_div_factor=1e4, three_phase=False)))
    cases.append(("onecycle_odd", 0.2, dict(kind="onecycle", total_steps=23, pct_start=0.4, div_factor=10.0,
                                            final_div_factor=100.0), 23,
                  lambda o: S.OneCycleLR(o, max_lr=0.2, total_steps=23, pct_start=0.4,
                                         anneal_strategy="cos", cycle_momentum=False, div_factor=10.0,
                                         final_div_factor=100.0, three_phase=False)))

    # Linear warm-up (LinearLR from 0.1·lr over W steps) then another schedule (SequentialLR).
    def warm(inner_fn, w, factor=0.1):
        def make(o):
            lin = S.LinearLR(o, start_factor=factor, end_factor=1.0, total_iters=w)
            inner = inner_fn(o)
            return S.SequentialLR(o, schedulers=[lin, inner], milestones=[w])
        return make

    # 5 steps per epoch, 4 epochs: "warmup:1+cosine" = 5 warm-up steps, cosine over the other 15.
    cases.append(("warmup_cosine", 0.1, dict(kind="warmup", warmup_steps=5, start_factor=0.1,
                                             inner=dict(kind="cosine", total_steps=15, min_lr=0.0),
                                             spec="warmup:1+cosine", steps_per_epoch=5, epochs=4), 20,
                  warm(lambda o: S.CosineAnnealingLR(o, T_max=15, eta_min=0.0), 5)))
    # "warmup:2+multistep:5,8" with 3 steps per epoch, 10 epochs: milestones are epochs of the
    # whole run, so the inner MultiStepLR (which restarts at 0 after the warm-up) gets (5-2)*3, (8-2)*3.
    cases.append(("warmup_multistep", 0.1, dict(kind="warmup", warmup_steps=6, start_factor=0.1,
                                                inner=dict(kind="multistep", milestones=[9, 18], gamma=0.1),
                                                spec="warmup:2+multistep:5,8", steps_per_epoch=3,
                                                epochs=10), 30,
                  warm(lambda o: S.MultiStepLR(o, milestones=[9, 18], gamma=0.1), 6)))
    cases.append(("warmup_constant", 0.3, dict(kind="warmup", warmup_steps=7, start_factor=0.25,
                                               inner=dict(kind="constant"), spec="warmup:7:0.25+constant",
                                               steps_per_epoch=1, epochs=12), 12,
                  warm(lambda o: S.ConstantLR(o, factor=1.0, total_iters=0), 7, factor=0.25)))

    for name, base, cfg, n, make in cases:
        lrs = schedule_lrs(base, make, n)
        cfg = dict(cfg)
        cfg["base"] = base
        # F32 cannot hold a 1e-9 comparison: the float64 values go into the metadata JSON
        # (Python writes the shortest repr that round-trips; Go's ParseFloat reads it exactly).
        cfg["lr"] = [float(x) for x in lrs]
        meta[name] = json.dumps(cfg, sort_keys=True)


def main():
    warnings.simplefilter("error")  # no silent scheduler/optimizer misuse, except:
    # SequentialLR itself calls scheduler.step(0) at its milestones.
    warnings.filterwarnings("ignore", message="The epoch parameter in `scheduler.step\\(\\)`")
    tensors, meta = {}, {}
    gen_optimizers(tensors, meta)
    gen_schedules(tensors, meta)
    size = write_safetensors(OUT_PATH, tensors, meta)
    back, bmeta = read_safetensors(OUT_PATH)
    assert sorted(back) == sorted(tensors) and bmeta == meta
    for k, v in tensors.items():
        assert np.array_equal(back[k], np.asarray(v, dtype=np.float32)), k
    print("wrote %s (%d bytes, %d tensors)" % (os.path.relpath(OUT_PATH, ROOT), size, len(tensors)))
    for k in sorted(meta):
        print("  %-18s %s" % (k, meta[k][:150]))


if __name__ == "__main__":
    main()
