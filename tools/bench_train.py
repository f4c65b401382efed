"""Overhead of graphspec's training loop against a minimal hand-written PyTorch loop.

One epoch of LeNet-5 (specs/digits_lenet5.yaml) on the digits training split
(1257 images, batch 32, AdamW, the spec's schedule), measured two ways over
the same tensors, interleaved round by round so that machine load hits both
alike:

- graphspec: ``graphspec.train.engine.train_epoch`` on the classify task --
  the exact code ``graphspec train`` runs per epoch (batching from a seeded
  generator, autocast context, loss, the NaN guard, grad step, schedule step);
- hand: ``randperm`` + index + forward + CrossEntropyLoss + zero_grad +
  backward + AdamW step, on a second copy of the same compiled module.

Reports the median seconds per epoch of each and their ratio (target <= 1.05),
plus the same ratio in process CPU time, which a busy machine disturbs less
than wall-clock time, and writes tools/results/bench_train.json. Usage:

    python tools/bench_train.py [--rounds 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default=str(ROOT / "specs" / "digits_lenet5.yaml"))
    ap.add_argument("--rounds", type=int, default=30, help="measured epochs of each loop (interleaved)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (graphspec train uses 1 for small models)")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "bench_train.json"))
    args = ap.parse_args(argv)

    import torch

    import graphspec
    from graphspec.train.engine import resolve_config, spec_dir_of, train_epoch
    from graphspec.train.tasks.base import TrainContext

    torch.set_num_threads(args.threads)
    spec = graphspec.load(args.spec)
    cfg, cls = resolve_config(spec)
    torch.manual_seed(0)
    task = cls(TrainContext(spec=spec, cfg=cfg, device=torch.device("cpu"), spec_dir=spec_dir_of(spec), log=lambda s: None))
    task.setup()
    task.train(True)

    # the hand-written loop: same tensors, same architecture (a second compiled copy), same optimizer
    x, y = task.splits.train.arrays()
    model = spec.to_torch()
    model.load_state_dict(task.module.state_dict())
    model.train()
    opt = torch.optim.AdamW(model.parameters(), **cfg.optimizer.kwargs())
    loss_fn = torch.nn.CrossEntropyLoss(**(cfg.loss.kwargs() if cfg.loss else {}))
    bs = cfg.batch_size

    def hand(epoch: int) -> None:
        gen = torch.Generator().manual_seed(epoch)
        perm = torch.randperm(len(x), generator=gen)
        for i in range(0, len(x), bs):
            idx = perm[i : i + bs]
            out = model(x[idx])
            loss = loss_fn(out, y[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()

    def ours(epoch: int) -> None:
        train_epoch(task, epoch, cfg.seed)

    times: dict[str, list[float]] = {"graphspec": [], "hand": []}
    cpu: dict[str, list[float]] = {"graphspec": [], "hand": []}
    for r in range(args.warmup + args.rounds):
        order = (("graphspec", ours), ("hand", hand)) if r % 2 == 0 else (("hand", hand), ("graphspec", ours))
        for name, fn in order:
            t, c = time.perf_counter(), time.process_time()
            fn(r)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if r >= args.warmup:
                times[name].append(dt)
                cpu[name].append(dc)
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med["graphspec"] / med["hand"]
    ratio_cpu = med_cpu["graphspec"] / med_cpu["hand"]
    paired = statistics.median(a / b for a, b in zip(times["graphspec"], times["hand"]))
    result = {
        "spec": spec.name,
        "batches_per_epoch": -(-len(x) // bs),
        "batch_size": bs,
        "rounds": args.rounds,
        "threads": args.threads,
        "median_s": {k: round(v, 5) for k, v in med.items()},
        "min_s": {k: round(min(v), 5) for k, v in times.items()},
        "ratio": round(ratio, 4),
        "median_cpu_s": {k: round(v, 5) for k, v in med_cpu.items()},
        "ratio_cpu": round(ratio_cpu, 4),
        "ratio_paired_median": round(paired, 4),
        "target": 1.05,
        "ok": ratio <= 1.05,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"one epoch of {spec.name} ({result['batches_per_epoch']} batches of {bs}), median of {args.rounds}: "
        f"graphspec {med['graphspec'] * 1000:.1f} ms, hand-written {med['hand'] * 1000:.1f} ms, ratio {ratio:.3f} "
        f"({'ok' if ratio <= 1.05 else 'above'} target 1.05); CPU time ratio {ratio_cpu:.3f}, median of per-round ratios {paired:.3f} -> {args.out}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
