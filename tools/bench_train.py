"""Overhead of graphspec's training loop, with its default loggers, against a minimal hand-written loop.

Epochs of LeNet-5 (the zoo's digits_lenet5: 1257 training images, batch 32,
AdamW, the spec's schedule), measured two ways over the same tensors,
interleaved round by round so that machine load hits both alike:

- graphspec: one epoch of the engine exactly as ``graphspec train`` runs it
  (``graphspec.train.engine._run_epoch``): batches from a seeded generator,
  autocast context, loss, NaN guard, grad step, schedule step, validation,
  metrics row, best/early-stopping bookkeeping, the callbacks with the
  default loggers (TensorBoard scalars per step and per epoch, plots redrawn
  by the helper process) and the checkpoint (metrics.jsonl/csv,
  last/best .safetensors and .state.pt, atomically);
- hand: ``randperm`` + index + forward + CrossEntropyLoss + zero_grad +
  backward + AdamW step + the spec's schedule (warmup then cosine, a
  ``LambdaLR`` stepped per batch), then a validation pass (loss and accuracy)
  and a ``torch.save`` of the model and optimizer state -- the least a loop
  one can resume does -- on a second copy of the same compiled module.

Reports the median seconds per epoch of each and their ratio (target <= 1.05),
the ratio of the fastest epochs (the least disturbed by other processes), the
same ratio in process CPU time (the plot helper's CPU is in another
process, so it is not counted; wall time is the figure that counts), the
shares of the graphspec epoch spent in the callbacks (loggers and plots) and
in the checkpoint, and the load average, and writes tools/results/bench_train.json. Usage:

    python tools/bench_train.py [--rounds 30] [--threads 1]
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--spec", default="digits_lenet5")
    ap.add_argument("--rounds", type=int, default=30, help="measured epochs of each loop (interleaved)")
    ap.add_argument("--warmup", type=int, default=2)
    ap.add_argument("--threads", type=int, default=1, help="torch CPU threads (graphspec train uses 1 for small models)")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "bench_train.json"))
    args = ap.parse_args(argv)

    import torch

    torch.set_num_threads(args.threads)
    load_before = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="bench-train-") as tmp:
        engine = Engine(args.spec, args.warmup + args.rounds, args.threads, Path(tmp))
        hand = Hand(engine, Path(tmp) / "hand.pt")
        times, cpu = _measure(engine, hand, args.warmup, args.rounds)
        engine.close()
    med = {k: statistics.median(v) for k, v in times.items()}
    med_cpu = {k: statistics.median(v) for k, v in cpu.items()}
    ratio = med["graphspec"] / med["hand"]
    callbacks_share = statistics.median(c / t for c, t in zip(engine.callback_s[args.warmup :], times["graphspec"]))
    checkpoint_share = statistics.median(c / t for c, t in zip(engine.checkpoint_s[args.warmup :], times["graphspec"]))
    result = {
        "spec": engine.spec.name,
        "batches_per_epoch": engine.task.num_train_batches(),
        "batch_size": engine.cfg.batch_size,
        "rounds": args.rounds,
        "threads": args.threads,
        "loggers": list(engine.cfg.loggers) + ["plots"],
        "median_s": {k: round(v, 5) for k, v in med.items()},
        "min_s": {k: round(min(v), 5) for k, v in times.items()},
        "ratio": round(ratio, 4),
        "ratio_of_minimums": round(min(times["graphspec"]) / min(times["hand"]), 4),  # the least-disturbed epochs
        "median_cpu_s": {k: round(v, 5) for k, v in med_cpu.items()},
        "ratio_cpu": round(med_cpu["graphspec"] / med_cpu["hand"], 4),
        "ratio_paired_median": round(statistics.median(a / b for a, b in zip(times["graphspec"], times["hand"])), 4),
        "callbacks_share_of_epoch": round(callbacks_share, 4),
        "checkpoint_share_of_epoch": round(checkpoint_share, 4),
        "load_average_before_after": [round(load_before[0], 2), round(os.getloadavg()[0], 2)],
        "cpus": os.cpu_count(),
        "target": 1.05,
        "ok": ratio <= 1.05,
        "torch": torch.__version__,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(result, indent=2) + "\n")
    print(
        f"one epoch of {result['spec']} ({result['batches_per_epoch']} batches of {result['batch_size']}, validation, checkpoint), "
        f"median of {args.rounds}: graphspec with {'+'.join(result['loggers'])} {med['graphspec'] * 1000:.1f} ms, "
        f"hand-written {med['hand'] * 1000:.1f} ms, ratio {ratio:.3f} ({'ok' if ratio <= 1.05 else 'above'} target 1.05); "
        f"CPU time ratio {result['ratio_cpu']:.3f}, median of per-round ratios {result['ratio_paired_median']:.3f}, "
        f"ratio of the fastest epochs {result['ratio_of_minimums']:.3f}; "
        f"callbacks (loggers, plots) {callbacks_share * 100:.1f}% and checkpoint {checkpoint_share * 100:.1f}% of the graphspec epoch; load average {result['load_average_before_after']} on {result['cpus']} CPUs -> {args.out}"
    )
    return 0


def _measure(engine: Engine, hand: Hand, warmup: int, rounds: int):
    times: dict[str, list[float]] = {"graphspec": [], "hand": []}
    cpu: dict[str, list[float]] = {"graphspec": [], "hand": []}
    for r in range(warmup + rounds):
        order = (("graphspec", engine.epoch), ("hand", hand.epoch)) if r % 2 == 0 else (("hand", hand.epoch), ("graphspec", engine.epoch))
        for name, fn in order:
            t, c = time.perf_counter(), time.process_time()
            fn(r)
            dt, dc = time.perf_counter() - t, time.process_time() - c
            if r >= warmup:
                times[name].append(dt)
                cpu[name].append(dc)
    return times, cpu


class Engine:
    """The engine's own setup and epoch function, on a real run folder, with the callbacks timed."""

    def __init__(self, spec_name: str, epochs: int, threads: int, runs: Path):
        import graphspec
        from graphspec.train import engine as eng

        self._eng = eng
        self.spec = graphspec.load(spec_name, set={"train.epochs": epochs, "train.early_stopping": None})
        self.state = eng._setup(self.spec, eng.RunOptions(name="bench", runs_dir=str(runs), quiet=True, threads=threads))
        self.cfg, self.task = self.state.cfg, self.state.task
        self.callback_s: list[float] = []
        self.checkpoint_s: list[float] = []
        self._timed_callbacks()
        self.state.callbacks.on_train_start(self.state)
        self.state.t_start = time.perf_counter()

    def _timed_callbacks(self) -> None:
        cbs, spent = self.state.callbacks, [0.0]

        def timed(fn):
            def wrapper(*a):
                t = time.perf_counter()
                try:
                    return fn(*a)
                finally:
                    spent[0] += time.perf_counter() - t

            return wrapper

        for cb in cbs.step_listeners:
            cb.on_step_end = timed(cb.on_step_end)
        cbs.on_epoch_end = timed(cbs.on_epoch_end)
        self._spent = spent
        checkpoint, self._ck = self._eng._checkpoint, [0.0]

        def timed_checkpoint(*a):
            t = time.perf_counter()
            checkpoint(*a)
            self._ck[0] += time.perf_counter() - t

        self._eng._checkpoint = timed_checkpoint  # the engine looks it up per epoch

    def epoch(self, r: int) -> None:
        self._spent[0] = self._ck[0] = 0.0
        self._eng._run_epoch(self.state)
        self.callback_s.append(self._spent[0])
        self.checkpoint_s.append(self._ck[0])

    def close(self) -> None:
        self._eng._finish(self.state)


class Hand:
    """A minimal loop on a second copy of the model: train, validate, save."""

    def __init__(self, engine: Engine, path: Path):
        import torch

        task, cfg = engine.task, engine.cfg
        self.x, self.y = task.splits.train.arrays()
        self.xv, self.yv = task.splits.val.arrays()
        self.model = engine.spec.to_torch()
        self.model.load_state_dict(task.module.state_dict())
        self.opt = torch.optim.AdamW(self.model.parameters(), **cfg.optimizer.kwargs())
        # the spec's schedule as one would write it by hand: linear warmup, then cosine, stepped per batch
        warmup, total = cfg.schedule.warmup_steps or 0, cfg.epochs * task.num_train_batches()
        self.sched = torch.optim.lr_scheduler.LambdaLR(
            self.opt, lambda s: min(1.0, (s + 1) / warmup) if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / max(1, total - warmup)))
        )
        self.loss_fn = torch.nn.CrossEntropyLoss(**(cfg.loss.kwargs() if cfg.loss else {}))
        self.bs, self.ebs = cfg.batch_size, cfg.eval_batch_size or 4 * cfg.batch_size
        self.path = path

    def epoch(self, r: int) -> None:
        import torch

        model, x, y = self.model, self.x, self.y
        model.train()
        perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(r))
        for i in range(0, len(x), self.bs):
            idx = perm[i : i + self.bs]
            loss = self.loss_fn(model(x[idx]), y[idx])
            self.opt.zero_grad(set_to_none=True)
            loss.backward()
            self.opt.step()
            self.sched.step()
        model.eval()
        total, correct = 0.0, 0
        with torch.no_grad():
            for i in range(0, len(self.xv), self.ebs):
                out = model(self.xv[i : i + self.ebs])
                total += float(self.loss_fn(out, self.yv[i : i + self.ebs])) * len(out)
                correct += int((out.argmax(1) == self.yv[i : i + self.ebs]).sum())
        torch.save({"model": model.state_dict(), "optimizer": self.opt.state_dict(), "val_loss": total / len(self.xv)}, self.path)


if __name__ == "__main__":
    sys.exit(main())
