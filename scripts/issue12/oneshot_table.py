#!/usr/bin/env python3
"""Prints the one-shot table (issue 12, acceptance 2) from the run directories of oneshot.sh.

Usage: oneshot_table.py DIR   (DIR holds MODEL-RANKING-CRITERION[-FISHER]/eval-A-B.json)
"""
import json, os, subprocess, sys

d = sys.argv[1]
cols = [("sensitivity-empirical", "sensitivity, empirical"), ("sensitivity-sampled", "sensitivity, sampled"),
        ("sensitivity-exact", "sensitivity, exact"), ("l1", "l1"), ("taylor", "taylor")]
prefixes = [f"{m}-{r}-" for m in ["resnet20", "resnet56"] for r in ["global-flops", "uniform"]]
names = {n[len(p):] for n in os.listdir(d) for p in prefixes if n.startswith(p) and os.path.isdir(os.path.join(d, n))}
extra = sorted(names - {c for c, _ in cols})
def heading(c):
    f = c.split("-")
    return ", ".join([f[0]] + [{"aug": "augmented", "channel": "scope channel"}.get(x, x) for x in f[1:]])
cols += [(c, heading(c)) for c in extra]
for rng, title in [("5000-10000", "test images 5000–9999 (report)"), ("0-10000", "all 10,000 test images"),
                   ("0-5000", "test images 0–4999 (selection)")]:
    print(f"\nAccuracy right after pruning, {title}:\n")
    print("| model, ranking | " + " | ".join(h for _, h in cols) + " |")
    print("|---|" + "---:|" * len(cols))
    for model in ["resnet20", "resnet56"]:
        for ranking in ["uniform", "global-flops"]:
            accs = []
            for c, _ in cols:
                p = os.path.join(d, f"{model}-{ranking}-{c}", f"eval-{rng}.json")
                accs.append(100 * json.load(open(p))["accuracy"] if os.path.exists(p) else None)
            best = max((a for a in accs if a is not None), default=None)
            cells = ["" if a is None else (f"**{a:.2f} %**" if a == best else f"{a:.2f} %") for a in accs]
            name = {"resnet20": "ResNet-20", "resnet56": "ResNet-56"}[model]
            print(f"| {name}, {ranking} | " + " | ".join(cells) + " |")

print("\nWall time of each run in seconds (directory creation to pruned.safetensors; it includes the time")
print("scripts/quietrun held the run paused, and the unpruned and pruned models' evaluations and timings):\n")
print("| model, ranking | " + " | ".join(h for _, h in cols) + " |")
print("|---|" + "---:|" * len(cols))
for model in ["resnet20", "resnet56"]:
    for ranking in ["uniform", "global-flops"]:
        cells = []
        for c, _ in cols:
            run = os.path.join(d, f"{model}-{ranking}-{c}")
            p = os.path.join(run, "pruned.safetensors")
            if not os.path.exists(p):
                cells.append("")
                continue
            born = int(subprocess.run(["stat", "-c", "%W", run], capture_output=True, text=True).stdout)
            cells.append(f"{os.stat(p).st_mtime - born:.0f}" if born > 0 else "?")
        name = {"resnet20": "ResNet-20", "resnet56": "ResNet-56"}[model]
        print(f"| {name}, {ranking} | " + " | ".join(cells) + " |")
