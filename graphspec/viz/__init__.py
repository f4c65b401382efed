"""Drawings of analysed graphs: Graphviz dot, Mermaid, SVG and PNG.

``.dot`` and ``.mmd`` are text written by graphspec itself. ``.svg`` and
``.png`` come from Graphviz's ``dot`` program when it is installed, otherwise
from a pure-Python layered layout drawn with matplotlib
(:mod:`graphspec.viz.mpl`).
"""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from graphspec.errors import GraphspecError
from graphspec.io import atomic_write
from graphspec.viz.model import Drawing, build_drawing
from graphspec.viz.text import to_dot, to_mermaid

FORMATS = {".dot": "dot", ".gv": "dot", ".mmd": "mermaid", ".svg": "svg", ".png": "png"}
RENDERERS = ("auto", "graphviz", "matplotlib")
DOT_TIMEOUT_S = 300

__all__ = ["Drawing", "build_drawing", "to_dot", "to_mermaid", "render_file", "format_for", "FORMATS", "RENDERERS"]


def format_for(path: str) -> str:
    suffix = Path(path).suffix.lower()
    if suffix not in FORMATS:
        raise GraphspecError.one(
            "usage",
            f"cannot tell the drawing format from {path!r}",
            hint="the output file must end in " + ", ".join(sorted(FORMATS)),
        )
    return FORMATS[suffix]


def dot_binary() -> str | None:
    return shutil.which("dot")


def _have_matplotlib() -> bool:
    import importlib.util

    return importlib.util.find_spec("matplotlib") is not None


def choose_renderer(requested: str) -> str:
    """'graphviz' or 'matplotlib' for an image; raises 'dependency' when neither can run."""
    if requested == "graphviz":
        if dot_binary() is None:
            raise GraphspecError.one(
                "dependency",
                "Graphviz's 'dot' program is not on PATH",
                hint="install Graphviz (apt-get install graphviz, brew install graphviz, conda install graphviz), "
                "or use --renderer matplotlib",
            )
        return "graphviz"
    if requested == "matplotlib":
        if not _have_matplotlib():
            raise GraphspecError.one("dependency", "matplotlib is not installed", hint="pip install matplotlib, or use --renderer graphviz")
        return "matplotlib"
    if dot_binary() is not None:
        return "graphviz"
    if _have_matplotlib():
        return "matplotlib"
    raise GraphspecError.one(
        "dependency",
        "drawing .svg/.png needs Graphviz's 'dot' program or matplotlib, and neither is available",
        hint="install Graphviz (apt-get install graphviz) or matplotlib (pip install matplotlib); "
        ".dot and .mmd files need neither",
    )


def run_dot(source: str, fmt: str, path: str) -> None:
    dot = dot_binary()
    if dot is None:  # pragma: no cover - checked by choose_renderer
        raise GraphspecError.one("dependency", "Graphviz's 'dot' program is not on PATH")
    try:
        # dot writes to stdout; the file is written atomically below, never half-drawn
        proc = subprocess.run([dot, f"-T{fmt}"], input=source.encode("utf-8"), capture_output=True, timeout=DOT_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise GraphspecError.one(
            "dependency", f"Graphviz 'dot' did not finish in {DOT_TIMEOUT_S} s", hint="draw a smaller graph, or use --renderer matplotlib"
        )
    except OSError as exc:
        raise GraphspecError.one("dependency", f"cannot run Graphviz 'dot': {exc}", hint="use --renderer matplotlib")
    if proc.returncode != 0:
        err = proc.stderr.decode("utf-8", "replace").strip().splitlines()
        raise GraphspecError.one(
            "dependency",
            f"Graphviz 'dot' failed (exit {proc.returncode})" + (f": {err[-1]}" if err else ""),
            hint="use --renderer matplotlib, or write .dot and run dot yourself",
        )
    atomic_write(path, proc.stdout)


def render_file(drawing: Drawing, path: str, renderer: str = "auto", direction: str = "TB") -> str:
    """Write ``drawing`` to ``path`` in the format its suffix names; returns what drew it.

    The result is 'text' for .dot/.mmd, else 'graphviz' or 'matplotlib'.
    """
    fmt = format_for(path)
    if fmt in ("dot", "mermaid"):
        text = to_dot(drawing, direction) if fmt == "dot" else to_mermaid(drawing, direction)
        _write_text(path, text)
        return "text"
    used = choose_renderer(renderer)
    _check_writable(path)
    if used == "graphviz":
        run_dot(to_dot(drawing, direction), fmt, path)
    else:
        from graphspec.viz import mpl

        mpl.render(drawing, path, fmt, direction)
    return used


def _check_writable(path: str) -> None:
    parent = Path(path).resolve().parent
    if not parent.is_dir():
        raise GraphspecError.one("file-write", f"cannot write {path}: folder {parent} does not exist")


def _write_text(path: str, text: str) -> None:
    _check_writable(path)
    atomic_write(path, text.encode("utf-8"))
