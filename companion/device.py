"""Device selection and seeding: the two calls every chapter's setup cell makes."""

from __future__ import annotations

import random

import numpy as np
import torch

from companion.checks import check_int

__all__ = ["get_device", "seed_everything"]


def get_device() -> torch.device:
    """Pick the fastest available device: CUDA, then Apple's MPS, then the CPU.

    Returns:
        ``torch.device("cuda")`` if CUDA is available, else ``torch.device("mps")`` if MPS is
        available, else ``torch.device("cpu")``.

    Example:
        >>> get_device().type in {"cuda", "mps", "cpu"}
        True
    """
    if torch.cuda.is_available():
        return torch.device("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def seed_everything(seed: int) -> None:
    """Seed Python's ``random``, NumPy's global generator and torch (all CUDA devices too).

    Library code in the companion never relies on this global state: its functions take an
    explicit ``generator`` or ``seed``. This call makes the *notebook's* own incidental
    randomness (weight initialisation, ``DataLoader`` shuffling without a generator) repeatable.

    Args:
        seed: A non-negative integer.

    Raises:
        TypeError: If ``seed`` is not an ``int``.
        ValueError: If ``seed`` is negative.

    Example:
        >>> seed_everything(0); a = torch.rand(2)
        >>> seed_everything(0); b = torch.rand(2)
        >>> torch.equal(a, b)
        True
    """
    check_int(seed, "seed", minimum=0)
    random.seed(seed)
    np.random.seed(seed % 2**32)  # noqa: NPY002 (seeding the legacy global generator is the point)
    torch.manual_seed(seed)  # also seeds every CUDA device
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
