"""A static server for web bundles on 127.0.0.1 with the MIME types onnxruntime-web needs.

Browsers refuse ES modules and ``WebAssembly.instantiateStreaming`` over
``file://`` (CORS) and from a server that sends ``.wasm`` / ``.mjs`` with the
wrong type, so: ``.wasm`` is ``application/wasm``, ``.mjs`` and ``.js`` are
``text/javascript``. One wasm thread needs no cross-origin isolation headers.
"""

from __future__ import annotations

import functools
import http.server
from pathlib import Path

from graphspec.errors import GraphspecError

TYPES = {
    ".wasm": "application/wasm",
    ".mjs": "text/javascript",
    ".js": "text/javascript",
    ".json": "application/json",
    ".onnx": "application/octet-stream",
    ".html": "text/html; charset=utf-8",
}


class Handler(http.server.SimpleHTTPRequestHandler):
    extensions_map = {**http.server.SimpleHTTPRequestHandler.extensions_map, **TYPES}

    def log_message(self, format: str, *args) -> None:
        if getattr(self.server, "verbose", False):
            super().log_message(format, *args)

    def end_headers(self) -> None:
        self.send_header("Cache-Control", "no-store")
        super().end_headers()


def check_bundle(folder: str | Path) -> Path:
    folder = Path(folder)
    if not folder.is_dir():
        raise GraphspecError.one("file-not-found", f"no such bundle folder: {folder}", hint="write one with graphspec export SPEC --web DIR")
    if not (folder / "index.html").is_file() or not (folder / "model.json").is_file():
        raise GraphspecError.one("file-not-found", f"{folder} is not a web bundle (no index.html and model.json)", hint="write one with graphspec export SPEC --web DIR")
    return folder


def make_server(folder: str | Path, port: int = 8000, host: str = "127.0.0.1", verbose: bool = False) -> http.server.ThreadingHTTPServer:
    """A server for ``folder`` (not started); port 0 picks a free port (``server.server_address``)."""
    folder = check_bundle(folder)
    handler = functools.partial(Handler, directory=str(folder))
    try:
        server = http.server.ThreadingHTTPServer((host, port), handler)
    except OSError as exc:
        raise GraphspecError.one("usage", f"cannot listen on {host}:{port}: {exc.strerror or exc}", hint="pick another --port (0 for any free one)") from None
    server.verbose = verbose  # type: ignore[attr-defined]
    return server
