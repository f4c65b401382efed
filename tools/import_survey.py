"""Which torchvision classification models `graphspec import` turns into checked specs.

Run in the torchvision venv: ``python tools/import_survey.py [--size 64] [--timeout 240]``.
Each model is imported in its own process (a per-model timeout) at a small input
size where the architecture allows it (ViT/Swin/MaxViT need their native size);
the table (imports yes/no, nodes, and the first problems for a no) is printed and
written to tools/results/import_survey.json.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import sys
import time
from pathlib import Path

OUT = Path(__file__).resolve().parent / "results" / "import_survey.json"
# models whose input size is fixed by their weights' shapes (position embeddings, windows)
NATIVE = {"vit_": 224, "swin": 224, "maxvit": 224, "inception_v3": 299}


def _size(name: str, default: int) -> int:
    for prefix, size in NATIVE.items():
        if name.startswith(prefix):
            return size if not name.startswith("vit_h") else 224
    return default


def _one(name: str, size: int, queue) -> None:
    import torchvision

    from graphspec.backends.torch_import import parse_input
    from graphspec.cli.import_ import convert
    from graphspec.errors import GraphspecError

    try:
        kwargs = {"aux_logits": False, "init_weights": False} if name in ("googlenet", "inception_v3") else {}
        model = torchvision.models.get_model(name, **kwargs)
        inputs = dict([parse_input(f"x=batch,3,{size},{size}")])
        text, report, result = convert(model, inputs, name, f"torchvision.models:{name}")
        queue.put({"imports": True, "nodes": sum(1 for _ in result.graph.op_nodes()), "spec_lines": text.count("\n"), "size": size})
    except GraphspecError as exc:
        queue.put({"imports": False, "size": size, "reason": [d.message for d in exc.diagnostics[:3]], "problems": len(exc.diagnostics)})
    except Exception as exc:  # a bug of the importer: recorded as such
        queue.put({"imports": False, "size": size, "reason": [f"internal: {type(exc).__name__}: {exc}"[:300]]})


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--size", type=int, default=64)
    p.add_argument("--timeout", type=float, default=240)
    p.add_argument("--only", nargs="*", help="re-run these models only, updating their rows of the results file")
    args = p.parse_args()
    import torchvision

    names = args.only or torchvision.models.list_models(module=torchvision.models)
    # --only re-runs some models and keeps the other rows of the last full run
    table = json.loads(OUT.read_text()) if args.only and OUT.exists() else {}
    ctx = mp.get_context("spawn")
    for name in names:
        t0 = time.monotonic()
        queue = ctx.Queue()
        proc = ctx.Process(target=_one, args=(name, _size(name, args.size), queue))
        proc.start()
        proc.join(args.timeout)
        if proc.is_alive():
            proc.kill()
            row = {"imports": False, "reason": [f"timeout after {args.timeout:.0f} s"]}
        else:
            row = queue.get() if not queue.empty() else {"imports": False, "reason": [f"process died (exit {proc.exitcode})"]}
        row["seconds"] = round(time.monotonic() - t0, 1)
        table[name] = row
        print(f"{name:28s} {'yes' if row['imports'] else 'no ':3s} {row.get('reason', [''])[0][:150] if not row['imports'] else ''}", flush=True)
        OUT.write_text(json.dumps(dict(sorted(table.items())), indent=1) + "\n")
    yes = sum(r["imports"] for r in table.values())
    print(f"{yes}/{len(table)} import" + (" (the whole results file)" if args.only else ""))
    return 0


if __name__ == "__main__":
    sys.exit(main())
