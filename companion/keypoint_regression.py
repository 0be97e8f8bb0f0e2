"""One network, many outputs: regressing all the keypoints of a hand at once.

A regression network does not care how many numbers it outputs. For ``J`` keypoints in ``D``
dimensions the last layer is one ``nn.Linear(features, J*D)``; the only decisions are which of
its ``J*D`` rows means which coordinate (the *layout*), and which loss compares the output with
the target. This module holds the pieces of the keypoint-regression chapter:

- :func:`mpjpe`, the mean per-joint position error (Euclidean, optionally root-relative), and
  :func:`per_joint_error`, :func:`coordinate_rmse`, :func:`per_keypoint_rmse`;
- :class:`KeypointHead`, the linear head whose output is read as ``(B, J, D)``, in either layout,
  and :func:`to_coordinate_major`, which permutes a head's rows from one layout to the other;
- :func:`regression_loss`: per-coordinate MSE, one global RMSE, per-joint Euclidean, L1;
- :class:`HandRegressor` (a small CNN + :class:`KeypointHead`) and :class:`HeatmapRegressor` (the
  same trunk, per-joint score maps and soft-argmax), and :func:`train_keypoints`, which trains
  either on images and ``(N, J, D)`` targets.

Convention:
    Joint-major order: the flat output ``(B, J*D)`` holds ``(x_0, y_0, z_0, x_1, ...)``, so row
    ``j*D + d`` of the linear layer is joint ``j``, coordinate ``d`` and
    ``flat.view(B, J, D)`` reads it back. Coordinate-major order holds all x first
    (``(x_0, ..., x_{J-1}, y_0, ...)``): row ``d*J + j``, read back by
    ``flat.view(B, D, J).transpose(1, 2)``. Keypoints and pixels follow
    :mod:`companion.core.keypoints`: ``(x, y)``, x the column, y the row, pixel centres at integers.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_callable,
    check_choice,
    check_finite,
    check_int,
    check_module,
    check_nonempty,
    check_number,
    check_same_shape,
    check_tensor,
)
from companion.core.device import eval_mode, resolve_device, seeded
from companion.core.keypoints import soft_argmax2d
from companion.core.training import check_finite_loss

__all__ = [
    "LOSSES",
    "HandRegressor",
    "HeatmapRegressor",
    "KeypointHead",
    "KeypointHistory",
    "KeypointRegressionConfig",
    "coordinate_rmse",
    "mpjpe",
    "per_joint_error",
    "per_keypoint_rmse",
    "predict",
    "regression_loss",
    "to_coordinate_major",
    "train_keypoints",
]

Layout = Literal["joint-major", "coordinate-major"]
LAYOUTS: tuple[str, ...] = ("joint-major", "coordinate-major")
LossName = Literal["mse", "rmse", "mpjpe", "l1"]
LOSSES: tuple[str, ...] = ("mse", "rmse", "mpjpe", "l1")


@dataclass(frozen=True)
class KeypointRegressionConfig:
    """Training defaults of the chapter, sized for a few seconds per model on one CPU core.

    Attributes:
        steps: Optimizer steps. 300 steps of 64 images take the small CNN well past "predict the
            mean hand" on 32×32 images in about 3 s of one core.
        batch_size: Images per step. 64 is large enough for a steady loss curve and keeps a step
            near 10 ms.
        lr: Adam's learning rate. 2e-3, a common safe value for a small CNN with Adam (Kingma &
            Ba's default is 1e-3), the same for every loss and layout compared.
        eval_every: Steps between two measurements on the validation set (the learning curve).

    Raises:
        TypeError: If a count is not an int or ``lr`` not a number.
        ValueError: If a count is < 1 or ``lr`` is not > 0.

    Example:
        >>> KeypointRegressionConfig(steps=10).batch_size
        64
    """

    steps: int = 300
    batch_size: int = 64
    lr: float = 2e-3
    eval_every: int = 50

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_int(self.eval_every, "eval_every", minimum=1)


# --- Metrics ---------------------------------------------------------------------------------------


def _check_pair(pred: object, target: object) -> None:
    check_tensor(pred, "pred", ndim=3, dims="(B, J, D)", floating=True)
    check_tensor(target, "target", ndim=3, dims="(B, J, D)", floating=True)
    check_same_shape(pred, "pred", target, "target")  # type: ignore[arg-type]
    check_nonempty(pred, "pred")  # a mean over no joint is NaN


def mpjpe(pred: torch.Tensor, target: torch.Tensor, root: int | None = None) -> torch.Tensor:
    """Mean per-joint position error: the Euclidean distance per joint, averaged.

    ``mean over b, j of ‖pred[b, j] - target[b, j]‖₂``. With ``root = r`` both poses are first
    translated so that joint ``r`` sits at the origin (``pred - pred[:, r]``, ``target -
    target[:, r]``): the error of the pose *relative to* that joint, blind to where the whole hand
    is. The result is in the units of the inputs (metres in, metres out).

    Args:
        pred: ``(B, J, D)`` predicted joints, floating point.
        target: ``(B, J, D)`` true joints, the same shape.
        root: Index of the root joint in ``[0, J)``, or ``None`` for absolute positions.

    Returns:
        A 0-d tensor, differentiable (it can serve as a loss). Pure math: a NaN or infinite
        coordinate propagates to the result, as in torch.

    Raises:
        TypeError: If ``pred`` or ``target`` is not a floating-point tensor, or ``root`` is
            neither ``None`` nor an int.
        ValueError: If the shapes differ, are not 3-D or are empty, or ``root`` is out of range.

    Example:
        >>> target = torch.zeros(1, 2, 3)
        >>> pred = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 2.0]]])
        >>> mpjpe(pred, target)
        tensor(3.5000)
        >>> mpjpe(pred, target, root=0)  # joint 1 relative to joint 0: (-3, -4, 2), length 5.39
        tensor(2.6926)
        >>> mpjpe(pred + 10.0, target, root=0)  # the same after moving the whole prediction
        tensor(2.6926)
    """
    _check_pair(pred, target)
    if root is not None:
        check_int(root, "root", minimum=0)
        if root >= pred.shape[1]:
            raise ValueError(f"root must be in [0, {pred.shape[1]}), got {root}")
        pred = pred - pred[:, root : root + 1]  # (B, J, D) - (B, 1, D)
        target = target - target[:, root : root + 1]
    return (pred - target).norm(dim=-1).mean()


def per_joint_error(
    pred: torch.Tensor, target: torch.Tensor, root: int | None = None
) -> torch.Tensor:
    """The Euclidean error of each joint, averaged over the batch: :func:`mpjpe` before its mean
    over joints.

    Args:
        pred: ``(B, J, D)`` predicted joints.
        target: ``(B, J, D)`` true joints.
        root: Optional root joint, as in :func:`mpjpe`.

    Returns:
        ``(J,)`` mean distance per joint; its mean is ``mpjpe(pred, target, root)``. Pure
        math: a NaN or infinite coordinate propagates to its joint's error, as in torch.

    Raises:
        TypeError: If an argument is not a floating-point tensor or ``root`` not an int.
        ValueError: If the shapes differ, are not 3-D or are empty, or ``root`` is out of range.

    Example:
        >>> pred = torch.tensor([[[3.0, 4.0], [1.0, 0.0]], [[0.0, 0.0], [0.0, 3.0]]])
        >>> per_joint_error(pred, torch.zeros(2, 2, 2))
        tensor([2.5000, 2.0000])
    """
    _check_pair(pred, target)
    if root is not None:
        check_int(root, "root", minimum=0)
        if root >= pred.shape[1]:
            raise ValueError(f"root must be in [0, {pred.shape[1]}), got {root}")
        pred = pred - pred[:, root : root + 1]  # (B, J, D) - (B, 1, D)
        target = target - target[:, root : root + 1]
    return (pred - target).norm(dim=-1).mean(dim=0)


def coordinate_rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """One root-mean-square error over every coordinate of every joint: ``sqrt(mean((p - t)²))``.

    This is what a plain ``sqrt(mse_loss(pred, target))`` computes on the flat output: a single
    number, the same whatever the layout. It equals ``sqrt(mean_j RMSE_j² / D)`` with ``RMSE_j``
    from :func:`per_keypoint_rmse`.

    Args:
        pred: ``(B, J, D)`` predicted joints.
        target: ``(B, J, D)`` true joints.

    Returns:
        A 0-d tensor. Pure math: a NaN or infinite coordinate propagates to the result, as in
        torch.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ, are not 3-D or are empty.

    Example:
        >>> coordinate_rmse(torch.tensor([[[3.0, 4.0]]]), torch.zeros(1, 1, 2))
        tensor(3.5355)
    """
    _check_pair(pred, target)
    return ((pred - target) ** 2).mean().sqrt()


def per_keypoint_rmse(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """The RMSE *of each keypoint*: ``sqrt(mean over b of ‖pred[b, j] - target[b, j]‖²)``.

    One number per keypoint, the root of the mean squared Euclidean distance, in the units of the
    inputs. Always at least the keypoint's mean distance (:func:`per_joint_error`), with equality
    only when every sample has the same error.

    Args:
        pred: ``(B, J, D)`` predicted joints.
        target: ``(B, J, D)`` true joints.

    Returns:
        ``(J,)`` RMSE per keypoint. Pure math: a NaN or infinite coordinate propagates to its
        keypoint's RMSE, as in torch.

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ, are not 3-D or are empty.

    Example:
        >>> pred = torch.tensor([[[3.0, 4.0]], [[0.0, 0.0]]])
        >>> per_keypoint_rmse(pred, torch.zeros(2, 1, 2))  # distances 5 and 0
        tensor([3.5355])
    """
    _check_pair(pred, target)
    return ((pred - target) ** 2).sum(dim=-1).mean(dim=0).sqrt()


def regression_loss(pred: torch.Tensor, target: torch.Tensor, kind: LossName) -> torch.Tensor:
    """The training losses the chapter compares, on ``(B, J, D)`` outputs.

    - ``"mse"``: mean squared error per coordinate (``F.mse_loss``);
    - ``"rmse"``: its square root, one RMSE over all coordinates (the accepted answer's loss);
    - ``"mpjpe"``: the mean Euclidean distance per joint, :func:`mpjpe` used as a loss;
    - ``"l1"``: mean absolute error per coordinate (``F.l1_loss``).

    None depends on the order of the joints or of the coordinates.

    Args:
        pred: ``(B, J, D)`` predictions.
        target: ``(B, J, D)`` targets.
        kind: One of ``"mse"``, ``"rmse"``, ``"mpjpe"``, ``"l1"``.

    Returns:
        A 0-d tensor. Pure math: a NaN or infinite coordinate propagates to the loss, as in
        torch (:func:`train_keypoints` then stops with
        :class:`~companion.core.training.NonFiniteLossError`).

    Raises:
        TypeError: If an argument is not a floating-point tensor or ``kind`` not a str.
        ValueError: If ``kind`` is unknown, or the shapes differ, are not 3-D or are empty.

    Example:
        >>> pred, target = torch.tensor([[[3.0, 4.0]]]), torch.zeros(1, 1, 2)
        >>> [round(float(regression_loss(pred, target, k)), 3) for k in LOSSES]
        [12.5, 3.536, 5.0, 3.5]
    """
    check_choice(kind, "kind", LOSSES)
    _check_pair(pred, target)
    if kind == "mse":
        return F.mse_loss(pred, target)
    if kind == "rmse":
        return F.mse_loss(pred, target).sqrt()
    if kind == "mpjpe":
        return (pred - target).norm(dim=-1).mean()
    return F.l1_loss(pred, target)


# --- The head -------------------------------------------------------------------------------------


class KeypointHead(nn.Module):
    """One linear layer with ``J*D`` outputs, read back as ``(B, J, D)``.

    ``forward`` computes ``flat = linear(features)`` of shape ``(B, J*D)`` and reshapes it.
    In the default joint-major layout row ``j*D + d`` of ``linear`` is joint ``j``, coordinate
    ``d``, and the reshape is ``flat.view(B, J, D)``. In the coordinate-major layout row
    ``d*J + j`` is joint ``j``, coordinate ``d``, and the reshape is
    ``flat.view(B, D, J).transpose(1, 2)``. Either way the result means the same thing; only the
    meaning of the rows changes (see :func:`to_coordinate_major`).

    Args:
        in_features: Width of the input features, >= 1.
        num_joints: ``J``, >= 1.
        dims: ``D``, coordinates per joint (3 for 3-D, 2 for pixels), >= 1.
        layout: ``"joint-major"`` (default) or ``"coordinate-major"``.

    Raises:
        TypeError: If a size is not an int or ``layout`` not a str.
        ValueError: If a size is < 1 or ``layout`` is unknown.

    Example:
        >>> head = KeypointHead(8, num_joints=21, dims=3)
        >>> head.linear.out_features, head(torch.zeros(2, 8)).shape
        (63, torch.Size([2, 21, 3]))
    """

    def __init__(
        self, in_features: int, num_joints: int, dims: int = 3, layout: Layout = "joint-major"
    ) -> None:
        super().__init__()
        self.in_features = check_int(in_features, "in_features", minimum=1)
        self.num_joints = check_int(num_joints, "num_joints", minimum=1)
        self.dims = check_int(dims, "dims", minimum=1)
        self.layout = check_choice(layout, "layout", LAYOUTS)
        self.linear = nn.Linear(in_features, num_joints * dims)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        """Map ``(B, in_features)`` features to ``(B, J, D)`` joints.

        Features of another floating dtype are converted to the layer's. Pure math: a NaN or
        infinite feature propagates to the joints, as through ``nn.Linear``.

        Raises:
            TypeError: If ``features`` is not a floating-point tensor.
            ValueError: If ``features`` is not ``(B, in_features)``.
        """
        check_tensor(
            features,
            "features",
            ndim=2,
            dims="(B, in_features)",
            floating=True,
            size={1: self.in_features},
        )
        flat = self.linear(features.to(self.linear.weight.dtype))  # (B, J*D)
        b = flat.shape[0]
        if self.layout == "joint-major":
            return flat.view(b, self.num_joints, self.dims)  # (B, J*D) -> (B, J, D)
        return flat.view(b, self.dims, self.num_joints).transpose(1, 2)  # (B, D*J) -> (B, J, D)

    def extra_repr(self) -> str:
        return f"num_joints={self.num_joints}, dims={self.dims}, layout={self.layout!r}"


def to_coordinate_major(head: KeypointHead) -> KeypointHead:
    """A coordinate-major copy of a joint-major head that computes exactly the same ``(B, J, D)``.

    Row ``j*D + d`` of the joint-major layer becomes row ``d*J + j`` (weights and bias), so the
    flat outputs are permuted and the layout's read-back undoes the permutation. The input head
    is not modified.

    Args:
        head: A joint-major :class:`KeypointHead`.

    Returns:
        A new coordinate-major :class:`KeypointHead` on the same device and dtype.

    Raises:
        TypeError: If ``head`` is not a :class:`KeypointHead`.
        ValueError: If ``head`` is not joint-major.

    Example:
        >>> head = KeypointHead(4, num_joints=3, dims=2)
        >>> x = torch.randn(5, 4)
        >>> torch.allclose(to_coordinate_major(head)(x), head(x))
        True
    """
    if not isinstance(head, KeypointHead):
        raise TypeError(f"head must be a KeypointHead, got {type(head).__name__}")
    if head.layout != "joint-major":
        raise ValueError(f"head must be joint-major, got layout {head.layout!r}")
    j, d = head.num_joints, head.dims
    out = KeypointHead(head.in_features, j, d, layout="coordinate-major")
    out.to(device=head.linear.weight.device, dtype=head.linear.weight.dtype)
    # new row d*J + j <- old row j*D + d
    index = torch.arange(j * d).view(j, d).T.reshape(-1)  # (J, D) -> (D, J) -> (D*J,)
    with torch.no_grad():
        out.linear.weight.copy_(head.linear.weight[index])
        out.linear.bias.copy_(head.linear.bias[index])
    return out


# --- The networks ---------------------------------------------------------------------------------


def _trunk(channels: int) -> nn.ModuleList:
    """Three stride-2 3×3 convolutions: ``(B, 3, H, W)`` -> ``H/2``, ``H/4``, ``H/8`` features."""
    c = channels
    return nn.ModuleList(
        nn.Sequential(nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU())
        for c_in, c_out in ((3, c), (c, 2 * c), (2 * c, 4 * c))
    )


class HandRegressor(nn.Module):
    """A small CNN with a :class:`KeypointHead`: ``(B, 3, H, W)`` images to ``(B, J, D)`` joints.

    Three stride-2 convolutions (``C``, ``2C``, ``4C`` channels) reduce a 32×32 image to 4×4×4C
    features, flattened into the head. The head predicts *standardised* targets: the model keeps
    the training targets' mean ``(J, D)`` and one overall spread (a scalar, so the geometry of the
    coordinates, and hence any Euclidean loss, is unchanged) as buffers, set by
    :meth:`set_target_stats`, and returns ``head(features) * spread + mean`` in the targets' own
    units. Without that, a head initialised near zero must first crawl to, say, 500 mm.

    Args:
        num_joints: ``J``, >= 1.
        dims: ``D``, >= 1.
        channels: ``C``, width of the first convolution, >= 1.
        size: ``(H, W)`` of the input images, each divisible by 8.
        layout: Layout of the head (see :class:`KeypointHead`).
        seed: Seed of the initial weights.

    Raises:
        TypeError: If a size or the seed is not an int, or ``layout`` not a str.
        ValueError: If a size is < 1 or not divisible by 8, ``layout`` is unknown, or ``seed``
            is negative.

    Example:
        >>> net = HandRegressor(num_joints=21, dims=3, channels=4, size=(32, 32))
        >>> net(torch.zeros(2, 3, 32, 32)).shape
        torch.Size([2, 21, 3])
    """

    def __init__(
        self,
        num_joints: int = 21,
        dims: int = 3,
        *,
        channels: int = 16,
        size: tuple[int, int] = (32, 32),
        layout: Layout = "joint-major",
        seed: int = 0,
    ) -> None:
        super().__init__()
        check_int(channels, "channels", minimum=1)
        height, width = _check_size(size)
        with seeded(seed):
            self.trunk = _trunk(channels)
            features = 4 * channels * (height // 8) * (width // 8)
            self.head = KeypointHead(features, num_joints, dims, layout=layout)
        self.register_buffer("target_mean", torch.zeros(num_joints, dims))
        self.register_buffer("target_spread", torch.ones(()))
        self.size = (height, width)

    def set_target_stats(self, targets: torch.Tensor) -> None:
        """Store the mean ``(J, D)`` and overall standard deviation of training targets.

        Args:
            targets: ``(N, J, D)`` training targets, floating point.

        Raises:
            TypeError: If ``targets`` is not a floating-point tensor.
            ValueError: If its shape is not ``(N, J, D)`` for this model, ``N = 0``, or a
                target is NaN or infinite.
        """
        check_tensor(targets, "targets", ndim=3, dims="(N, J, D)", floating=True)
        if targets.shape[1:] != self.target_mean.shape:
            raise ValueError(
                f"targets must be (N, {self.head.num_joints}, {self.head.dims}), "
                f"got {tuple(targets.shape)}"
            )
        check_nonempty(targets, "targets")
        check_finite(targets, "targets")
        mean = targets.mean(dim=0)  # (J, D)
        self.target_mean.copy_(mean)
        self.target_spread.copy_((targets - mean).pow(2).mean().sqrt().clamp(min=1e-12))

    def features(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images -> ``(B, 4C·H/8·W/8)`` flattened trunk features.

        Images of another floating dtype are converted to the weights'. Pure math: a NaN or
        infinite pixel propagates to the features, as through torch's convolutions.

        Raises:
            TypeError: If ``images`` is not a floating-point tensor.
            ValueError: If ``images`` is not ``(B, 3, H, W)`` with this model's ``(H, W)``.
        """
        x = _prepare_images(images, self.size, self.head.linear.weight.dtype)
        for layer in self.trunk:
            x = layer(x)
        return x.flatten(1)  # (B, 4C, H/8, W/8) -> (B, 4C*H/8*W/8)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 3, H, W)`` images to ``(B, J, D)`` joints in the targets' units.

        Images of another floating dtype are converted to the weights'. Pure math: a NaN or
        infinite pixel propagates to the joints, as through torch's convolutions.

        Raises:
            TypeError: If ``images`` is not a floating-point tensor.
            ValueError: If ``images`` is not ``(B, 3, H, W)`` with this model's ``(H, W)``.
        """
        return self.head(self.features(images)) * self.target_spread + self.target_mean


class HeatmapRegressor(nn.Module):
    """The same trunk, one score map per joint at 1/4 resolution, and soft-argmax: 2-D joints.

    The 1/8-resolution features are upsampled to 1/4 resolution, joined with the trunk's
    1/4-resolution features, and a 3×3 convolution (``C`` channels) then a 1×1 convolution give
    ``J`` score maps. Each map's
    soft-argmax (:func:`companion.core.keypoints.soft_argmax2d`, ``beta = 1``) is a position in
    map cells, turned into input pixels by ``x = 4·x_map + 1.5``: cell ``j`` of a stride-4 map
    covers input pixels ``4j .. 4j+3``, whose middle is ``4j + 1.5`` in the pixel-centre
    convention.

    Args:
        num_joints: ``J``, >= 1.
        channels: ``C``, width of the first convolution, >= 1.
        size: ``(H, W)`` of the input images, each divisible by 8.
        seed: Seed of the initial weights.

    Raises:
        TypeError: If a size or the seed is not an int.
        ValueError: If a size is < 1 or not divisible by 8, or ``seed`` is negative.

    Example:
        >>> net = HeatmapRegressor(num_joints=21, channels=4, size=(32, 32))
        >>> net(torch.zeros(2, 3, 32, 32)).shape, net.scores(torch.zeros(2, 3, 32, 32)).shape
        (torch.Size([2, 21, 2]), torch.Size([2, 21, 8, 8]))
    """

    stride = 4

    def __init__(
        self,
        num_joints: int = 21,
        *,
        channels: int = 16,
        size: tuple[int, int] = (32, 32),
        seed: int = 0,
    ) -> None:
        super().__init__()
        c = check_int(channels, "channels", minimum=1)
        check_int(num_joints, "num_joints", minimum=1)
        self.size = _check_size(size)
        with seeded(seed):
            self.trunk = _trunk(c)
            self.fine = nn.Conv2d(2 * c, num_joints, 1)  # scores from 1/4-resolution features
            self.coarse = nn.Conv2d(4 * c, num_joints, 1)  # scores from 1/8-resolution features

    def scores(self, images: torch.Tensor) -> torch.Tensor:
        """``(B, 3, H, W)`` images -> ``(B, J, H/4, W/4)`` score maps (softmax logits).

        Images of another floating dtype are converted to the weights'. Pure math: a NaN or
        infinite pixel propagates to the scores, as through torch's convolutions.

        Raises:
            TypeError: If ``images`` is not a floating-point tensor.
            ValueError: If ``images`` is not ``(B, 3, H, W)`` with this model's ``(H, W)``.
        """
        images = _prepare_images(images, self.size, self.fine.weight.dtype)
        half = self.trunk[0](images)  # (B, C, H/2, W/2)
        quarter = self.trunk[1](half)  # (B, 2C, H/4, W/4)
        eighth = self.trunk[2](quarter)  # (B, 4C, H/8, W/8)
        coarse = self.coarse(eighth)  # (B, J, H/8, W/8)
        up = F.interpolate(coarse, size=quarter.shape[-2:], mode="nearest")  # (B, J, H/4, W/4)
        return self.fine(quarter) + up  # (B, J, H/4, W/4)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 3, H, W)`` images to ``(B, J, 2)`` joints ``(x, y)`` in input pixels.

        Images of another floating dtype are converted to the weights'. Pure math: a NaN or
        infinite pixel propagates to the joints, as through torch's convolutions.

        Raises:
            TypeError: If ``images`` is not a floating-point tensor.
            ValueError: If ``images`` is not ``(B, 3, H, W)`` with this model's ``(H, W)``.
        """
        cells = soft_argmax2d(self.scores(images))  # (B, J, 2) in map cells
        return self.stride * cells + (self.stride - 1) / 2


def _check_size(size: object) -> tuple[int, int]:
    if not isinstance(size, (tuple, list)) or len(size) != 2:
        raise TypeError(f"size must be a pair of ints (H, W), got {size!r}")
    height = check_int(size[0], "size[0]", minimum=8)
    width = check_int(size[1], "size[1]", minimum=8)
    if height % 8 or width % 8:
        raise ValueError(f"size must be divisible by 8, got {tuple(size)}")
    return height, width


def _prepare_images(images: object, size: tuple[int, int], dtype: torch.dtype) -> torch.Tensor:
    """Checked ``(B, 3, H, W)`` images of the model's size, converted to its ``dtype``."""
    check_tensor(images, "images", ndim=4, dims="(B, 3, H, W)", floating=True, size={1: 3})
    if tuple(images.shape[-2:]) != size:  # type: ignore[union-attr]
        raise ValueError(
            f"images must be (B, 3, {size[0]}, {size[1]}) for this model, "
            f"got shape {tuple(images.shape)}"  # type: ignore[union-attr]
        )
    return images.to(dtype)  # type: ignore[union-attr]


# --- Training -------------------------------------------------------------------------------------


@dataclass
class KeypointHistory:
    """What :func:`train_keypoints` recorded.

    Attributes:
        loss: The name of the training loss.
        train_loss: The training loss of every step, in order.
        eval_steps: Steps after which the validation set was measured (0 = before training).
        val_mpjpe: :func:`mpjpe` on the validation set at each of ``eval_steps``.
        val_metrics: ``{name: values}`` for each extra metric passed to :func:`train_keypoints`,
            measured at ``eval_steps``.
    """

    loss: str
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_mpjpe: list[float] = field(default_factory=list)
    val_metrics: dict[str, list[float]] = field(default_factory=dict)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, *, batch_size: int = 500) -> torch.Tensor:
    """Run ``model`` in eval mode over ``images`` in chunks and return its outputs on the CPU.

    Args:
        model: Maps ``(B, 3, H, W)`` images to ``(B, J, D)``.
        images: ``(N, 3, H, W)`` images, moved to the model's device chunk by chunk.
        batch_size: Images per chunk, >= 1.

    Returns:
        ``(N, J, D)`` outputs on the CPU (``N = 0`` gives an empty result). Pure math: a NaN
        or infinite pixel propagates to that image's outputs.

    Raises:
        TypeError: If ``model`` is not an ``nn.Module``, ``images`` is not a floating-point
            tensor or ``batch_size`` not an int.
        ValueError: If ``images`` is not 4-D or ``batch_size`` < 1 (the model raises its own
            errors for images it cannot read).
    """
    check_module(model, "model")
    check_tensor(images, "images", ndim=4, dims="(N, 3, H, W)", floating=True)
    check_int(batch_size, "batch_size", minimum=1)
    device = resolve_device(None, model)
    starts = range(0, max(len(images), 1), batch_size)  # an empty set: one empty chunk
    with eval_mode(model):
        chunks = [model(images[i : i + batch_size].to(device)).cpu() for i in starts]
    return torch.cat(chunks)


Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


def train_keypoints(
    model: nn.Module,
    train_images: torch.Tensor,
    train_targets: torch.Tensor,
    val_images: torch.Tensor,
    val_targets: torch.Tensor,
    *,
    loss: LossName = "mse",
    config: KeypointRegressionConfig = KeypointRegressionConfig(),  # frozen: a safe default
    metrics: Mapping[str, Metric] | None = None,
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> KeypointHistory:
    """Train a keypoint model with Adam on one of the chapter's losses.

    Batches are drawn with replacement from a generator seeded with ``seed`` alone, so two calls
    with the same ``seed`` and data see the same batches in the same order, whatever the model
    or loss: comparisons between runs are matched on data. If the model has a
    ``set_target_stats`` method (:class:`HandRegressor`) it is called on ``train_targets`` first.
    The loss is checked at every step (:func:`~companion.core.training.check_finite_loss`).

    Args:
        model: Maps ``(B, 3, H, W)`` images to ``(B, J, D)``; moved to ``device``.
        train_images: ``(N, 3, H, W)`` training images, finite, ``N >= 1``; converted to the
            model's dtype.
        train_targets: ``(N, J, D)`` training targets, finite, in the units the losses and
            ``val_mpjpe`` will use; converted to the model's dtype.
        val_images: ``(M, 3, H, W)`` validation images, finite, of the training images' size.
        val_targets: ``(M, J, D)`` validation targets, finite, of the training targets' ``J, D``.
        loss: ``"mse"``, ``"rmse"``, ``"mpjpe"`` or ``"l1"`` (:func:`regression_loss`).
        config: Steps, batch size, learning rate and evaluation interval.
        metrics: Optional ``{name: fn(pred, target) -> 0-d tensor}`` measured on the validation
            set with ``val_mpjpe``.
        seed: Seed of the batch sampler, >= 0.
        device: Where to train; defaults to the device of the model's first parameter.
        progress: Show a tqdm bar over steps.

    Returns:
        The :class:`KeypointHistory`.

    Raises:
        TypeError: If ``model`` is not an ``nn.Module``, an input is not a floating-point
            tensor, ``config`` is not a :class:`KeypointRegressionConfig`, ``metrics`` is not a
            mapping of callables, ``loss`` not a str or ``progress`` not a bool.
        ValueError: If ``loss`` is unknown, an input has the wrong number of dimensions, is
            empty or not finite, images and targets differ in number, the training and
            validation sets differ in image size or in ``(J, D)``, or the model's outputs do not
            have the targets' shape.
        NonFiniteLossError: If the training loss becomes NaN or infinite.
    """
    check_module(model, "model")
    check_choice(loss, "loss", LOSSES)
    if not isinstance(config, KeypointRegressionConfig):
        raise TypeError(f"config must be a KeypointRegressionConfig, got {type(config).__name__}")
    for name, images, targets in (
        ("train", train_images, train_targets),
        ("val", val_images, val_targets),
    ):
        check_tensor(images, f"{name}_images", ndim=4, dims="(N, 3, H, W)", floating=True)
        check_tensor(targets, f"{name}_targets", ndim=3, dims="(N, J, D)", floating=True)
        if len(images) != len(targets):
            raise ValueError(
                f"{name}_images and {name}_targets must have the same length, "
                f"got {len(images)} and {len(targets)}"
            )
        for tensor, role in ((images, "images"), (targets, "targets")):
            check_nonempty(tensor, f"{name}_{role}")
            check_finite(tensor, f"{name}_{role}")
    pairs = (("images", train_images, val_images), ("targets", train_targets, val_targets))
    for role, train, val in pairs:
        if train.shape[1:] != val.shape[1:]:
            raise ValueError(
                f"train_{role} and val_{role} must agree after the first dimension, got "
                f"{tuple(train.shape)} and {tuple(val.shape)}"
            )
    if metrics is not None:
        if not isinstance(metrics, Mapping):
            raise TypeError(f"metrics must be a mapping {{name: fn}}, got {type(metrics).__name__}")
        for name, fn in metrics.items():
            check_callable(fn, f"metrics[{name!r}]")
    check_int(seed, "seed", minimum=0)
    check_bool(progress, "progress")
    device = resolve_device(device, model)
    if hasattr(model, "set_target_stats"):
        try:
            model.set_target_stats(train_targets)
        except ValueError as err:
            raise ValueError(f"train_targets do not fit the model: {err}") from err
    model.to(device)
    dtype = next((p.dtype for p in model.parameters() if p.is_floating_point()), torch.float32)
    train_targets, val_targets = train_targets.to(dtype), val_targets.to(dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    history = KeypointHistory(loss, val_metrics={name: [] for name in metrics or {}})

    def measure(step: int) -> None:
        pred = predict(model, val_images)
        if step == 0 and pred.shape != val_targets.shape:
            raise ValueError(
                f"the model's outputs must have val_targets' shape {tuple(val_targets.shape)}, "
                f"got {tuple(pred.shape)}"
            )
        history.eval_steps.append(step)
        history.val_mpjpe.append(float(mpjpe(pred, val_targets)))
        for name, fn in (metrics or {}).items():
            history.val_metrics[name].append(float(fn(pred, val_targets)))

    measure(0)
    model.train()
    for step in tqdm(range(1, config.steps + 1), desc=loss, disable=not progress, leave=False):
        index = torch.randint(len(train_images), (config.batch_size,), generator=generator)
        pred = model(train_images[index].to(device, dtype))  # (B, J, D)
        value = regression_loss(pred, train_targets[index].to(device), loss)
        history.train_loss.append(check_finite_loss(value.detach(), "loss", step - 1))
        optimizer.zero_grad(set_to_none=True)
        value.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == config.steps:
            measure(step)
    return history
