"""The web bundle: an exported model that runs in a browser on onnxruntime-web.

- :mod:`graphspec.web.vendor_files`: the two vendored onnxruntime-web files,
  checked against their sha256 manifest;
- :mod:`graphspec.web.bundle`: ``graphspec export SPEC --web DIR`` writes the
  static folder (model, ``model.json``, page, runtime);
- :mod:`graphspec.web.serve`: ``graphspec serve-web DIR`` on 127.0.0.1.

Torch-free: nothing here imports torch or onnxruntime.
"""
