"""Train the digits zoo models through the CLI and check their test accuracy.

Runs ``graphspec train SPEC --json --quiet`` for each digits spec with its own
``train:`` recipe (seeded split of sklearn's 8x8 digits, CPU), and compares the
test accuracy (271 test images, best weights) with the target:

    digits_lenet5       >= 98.0 %
    digits_mlp          >= 96.0 %
    digits_lstm         >= 95.5 %
    digits_gru          >= 95.5 %
    digits_transformer  >= 96.5 %

Writes tools/results/quality.json (accuracy, seed, epochs, wall time per model)
and exits 1 if a model misses its target. Usage:

    python tools/train_quality.py [--seeds 0,1,2] [--only digits_mlp] [--runs-dir DIR]
"""

from __future__ import annotations

import argparse
import json
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

TARGETS = {
    "digits_lenet5": 0.98,
    "digits_mlp": 0.96,
    "digits_lstm": 0.955,
    "digits_gru": 0.955,
    "digits_transformer": 0.965,
}


def train_one(spec: str, seed: int, runs_dir: str) -> dict:
    cmd = [
        sys.executable, "-m", "graphspec", "train", str(ROOT / "specs" / f"{spec}.yaml"),
        "--seed", str(seed), "--name", f"{spec}-s{seed}", "--runs-dir", runs_dir, "--device", "cpu", "--json", "--quiet",
    ]
    t = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        return {"spec": spec, "seed": seed, "error": proc.stderr.strip()[-2000:], "exit_code": proc.returncode, "process_wall_s": wall}
    res = json.loads(proc.stdout)
    return {
        "spec": spec,
        "seed": seed,
        "test_accuracy": res["test_accuracy"],
        "test_loss": res["test_loss"],
        "val_accuracy": res.get("val_accuracy"),
        "epochs": res["epochs"],
        "best_epoch": res["best_epoch"],
        "params": res["params"],
        "train_wall_s": round(res["wall_s"], 2),
        "process_wall_s": round(wall, 2),
    }


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--seeds", default="0", help="comma-separated training seeds (default 0)")
    ap.add_argument("--only", action="append", help="spec(s) to run (default: all five)")
    ap.add_argument("--runs-dir", help="where the runs go (default: a temporary folder)")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "quality.json"))
    args = ap.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    specs = args.only or list(TARGETS)
    tmp = None
    runs_dir = args.runs_dir
    if runs_dir is None:
        tmp = tempfile.TemporaryDirectory(prefix="graphspec-quality-")
        runs_dir = tmp.name
    results = []
    ok = True
    for spec in specs:
        for seed in seeds:
            r = train_one(spec, seed, runs_dir)
            target = TARGETS.get(spec)
            r["target"] = target
            r["ok"] = "test_accuracy" in r and (target is None or r["test_accuracy"] >= target)
            ok &= r["ok"]
            results.append(r)
            if "test_accuracy" in r:
                print(
                    f"{spec:<20} seed {seed}: test accuracy {r['test_accuracy']:.2%} (target {target:.1%}) "
                    f"{'ok' if r['ok'] else 'MISSED'}  {r['epochs']} epochs, {r['train_wall_s']:.1f}s training, {r['process_wall_s']:.1f}s in all",
                    flush=True,
                )
            else:
                print(f"{spec:<20} seed {seed}: FAILED (exit {r['exit_code']}): {r['error'].splitlines()[-1] if r['error'] else ''}", flush=True)
    out = {
        "data": "sklearn load_digits, 8x8, seeded 70/15/15 split (split_seed 0): 1257 train / 269 val / 271 test",
        "device": "cpu",
        "python": platform.python_version(),
        "machine": platform.machine(),
        "results": results,
        "all_ok": ok,
    }
    try:
        import torch

        out["torch"] = torch.__version__
    except ImportError:  # pragma: no cover
        pass
    Path(args.out).parent.mkdir(parents=True, exist_ok=True)
    Path(args.out).write_text(json.dumps(out, indent=2) + "\n")
    print(f"{'all targets met' if ok else 'some targets missed'} -> {args.out}")
    if tmp is not None:
        tmp.cleanup()
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
