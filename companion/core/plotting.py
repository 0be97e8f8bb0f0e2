"""Presentation helpers that several chapters share: figures, and numbers glued into the prose.

Chapter-specific figures live in the notebooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

from companion.core.checks import check_bool, check_int, check_number
from companion.core.training import History

__all__ = ["glue", "plot_curves", "plot_history", "show_images"]


def glue(name: str, value: object) -> object:
    """Make a computed value available to the prose as ``{glue:text}`name:.2f```, and return it.

    In the book build (myst-nb installed) this is ``myst_nb.glue(name, value, display=False)``: the
    number appears in the text after the cell that computed it, never typed by hand. Where myst-nb
    is absent (Colab), it does nothing but return ``value``, so a notebook runs anywhere.

    Args:
        name: The key used in the markdown, a Python identifier such as ``"sobel_error"``.
        value: The value; floats and ints format with a spec (``:.3f``, ``:,``). NumPy scalars
            and 0-d tensors are stored as plain Python numbers, so that the spec applies.

    Returns:
        ``value``, unchanged (the caller's object, not the converted number).

    Raises:
        TypeError: If ``name`` is not a string.
        ValueError: If ``name`` is not an identifier.

    Example:
        >>> glue("error_px", 0.25)
        0.25
    """
    if not isinstance(name, str):
        raise TypeError(f"name must be a str, got {type(name).__name__}")
    if not name.isidentifier():
        raise ValueError(f"name must be an identifier such as 'sobel_error', got {name!r}")
    try:
        from myst_nb import glue as myst_glue
    except ImportError:  # Colab or a plain Jupyter install: nothing to glue into
        return value
    # NumPy 2 writes np.float64(0.5) as its repr, which myst-nb cannot format: store plain numbers
    stored = value
    if isinstance(value, np.generic) or (isinstance(value, torch.Tensor) and value.ndim == 0):
        stored = value.item()
    myst_glue(name, stored, display=False)
    return value


def _check_ax(ax: object) -> None:
    if ax is not None and not isinstance(ax, plt.Axes):
        raise TypeError(f"ax must be matplotlib Axes or None, got {type(ax).__name__}")


def plot_history(
    history: History, ax: plt.Axes | None = None, *, title: str | None = None
) -> plt.Axes:
    """Draw ``loss`` and ``val_loss`` per epoch, epochs counted from 1 as Keras prints them.

    ``loss`` is drawn at the middle of its epoch (it is an average over the epoch) and
    ``val_loss`` at the epoch's end, which is when each is measured.

    Args:
        history: What :func:`companion.core.training.fit` returned.
        ax: Axes to draw into; a new figure if ``None``.
        title: Optional title.

    Returns:
        The axes.

    Raises:
        TypeError: If ``history`` is not a :class:`~companion.core.training.History` or ``ax``
            not matplotlib axes or ``None``.
    """
    if not isinstance(history, History):
        raise TypeError(
            f"history must be a companion.core.training.History, got {type(history).__name__}"
        )
    _check_ax(ax)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    epochs = np.arange(1, history.epochs + 1)
    ax.plot(epochs - 0.5, history.train_loss, "o-", ms=3, label="loss (train, mean over epoch)")
    ax.plot(epochs, history.val_loss, "s-", ms=3, label="val_loss (end of epoch)")
    ax.set_xlabel("epoch")
    ax.set_ylabel("loss")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def plot_curves(
    curves: Mapping[str, Sequence[float]],
    ax: plt.Axes | None = None,
    *,
    xlabel: str = "step",
    ylabel: str = "loss",
    title: str | None = None,
    logy: bool = False,
) -> plt.Axes:
    """Draw several named curves against their index on one set of axes.

    Args:
        curves: ``{label: values}``.
        ax: Axes to draw into; a new figure if ``None``.
        xlabel: Label of the x axis.
        ylabel: Label of the y axis.
        title: Optional title.
        logy: Use a logarithmic y axis.

    Returns:
        The axes.

    Raises:
        TypeError: If ``curves`` is not a mapping, ``ax`` not matplotlib axes or ``None``, or
            ``logy`` not a bool.
        ValueError: If ``curves`` is empty.
    """
    if not isinstance(curves, Mapping):
        raise TypeError(f"curves must be a mapping {{label: values}}, got {type(curves).__name__}")
    if not curves:
        raise ValueError("curves must be a non-empty mapping {label: values}")
    check_bool(logy, "logy")
    _check_ax(ax)
    if ax is None:
        _, ax = plt.subplots(figsize=(5, 3.2))
    for label, values in curves.items():
        ax.plot(np.arange(len(values)), np.asarray(values, dtype=float), label=label)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    if logy:
        ax.set_yscale("log")
    if title:
        ax.set_title(title)
    ax.legend(fontsize=8)
    return ax


def show_images(
    images: Sequence[np.ndarray] | np.ndarray,
    titles: Sequence[str] | None = None,
    *,
    ncols: int = 4,
    cmap: str = "gray",
    size: float = 2.2,
) -> plt.Figure:
    """Show 2-D images in a grid with optional titles, axes hidden.

    Args:
        images: A sequence of ``(H, W)`` arrays or tensors (moved to NumPy on the CPU).
        titles: One title per image, or ``None``.
        ncols: Images per row.
        cmap: Matplotlib colour map.
        size: Inches per image.

    Returns:
        The figure.

    Raises:
        TypeError: If ``images`` is not a sequence of 2-D arrays or tensors, ``ncols`` not an
            int, or ``size`` not a number.
        ValueError: If ``images`` is empty or holds an image that is not 2-D, ``titles`` does not
            have one entry per image, ``ncols < 1`` or ``size <= 0``.
    """
    if isinstance(images, (str, bytes)) or not isinstance(
        images, (Sequence, np.ndarray, torch.Tensor)
    ):
        raise TypeError(
            f"images must be a sequence of (H, W) arrays or tensors, got {type(images).__name__}"
        )
    check_int(ncols, "ncols", minimum=1)
    check_number(size, "size", low=0, low_inclusive=False)
    images = [
        im.detach().cpu().numpy() if isinstance(im, torch.Tensor) else np.asarray(im)
        for im in images
    ]
    if not images:
        raise ValueError("images must contain at least one image")
    for i, im in enumerate(images):
        if im.ndim != 2 or not np.issubdtype(im.dtype, np.number):
            raise ValueError(f"images[{i}] must be a 2-D numeric array, got shape {im.shape}")
    if titles is not None and len(titles) != len(images):
        raise ValueError(
            f"titles must have one entry per image, got {len(titles)} for {len(images)}"
        )
    ncols = min(ncols, len(images))
    nrows = -(-len(images) // ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(size * ncols, size * nrows), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < len(images):
            ax.imshow(images[i], cmap=cmap)
            if titles is not None:
                ax.set_title(titles[i], fontsize=9)
    fig.tight_layout()
    return fig
