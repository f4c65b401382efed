"""Options and output shared by the commands."""

from __future__ import annotations

import argparse
import json
import math
import sys
from typing import Callable, Iterable

from graphspec.errors import Diagnostic


def add_spec_arguments(p: argparse.ArgumentParser, graph: bool = True, spec_required: bool = True) -> None:
    p.add_argument("spec", nargs=None if spec_required else "?", help="spec file, or the name of a zoo model (e.g. lenet5)")
    p.add_argument(
        "--set",
        dest="overrides",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a value in the spec before validation, e.g. --set params.width=64 (repeatable)",
    )
    if graph:
        p.add_argument("--graph", "-g", help="which graph of a multi-graph spec (e.g. generator)")


def add_json_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument("--json", action="store_true", help="print one JSON document instead of text")


def load_spec(args: argparse.Namespace):
    """Load the spec named on the command line, applying ``--set`` overrides."""
    import graphspec
    from graphspec.spec.overrides import parse_assignments

    apply_budget(args)
    return graphspec.load(args.spec, set=parse_assignments(args.overrides))


def _sort_key(d: Diagnostic):
    loc = d.location
    return (loc.file or "", loc.line or 0, loc.col or 0) if loc else ("", 0, 0)


def print_diagnostics(diagnostics: Iterable[Diagnostic], json_out: bool = False, stream=None) -> None:
    stream = stream or sys.stderr
    items = sorted(diagnostics, key=_sort_key)
    if json_out:
        print(json.dumps({"diagnostics": [d.to_json() for d in items]}, indent=2), file=sys.stdout)
        return
    for d in items:
        print(d.format(), file=stream)
    n_err = sum(d.severity == "error" for d in items)
    n_warn = len(items) - n_err
    if n_err:
        print(f"{n_err} error(s), {n_warn} warning(s)", file=stream)


def human(n: float) -> str:
    """A short human-readable count.

    >>> human(61100840), human(714_000_000), human(999)
    ('61.1M', '714.0M', '999')
    """
    for unit, size in (("T", 1e12), ("G", 1e9), ("M", 1e6), ("k", 1e3)):
        if abs(n) >= size:
            return f"{n / size:.1f}{unit}"
    return str(int(n))


# ---------------------------------------------------------------- option types
#
# Every numeric option is range-checked here, once, as an argparse type: a bad
# value is a usage error (exit 2) naming the option's rule, never a traceback.

MAX_THREADS = 1024
MAX_BATCH = 2**20  # the memory budget catches smaller but still absurd batches
MAX_REPEAT = 1_000_000
DEVICES = "auto, cpu, cuda or cuda:N"


def int_range(lo: int, hi: int, what: str = "an integer") -> Callable[[str], int]:
    """An argparse type: an integer in [lo, hi]."""

    def parse(text: str) -> int:
        try:
            value = int(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo} to {hi:,}, received {text!r}") from None
        if not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo} to {hi:,}, received {value}")
        return value

    parse.__name__ = "integer"  # argparse names the type in its messages
    return parse


def float_range(lo: float, hi: float, what: str = "a number") -> Callable[[str], float]:
    """An argparse type: a finite float in [lo, hi] (NaN and inf refused)."""

    def parse(text: str) -> float:
        try:
            value = float(text.strip())
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo:g} to {hi:g}, received {text!r}") from None
        if not math.isfinite(value) or not lo <= value <= hi:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo:g} to {hi:g}, received {text}")
        return value

    parse.__name__ = "number"
    return parse


def int_list(lo: int, hi: int, what: str = "integers") -> Callable[[str], list[int]]:
    """An argparse type: comma-separated integers, each in [lo, hi] (batch sizes)."""
    one = int_range(lo, hi, what)

    def parse(text: str) -> list[int]:
        items = [s for s in (p.strip() for p in text.split(",")) if s]
        if not items:
            raise argparse.ArgumentTypeError(f"expected {what} from {lo} to {hi:,} separated by commas, received {text!r}")
        return [one(s) for s in items]

    parse.__name__ = "list"
    return parse


threads_type = int_range(1, MAX_THREADS, "a thread count")
batch_type = int_range(1, MAX_BATCH, "a batch size")
batches_type = int_list(1, MAX_BATCH, "batch sizes")
repeat_type = int_range(1, MAX_REPEAT, "a repeat count")
warmup_type = int_range(0, MAX_REPEAT, "a warm-up count")
tolerance_type = float_range(0.0, 1e6, "a tolerance")


def opset_type(text: str) -> int:
    """An ONNX opset the exporter honours exactly (never silently another one)."""
    from graphspec.backends.onnx_export import MAX_OPSET, MIN_OPSET

    return int_range(MIN_OPSET, MAX_OPSET, "an ONNX opset (the ones this exporter writes exactly)")(text)


opset_type.__name__ = "opset"


def device_type(text: str) -> str:
    """``auto``, ``cpu``, ``cuda`` or ``cuda:N``; others (``mps``, ``xpu``, ``cuda:x``) are refused."""
    value = text.strip().lower()
    head, _, index = value.partition(":")
    if value in ("auto", "cpu", "cuda") or (head == "cuda" and index.isdigit() and int(index) < 1024):
        return value
    raise argparse.ArgumentTypeError(f"device {text!r} is not supported; use {DEVICES} (graphspec runs on CPUs and NVIDIA GPUs)")


device_type.__name__ = "device"


def budget_type(text: str) -> int:
    from graphspec.passes.budget import parse_size

    try:
        return parse_size(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


budget_type.__name__ = "size"


def add_budget_argument(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--budget", type=budget_type, default=None, metavar="SIZE",
        help="memory budget checked before allocating (parameters + activations, estimated): e.g. 32G (default: $GRAPHSPEC_BUDGET, else 16G)",
    )


def apply_budget(args: argparse.Namespace) -> None:
    """Make ``--budget`` the process-wide budget (commands call it before compiling anything)."""
    value = getattr(args, "budget", None)
    if value is not None:
        from graphspec.passes.budget import set_limit

        set_limit(value)
