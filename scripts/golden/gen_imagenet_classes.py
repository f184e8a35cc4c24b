"""Writes nn/zoo/imagenet_classes.txt: torchvision's 1000 ImageNet category names, one per
line, in class-index order (torchvision.models._meta._IMAGENET_CATEGORIES, torchvision 0.14).

Run from the repository root: /usr/bin/python3 scripts/golden/gen_imagenet_classes.py
"""
from torchvision.models._meta import _IMAGENET_CATEGORIES as names

assert len(names) == 1000
assert all(n and n.strip() == n and "\n" not in n for n in names)
with open("nn/zoo/imagenet_classes.txt", "w", encoding="utf-8", newline="\n") as f:
    f.write("\n".join(names) + "\n")
