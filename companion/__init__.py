"""The companion package of *Settled by Experiment*.

:mod:`companion.core` holds what more than one chapter uses (checks, device, training, datasets,
heatmaps, keypoints, text, plotting); each chapter has one module at the top level
(:mod:`companion.mlm`, :mod:`companion.sac`, ...) that imports only the core and libraries. Every
notebook starts with ``companion.get_device()``, ``companion.leave_a_core_free()`` and
``companion.seed_everything(...)``.
"""

from companion.core.device import get_device, leave_a_core_free, seed_everything

__all__ = ["get_device", "leave_a_core_free", "seed_everything"]
__version__ = "0.1.0"
