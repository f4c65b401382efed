"""Images per second of graphspec's image-folder source against a hand-written DataLoader.

Writes the bundled digits as 28x28 grayscale PNGs in class folders
(tools/make_digit_images.py), then measures full passes over them, batch 64,
interleaved round by round so that machine load hits every variant alike:

- graphspec: the ``images:DIR`` source as training reads it
  (``graphspec.train.data.lazy.task_batches`` over the training split's
  ImageArray): decoding per batch (``cache: false``) with 0 and 2 DataLoader
  workers, and from the decoded in-memory cache (the default for small sets);
- hand: a torchvision-free ``torch.utils.data.Dataset`` that opens each PNG
  with Pillow, converts it to a float tensor in 0..1, and a DataLoader
  (batch 64, shuffled) with 0 and 2 workers.

Prints the median images/s of each and the ratios graphspec / hand at equal
workers, and writes tools/results/bench_images.json. Usage:

    python tools/bench_images.py [--rounds 5] [--dir /tmp/digit_pngs]
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path
from types import SimpleNamespace

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT / "tools"))


class HandFolder:
    """The hand-written baseline: ImageFolder-like, Pillow decode, no torchvision."""

    def __init__(self, root: Path):
        classes = sorted(d.name for d in root.iterdir() if d.is_dir())
        self.items = [(str(f), i) for i, c in enumerate(classes) for f in sorted((root / c).iterdir())]

    def __len__(self) -> int:
        return len(self.items)

    def __getitem__(self, i):
        import torch
        from PIL import Image

        path, label = self.items[i]
        with Image.open(path) as im:
            a = np.asarray(im.convert("L"), dtype=np.float32) / 255.0
        return torch.from_numpy(a[None]), label


def graphspec_source(root: Path, workers: int, cache: bool):
    """(training arrays, cfg) of an ``images:DIR`` source, set up as ``graphspec train`` does (scan, cache)."""
    import graphspec
    from graphspec.train.data import load_splits
    from graphspec.train.engine import resolve_config

    train = {"task": "classify", "data": {"source": f"images:{root}", "cache": cache, "workers": workers}, "val_split": 0.0, "test_split": 0.0, "batch_size": 64}
    spec = graphspec.load("lenet5", set={"+train": train})
    cfg, _ = resolve_config(spec)
    return load_splits(cfg, spec.graph(), None, "classify").train.arrays(), cfg


def graphspec_pass(arrays, cfg, workers: int) -> int:
    """One shuffled pass over the training split, batches as the training loop gets them."""
    import torch

    from graphspec.train.data.lazy import task_batches
    from graphspec.train.tasks.base import Task

    task = Task.__new__(Task)  # only what Task.batches reads
    task.ctx = SimpleNamespace(world_size=1, rank=0)
    task.cfg, task.device, task.loss_scale = cfg, torch.device("cpu"), 1.0
    return sum(len(x) for x, _y in task_batches(task, arrays, torch.Generator().manual_seed(0), 0, workers))


def hand_pass(root: Path, workers: int) -> int:
    import torch
    from torch.utils.data import DataLoader

    loader = DataLoader(HandFolder(root), batch_size=64, shuffle=True, num_workers=workers, generator=torch.Generator().manual_seed(0))
    return sum(len(x) for x, _ in loader)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--rounds", type=int, default=5)
    p.add_argument("--dir", default=None, help="where to write the PNGs (default: a temporary folder)")
    a = p.parse_args()
    import torch

    torch.set_num_threads(1)
    from make_digit_images import write_digit_folder

    root = Path(a.dir or tempfile.mkdtemp(prefix="digit_pngs_"))
    if not (root.exists() and any(root.iterdir())):
        write_digit_folder(root, 28)
    setup = {}
    sources = {}
    for key, cache in (("decode", False), ("cached", True)):
        t = time.perf_counter()
        sources[key] = graphspec_source(root, 0, cache)
        setup[key] = time.perf_counter() - t
    variants = {
        "graphspec decode, 0 workers": lambda: graphspec_pass(*sources["decode"], 0),
        "graphspec decode, 2 workers": lambda: graphspec_pass(*sources["decode"], 2),
        "graphspec cached": lambda: graphspec_pass(*sources["cached"], 0),
        "hand DataLoader, 0 workers": lambda: hand_pass(root, 0),
        "hand DataLoader, 2 workers": lambda: hand_pass(root, 2),
    }
    rates: dict[str, list[float]] = {k: [] for k in variants}
    for _ in range(a.rounds):
        for name, fn in variants.items():
            t = time.perf_counter()
            n = fn()
            rates[name].append(n / (time.perf_counter() - t))
    med = {k: statistics.median(v) for k, v in rates.items()}
    for k, v in med.items():
        print(f"{k:<30} {v:>9.0f} images/s")
    ratios = {
        "decode 0 workers: graphspec / hand": med["graphspec decode, 0 workers"] / med["hand DataLoader, 0 workers"],
        "decode 2 workers: graphspec / hand": med["graphspec decode, 2 workers"] / med["hand DataLoader, 2 workers"],
    }
    for k, v in ratios.items():
        print(f"{k:<36} {v:.2f}")
    load = os.getloadavg()[0]
    print(f"one-time setup: {setup['decode']:.2f}s scanning headers, {setup['cached']:.2f}s scanning and decoding into the cache")
    print(f"(load average {load:.1f}, {os.cpu_count()} CPUs)")
    out = ROOT / "tools" / "results" / "bench_images.json"
    out.parent.mkdir(exist_ok=True)
    out.write_text(json.dumps({"images_per_s": med, "ratios": ratios, "setup_s": setup, "rounds": a.rounds, "load": load, "cpus": os.cpu_count()}, indent=2) + "\n")


if __name__ == "__main__":
    main()
