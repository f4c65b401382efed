"""Does a sweep beat the zoo default? digits_mlp, hidden width x learning rate.

1. Trains the zoo's digits_mlp as it is (the default: hidden 128, lr 2e-3),
   keeping its best epoch by val_accuracy like every sweep trial does.
2. Runs ``graphspec sweep digits_mlp`` over ``params.hidden=int(16,256,log)``
   and ``train.optimizer.lr=float(3e-4,1e-2,log)`` for N trials (TPE sampler,
   seeded; median pruner), maximising val_accuracy, exactly as a user would.
3. Compares the best trial with the default on val_accuracy (what the sweep
   chose by) and test_accuracy (held out: the honest figure), and writes the
   table to tools/results/sweep_digits.md and .json.

Usage:

    python tools/sweep_digits.py [--trials 12] [--epochs 40] [--seed 0] [--out DIR]

Several minutes on a laptop CPU (each trial is a 40-epoch digits run); too long
for the test suite, which runs small sweeps instead (tests/sweep/).
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULTS = ROOT / "tools" / "results"
SPACE = ["params.hidden=int(16,256,log)", "train.optimizer.lr=float(3e-4,1e-2,log)"]


def _default(runs: Path, epochs: int) -> dict:
    import graphspec

    t = time.monotonic()
    run = graphspec.train("digits_mlp", set={"train.best_metric": "val_accuracy", "train.epochs": epochs}, name="default", runs_dir=runs)
    best = max(row["val_accuracy"] for row in run.metrics)
    return {"params.hidden": 128, "train.optimizer.lr": 0.002, "val_accuracy": best, "test_accuracy": run.results["test_accuracy"], "seconds": time.monotonic() - t}


def _sweep(runs: Path, trials: int, epochs: int, seed: int) -> dict:
    cmd = [sys.executable, "-m", "graphspec", "sweep", "digits_mlp", "--trials", str(trials), "--epochs", str(epochs), "--seed", str(seed)]
    cmd += ["--metric", "val_accuracy", "--runs-dir", str(runs), "--name", "digits-hp", "--json"]
    for p in SPACE:
        cmd += ["--param", p]
    out = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if out.returncode != 0:
        sys.exit(f"sweep failed ({out.returncode}):\n{out.stderr}\n{out.stdout[-2000:]}")
    return json.loads(out.stdout)


def _table(default: dict, doc: dict) -> str:
    lines = [
        "| trial | state | hidden | lr | val_accuracy | test_accuracy | epochs | seconds |",
        "|---|---|---|---|---|---|---|---|",
        f"| zoo default | complete | 128 | 0.002 | {default['val_accuracy']:.4f} | {default['test_accuracy']:.4f} | {doc_epochs(doc)} | {default['seconds']:.1f} |",
    ]
    best = doc["best"]["number"] if doc["best"] else None
    rows = sorted(doc["trials"], key=lambda r: (r["value"] is None, -(r["value"] or 0)))
    for r in rows:
        v = r["values"]
        val = f"{r['value']:.4f}" if r["value"] is not None else "-"
        test = f"{r['test_accuracy']:.4f}" if r.get("test_accuracy") is not None else "-"
        state = r["state"] + (f" @{r['pruned_at_epoch']}" if r.get("pruned_at_epoch") else "")
        lines.append(f"| {r['number']}{' (best)' if r['number'] == best else ''} | {state} | {v['params.hidden']} | {v['train.optimizer.lr']:.2e} | {val} | {test} | {r.get('epochs', '-')} | {r.get('seconds', 0):.1f} |")
    return "\n".join(lines)


def doc_epochs(doc: dict) -> int:
    return max((r.get("epochs") or 0) for r in doc["trials"])


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--trials", type=int, default=12)
    ap.add_argument("--epochs", type=int, default=40)
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--out", type=Path, default=RESULTS)
    args = ap.parse_args(argv)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    t0 = time.time()
    with tempfile.TemporaryDirectory() as tmp:
        runs = Path(tmp)
        default = _default(runs, args.epochs)
        doc = _sweep(runs, args.trials, args.epochs, args.seed)
    best = doc["best"]
    verdict = {
        "best_val_accuracy": best["value"],
        "best_test_accuracy": best.get("test_accuracy"),
        "default_val_accuracy": default["val_accuracy"],
        "default_test_accuracy": default["test_accuracy"],
        "val_at_least_default": best["value"] >= default["val_accuracy"],
        "test_at_least_default": (best.get("test_accuracy") or 0) >= default["test_accuracy"],
    }
    table = _table(default, doc)
    args.out.mkdir(parents=True, exist_ok=True)
    head = (
        f"# digits_mlp sweep: {args.trials} trials of {args.epochs} epochs, {' and '.join(SPACE)}, "
        f"TPE seed {args.seed}, median pruner, maximize val_accuracy\n\n"
        f"Measured {time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())} on {platform.processor() or platform.machine()} "
        f"({os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}), {time.time() - t0:.0f} s in all.\n\n"
    )
    foot = (
        f"\n\nBest trial: val_accuracy {best['value']:.4f} vs default {default['val_accuracy']:.4f}; "
        f"test_accuracy {best.get('test_accuracy', float('nan')):.4f} vs default {default['test_accuracy']:.4f}.\n"
    )
    (args.out / "sweep_digits.md").write_text(head + table + foot)
    (args.out / "sweep_digits.json").write_text(json.dumps({"default": default, "verdict": verdict, "sweep": doc}, indent=2, default=str) + "\n")
    print(head + table + foot)
    return 0 if verdict["val_at_least_default"] else 1


if __name__ == "__main__":
    sys.exit(main())
