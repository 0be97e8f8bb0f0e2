"""The companion package of *Settled by Experiment*.

A small shared core (:mod:`companion.device`, :mod:`companion.training`, :mod:`companion.datasets`,
:mod:`companion.plotting`, :mod:`companion.checks`) plus one module per chapter topic. Every
notebook starts with ``companion.get_device()`` and ``companion.seed_everything(...)``.
"""

from companion.device import get_device, seed_everything

__all__ = ["get_device", "seed_everything"]
__version__ = "0.1.0"
