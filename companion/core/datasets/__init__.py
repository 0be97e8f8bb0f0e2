"""Every data set the course uses, made or loaded offline, seeded and vectorised.

This package is the single home of the course's data makers; chapters import from here
(``from companion.core.datasets import digits``). Nothing is downloaded: data are either generated
from a seed or ship inside an installed package. One module per data set.
"""

from companion.core.datasets.corpus import pydoc_corpus
from companion.core.datasets.digits import Split, digits
from companion.core.datasets.faces import LANDMARK_NAMES, Landmarks, landmarks
from companion.core.datasets.hands import hands
from companion.core.datasets.shapes import box_scenes
from companion.core.datasets.sts import sts_pairs

__all__ = [
    "LANDMARK_NAMES",
    "Landmarks",
    "Split",
    "box_scenes",
    "digits",
    "hands",
    "landmarks",
    "pydoc_corpus",
    "sts_pairs",
]
