"""Cartoon faces with five landmarks and their heatmaps (weight-decay and soft-argmax chapters)."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from companion.core.checks import check_int, check_number, check_pair
from companion.core.heatmaps import gaussian_heatmaps

__all__ = ["LANDMARK_NAMES", "Landmarks", "landmarks"]

LANDMARK_NAMES = ("left eye", "right eye", "nose", "mouth left", "mouth right")
# Where each landmark sits on a face of radius 1 centred at the origin, (x, y) with y pointing down.
_FACE_TEMPLATE = (
    (-0.38, -0.22),
    (0.38, -0.22),
    (0.0, 0.12),
    (-0.32, 0.45),
    (0.32, 0.45),
)


@dataclass(frozen=True)
class Landmarks:
    """Face-like drawings with K = 5 landmarks.

    Attributes:
        images: ``(N, 1, H, W)`` float images, roughly in ``[0, 1]`` plus pixel noise.
        points: ``(N, K, 2)`` landmark positions as ``(x, y)`` pixel coordinates (x = column,
            y = row, pixel centres at integers; see :mod:`companion.core.heatmaps`), sub-pixel.
        heatmaps: ``(N, K, H, W)`` Gaussian heatmaps of ``points`` with peak 1 and width ``sigma``.
    """

    images: torch.Tensor
    points: torch.Tensor
    heatmaps: torch.Tensor


def landmarks(
    n: int,
    *,
    size: tuple[int, int] = (32, 32),
    sigma: float = 1.5,
    noise: float = 0.05,
    seed: int = 0,
) -> Landmarks:
    """Draw ``n`` cartoon faces and their five landmarks (eyes, nose tip, mouth corners).

    Each face has a random centre, radius (a quarter to a third of the image), rotation (±20°) and a
    small independent jitter of every landmark, so the positions are sub-pixel and varied. The image
    shows a head outline, a faint face fill, bright eyes, a smaller nose blob and a mouth stroke
    between the mouth corners, plus Gaussian pixel noise. Everything is generated from ``seed``.

    Args:
        n: Number of images, >= 1.
        size: ``(H, W)`` of the images and heatmaps, each >= 16.
        sigma: Width of the target heatmaps' Gaussians in pixels, > 0.
        noise: Standard deviation of the additive pixel noise, >= 0.
        seed: Seed of the generator that draws everything.

    Returns:
        A :class:`Landmarks` with float32 tensors on the CPU.

    Raises:
        ValueError: If an argument is out of range.

    Example:
        >>> data = landmarks(4, size=(32, 32))
        >>> data.images.shape, data.points.shape, data.heatmaps.shape
        (torch.Size([4, 1, 32, 32]), torch.Size([4, 5, 2]), torch.Size([4, 5, 32, 32]))
    """
    check_int(n, "n", minimum=1)
    height, width = check_pair(size, "size")
    if min(height, width) < 16:
        raise ValueError(f"size must be at least (16, 16), got {tuple(size)}")
    check_number(sigma, "sigma", low=0, low_inclusive=False)
    check_number(noise, "noise", low=0)
    check_int(seed, "seed", minimum=0)
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    side = min(height, width)
    radius = uniform(0.26, 0.34, n) * side  # (N,)
    cx = width / 2 - 0.5 + uniform(-0.12, 0.12, n) * width  # (N,)
    cy = height / 2 - 0.5 + uniform(-0.12, 0.12, n) * height  # (N,)
    angle = uniform(-0.35, 0.35, n)  # (N,) radians, about ±20°
    template = torch.tensor(_FACE_TEMPLATE)  # (K, 2)
    local = template + 0.04 * torch.randn(n, len(template), 2, generator=g)  # (N, K, 2)
    cos, sin = torch.cos(angle)[:, None], torch.sin(angle)[:, None]  # (N, 1)
    rx = cos * local[..., 0] - sin * local[..., 1]  # (N, K)
    ry = sin * local[..., 0] + cos * local[..., 1]  # (N, K)
    points = torch.stack(
        (cx[:, None] + radius[:, None] * rx, cy[:, None] + radius[:, None] * ry), dim=-1
    )  # (N, K, 2)

    ys = torch.arange(height, dtype=torch.float32)[None, :, None]  # (1, H, 1)
    xs = torch.arange(width, dtype=torch.float32)[None, None, :]  # (1, 1, W)
    dist = torch.sqrt((xs - cx[:, None, None]) ** 2 + (ys - cy[:, None, None]) ** 2)  # (N, H, W)
    r = radius[:, None, None]  # (N, 1, 1)
    outline = torch.exp(-((dist - r) ** 2) / (2 * 0.8**2))  # (N, H, W)
    fill = 0.25 * torch.sigmoid(2.0 * (r - dist))  # (N, H, W)
    blobs = gaussian_heatmaps(points[:, :3], (height, width), sigma=1.1)  # (N, 3, H, W) eyes, nose
    eyes_nose = blobs[:, 0] + blobs[:, 1] + 0.7 * blobs[:, 2]  # (N, H, W)
    # The mouth: distance from each pixel to the segment between the two mouth corners.
    a, b = points[:, 3, None, None, :], points[:, 4, None, None, :]  # (N, 1, 1, 2) each
    pix = torch.stack(torch.broadcast_tensors(xs, ys), dim=-1)  # (1, H, W, 2)
    ab = b - a  # (N, 1, 1, 2)
    t = (((pix - a) * ab).sum(-1) / (ab * ab).sum(-1)).clamp(0, 1)  # (N, H, W)
    nearest = a + t.unsqueeze(-1) * ab  # (N, H, W, 2)
    mouth = 0.8 * torch.exp(-((pix - nearest) ** 2).sum(-1) / (2 * 0.7**2))  # (N, H, W)
    image = fill + outline + eyes_nose + mouth  # (N, H, W)
    image = image + noise * torch.randn(image.shape, generator=g)
    heatmaps = gaussian_heatmaps(points, (height, width), sigma=sigma)  # (N, K, H, W)
    return Landmarks(image.unsqueeze(1), points, heatmaps)  # images (N, H, W) -> (N, 1, H, W)
