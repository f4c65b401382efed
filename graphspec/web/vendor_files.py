"""The vendored onnxruntime-web files (written by tools/vendor_ort_web.py), checked.

Both files are committed under ``graphspec/web/vendor/`` (the wasm gzipped,
3.7 MB instead of 14 MB) so that ``export --web`` works from the wheel with no
network and no node; ``manifest.json`` pins the npm version and the sha256 of
each file as the page uses it, and a file that does not match is refused.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from graphspec.errors import GraphspecError

VENDOR = Path(__file__).resolve().parent / "vendor"


def manifest() -> dict:
    try:
        return json.loads((VENDOR / "manifest.json").read_text())
    except (OSError, ValueError) as exc:
        raise GraphspecError.one(
            "dependency", f"the vendored onnxruntime-web files are missing or broken ({VENDOR / 'manifest.json'}: {exc})",
            hint="run python tools/vendor_ort_web.py from a source checkout",
        ) from None


def runtime_files() -> dict[str, bytes]:
    """File name -> content of the runtime files, each checked against the manifest's sha256."""
    m = manifest()
    out = {}
    for name, entry in m["files"].items():
        stored = VENDOR / entry["stored_as"]
        try:
            data = stored.read_bytes()
            if stored.suffix == ".gz":
                data = gzip.decompress(data)
        except (OSError, EOFError, gzip.BadGzipFile) as exc:
            raise GraphspecError.one("dependency", f"vendored runtime file {stored} is unreadable: {exc}", hint="run python tools/vendor_ort_web.py") from None
        if hashlib.sha256(data).hexdigest() != entry["sha256"]:
            raise GraphspecError.one("dependency", f"vendored runtime file {stored} does not match its sha256 in manifest.json", hint="run python tools/vendor_ort_web.py")
        out[name] = data
    return out


def version() -> str:
    m = manifest()
    return f"{m['package']}@{m['version']}"
