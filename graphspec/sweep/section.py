"""A loaded spec's ``sweep:`` section as the sweep command uses it.

``load()`` validates the section (located errors, exit 3) and keeps it on
``spec.sweep_config``; this turns it into the search space and the options the
command line did not give.
"""

from __future__ import annotations

from graphspec.config.sweep import SweepConfig

FIELDS = ("trials", "timeout", "metric", "direction", "sampler", "pruner", "seed")


class Section:
    """The space as Params and each option of the section (None where it is not set)."""

    def __init__(self, cfg: SweepConfig | None):
        cfg = cfg or SweepConfig()
        self.params = cfg.space()
        for name in FIELDS:
            setattr(self, name, getattr(cfg, name))


def read_section(spec) -> Section:
    """The section of a loaded spec (an empty one when the spec has none)."""
    return Section(getattr(spec, "sweep_config", None))
