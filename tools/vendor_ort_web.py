"""Vendor the two onnxruntime-web files the web bundle needs into graphspec/web/vendor/.

Downloads the npm tarball of ``onnxruntime-web`` at the pinned version straight
from the npm registry (no node needed), checks it against the registry's
sha512 integrity, and keeps only

- ``dist/ort.wasm.bundle.min.mjs`` (the JavaScript API with the wasm loader, ~73 KB);
- ``dist/ort-wasm-simd-threaded.wasm`` (the runtime, ~14 MB), stored gzipped
  (~3.7 MB) so the repository and the wheel stay small; the bundle writer
  unpacks it.

``manifest.json`` records the version, the tarball's integrity and the sha256
and size of every file as the page uses it (after unpacking); the bundle writer
refuses files that do not match. Usage:

    python tools/vendor_ort_web.py            # write graphspec/web/vendor/
    python tools/vendor_ort_web.py --check    # verify the vendored files against the manifest
"""

from __future__ import annotations

import argparse
import base64
import gzip
import hashlib
import io
import json
import sys
import tarfile
import urllib.request
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VENDOR = ROOT / "graphspec" / "web" / "vendor"
PACKAGE = "onnxruntime-web"
VERSION = "1.30.0"  # pinned: bump together with a rerun of tests/web
FILES = {"ort.wasm.bundle.min.mjs": False, "ort-wasm-simd-threaded.wasm": True}  # name -> stored gzipped
REGISTRY = "https://registry.npmjs.org"
# The npm package ships no LICENSE file; its package.json says MIT (onnxruntime's licence).
MIT = """MIT License

Copyright (c) Microsoft Corporation

Permission is hereby granted, free of charge, to any person obtaining a copy
of this software and associated documentation files (the "Software"), to deal
in the Software without restriction, including without limitation the rights
to use, copy, modify, merge, publish, distribute, sublicense, and/or sell
copies of the Software, and to permit persons to whom the Software is
furnished to do so, subject to the following conditions:

The above copyright notice and this permission notice shall be included in all
copies or substantial portions of the Software.

THE SOFTWARE IS PROVIDED "AS IS", WITHOUT WARRANTY OF ANY KIND, EXPRESS OR
IMPLIED, INCLUDING BUT NOT LIMITED TO THE WARRANTIES OF MERCHANTABILITY,
FITNESS FOR A PARTICULAR PURPOSE AND NONINFRINGEMENT. IN NO EVENT SHALL THE
AUTHORS OR COPYRIGHT HOLDERS BE LIABLE FOR ANY CLAIM, DAMAGES OR OTHER
LIABILITY, WHETHER IN AN ACTION OF CONTRACT, TORT OR OTHERWISE, ARISING FROM,
OUT OF OR IN CONNECTION WITH THE SOFTWARE OR THE USE OR OTHER DEALINGS IN THE
SOFTWARE.
"""


def fetch(url: str) -> bytes:
    with urllib.request.urlopen(url, timeout=120) as r:
        return r.read()


def download() -> tuple[bytes, str, str]:
    meta = json.loads(fetch(f"{REGISTRY}/{PACKAGE}/{VERSION}"))
    integrity = meta["dist"]["integrity"]
    blob = fetch(meta["dist"]["tarball"])
    algo, _, want = integrity.partition("-")
    got = base64.b64encode(hashlib.new(algo, blob).digest()).decode()
    if got != want:
        raise SystemExit(f"{PACKAGE}@{VERSION}: tarball integrity mismatch ({algo} {got} != {want})")
    return blob, integrity, str(meta.get("license", ""))


def vendor() -> dict:
    blob, integrity, meta_license = download()
    VENDOR.mkdir(parents=True, exist_ok=True)
    files = {}
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for name, gz in FILES.items():
            member = tar.extractfile(f"package/dist/{name}")
            if member is None:
                raise SystemExit(f"{PACKAGE}@{VERSION} has no dist/{name}")
            data = member.read()
            stored = name + (".gz" if gz else "")
            (VENDOR / stored).write_bytes(gzip.compress(data, 9, mtime=0) if gz else data)
            files[name] = {"stored_as": stored, "sha256": hashlib.sha256(data).hexdigest(), "size": len(data)}
    license_text = _license(blob) or (MIT if meta_license == "MIT" else None)
    if license_text:
        (VENDOR / "LICENSE").write_text(license_text)
    manifest = {"package": PACKAGE, "version": VERSION, "integrity": integrity, "license": meta_license, "files": files}
    (VENDOR / "manifest.json").write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def _license(blob: bytes) -> str | None:
    with tarfile.open(fileobj=io.BytesIO(blob), mode="r:gz") as tar:
        for cand in ("package/LICENSE", "package/LICENSE.txt"):
            try:
                m = tar.extractfile(cand)
            except KeyError:
                continue
            if m is not None:
                return m.read().decode("utf-8", "replace")
    return None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--check", action="store_true", help="verify the vendored files instead of downloading")
    args = ap.parse_args(argv)
    if args.check:
        sys.path.insert(0, str(ROOT))
        from graphspec.web.vendor_files import runtime_files

        for name, data in runtime_files().items():
            print(f"{name}: {len(data):,} bytes, sha256 ok")
        return 0
    m = vendor()
    for name, f in m["files"].items():
        print(f"{name}: {f['size']:,} bytes, sha256 {f['sha256']}")
    print(f"{PACKAGE}@{VERSION} -> {VENDOR}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
