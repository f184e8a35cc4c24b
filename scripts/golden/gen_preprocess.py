"""Golden files for package classify's preprocessing (classify/testdata/preprocess/).

For a few non-square PNG and JPEG images it writes the image file and, as the reference,
what torchvision's evaluation transform makes of it on the PIL image:

  ImageNet:  Image.open(f).convert("RGB") -> Resize(256) -> CenterCrop(224)   (<name>.imagenet.png)
  CIFAR:     Image.open(f).convert("RGB") -> Resize((32, 32))                 (<name>.cifar.png)

Both references are 8-bit RGB PNGs: PIL resizes 8-bit images to 8-bit images, so the PNG holds
the transform's exact output before ToTensor. normalize.json holds, for one image, a few values
of ToTensor() + Normalize(mean, std) with their (channel, row, column), to check the layout and
the normalisation.

Run from the repository root: /usr/bin/python3 scripts/golden/gen_preprocess.py
(PyTorch 1.13, torchvision 0.14, Pillow 9.4 with libjpeg-turbo). Deterministic.
"""
import json
import os

import numpy as np
import torch
from PIL import Image, ImageDraw
from torchvision import transforms

OUT = "classify/testdata/preprocess"
MEAN = [0.485, 0.456, 0.406]
STD = [0.229, 0.224, 0.225]


def scene(w, h, seed, alpha=False):
    """A photo-like test picture: smooth colour fields, hard-edged shapes, thin lines, fine
    texture and a noisy patch, so that both the resampling and JPEG's chroma matter."""
    rng = np.random.RandomState(seed)
    y, x = np.mgrid[0:h, 0:w].astype(np.float64)
    img = np.zeros((h, w, 3))
    for c in range(3):
        for _ in range(4):
            fx, fy = rng.uniform(0.002, 0.03, 2)
            ph = rng.uniform(0, 2 * np.pi)
            img[:, :, c] += rng.uniform(20, 60) * np.sin(fx * x * 2 * np.pi + fy * y * 2 * np.pi + ph)
        img[:, :, c] += rng.uniform(80, 170)
    # fine texture: a high-frequency grating in one region
    band = (x > w * 0.55) & (x < w * 0.8) & (y > h * 0.1) & (y < h * 0.45)
    img[band] += (60 * np.sign(np.sin(x[band] * 1.3 + y[band] * 0.4)))[:, None]
    # noisy patch
    patch = (x < w * 0.15) & (y > h * 0.75)
    img[patch] += rng.normal(0, 25, (patch.sum(), 3))
    im = Image.fromarray(np.clip(np.rint(img), 0, 255).astype(np.uint8), "RGB")
    d = ImageDraw.Draw(im)
    for _ in range(6):
        x0, y0 = rng.randint(0, w * 3 // 4), rng.randint(0, h * 3 // 4)
        x1, y1 = x0 + rng.randint(2, w // 3), y0 + rng.randint(2, h // 3)
        col = tuple(int(v) for v in rng.randint(0, 256, 3))
        if rng.rand() < 0.5:
            d.rectangle([x0, y0, x1, y1], fill=col)
        else:
            d.ellipse([x0, y0, x1, y1], fill=col)
    for _ in range(8):
        pts = [tuple(int(v) for v in (rng.randint(0, w), rng.randint(0, h))) for _ in range(2)]
        d.line(pts, fill=tuple(int(v) for v in rng.randint(0, 256, 3)), width=int(rng.randint(1, 4)))
    d.text((w // 10, h // 10), "Bonsai 0123", fill=(250, 250, 250))
    if alpha:
        a = np.clip(255 - (x / w) * 200, 0, 255).astype(np.uint8)
        im.putalpha(Image.fromarray(a, "L"))
    return im


def main():
    os.makedirs(OUT, exist_ok=True)
    cases = []

    def save(name, im, **kw):
        path = os.path.join(OUT, name)
        im.save(path, **kw)
        cases.append(name)

    save("landscape.png", scene(500, 375, 1))
    save("portrait_rgba.png", scene(375, 500, 2, alpha=True))
    save("landscape_q90_420.jpg", scene(500, 375, 3), quality=90, subsampling=2)
    save("portrait_q90_420.jpg", scene(333, 500, 4), quality=90, subsampling=2)
    save("odd_q85_422.jpg", scene(451, 301, 5), quality=85, subsampling=1)
    save("wide_q95_444.jpg", scene(640, 240, 6), quality=95, subsampling=0)
    save("gray_q90.jpg", scene(400, 300, 7).convert("L"), quality=90)
    save("palette.png", scene(300, 260, 8).convert("P", palette=Image.ADAPTIVE, colors=64))
    save("small_48x40.png", scene(48, 40, 9))

    imagenet = transforms.Compose([transforms.Resize(256), transforms.CenterCrop(224)])
    cifar = transforms.Resize((32, 32))
    for name in cases:
        im = Image.open(os.path.join(OUT, name)).convert("RGB")
        base = os.path.splitext(name)[0]
        imagenet(im).save(os.path.join(OUT, base + ".imagenet.png"))
        cifar(im).save(os.path.join(OUT, base + ".cifar.png"))

    # Normalisation and layout: ToTensor + Normalize of the first ImageNet case.
    im = Image.open(os.path.join(OUT, cases[0])).convert("RGB")
    t = transforms.Compose([imagenet, transforms.ToTensor(), transforms.Normalize(MEAN, STD)])(im)
    assert t.dtype == torch.float32 and tuple(t.shape) == (3, 224, 224)
    rng = np.random.RandomState(0)
    samples = []
    for _ in range(64):
        c, y, x = int(rng.randint(3)), int(rng.randint(224)), int(rng.randint(224))
        samples.append({"c": c, "y": y, "x": x, "value": float(t[c, y, x])})
    with open(os.path.join(OUT, "normalize.json"), "w") as f:
        json.dump({"image": cases[0], "mean": MEAN, "std": STD, "samples": samples}, f, indent=1)
        f.write("\n")


if __name__ == "__main__":
    main()
