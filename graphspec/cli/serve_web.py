"""Serve a web bundle (``graphspec export SPEC --web DIR``) on 127.0.0.1.

Static files only, with ``.wasm`` as application/wasm and ``.mjs`` as
JavaScript (browsers refuse them otherwise, and refuse ``file://``). Runs
until interrupted (Ctrl-C, exit 0). Any other static server works as well.
"""

from __future__ import annotations

import argparse
import sys

from graphspec.cli.common import int_range


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("folder", metavar="DIR", help="the bundle folder (written by graphspec export SPEC --web DIR)")
    p.add_argument("--port", type=int_range(0, 65535, "a port"), default=8000, help="port on 127.0.0.1 (default 8000; 0: any free port)")
    p.add_argument("--verbose", "-v", action="store_true", help="log every request")


def run(args: argparse.Namespace) -> int:
    from graphspec.web.serve import make_server

    server = make_server(args.folder, port=args.port, verbose=args.verbose)
    host, port = server.server_address[:2]
    print(f"serving {args.folder} on http://{host}:{port}/ (Ctrl-C to stop)", file=sys.stderr, flush=True)
    try:
        server.serve_forever()
    except KeyboardInterrupt:
        pass
    finally:
        server.server_close()
    return 0
