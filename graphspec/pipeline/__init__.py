"""The one torch-free owner of input checking: ``load()`` (see :mod:`graphspec.pipeline.load`)."""

from graphspec.pipeline.load import load

__all__ = ["load"]
