"""The shared floor of the companion: what more than one chapter uses.

One module per concern, imported by its full path so that a reader sees where a name lives
(``from companion.core.training import fit``):

- :mod:`companion.core.checks`: the one input checker; every error names the argument.
- :mod:`companion.core.device`: device choice, seeding, eval mode, seeded initial weights.
- :mod:`companion.core.training`: ``fit``, ``evaluate``, ``make_loader``, ``History``, ``accuracy``,
  ``moving_average``.
- :mod:`companion.core.datasets`: every data maker (seeded, vectorised, offline).
- :mod:`companion.core.heatmaps`: Gaussian target heatmaps.
- :mod:`companion.core.keypoints`: pixel grid, soft-argmax, argmax, keypoint error.
- :mod:`companion.core.text`: the word tokenizer.
- :mod:`companion.core.plotting`: the figure helpers that several chapters share.

This package does not re-export: there is one import style, by module. Core never imports a
chapter module.
"""
