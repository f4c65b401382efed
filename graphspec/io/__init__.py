"""Files in and out, safely: the one owner of how graphspec touches the disk.

- :func:`check_input_file` / :func:`read_bytes`: a file is a regular file under a
  size limit before a byte of it is read (a FIFO, ``/dev/zero`` or a folder is
  refused at once, exit 4, naming it);
- :func:`atomic_write`: every artifact goes through a temporary file in the same
  folder and ``os.replace``, so a kill or a full disk never leaves a torn file;
- :func:`check_name` / :func:`safe_join`: user strings that become file names
  never become paths;
- :func:`load_npz`: ``.npz``/``.npy`` members are checked (dtype, declared size,
  compression ratio, no pickles) before they are inflated;
- :func:`json_dumps`: results stay valid JSON (``null``, never ``NaN``).

Torch-free and imports nothing above :mod:`graphspec.errors`.
"""

from graphspec.io.atomic import atomic_write, write_error
from graphspec.io.jsonio import dumps as json_dumps
from graphspec.io.inputs import check_input_file, read_bytes, read_text
from graphspec.io.names import check_name, safe_join

__all__ = [
    "atomic_write",
    "write_error",
    "check_input_file",
    "read_bytes",
    "read_text",
    "check_name",
    "safe_join",
    "load_npz",
    "load_npy",
    "json_dumps",
]


def __getattr__(name: str):
    # .npz reading needs numpy; loading it lazily keeps `graphspec validate` start-up small
    if name in ("load_npz", "load_npy"):
        from graphspec.io import npz

        return getattr(npz, name)
    raise AttributeError(f"module 'graphspec.io' has no attribute {name!r}")
