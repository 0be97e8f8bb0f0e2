"""Synthetic hands: a 21-joint kinematic hand in front of a pinhole camera, drawn as RGB strokes.

Each hand has random finger curls and spreads, a random global rotation and position, and is
drawn as 20 coloured bones (one colour per finger) over a noisy dark background. The record holds
the image, the 3-D joints in camera coordinates and their projections in pixels, so that one data
set serves 3-D regression, 2-D regression and heatmap chapters alike.

Joint order (FreiHAND's):
    0 is the wrist; then four joints per finger, thumb, index, middle, ring, little, each listed
    from the palm to the tip: 1-4 thumb, 5-8 index, 9-12 middle, 13-16 ring, 17-20 little (the
    bones of the FreiHAND toolbox's ``plot_hand`` join 0-1-2-3-4, 0-5-6-7-8 and so on). The
    Rendered Hand Pose data set (RHD) keeps the wrist first and the same finger order but lists
    each finger's joints from the tip to the palm, and stores 42 keypoints per image (left hand
    0-20, right hand 21-41): a model trained on one and evaluated on the other needs a
    re-indexing, not just a reshape.

Units and camera:
    ``joints3d`` are in metres in the camera frame (OpenCV's and FreiHAND's: x right, y down,
    z forward, away from the camera), as FreiHAND's ``*_xyz.json`` and RHD's ``xyz`` are.
    ``joints2d`` are ``(x, y)`` pixel coordinates in the book's convention (x the column, y the
    row, pixel centres at integers; see :mod:`companion.core.keypoints`), given by the pinhole
    model ``x = f·X/Z + c_x``, ``y = f·Y/Z + c_y`` with ``c = ((W-1)/2, (H-1)/2)``, the image centre
    in that convention. ``intrinsics`` is the usual 3×3 matrix ``K``, so
    ``(K @ X)[:2] / (K @ X)[2]`` is the projection (FreiHAND's ``projectPoints``).

Size and distance:
    A hand of size factor ``s`` is the unit hand scaled by ``s`` *and placed ``s`` times as far
    away*, so its image does not depend on ``s`` at all: ``f·(sX)/(sZ) = f·X/Z``. Nothing in the
    drawing depends on absolute depth (occlusion order and the brightness cue use depth relative
    to the wrist, divided by ``s``). With ``scale_range`` wider than a point, absolute size and
    depth are therefore unrecoverable from the image, which is the keypoint-regression chapter's
    ambiguity experiment.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from companion.core.checks import check_int, check_number, check_pair, check_tensor

__all__ = [
    "FINGER_NAMES",
    "HAND_BONES",
    "HAND_JOINT_NAMES",
    "Hands",
    "hands",
    "project_points",
]

FINGER_NAMES = ("thumb", "index", "middle", "ring", "little")
HAND_JOINT_NAMES = (
    "wrist",
    *(f"{finger} {part}" for finger in FINGER_NAMES for part in ("1", "2", "3", "tip")),
)
# (parent, child) for each of the 20 bones; bone 4f + k belongs to finger f (palm to tip).
HAND_BONES = tuple((0 if k == 0 else 4 * f + k, 4 * f + k + 1) for f in range(5) for k in range(4))

# The unit hand (a right hand, size factor 1), in metres, in a hand frame: x toward the thumb
# side, y from the wrist toward the fingers, z out of the palm. Finger roots (joints 1, 5, 9,
# 13, 17), the in-plane direction of each finger (radians from +y toward +x) and its three
# bone lengths. Plausible adult proportions, not measured data.
_ROOTS = ((0.022, 0.025, 0.006), (0.024, 0.085, 0.0), (0.004, 0.090, 0.0), (-0.015, 0.085, 0.0), (-0.031, 0.075, 0.0))  # fmt: skip
_DIRECTIONS = (0.85, 0.12, 0.0, -0.12, -0.26)
_LENGTHS = ((0.035, 0.030, 0.025), (0.045, 0.025, 0.022), (0.050, 0.030, 0.024), (0.046, 0.028, 0.022), (0.036, 0.021, 0.020))  # fmt: skip
_CURL = (0.9, 1.4, 0.9)  # largest flexion of each finger joint, radians (about 50°, 80°, 50°)
_PALM_CENTRE = (0.0, 0.055, 0.0)  # the point placed at the sampled position
_COLOURS = ((1.0, 0.25, 0.2), (1.0, 0.85, 0.1), (0.25, 0.9, 0.3), (0.2, 0.6, 1.0), (0.85, 0.35, 1.0))  # fmt: skip


@dataclass(frozen=True)
class Hands:
    """Images of hands with their 21 joints (N hands, J = 21 joints in FreiHAND's order).

    Attributes:
        images: ``(N, 3, H, W)`` float RGB images, roughly in ``[0, 1]`` plus pixel noise.
        joints3d: ``(N, 21, 3)`` joint positions in metres, camera frame (x right, y down, z
            forward).
        joints2d: ``(N, 21, 2)`` their projections, ``(x, y)`` pixel coordinates (x column, y row,
            pixel centres at integers).
        scale: ``(N,)`` size factor of each hand (its distance was multiplied by the same factor).
        intrinsics: ``(3, 3)`` camera matrix ``K``, shared by all images.
    """

    images: torch.Tensor
    joints3d: torch.Tensor
    joints2d: torch.Tensor
    scale: torch.Tensor
    intrinsics: torch.Tensor


def project_points(points: torch.Tensor, intrinsics: torch.Tensor) -> torch.Tensor:
    """Pinhole projection of camera-frame points to ``(x, y)`` pixels: ``(K X)[:2] / Z``.

    Args:
        points: ``(..., 3)`` points in the camera frame, ``Z > 0``, floating point.
        intrinsics: ``(3, 3)`` camera matrix ``K``.

    Returns:
        ``(..., 2)`` pixel coordinates ``(x, y)``.

    Raises:
        TypeError: If an argument is not a floating-point tensor, or the two dtypes differ.
        ValueError: If ``points`` does not end in 3 or ``intrinsics`` is not ``(3, 3)``.

    NaN or inf in an input propagates to the result, and an empty ``(0, 3)`` gives ``(0, 2)``.

    Example:
        >>> K = torch.tensor([[50.0, 0.0, 15.5], [0.0, 50.0, 15.5], [0.0, 0.0, 1.0]])
        >>> project_points(torch.tensor([[0.1, -0.05, 0.5]]), K)
        tensor([[25.5000, 10.5000]])
    """
    check_tensor(points, "points", floating=True, dims="(..., 3)")
    if points.ndim < 1 or points.shape[-1] != 3:
        raise ValueError(f"points must have shape (..., 3), got {tuple(points.shape)}")
    check_tensor(intrinsics, "intrinsics", ndim=2, dims="(3, 3)", floating=True, size={0: 3, 1: 3})
    if intrinsics.dtype != points.dtype:
        raise TypeError(
            f"points and intrinsics must have the same dtype, got {points.dtype} and "
            f"{intrinsics.dtype}"
        )
    homogeneous = points @ intrinsics.T  # (..., 3) @ (3, 3) -> (..., 3)
    return homogeneous[..., :2] / homogeneous[..., 2:]


def _rotation(axis: int, angle: torch.Tensor) -> torch.Tensor:
    """``(N, 3, 3)`` rotations by ``angle`` (N,) about coordinate axis ``axis``."""
    c, s = torch.cos(angle), torch.sin(angle)
    one, zero = torch.ones_like(angle), torch.zeros_like(angle)
    i, j = [a for a in range(3) if a != axis]
    rows = [[zero] * 3 for _ in range(3)]
    rows[axis][axis] = one
    rows[i][i], rows[i][j], rows[j][i], rows[j][j] = c, -s, s, c
    return torch.stack([torch.stack(r, dim=-1) for r in rows], dim=-2)  # (N, 3, 3)


def _unit_hands(n: int, g: torch.Generator) -> torch.Tensor:
    """``(N, 21, 3)`` joints of unit-size hands in the hand frame, random curls and spreads."""
    roots = torch.tensor(_ROOTS)  # (5, 3)
    lengths = torch.tensor(_LENGTHS)  # (5, 3)
    spread = torch.tensor(_DIRECTIONS) + 0.15 * (2 * torch.rand(n, 5, generator=g) - 1)  # (N, 5)
    curl = torch.rand(n, 5, 1, generator=g)  # (N, 5, 1) one curl amount per finger
    jitter = 0.15 * (2 * torch.rand(n, 5, 3, generator=g) - 1)  # (N, 5, 3) per joint
    flexion = (curl * torch.tensor(_CURL) + jitter).clamp(min=-0.1)  # (N, 5, 3) radians
    total = flexion.cumsum(dim=-1)  # (N, 5, 3) accumulated flexion along each finger
    # In-plane finger direction d = (sin a, cos a, 0); curling turns it toward the palm normal
    # n = (0, 0, 1): bone direction = cos(t)·d + sin(t)·n.
    d = torch.stack((torch.sin(spread), torch.cos(spread)), dim=-1)  # (N, 5, 2)
    bone_xy = torch.cos(total).unsqueeze(-1) * d.unsqueeze(-2)  # (N, 5, 3, 2)
    bone_z = torch.sin(total).unsqueeze(-1)  # (N, 5, 3, 1)
    bones = torch.cat((bone_xy, bone_z), dim=-1) * lengths.unsqueeze(-1)  # (N, 5, 3, 3)
    chain = roots[:, None, :] + bones.cumsum(dim=2)  # (N, 5, 3, 3) joints 2-4 of each finger
    fingers = torch.cat((roots.expand(n, 5, 3).unsqueeze(2), chain), dim=2)  # (N, 5, 4, 3)
    wrist = torch.zeros(n, 1, 3)
    return torch.cat((wrist, fingers.reshape(n, 20, 3)), dim=1)  # (N, 5, 4, 3) -> (N, 21, 3)


def hands(
    n: int,
    *,
    size: tuple[int, int] = (32, 32),
    seed: int = 0,
    scale_range: tuple[float, float] = (1.0, 1.0),
    depth_range: tuple[float, float] = (0.45, 0.55),
    tilt: float = 0.6,
    noise: float = 0.02,
) -> Hands:
    """Draw ``n`` random hands and return their images, 3-D joints and 2-D projections.

    The unit hand gets a random curl per finger (with per-joint jitter) and spread, then a global
    rotation: a full turn about the viewing axis and up to ``±tilt`` radians about the two other
    axes, starting from the palm facing the camera with the fingers up. Its palm centre is put at
    depth ``z0 ~ U(depth_range)`` (and a small sideways offset); then the whole hand, offset
    included, is scaled by ``s ~ U(scale_range)``. The focal length is ``1.6·W`` pixels, so a
    unit hand at 0.5 m spans about 60 % of the image. Each bone is a soft stroke, nearer
    bones drawn over farther ones, brighter the nearer they are to the camera *relative to the
    wrist*; the palm bones are darker than the finger bones. Everything is vectorised over hands
    and pixels (the only loop is over the 20 bones); everything comes from ``seed``.

    Args:
        n: Number of hands, >= 1.
        size: ``(H, W)`` of the images, each >= 16.
        seed: Seed of the generator that draws everything, >= 0.
        scale_range: ``(low, high)`` of the size factor ``s``, ``0 < low <= high``; ``(1, 1)``
            gives hands of one size.
        depth_range: ``(low, high)`` depth in metres of the palm centre of the unit hand,
            ``0.2 <= low <= high``.
        tilt: Largest out-of-plane rotation in radians, in ``[0, π/2]``.
        noise: Standard deviation of the additive pixel noise, >= 0.

    Returns:
        A :class:`Hands` with float32 tensors on the CPU.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If an argument is out of range.

    Example:
        >>> data = hands(4, size=(32, 32), seed=0)
        >>> data.images.shape, data.joints3d.shape, data.joints2d.shape
        (torch.Size([4, 3, 32, 32]), torch.Size([4, 21, 3]), torch.Size([4, 21, 2]))
        >>> HAND_JOINT_NAMES[0], HAND_JOINT_NAMES[4], HAND_JOINT_NAMES[5]
        ('wrist', 'thumb tip', 'index 1')
    """
    check_int(n, "n", minimum=1)
    height, width = check_pair(size, "size")
    if min(height, width) < 16:
        raise ValueError(f"size must be at least (16, 16), got {tuple(size)}")
    check_int(seed, "seed", minimum=0)
    s_low, s_high = _check_range(scale_range, "scale_range", minimum=0.0, strict=True)
    z_low, z_high = _check_range(depth_range, "depth_range", minimum=0.2, strict=False)
    tilt = check_number(tilt, "tilt", low=0, high=math.pi / 2)
    noise = check_number(noise, "noise", low=0)
    g = torch.Generator().manual_seed(seed)

    def uniform(low: float, high: float, *shape: int) -> torch.Tensor:
        return low + (high - low) * torch.rand(*shape, generator=g)

    local = _unit_hands(n, g) - torch.tensor(_PALM_CENTRE)  # (N, 21, 3) about the palm centre
    # Hand frame -> camera frame with the palm toward the camera and the fingers up: diag(1, -1, -1).
    facing = torch.diag(torch.tensor([1.0, -1.0, -1.0]))
    rotation = (
        _rotation(2, uniform(-math.pi, math.pi, n))
        @ _rotation(1, uniform(-tilt, tilt, n))
        @ _rotation(0, uniform(-tilt, tilt, n))
        @ facing
    )  # (N, 3, 3)
    z0 = uniform(z_low, z_high, n)  # (N,)
    offset = torch.stack((uniform(-0.02, 0.02, n), uniform(-0.02, 0.02, n), z0), dim=-1)  # (N, 3)
    unit = local @ rotation.transpose(1, 2) + offset[:, None, :]  # (N, 21, 3) unit hand, camera
    scale = uniform(s_low, s_high, n)  # (N,)
    joints3d = scale[:, None, None] * unit  # (N, 21, 3): size and distance scaled together

    focal = 1.6 * width
    intrinsics = torch.tensor(
        [[focal, 0.0, (width - 1) / 2], [0.0, focal, (height - 1) / 2], [0.0, 0.0, 1.0]]
    )
    joints2d = project_points(joints3d, intrinsics)  # (N, 21, 2)
    images = _draw(joints2d, unit[..., 2] - unit[:, :1, 2], (height, width), g)
    images = images + noise * torch.randn(images.shape, generator=g)
    return Hands(images, joints3d, joints2d, scale, intrinsics)


def _check_range(value: object, name: str, *, minimum: float, strict: bool) -> tuple[float, float]:
    if not isinstance(value, (tuple, list)) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of numbers (low, high), got {value!r}")
    low = check_number(value[0], f"{name}[0]", low=minimum, low_inclusive=not strict)
    high = check_number(value[1], f"{name}[1]", low=minimum, low_inclusive=not strict)
    if high < low:
        raise ValueError(f"{name} must have low <= high, got {tuple(value)}")
    return low, high


def _draw(
    joints2d: torch.Tensor, rel_depth: torch.Tensor, size: tuple[int, int], g: torch.Generator
) -> torch.Tensor:
    """Composite the 20 bones front to back: ``(N, 21, 2)`` pixels -> ``(N, 3, H, W)`` images.

    ``rel_depth`` is ``(N, 21)``: each joint's depth minus the wrist's, for the unit hand (so it
    carries no information about the size factor).
    """
    n = joints2d.shape[0]
    height, width = size
    parents = torch.tensor([p for p, _ in HAND_BONES])  # (20,)
    children = torch.tensor([c for _, c in HAND_BONES])  # (20,)
    start, end = joints2d[:, parents], joints2d[:, children]  # (N, 20, 2) each
    bone_depth = 0.5 * (rel_depth[:, parents] + rel_depth[:, children])  # (N, 20)
    finger = torch.arange(20) // 4  # (20,)
    palm = torch.tensor([k % 4 == 0 for k in range(20)])  # (20,) the wrist-to-root bones
    colour = torch.tensor(_COLOURS)[finger] * torch.where(palm, 0.55, 1.0)[:, None]  # (20, 3)
    shade = (0.8 - 3.0 * bone_depth).clamp(0.45, 1.0)  # (N, 20) nearer (smaller z) is brighter
    order = bone_depth.argsort(dim=1)  # (N, 20) nearest bone first
    width_px = 0.55 * width / 32  # stroke standard deviation in pixels

    px = torch.arange(width, dtype=torch.float32).expand(height, width)  # (H, W) x of each pixel
    py = torch.arange(height, dtype=torch.float32)[:, None].expand(height, width)  # (H, W) its y
    background = 0.12 + 0.04 * torch.rand(n, 3, 1, 1, generator=g)  # (N, 3, 1, 1)
    out = torch.zeros(n, 3, height, width)
    transmittance = torch.ones(n, 1, height, width)
    rows = torch.arange(n)
    for rank in range(20):  # front to back; vectorised over hands and pixels
        bone = order[:, rank]  # (N,)
        a, ab = start[rows, bone], end[rows, bone] - start[rows, bone]  # (N, 2) each
        ax, ay = a[:, 0, None, None], a[:, 1, None, None]  # (N, 1, 1)
        abx, aby = ab[:, 0, None, None], ab[:, 1, None, None]  # (N, 1, 1)
        inv_len2 = 1 / (ab * ab).sum(-1).clamp(min=1e-6)[:, None, None]  # (N, 1, 1)
        # Distance from each pixel to the segment a-b: project on the segment, clamp, subtract.
        dx, dy = px - ax, py - ay  # (N, H, W) each
        t = (dx * abx).addcmul_(dy, aby).mul_(inv_len2).clamp_(0, 1)  # (N, H, W)
        dx.sub_(t * abx)
        dy.sub_(t * aby)
        dist2 = dx.mul_(dx).addcmul_(dy, dy)  # (N, H, W)
        alpha = dist2.mul_(-0.5 / width_px**2).exp_().mul_(0.95).unsqueeze(1)  # (N, 1, H, W)
        rgb = (colour[bone] * shade[rows, bone][:, None])[:, :, None, None]  # (N, 3, 1, 1)
        covered = transmittance * alpha  # (N, 1, H, W) what this bone adds in front of the rest
        out.addcmul_(covered, rgb)
        transmittance.sub_(covered)
    return out + transmittance * background
