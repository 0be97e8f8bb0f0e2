"""Keypoint operations shared by the heatmap chapters: pixel grid, soft-argmax, argmax, error.

The hard argmax of a heatmap is a pixel index, a step function whose gradient is zero almost
everywhere; :func:`soft_argmax2d` replaces it by the expected ``(x, y)`` under a softmax over the
pixels. The soft-argmax chapter explains both; the keypoint-regression chapter uses them.

Convention:
    Points are ``(x, y)`` in pixel coordinates: ``x`` is the column index, ``y`` the row index, pixel
    centres at integers, exactly as :func:`companion.core.heatmaps.gaussian_heatmaps` draws them.
    This is kornia's ``normalized_coordinates=False``. ``beta`` is an *inverse* temperature: it
    multiplies the heatmap. kornia's ``spatial_soft_argmax2d(input, temperature)`` divides the input
    by its ``temperature`` (kornia 0.9), so ``temperature = 1 / beta`` gives the same result.
"""

from __future__ import annotations

import torch

from companion.core.checks import (
    check_floating_dtype,
    check_int,
    check_number,
    check_same_shape,
    check_tensor,
)
from companion.core.device import resolve_device

__all__ = ["argmax2d", "check_heatmaps", "keypoint_error", "pixel_grid", "soft_argmax2d"]


def pixel_grid(
    height: int,
    width: int,
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """The ``(x, y)`` pixel coordinates of every pixel, in row-major (flattening) order.

    Row ``i·W + j`` holds ``(j, i)``: the coordinates of the pixel that ``reshape(..., H*W)`` puts at
    that position. These are the frozen weights of the soft-argmax chapter's ``SoftArgmax2d`` layer.

    Args:
        height: ``H``, >= 1.
        width: ``W``, >= 1.
        dtype: Floating dtype of the result.
        device: Device of the result.

    Returns:
        ``(H*W, 2)`` coordinates ``(x, y)``.

    Raises:
        TypeError: If ``height`` or ``width`` is not an int, ``dtype`` is not a floating
            ``torch.dtype``, or ``device`` is not a device, a string or ``None``.
        ValueError: If ``height`` or ``width`` is < 1, or ``device`` names no torch device.

    Example:
        >>> pixel_grid(2, 3).tolist()
        [[0.0, 0.0], [1.0, 0.0], [2.0, 0.0], [0.0, 1.0], [1.0, 1.0], [2.0, 1.0]]
    """
    check_int(height, "height", minimum=1)
    check_int(width, "width", minimum=1)
    check_floating_dtype(dtype, "dtype")
    device = resolve_device(device)
    ys = torch.arange(height, dtype=dtype, device=device)  # (H,)
    xs = torch.arange(width, dtype=dtype, device=device)  # (W,)
    grid_y, grid_x = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    return torch.stack((grid_x, grid_y), dim=-1).reshape(height * width, 2)  # (H, W, 2) -> (H*W, 2)


def check_heatmaps(heatmaps: object) -> torch.Tensor:
    """Check that ``heatmaps`` is a floating-point ``(B, K, H, W)`` tensor and return it.

    Args:
        heatmaps: The object to check.

    Returns:
        ``heatmaps`` itself.

    Raises:
        TypeError: If it is not a floating-point tensor.
        ValueError: If it is not 4-D.

    Example:
        >>> check_heatmaps(torch.zeros(1, 2, 3, 4)).shape
        torch.Size([1, 2, 3, 4])
    """
    check_tensor(heatmaps, "heatmaps", ndim=4, dims="(B, K, H, W)", floating=True)
    return heatmaps  # type: ignore[return-value]


def soft_argmax2d(heatmaps: torch.Tensor, beta: float = 1.0) -> torch.Tensor:
    """Expected ``(x, y)`` under ``softmax(beta · heatmap)`` over each map's ``H·W`` pixels.

    ``p = softmax(beta · heatmaps[b, k].flatten())`` and the result is ``Σ p · (x, y)``, so it always
    lies inside the image's convex hull of pixel centres. The gradient with respect to pixel ``(i, j)``
    is ``beta · p_ij · ((j, i) - result)``: non-zero wherever ``p`` is, unlike argmax.

    The largest score is subtracted before scaling by ``beta``, so even ``beta = 1e300`` gives the
    hard argmax (ties averaged) instead of ``inf - inf = NaN``. NaN or inf in ``heatmaps``
    propagates to the result (NaN), as in ``torch.softmax``.

    Two things follow from the expectation. A small ``beta`` leaves ``p`` close to uniform and pulls
    the result toward the image centre; background mass does the same. Two equal modes give their
    midpoint, which is neither.

    Args:
        heatmaps: ``(B, K, H, W)`` floating point scores (logits, or a heatmap times ``beta``).
        beta: Inverse temperature, > 0 (see the module's Convention).

    Returns:
        ``(B, K, 2)`` expected ``(x, y)`` in pixels, with the dtype and device of ``heatmaps``.

    Raises:
        TypeError: If ``heatmaps`` is not a floating-point tensor or ``beta`` not a number.
        ValueError: If ``heatmaps`` is not 4-D or ``beta <= 0``.

    Example:
        >>> hm = torch.zeros(1, 1, 3, 4)
        >>> hm[0, 0, 2, 1] = 100.0  # one dominant pixel: row 2, column 1
        >>> soft_argmax2d(hm)
        tensor([[[1., 2.]]])
    """
    check_heatmaps(heatmaps)
    beta = check_number(beta, "beta", low=0, low_inclusive=False)
    b, k, height, width = heatmaps.shape
    scores = heatmaps.reshape(b, k, height * width)  # (B, K, H, W) -> (B, K, H*W)
    # The softmax ignores a constant shift, so the maximum is subtracted without a gradient: with
    # one, amax splits it between tied maxima and the gradient there is wrong (a Gaussian peak
    # half-way between two pixel centres ties them exactly).
    shifted = scores - scores.amax(dim=-1, keepdim=True).detach()  # (B, K, H*W), <= 0
    # beta capped at the dtype's largest number, so that beta * 0 stays 0 (inf * 0 would be NaN)
    logits = shifted * min(beta, torch.finfo(scores.dtype).max)
    p = torch.softmax(logits, dim=-1)  # (B, K, H*W)
    grid = pixel_grid(height, width, dtype=heatmaps.dtype, device=heatmaps.device)  # (H*W, 2)
    return p @ grid  # (B, K, H*W) @ (H*W, 2) -> (B, K, 2)


def argmax2d(heatmaps: torch.Tensor) -> torch.Tensor:
    """The ``(x, y)`` of each map's largest pixel: the hard, non-differentiable decoder.

    Ties go to the first pixel in row-major order (``torch.argmax``'s rule). NaN propagates in
    ``torch.argmax``'s way: a map holding NaN gives the position of its (first) NaN.

    Args:
        heatmaps: ``(B, K, H, W)`` floating point heatmaps.

    Returns:
        ``(B, K, 2)`` integer-valued ``(x, y)`` in the dtype of ``heatmaps``, with no gradient.

    Raises:
        TypeError: If ``heatmaps`` is not a floating-point tensor.
        ValueError: If ``heatmaps`` is not 4-D.

    Example:
        >>> hm = torch.zeros(1, 1, 3, 4)
        >>> hm[0, 0, 2, 1] = 0.9
        >>> argmax2d(hm)
        tensor([[[1., 2.]]])
    """
    check_heatmaps(heatmaps)
    b, k, height, width = heatmaps.shape
    index = heatmaps.detach().reshape(b, k, height * width).argmax(dim=-1)  # (B, K, H*W) -> (B, K)
    grid = pixel_grid(height, width, dtype=heatmaps.dtype, device=heatmaps.device)  # (H*W, 2)
    return grid[index]  # (B, K) indexes (H*W, 2) -> (B, K, 2)


def keypoint_error(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Mean Euclidean distance in pixels between predicted and true keypoints.

    Args:
        pred: ``(B, K, 2)`` predicted ``(x, y)``.
        target: ``(B, K, 2)`` true ``(x, y)``, the same shape.

    Returns:
        A 0-d tensor: the mean over all ``B·K`` keypoints of ``‖pred - target‖₂``, computed with
        ``hypot`` so that coordinates near 1e20 do not overflow. NaN in an input propagates to
        the result.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If an argument is not ``(B, K, 2)``, the shapes differ, or there are no
            keypoints (``B·K = 0``: the mean of nothing).

    Example:
        >>> keypoint_error(torch.tensor([[[3.0, 4.0]]]), torch.zeros(1, 1, 2))
        tensor(5.)
    """
    check_tensor(pred, "pred", ndim=3, dims="(B, K, 2)", floating=True, size={-1: 2})
    check_tensor(target, "target", ndim=3, dims="(B, K, 2)", floating=True, size={-1: 2})
    check_same_shape(pred, "pred", target, "target")
    if pred.numel() == 0:
        raise ValueError(f"pred must hold at least one keypoint, got shape {tuple(pred.shape)}")
    d = pred - target  # (B, K, 2)
    return torch.hypot(d[..., 0], d[..., 1]).mean()
