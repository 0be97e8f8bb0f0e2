"""Synthetic detection scenes: a few filled shapes per image and their bounding boxes (RPN chapter).

Each image holds one to ``max_shapes`` shapes, rectangles or ellipses, of random size, aspect ratio
and brightness, on a noisy dark background. The shapes sit in distinct cells of a 2×2 grid, so they
never overlap and every box is fully visible: what a proposal network has to find is exactly what
the boxes say.

Convention:
    Boxes are ``(x1, y1, x2, y2)`` in continuous pixel coordinates, torchvision's convention: pixel
    (row ``i``, column ``j``) covers ``[j, j + 1) × [i, i + 1)``, so a box's width is ``x2 − x1``
    and a box covering columns ``0..W−1`` is ``x1 = 0, x2 = W``. A pixel is painted when its centre
    ``(j + 0.5, i + 0.5)`` lies inside the shape. (The keypoint chapters put pixel centres at
    integers instead; boxes follow the detection libraries.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from companion.core.checks import check_int, check_number, check_pair

__all__ = ["SHAPE_KINDS", "BoxScenes", "box_scenes"]

SHAPE_KINDS = ("rectangle", "ellipse")
_GRID = 2  # shapes live in distinct cells of a _GRID × _GRID grid, so at most 4 per image


@dataclass(frozen=True)
class BoxScenes:
    """Images with a few shapes each and the shapes' boxes, padded to ``M`` boxes per image.

    Attributes:
        images: ``(N, 1, H, W)`` float32 images, shapes in ``[0.5, 1]`` plus noise on a dark ground.
        boxes: ``(N, M, 4)`` float32 boxes ``(x1, y1, x2, y2)`` in pixels; rows where ``valid`` is
            False are zeros (padding).
        valid: ``(N, M)`` bool, which rows of ``boxes`` are real shapes.
        kinds: ``(N, M)`` int64 index into :data:`SHAPE_KINDS` (``-1`` on padding).
    """

    images: torch.Tensor
    boxes: torch.Tensor
    valid: torch.Tensor
    kinds: torch.Tensor

    @property
    def counts(self) -> torch.Tensor:
        """``(N,)`` int64 number of shapes in each image."""
        return self.valid.sum(dim=1)


def box_scenes(
    n: int,
    *,
    size: tuple[int, int] = (64, 64),
    max_shapes: int = 3,
    min_side: float = 5.0,
    max_aspect: float = 2.5,
    noise: float = 0.08,
    seed: int = 0,
) -> BoxScenes:
    """Draw ``n`` scenes of one to ``max_shapes`` non-overlapping shapes and their boxes.

    Per shape: a kind (rectangle or ellipse), a size ``s`` log-uniform between ``min_side`` and
    the grid cell's side minus 2 pixels, an aspect ratio ``h / w`` log-uniform in
    ``[1 / max_aspect, max_aspect]`` (width ``s / sqrt(r)``, height ``s · sqrt(r)``, each clipped
    to the cell), a sub-pixel position inside its cell, and a brightness in ``[0.5, 1]``.
    Everything is drawn from one generator seeded with ``seed``.

    Args:
        n: Number of images, >= 1.
        size: ``(H, W)`` of the images, each >= 32.
        max_shapes: Most shapes per image, in ``1..4``; each image has a uniform count in
            ``1..max_shapes``.
        min_side: Smallest geometric-mean side ``sqrt(w · h)`` in pixels, >= 2.
        max_aspect: Largest ``h / w`` (and ``w / h``), >= 1.
        noise: Standard deviation of the Gaussian pixel noise, >= 0.
        seed: Seed of the generator that draws everything, >= 0.

    Returns:
        A :class:`BoxScenes` with ``M = max_shapes``, on the CPU.

    Raises:
        TypeError: If a count or size is not an int, or a number is not a real number.
        ValueError: If an argument is out of range.

    Example:
        >>> data = box_scenes(8, size=(64, 64), seed=0)
        >>> data.images.shape, data.boxes.shape, data.valid.shape
        (torch.Size([8, 1, 64, 64]), torch.Size([8, 3, 4]), torch.Size([8, 3]))
        >>> bool((data.boxes[..., 2:] > data.boxes[..., :2])[data.valid].all())
        True
    """
    check_int(n, "n", minimum=1)
    height, width = check_pair(size, "size")
    if min(height, width) < 32:
        raise ValueError(f"size must be at least (32, 32), got {tuple(size)}")
    check_int(max_shapes, "max_shapes", minimum=1)
    if max_shapes > _GRID * _GRID:
        raise ValueError(f"max_shapes must be in 1..{_GRID * _GRID}, got {max_shapes}")
    cell_h, cell_w = height / _GRID, width / _GRID
    largest = min(cell_h, cell_w) - 2.0
    check_number(min_side, "min_side", low=2.0, high=largest)
    check_number(max_aspect, "max_aspect", low=1.0)
    check_number(noise, "noise", low=0)
    check_int(seed, "seed", minimum=0)
    g = torch.Generator().manual_seed(seed)
    m = max_shapes

    def uniform(low: float, high: float | torch.Tensor, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    counts = torch.randint(1, m + 1, (n,), generator=g)  # (N,)
    valid = torch.arange(m)[None, :] < counts[:, None]  # (N, M)
    # Distinct grid cells: the first M of a random permutation of the cells, per image.
    cells = torch.argsort(torch.rand(n, _GRID * _GRID, generator=g), dim=1)[:, :m]  # (N, M)
    row, col = cells // _GRID, cells % _GRID  # (N, M) each
    side = torch.exp(uniform(math.log(min_side), math.log(largest), n, m))  # (N, M)
    log_r = uniform(-1.0, 1.0, n, m) * math.log(max_aspect)  # (N, M) log(h / w)
    w = (side * torch.exp(-0.5 * log_r)).clamp(max=cell_w - 2.0)  # (N, M)
    h = (side * torch.exp(0.5 * log_r)).clamp(max=cell_h - 2.0)  # (N, M)
    x1 = col * cell_w + 1.0 + uniform(0.0, 1.0, n, m) * (cell_w - 2.0 - w)  # (N, M)
    y1 = row * cell_h + 1.0 + uniform(0.0, 1.0, n, m) * (cell_h - 2.0 - h)  # (N, M)
    boxes = torch.stack((x1, y1, x1 + w, y1 + h), dim=-1)  # (N, M, 4)
    kinds = torch.randint(0, len(SHAPE_KINDS), (n, m), generator=g)  # (N, M)
    brightness = uniform(0.5, 1.0, n, m)  # (N, M)

    xs = torch.arange(width, dtype=torch.float32)[None, None, None, :] + 0.5  # (1, 1, 1, W)
    ys = torch.arange(height, dtype=torch.float32)[None, None, :, None] + 0.5  # (1, 1, H, 1)
    bx1, by1, bx2, by2 = (boxes[..., i, None, None] for i in range(4))  # (N, M, 1, 1) each
    in_rect = (xs >= bx1) & (xs < bx2) & (ys >= by1) & (ys < by2)  # (N, M, H, W)
    u = (xs - (bx1 + bx2) / 2) / ((bx2 - bx1) / 2)  # (N, M, 1, W)
    v = (ys - (by1 + by2) / 2) / ((by2 - by1) / 2)  # (N, M, H, 1)
    in_ellipse = u**2 + v**2 <= 1.0  # (N, M, H, W)
    inside = torch.where(kinds[..., None, None] == 0, in_rect, in_ellipse) & valid[..., None, None]
    paint = (inside * brightness[..., None, None]).amax(dim=1)  # (N, M, H, W) -> (N, H, W)
    images = paint + noise * torch.randn(paint.shape, generator=g)  # (N, H, W)
    boxes = torch.where(valid[..., None], boxes, torch.zeros(()))  # (N, M, 4)
    kinds = torch.where(valid, kinds, torch.full((), -1))  # (N, M)
    return BoxScenes(images.unsqueeze(1), boxes, valid, kinds)  # (N, H, W) -> (N, 1, H, W)
