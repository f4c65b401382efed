"""int8 and fp16 exports of the digits classifiers: accuracy loss and agreement with fp32.

For each zoo classifier that trains on bundled data (digits_mlp, digits_lenet5,
digits_lstm, digits_gru, digits_transformer): train it with its own ``train:``
recipe (``graphspec train``, CPU; or reuse ``--runs-dir DIR/NAME`` when it is
there), export fp32 with the trained weights, then ``--precision int8`` and
``fp16`` exactly as ``graphspec export`` does (calibration: the train split),
and record the test accuracy of both, top-1 agreement on the 540 held-out
digits, max abs logit difference, file sizes and which ops run in int8.

Targets (issue 11): int8 loses <= 0.5 points of test accuracy and agrees on
>= 99 % of held-out examples; the LSTM is quantized. Writes
tools/results/quant.json and prints a markdown table; exits 1 on a miss.

    python tools/quant_table.py [--runs-dir DIR] [--only digits_lstm]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ["digits_mlp", "digits_lenet5", "digits_lstm", "digits_gru", "digits_transformer"]
# also trains on bundled data: the byte-level LSTM language model (fables.txt), a
# classifier per step (agreement and accuracy over every position); run with --only char_lm
EXTRA = ["char_lm"]
MAX_LOSS_POINTS = 0.5
MIN_AGREEMENT = 0.99


def train(name: str, runs_dir: Path) -> Path:
    run = runs_dir / name
    if (run / "best.safetensors").is_file():
        return run
    cmd = [sys.executable, "-m", "graphspec", "train", name, "--name", name, "--runs-dir", str(runs_dir), "--device", "cpu", "--quiet"]
    subprocess.run(cmd, check=True)
    return run


def one(name: str, runs_dir: Path, out_dir: Path) -> dict:
    import graphspec
    from graphspec.backends import quantize as q
    from graphspec.backends.onnx_export import export
    from graphspec.errors import GraphspecError
    from graphspec.train.calibration import from_spec

    run = train(name, runs_dir)
    spec = graphspec.load(name)
    fp32 = out_dir / f"{name}.onnx"
    export(spec, fp32, weights=run, strict=True)
    data = from_spec(spec, spec.graph())
    row: dict = {"spec": name, "size_fp32": fp32.stat().st_size}
    for precision in ("int8", "fp16"):
        try:
            rep = q.convert(fp32, out_dir / f"{name}.{precision}.onnx", precision, data)
        except GraphspecError as exc:  # e.g. onnxruntime cannot load the fp16 char_lm
            if precision == "int8":
                raise
            row[precision] = {"error": exc.diagnostics[0].message, "max_abs": {}, "size_ratio": None}
            continue
        row[precision] = rep.to_json()
    i8 = row["int8"]
    row["ok"] = bool(
        i8["passed"] and i8["accuracy_change_points"] >= -MAX_LOSS_POINTS and min(i8["agreement"].values()) >= MIN_AGREEMENT
        and (name not in ("digits_lstm", "char_lm") or i8["quantized_ops"].get("DynamicQuantizeLSTM", 0) > 0)
    )
    return row


def table(rows: list[dict]) -> str:
    lines = [
        "| model | fp32 acc | int8 acc | change (points) | agreement | max abs | int8 ops | fp32 ops | int8 size | fp16 max abs | fp16 size |",
        "|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for r in rows:
        i8, f16 = r["int8"], r["fp16"]
        ops = ", ".join(f"{k} x{v}" for k, v in i8["quantized_ops"].items()) or "-"
        kept = ", ".join(f"{k} x{v}" for k, v in i8["fp32_ops"].items()) or "-"
        lines.append(
            f"| {r['spec']} | {i8['accuracy_fp32']:.2%} | {i8['accuracy']:.2%} | {i8['accuracy_change_points']:+.2f} | "
            f"{min(i8['agreement'].values()):.2%} | {max(i8['max_abs'].values()):.3g} | {ops} | {kept} | {i8['size_ratio']:.2f}x | "
            + (f"{max(f16['max_abs'].values()):.2g} | {f16['size_ratio']:.2f}x |" if "error" not in f16 else "fails: onnxruntime cannot load it | - |")
        )
    return "\n".join(lines)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs-dir", help="trained runs (DIR/NAME); trained there when missing (default: a temporary folder)")
    ap.add_argument("--only", action="append", help=f"spec(s) to run (default: the five digits classifiers; also: {', '.join(EXTRA)})")
    ap.add_argument("--out", default=str(ROOT / "tools" / "results" / "quant.json"))
    args = ap.parse_args(argv)
    with tempfile.TemporaryDirectory(prefix="graphspec-quant-") as tmp:
        runs = Path(args.runs_dir) if args.runs_dir else Path(tmp) / "runs"
        rows = []
        for name in args.only or SPECS:
            rows.append(one(name, runs, Path(tmp)))
            print(f"{name}: {'ok' if rows[-1]['ok'] else 'MISSED'}", flush=True)
    print(table(rows))
    out = Path(args.out)
    # a run updates its specs' rows and keeps the others (char_lm runs alone, with --only)
    kept = {r["spec"]: r for r in (json.loads(out.read_text())["rows"] if out.exists() else [])}
    kept.update({r["spec"]: r for r in rows})
    order = SPECS + EXTRA
    merged = sorted(kept.values(), key=lambda r: order.index(r["spec"]) if r["spec"] in order else len(order))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps({"rows": merged, "table": table(merged), "all_ok": all(r["ok"] for r in merged)}, indent=2) + "\n")
    return 0 if all(r["ok"] for r in rows) else 1


if __name__ == "__main__":
    sys.exit(main())
