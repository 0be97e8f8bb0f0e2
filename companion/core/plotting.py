"""Presentation helpers that several chapters share: figures, and numbers glued into the prose.

Chapter-specific figures live in the notebooks."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import matplotlib.pyplot as plt
import numpy as np
import torch

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
    """
    if not isinstance(history, History):
        raise TypeError(
            f"history must be a companion.core.training.History, got {type(history).__name__}"
        )
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
    """
    if not isinstance(curves, Mapping) or not curves:
        raise ValueError("curves must be a non-empty mapping {label: values}")
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
    """
    images = [
        im.detach().cpu().numpy() if isinstance(im, torch.Tensor) else np.asarray(im)
        for im in images
    ]
    if not images:
        raise ValueError("images must contain at least one image")
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
