"""The ``graphspec`` command: a table of subcommands, each in its own module.

Command modules define ``add_arguments(parser)`` and ``run(args) -> int`` and
import heavy libraries (torch, onnxruntime) only inside ``run``, so
``graphspec validate`` starts fast and never imports torch.
"""

from __future__ import annotations

import argparse
import importlib
import importlib.util
import os
import sys
from typing import Sequence

from graphspec.errors import ExitCode, GraphspecError, did_you_mean

# name -> (module, one-line help)
COMMANDS: dict[str, tuple[str, str]] = {
    "validate": ("graphspec.cli.validate", "check spec files and report every problem"),
    "inspect": ("graphspec.cli.inspect", "table of nodes, output shapes, parameters and MACs"),
    "viz": ("graphspec.cli.viz", "draw a graph (.dot, .mmd, .svg, .png)"),
    "schema": ("graphspec.cli.schema", "print the JSON Schema of the spec language"),
    "ops": ("graphspec.cli.ops", "list the registered ops and their parameters"),
    "codegen": ("graphspec.cli.codegen", "write a standalone PyTorch module file"),
    "export": ("graphspec.cli.export", "export a graph to ONNX and check parity on onnxruntime"),
    "import": ("graphspec.cli.import_", "turn a PyTorch model (your code, traced) into a checked spec"),
    "serve-web": ("graphspec.cli.serve_web", "serve a web bundle (export --web) on 127.0.0.1"),
    "infer": ("graphspec.cli.infer", "run an ONNX model on .npz/.npy inputs"),
    "bench": ("graphspec.cli.bench", "latency: PyTorch eager, torch.compile, onnxruntime"),
    "train": ("graphspec.cli.train", "train what a spec's train: section describes"),
    "evaluate": ("graphspec.cli.evaluate", "test metrics of a trained run"),
    "sweep": ("graphspec.cli.sweep", "search hyperparameters with Optuna; each trial a training run"),
    "quickstart": ("graphspec.cli.quickstart", "the whole job: train LeNet-5 on digits, export, check, infer"),
    "zoo": ("graphspec.cli.zoo", "list the bundled model zoo, or copy a zoo model out to edit"),
    "completion": ("graphspec.cli.completion", "print a bash or zsh completion script"),
}


def _available() -> dict[str, tuple[str, str]]:
    return {k: v for k, v in COMMANDS.items() if importlib.util.find_spec(v[0]) is not None}


def build_parser(full: Sequence[str] | None = None) -> argparse.ArgumentParser:
    """The CLI's parser. ``full`` names the commands whose modules are imported
    for their options (None: all, as shell completion needs); the others are
    listed with their help line only, so one command's start-up does not pay
    for every other command's imports."""
    from graphspec import __version__

    parser = argparse.ArgumentParser(
        prog="graphspec",
        description="Neural networks as YAML computation graphs: validate, analyse, compile to PyTorch, train, export to ONNX.",
        epilog="Exit codes: 0 ok, 1 internal error, 2 usage, 3 invalid spec, 4 file error, 5 data mismatch, "
        "6 parity failure, 7 training diverged, 8 bad checkpoint, 9 missing dependency, 10 not supported (import). "
        "'graphspec COMMAND --help' explains a command.",
    )
    parser.add_argument("--version", action="version", version=f"graphspec {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name, (module, help_text) in _available().items():
        if full is not None and name not in full:
            sub.add_parser(name, help=help_text)
            continue
        mod = importlib.import_module(module)
        p = sub.add_parser(name, help=help_text, description=(mod.__doc__ or help_text).strip())
        mod.add_arguments(p)
        p.set_defaults(_run=mod.run)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    commands = _available()
    if argv and not argv[0].startswith("-") and argv[0] not in commands:
        hint = did_you_mean(argv[0], commands)
        print(f"graphspec: unknown command {argv[0]!r}" + (f"; {hint}" if hint else ""), file=sys.stderr)
        print("run 'graphspec --help' for the list of commands", file=sys.stderr)
        return ExitCode.USAGE
    parser = build_parser(full=[argv[0]] if argv and argv[0] in commands else [])
    args = parser.parse_args(argv)
    if not getattr(args, "_run", None):
        parser.print_help()
        return ExitCode.USAGE
    try:
        return int(args._run(args) or 0)
    except GraphspecError as exc:
        from graphspec.cli.common import print_diagnostics

        print_diagnostics(exc.diagnostics, json_out=getattr(args, "json", False))
        return int(exc.exit_code) or int(ExitCode.INTERNAL)
    except KeyboardInterrupt:
        print("graphspec: interrupted", file=sys.stderr)
        return ExitCode.INTERRUPTED
    except BrokenPipeError:
        return ExitCode.OK
    except OSError as exc:
        # Disk full, permission, not a folder ... wherever it happened: exit 4 naming the path.
        if os.environ.get("GRAPHSPEC_DEBUG"):
            raise
        print(f"graphspec: error: {os_error_text(exc)}", file=sys.stderr)
        return ExitCode.FILE
    except MemoryError:
        print("graphspec: error: out of memory; use smaller inputs, a smaller batch or a machine with more memory", file=sys.stderr)
        return ExitCode.DATA
    except Exception:
        if os.environ.get("GRAPHSPEC_DEBUG"):
            raise
        import traceback

        last = traceback.format_exc().strip().splitlines()[-1]
        print(f"graphspec: internal error: {last}", file=sys.stderr)
        print("this is a bug in graphspec; rerun with GRAPHSPEC_DEBUG=1 for the traceback and please report it", file=sys.stderr)
        return ExitCode.INTERNAL


def os_error_text(exc: OSError) -> str:
    """``cannot write PATH: reason`` (or read/use) for an OSError that escaped the commands."""
    reason = exc.strerror or str(exc) or type(exc).__name__
    paths = [p for p in (exc.filename, exc.filename2) if p is not None]
    if not paths:
        return f"file system error: {reason}"
    return f"{' -> '.join(map(str, paths))}: {reason}"


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
