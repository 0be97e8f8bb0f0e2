"""Device and randomness plumbing: one way to do each, used by every chapter.

- :func:`get_device`, :func:`seed_everything` and :func:`leave_a_core_free`: the calls of every
  chapter's setup cell.
- :func:`resolve_device`: where a function runs, from an explicit argument or from a model.
- :func:`eval_mode`: a context manager that switches a model to eval mode and restores its mode.
- :func:`seeded`: a context manager that makes a model's initial weights depend on an explicit
  ``seed`` only, never on the notebook's global state, and leaves that global state untouched.
"""

from __future__ import annotations

import contextlib
import random
from collections.abc import Iterator

import numpy as np
import torch
from torch import nn

from companion.core.checks import check_int

__all__ = [
    "eval_mode",
    "get_device",
    "leave_a_core_free",
    "resolve_device",
    "seed_everything",
    "seeded",
]

# torch's own choice of CPU threads, read once when the companion is first imported, so that
# calling leave_a_core_free() again (a setup cell run twice) does not take another core away.
_TORCH_DEFAULT_THREADS = torch.get_num_threads()


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


def leave_a_core_free() -> int:
    """Run torch's CPU kernels on one thread fewer than torch's default (at least one).

    torch's CPU kernels split their work over OpenMP threads, one per core, and a thread that
    has finished its share *spins*, waiting at full speed for more work. When another CPU-bound
    process shares the machine, the threads and that process compete for the cores: a waiting
    thread burns the time slice a working one needs, and on a 2-core machine three chapters ran
    5-16x slower beside one busy process (``book/execution.md``, 'A busy machine'). With one
    core left free the competitor has a core of its own. The cost on a quiet machine is the
    parallelism of that core (6-28% longer chapters on 2 cores). Calling it again changes
    nothing: the count is taken from torch's default, read when the companion is imported.

    Returns:
        The number of threads torch now uses, ``max(1, default - 1)``.

    Example:
        >>> before = torch.get_num_threads()
        >>> leave_a_core_free() == torch.get_num_threads() >= 1
        True
        >>> torch.set_num_threads(before)
    """
    threads = max(1, _TORCH_DEFAULT_THREADS - 1)
    torch.set_num_threads(threads)
    return threads


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


def resolve_device(
    device: torch.device | str | None = None, model: nn.Module | None = None
) -> torch.device:
    """The device a function should run on: the explicit ``device``, else the model's, else the CPU.

    Args:
        device: An explicit device (``torch.device`` or a string such as ``"cuda:0"``), or ``None``.
        model: A module whose first parameter (or buffer) decides when ``device`` is ``None``.

    Returns:
        A ``torch.device``.

    Raises:
        TypeError: If ``device`` is not a device, a string or ``None``, or ``model`` is not an
            ``nn.Module`` or ``None``.
        ValueError: If ``device`` is a string that torch does not recognise.

    Example:
        >>> resolve_device(None, nn.Linear(2, 2))
        device(type='cpu')
        >>> resolve_device("cpu")
        device(type='cpu')
    """
    if model is not None and not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module or None, got {type(model).__name__}")
    if device is not None:
        if isinstance(device, torch.device):
            return device
        if not isinstance(device, str):
            raise TypeError(
                f"device must be a torch.device, a string or None, got {type(device).__name__}"
            )
        try:
            return torch.device(device)
        except RuntimeError as err:
            raise ValueError(f"device must name a torch device, got {device!r}") from err
    if model is not None:
        for tensor in (*model.parameters(), *model.buffers()):
            return tensor.device
    return torch.device("cpu")


@contextlib.contextmanager
def eval_mode(model: nn.Module) -> Iterator[nn.Module]:
    """Switch ``model`` to eval mode for a block, then restore the mode it had before.

    Dropout and batch norm behave as at test time inside the block. Gradients are *not* switched
    off: combine with ``torch.no_grad()`` where none are needed.

    Args:
        model: The module.

    Returns:
        A context manager that yields ``model``.

    Raises:
        TypeError: If ``model`` is not an ``nn.Module``.

    Example:
        >>> net = nn.Dropout(0.5)
        >>> with eval_mode(net):
        ...     net.training
        False
        >>> net.training
        True
    """
    if not isinstance(model, nn.Module):
        raise TypeError(f"model must be a torch.nn.Module, got {type(model).__name__}")
    was_training = model.training
    model.eval()
    try:
        yield model
    finally:
        model.train(was_training)


@contextlib.contextmanager
def seeded(seed: int) -> Iterator[None]:
    """Draw from torch's CPU generator seeded with ``seed`` inside a block, then restore it.

    This is how every model constructor and training function of the companion seeds its initial
    weights: ``with seeded(seed): layer = nn.Linear(3, 4)``. The weights then depend on ``seed``
    alone, and the notebook's global generator is left exactly as it was (so a cell's result does
    not depend on which cells ran before it). Modules are built on the CPU and moved afterwards.

    Args:
        seed: A non-negative integer.

    Returns:
        A context manager.

    Raises:
        TypeError: If ``seed`` is not an ``int``.
        ValueError: If ``seed`` is negative.

    Example:
        >>> with seeded(0):
        ...     a = nn.Linear(3, 2).weight
        >>> with seeded(0):
        ...     b = nn.Linear(3, 2).weight
        >>> torch.equal(a, b)
        True
    """
    check_int(seed, "seed", minimum=0)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        yield
