"""Write scikit-learn's bundled 8x8 digits as an image folder (PNG files in class folders).

    python tools/make_digit_images.py DIR [--size 28] [--classes 0-9] [--split]

The images are upscaled (bilinear) to --size x --size grayscale PNGs in
``DIR/<digit>/<n>.png``; with --split, the fixed train/val/test split goes to
``DIR/train|val|test/<digit>/`` (seeded, 70/15/15). Used by the image-folder
tests and tools/bench_images.py, so no image set is committed.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np


def write_digit_folder(root: Path, size: int = 28, classes=range(10), split: bool = False, limit: int | None = None) -> int:
    """Write the digits of ``classes`` under ``root``; returns the number of files."""
    from PIL import Image
    from sklearn.datasets import load_digits

    d = load_digits()
    keep = np.flatnonzero(np.isin(d.target, list(classes)))[:limit]
    parts = {None: keep}
    if split:
        perm = np.random.default_rng(0).permutation(keep)
        a, b = int(len(perm) * 0.7), int(len(perm) * 0.85)
        parts = {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}
    for part, idx in parts.items():
        for i in idx:
            img = Image.fromarray((d.images[i] * (255 / 16)).astype(np.uint8), mode="L").resize((size, size), Image.BILINEAR)
            folder = Path(root) / (part or "") / str(d.target[i])
            folder.mkdir(parents=True, exist_ok=True)
            img.save(folder / f"{i}.png")
    return len(keep)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("dir")
    p.add_argument("--size", type=int, default=28)
    p.add_argument("--classes", default="0-9", help="a range like 0-4")
    p.add_argument("--split", action="store_true")
    a = p.parse_args()
    lo, _, hi = a.classes.partition("-")
    n = write_digit_folder(Path(a.dir), a.size, range(int(lo), int(hi or lo) + 1), a.split)
    print(f"wrote {n} images under {a.dir}")


if __name__ == "__main__":
    main()
