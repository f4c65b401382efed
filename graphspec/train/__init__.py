"""Training: the engine, tasks, data sources, checkpoints.

``graphspec.train`` is both this package and the API function
``graphspec.train(spec, ...)`` (:func:`graphspec.api.train`): importing a
submodule makes Python bind the package to the name ``graphspec.train``, so the
package itself is callable and forwards to the function. Importing it imports
no torch.
"""

from __future__ import annotations

import sys
import types


class _CallablePackage(types.ModuleType):
    def __call__(self, *args, **kwargs):
        from graphspec.api import train

        return train(*args, **kwargs)


sys.modules[__name__].__class__ = _CallablePackage
