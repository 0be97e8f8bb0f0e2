"""Gaussian heatmaps for keypoints: the targets of heatmap regression and soft-argmax.

Convention:
    Points are ``(x, y)`` in pixel coordinates: ``x`` is the column index, ``y`` the row index, and
    pixel centres sit at integers, so the top-left pixel's centre is ``(0, 0)`` and a point at
    ``(2.5, 0)`` lies half-way between the centres of columns 2 and 3. This is OpenCV's and kornia's
    pixel convention (kornia's ``normalized_coordinates=False``), with ``(x, y)`` order as in kornia and
    torchvision keypoints. ``size`` is given as ``(H, W)``, PyTorch's order for image shapes.
"""

from __future__ import annotations

import math

import torch

from companion.core.checks import check_number, check_pair, check_tensor

__all__ = ["gaussian_heatmaps"]


def gaussian_heatmaps(
    points: torch.Tensor,
    size: tuple[int, int],
    sigma: float,
) -> torch.Tensor:
    """Render one unnormalised Gaussian per keypoint: peak value 1 at the point.

    ``heatmaps[b, k, i, j] = exp(-((j - x)² + (i - y)²) / (2 σ²))`` with ``(x, y) = points[b, k]``.
    The peak is 1 exactly at the (possibly sub-pixel) point; on the pixel grid the largest value is 1
    only when the point sits on a pixel centre.

    Args:
        points: Keypoints ``(B, K, 2)`` as ``(x, y)`` pixel coordinates (see Convention), floating point.
        size: ``(H, W)`` of the heatmaps.
        sigma: Standard deviation of the Gaussian in pixels, > 0.

    Returns:
        Heatmaps ``(B, K, H, W)`` with the dtype and device of ``points``. A NaN point propagates
        (its map is NaN); a vanishing ``sigma`` gives a one-hot map at a point on a pixel centre.

    Raises:
        TypeError: If ``points`` is not a floating-point tensor or ``size`` is not a pair of ints.
        ValueError: If ``points`` is not ``(B, K, 2)``, a size entry is < 1, or ``sigma <= 0``.

    Example:
        >>> hm = gaussian_heatmaps(torch.tensor([[[2.0, 1.0]]]), size=(3, 4), sigma=1.0)
        >>> hm.shape, float(hm[0, 0, 1, 2])
        (torch.Size([1, 1, 3, 4]), 1.0)
    """
    check_tensor(points, "points", ndim=3, dims="(B, K, 2)", floating=True, size={-1: 2})
    height, width = check_pair(size, "size")
    sigma = check_number(sigma, "sigma", low=0, low_inclusive=False)
    ys = torch.arange(height, dtype=points.dtype, device=points.device)  # (H,)
    xs = torch.arange(width, dtype=points.dtype, device=points.device)  # (W,)
    dx2 = (xs - points[..., 0:1]) ** 2  # (B, K, 1) against (W,) -> (B, K, W)
    dy2 = (ys - points[..., 1:2]) ** 2  # (B, K, H)
    # The Gaussian is separable: exp(-(dx² + dy²)/2σ²) = exp(-dy²/2σ²) · exp(-dx²/2σ²).
    # 1/(2σ²) may overflow (σ = 1e-200): then it is inf, off-peak pixels get exp(-inf) = 0 and
    # the peak keeps exp(0) = 1 (0 · inf would be NaN, hence the where).
    two_var = 2 * sigma * sigma
    inv = math.inf if two_var == 0 else 1 / two_var
    gy = torch.where(dy2 == 0, 1.0, torch.exp(-dy2 * inv))  # (B, K, H)
    gx = torch.where(dx2 == 0, 1.0, torch.exp(-dx2 * inv))  # (B, K, W)
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, K, H, 1) * (B, K, 1, W) -> (B, K, H, W)
