"""Soft-argmax: differentiable keypoint coordinates from heatmaps.

The hard argmax of a heatmap is a pixel index: a step function of the heatmap, whose gradient is zero
almost everywhere. Soft-argmax replaces it with an expectation. Each ``(H, W)`` map is turned into a
probability distribution over its ``H·W`` pixels by a softmax with inverse temperature ``beta``, and
the result is the expected ``(x, y)`` under that distribution:

    p = softmax(beta · heatmap)  over all H·W pixels,    (x, y) = Σ_ij p_ij · (j, i).

That is the spatial softmax of Levine et al. (2016), the integral regression of Sun et al. (2018) and
the DSNT layer of Nibali et al. (2018). Because ``(x, y)`` is a fixed linear map of ``p``, the whole
operation is a softmax followed by a fully connected layer with frozen weights:
:class:`SoftArgmax2d` builds it exactly so, which is all a framework without a custom layer needs.

The module also holds the two small landmark networks of the chapter's end-to-end comparison:
:class:`LandmarkNet` and :func:`train_landmarks`, which trains it either through soft-argmax with an
L1 loss on the coordinates or on heatmap MSE (decoded by :func:`argmax2d`).

Convention:
    Points are ``(x, y)`` in pixel coordinates: ``x`` is the column index, ``y`` the row index, pixel
    centres at integers, exactly as :func:`companion.core.heatmaps.gaussian_heatmaps` draws them. This is
    kornia's ``normalized_coordinates=False``. ``beta`` is an *inverse* temperature: it multiplies
    the heatmap. kornia's ``spatial_soft_argmax2d(input, temperature)`` divides the input by its
    ``temperature`` (kornia 0.9), so ``temperature = 1 / beta`` gives the same result.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_finite,
    check_int,
    check_module,
    check_number,
    check_tensor,
)
from companion.core.datasets import Landmarks
from companion.core.device import eval_mode, resolve_device, seeded
from companion.core.keypoints import (
    argmax2d,
    check_heatmaps,
    pixel_grid,
    soft_argmax2d,
)
from companion.core.training import check_finite_loss

__all__ = [
    "LandmarkHistory",
    "LandmarkNet",
    "SoftArgmax2d",
    "SoftArgmaxConfig",
    "decode",
    "train_landmarks",
]

Objective = Literal["soft-argmax", "heatmap"]
OBJECTIVES: tuple[str, ...] = ("soft-argmax", "heatmap")


@dataclass(frozen=True)
class SoftArgmaxConfig:
    """Defaults of the end-to-end comparison, sized for about 10 s per model on one CPU core.

    Attributes:
        steps: Optimizer steps. A few hundred are enough for both objectives to leave the
            "predict the average face" stage on 32×32 images; both models get the same number.
        batch_size: Images per step. 32 keeps a step of :class:`LandmarkNet` (16 channels, 32×32)
            at about 25 ms on one CPU core.
        lr: Adam's learning rate. 2e-3 is a common safe value for a small CNN with Adam
            (Kingma & Ba's default is 1e-3); both objectives use the same one.
        eval_every: Steps between two measurements of the validation error (the learning curve).
        beta: Inverse temperature of the soft-argmax head. 1, because the network's output is
            unconstrained logits and learns its own scale.

    Raises:
        TypeError: If ``steps``, ``batch_size`` or ``eval_every`` is not an int.
        ValueError: If a count is < 1, or ``lr`` or ``beta`` is not > 0.

    Example:
        >>> SoftArgmaxConfig(steps=10).batch_size
        32
    """

    steps: int = 300
    batch_size: int = 32
    lr: float = 2e-3
    eval_every: int = 25
    beta: float = 1.0

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_int(self.eval_every, "eval_every", minimum=1)
        check_number(self.beta, "beta", low=0, low_inclusive=False)


# --- The operation as a layer (the function: companion.core.keypoints.soft_argmax2d) ------------


class SoftArgmax2d(nn.Module):
    """Soft-argmax from standard layers only: a softmax, then a linear layer with frozen weights.

    ``forward`` flattens each map, scales it by ``beta``, applies ``nn.Softmax`` over the ``H·W``
    pixels and then ``nn.Linear(H*W, 2, bias=False)`` whose weight rows are the x and y coordinates of
    the pixels (:func:`pixel_grid`), with ``requires_grad=False``. In Caffe the same network is a
    ``Scale`` (or ``Power``) layer for ``beta``, ``Softmax`` over the flattened pixels and an
    ``InnerProduct`` with ``lr_mult: 0`` holding the coordinates. It equals :func:`soft_argmax2d` to
    float precision.

    Args:
        height: ``H`` of the input maps, >= 1.
        width: ``W`` of the input maps, >= 1.
        beta: Inverse temperature, > 0.

    Raises:
        TypeError: If a size is not an int or ``beta`` not a number.
        ValueError: If a size is < 1 or ``beta <= 0``; in ``forward``, if the input is not
            ``(B, K, height, width)``.

    Example:
        >>> layer = SoftArgmax2d(3, 4)
        >>> sum(p.numel() for p in layer.parameters() if p.requires_grad)
        0
        >>> hm = torch.randn(2, 5, 3, 4)
        >>> torch.allclose(layer(hm), soft_argmax2d(hm), atol=1e-6)
        True
    """

    def __init__(self, height: int, width: int, beta: float = 1.0) -> None:
        super().__init__()
        self.height = check_int(height, "height", minimum=1)
        self.width = check_int(width, "width", minimum=1)
        self.beta = check_number(beta, "beta", low=0, low_inclusive=False)
        self.softmax = nn.Softmax(dim=-1)
        self.coords = nn.Linear(height * width, 2, bias=False)
        with torch.no_grad():
            self.coords.weight.copy_(pixel_grid(height, width).T)  # (H*W, 2) -> (2, H*W)
        self.coords.weight.requires_grad_(False)

    def forward(self, heatmaps: torch.Tensor) -> torch.Tensor:
        """Map ``(B, K, height, width)`` scores to ``(B, K, 2)`` expected ``(x, y)``.

        Any floating dtype works (the frozen coordinates are cast to it), as for
        :func:`soft_argmax2d`; NaN or infinite scores propagate into the coordinates, as in torch.

        Raises:
            TypeError: If ``heatmaps`` is not a floating-point tensor.
            ValueError: If it is not 4-D, or its maps are not this layer's ``(height, width)``.
        """
        check_heatmaps(heatmaps)
        if heatmaps.shape[-2:] != (self.height, self.width):
            raise ValueError(
                f"heatmaps must be (B, K, {self.height}, {self.width}) for this layer, "
                f"got shape {tuple(heatmaps.shape)}"
            )
        b, k = heatmaps.shape[:2]
        flat = heatmaps.reshape(b, k, self.height * self.width)  # (B, K, H, W) -> (B, K, H*W)
        p = self.softmax(self.beta * flat)  # (B, K, H*W), each map's pixel probabilities
        if p.dtype != self.coords.weight.dtype:  # the same frozen layer, in the input's dtype
            return F.linear(p, self.coords.weight.to(p.dtype))  # (B, K, H*W) -> (B, K, 2)
        return self.coords(p)  # (B, K, H*W) -> (B, K, 2)

    def extra_repr(self) -> str:
        return f"height={self.height}, width={self.width}, beta={self.beta}"


# --- The end-to-end comparison -------------------------------------------------------------------


def _conv(c_in: int, c_out: int, *, stride: int = 1, dilation: int = 1) -> nn.Sequential:
    return nn.Sequential(
        nn.Conv2d(c_in, c_out, 3, stride=stride, padding=dilation, dilation=dilation),
        nn.ReLU(),
    )


class LandmarkNet(nn.Module):
    """A small encoder-decoder that maps ``(B, 1, H, W)`` images to ``(B, K, H, W)`` score maps.

    Two stride-2 convolutions and a dilated one give each output pixel a receptive field of about 30
    pixels, enough to tell a left eye from a right eye on a 32×32 face; the coarse features are
    upsampled back to full resolution and joined with the first layer's features (a skip
    connection), so that the output can be sharp. The same network serves both objectives: its
    output is read as logits by soft-argmax, or as a heatmap by the MSE objective.

    Args:
        keypoints: ``K``, the number of output maps, >= 1.
        channels: Width of the first layer; the coarse layers use twice as many, >= 1.
        seed: Seed of the initial weights (PyTorch's default initialisation, drawn inside
            :func:`~companion.core.device.seeded`): the same seed gives the same network.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If ``keypoints`` or ``channels`` is < 1, or ``seed`` < 0; in ``forward``, if
            the images are not ``(B, 1, H, W)``.

    Example:
        >>> net = LandmarkNet(keypoints=5, channels=8, seed=0)
        >>> net(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 5, 32, 32])
    """

    def __init__(self, keypoints: int = 5, channels: int = 16, *, seed: int) -> None:
        super().__init__()
        k = check_int(keypoints, "keypoints", minimum=1)
        c = check_int(channels, "channels", minimum=1)
        with seeded(seed):
            self.stem = _conv(1, c)
            self.down = nn.Sequential(
                _conv(c, 2 * c, stride=2),
                _conv(2 * c, 2 * c, stride=2),
                _conv(2 * c, 2 * c, dilation=2),
            )
            self.fuse = _conv(3 * c, c)
            self.head = nn.Conv2d(c, k, 1)

    def forward(self, images: torch.Tensor) -> torch.Tensor:
        """Map ``(B, 1, H, W)`` images to ``(B, K, H, W)`` scores.

        Images of another floating dtype are converted to the weights' dtype. NaN or infinite
        pixels propagate into the scores, as in torch (:func:`train_landmarks` refuses them).

        Raises:
            TypeError: If ``images`` is not a floating tensor.
            ValueError: If ``images`` is not ``(B, 1, H, W)``.
        """
        check_tensor(images, "images", ndim=4, dims="(B, 1, H, W)", floating=True, size={1: 1})
        images = images.to(self.head.weight.dtype)
        fine = self.stem(images)  # (B, C, H, W)
        coarse = self.down(fine)  # (B, 2C, H/4, W/4)
        up = F.interpolate(coarse, size=fine.shape[-2:], mode="bilinear", align_corners=False)
        return self.head(self.fuse(torch.cat((fine, up), dim=1)))  # (B, 3C, H, W) -> (B, K, H, W)


@dataclass
class LandmarkHistory:
    """What :func:`train_landmarks` recorded.

    Attributes:
        objective: ``"soft-argmax"`` or ``"heatmap"``.
        train_loss: The training loss of every step, in order.
        eval_steps: Steps after which the validation error was measured (0 = before training).
        val_error: Mean keypoint error in pixels on the validation set at each of ``eval_steps``,
            decoded the objective's way (soft-argmax, or argmax of the heatmap).
    """

    objective: str
    train_loss: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    val_error: list[float] = field(default_factory=list)


def decode(scores: torch.Tensor, objective: Objective, beta: float = 1.0) -> torch.Tensor:
    """Turn a network's ``(B, K, H, W)`` output into ``(B, K, 2)`` coordinates, per objective.

    ``"soft-argmax"`` reads the output as logits (:func:`soft_argmax2d` with ``beta``); ``"heatmap"``
    takes the argmax of the predicted heatmap (:func:`argmax2d`).

    Args:
        scores: ``(B, K, H, W)`` network output.
        objective: ``"soft-argmax"`` or ``"heatmap"``: the objective the network was trained with.
        beta: Inverse temperature for ``"soft-argmax"``; ignored for ``"heatmap"``.

    Returns:
        ``(B, K, 2)`` coordinates ``(x, y)`` in pixels. NaN scores propagate, as in torch.

    Raises:
        TypeError: If ``scores`` is not a floating tensor or ``beta`` not a number.
        ValueError: If ``scores`` is not 4-D, ``beta <= 0`` or is not finite (checked for both
            objectives), or ``objective`` is not one of ``"soft-argmax"``, ``"heatmap"``.

    Example:
        >>> scores = torch.zeros(1, 1, 3, 3)
        >>> scores[0, 0, 1, 2] = 50.0
        >>> decode(scores, "heatmap"), decode(scores, "soft-argmax")
        (tensor([[[2., 1.]]]), tensor([[[2., 1.]]]))
    """
    check_tensor(scores, "scores", ndim=4, dims="(B, K, H, W)", floating=True)
    check_number(beta, "beta", low=0, low_inclusive=False)
    if objective == "soft-argmax":
        return soft_argmax2d(scores, beta)
    if objective == "heatmap":
        return argmax2d(scores)
    raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")


def _check_landmarks(data: object, name: str, *, finite: bool) -> Landmarks:
    """A non-empty, self-consistent (and, if asked, finite) :class:`Landmarks`.

    ``(N, 1, H, W)`` images, ``(N, K, 2)`` points, ``(N, K, H, W)`` heatmaps; errors name ``name``.
    """
    if not isinstance(data, Landmarks):
        raise TypeError(
            f"{name} must be a companion.core.datasets.Landmarks, got {type(data).__name__}"
        )
    check_tensor(data.images, f"{name}.images", ndim=4, dims="(N, 1, H, W)", floating=True)
    n, _, h, w = data.images.shape
    check_tensor(data.points, f"{name}.points", ndim=3, dims="(N, K, 2)", floating=True)
    check_tensor(data.heatmaps, f"{name}.heatmaps", ndim=4, dims="(N, K, H, W)", floating=True)
    k = data.points.shape[1]
    for field_name, x, want in (
        ("images", data.images, (n, 1, h, w)),
        ("points", data.points, (n, k, 2)),
        ("heatmaps", data.heatmaps, (n, k, h, w)),
    ):
        if tuple(x.shape) != want or n == 0 or k == 0:
            raise ValueError(
                f"{name}.{field_name} must have shape {want} (N >= 1 images, K >= 1 keypoints, "
                f"matching {name}.images and {name}.points), got {tuple(x.shape)}"
            )
        if finite:
            check_finite(x, f"{name}.{field_name}")
    return data


@torch.no_grad()
def _val_error(
    model: nn.Module, val: Landmarks, objective: Objective, beta: float, device: torch.device
) -> float:
    """Mean keypoint error in pixels over every validation keypoint, in eval mode."""
    errors = []
    with eval_mode(model):
        for start in range(0, len(val.images), 256):  # chunks of images, not a loop over items
            images = val.images[start : start + 256].to(device)
            points = val.points[start : start + 256].to(device)
            pred = decode(model(images), objective, beta)
            errors.append((pred - points).norm(dim=-1).sum())  # sum over the chunk's keypoints
    return float(torch.stack(errors).sum()) / val.points[..., 0].numel()


def train_landmarks(
    model: nn.Module,
    train: Landmarks,
    val: Landmarks,
    objective: Objective,
    *,
    config: SoftArgmaxConfig = SoftArgmaxConfig(),  # frozen, so one shared default is safe
    seed: int,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> LandmarkHistory:
    """Train ``model`` on landmark images with one of the chapter's two objectives.

    - ``"soft-argmax"``: coordinates ``soft_argmax2d(model(images), config.beta)`` and the L1
      distance to the true points, averaged over keypoints and both coordinates (Sun et al. 2018's
      integral regression loss). The output maps receive no direct supervision.
    - ``"heatmap"``: the MSE between ``model(images)`` and the Gaussian target heatmaps; coordinates
      come from :func:`argmax2d` at evaluation (Newell et al. 2016 style).

    Adam, the same batches in the same order for a given ``seed`` whatever the objective.

    Args:
        model: Maps ``(B, 1, H, W)`` images to ``(B, K, H, W)`` scores; moved to ``device``.
        train: Training images, points and heatmaps.
        val: Validation set, measured every ``config.eval_every`` steps and at the end.
        objective: ``"soft-argmax"`` or ``"heatmap"``.
        config: Steps, batch size, learning rate, evaluation interval and soft-argmax ``beta``.
        seed: Seed of the batch sampler (the model's initial weights come with the model).
        device: Where to train; defaults to the model's device
            (:func:`~companion.core.device.resolve_device`).
        progress: Show a tqdm bar over steps.

    Returns:
        The :class:`LandmarkHistory`: per-step training loss and the validation error curve in
        pixels.

    Raises:
        ValueError: If ``objective`` is unknown, ``seed`` is negative, ``train`` or ``val`` is
            empty or inconsistent (images, points and heatmaps of different ``N``,
            ``K``, ``H`` or ``W``), the two sets differ in ``K``, ``H`` or ``W``, or the model's
            output does not have ``train``'s ``(K, H, W)``, or ``val`` holds NaN or infinite
            values.
        TypeError: If ``model`` is not an ``nn.Module``, ``train`` or ``val`` not a
            :class:`~companion.core.datasets.Landmarks` (or a field not a floating tensor),
            ``config`` not a :class:`SoftArgmaxConfig`, ``seed`` not an int or ``progress`` not a
            bool.
        companion.core.training.NonFiniteLossError: If the training loss becomes NaN or infinite
            (a NaN image, a diverging run); the step is named.
    """
    check_module(model, "model")
    if objective not in OBJECTIVES:
        raise ValueError(f"objective must be one of {OBJECTIVES}, got {objective!r}")
    _check_landmarks(train, "train", finite=False)  # a NaN batch stops at the loss, naming the step
    _check_landmarks(val, "val", finite=True)  # a NaN here would only make val_error NaN
    if val.heatmaps.shape[1:] != train.heatmaps.shape[1:]:
        raise ValueError(
            "val must have train's keypoints and image size (K, H, W) "
            f"{tuple(train.heatmaps.shape[1:])}, got {tuple(val.heatmaps.shape[1:])}"
        )
    if not isinstance(config, SoftArgmaxConfig):
        raise TypeError(f"config must be a SoftArgmaxConfig, got {type(config).__name__}")
    check_int(seed, "seed", minimum=0)
    check_bool(progress, "progress")
    device = resolve_device(device, model)
    model.to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    generator = torch.Generator().manual_seed(seed)
    run = LandmarkHistory(objective)
    run.eval_steps.append(0)
    run.val_error.append(_val_error(model, val, objective, config.beta, device))
    model.train()
    for step in tqdm(range(1, config.steps + 1), desc=objective, disable=not progress, leave=False):
        index = torch.randint(len(train.images), (config.batch_size,), generator=generator)
        images = train.images[index].to(device)  # (B, 1, H, W)
        scores = model(images)  # (B, K, H, W)
        if scores.shape[1:] != train.heatmaps.shape[1:]:  # a shape compare, no sync
            raise ValueError(
                f"model outputs maps of shape {tuple(scores.shape[1:])} per image, but train has "
                f"(K, H, W) = {tuple(train.heatmaps.shape[1:])}"
            )
        if objective == "soft-argmax":
            loss = F.l1_loss(soft_argmax2d(scores, config.beta), train.points[index].to(device))
        else:
            loss = F.mse_loss(scores, train.heatmaps[index].to(device))
        run.train_loss.append(check_finite_loss(loss.detach(), f"{objective} loss", step - 1))
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        if step % config.eval_every == 0 or step == config.steps:
            run.eval_steps.append(step)
            run.val_error.append(_val_error(model, val, objective, config.beta, device))
    return run
