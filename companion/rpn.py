"""How the region proposal network (RPN) of Faster R-CNN is trained, one small piece at a time.

An RPN slides a 3×3 convolution over a feature map and, at every location, predicts for each of
``A`` reference boxes (anchors, :func:`generate_anchors`) an objectness logit and four box offsets,
through two sibling 1×1 convolutions with ``A`` and ``4·A`` output channels (Ren et al. 2015,
§3.1). Training needs, per image:

1. anchors of every location and type (:func:`generate_anchors`);
2. a label per anchor from its IoU with the ground-truth boxes (:func:`box_iou`,
   :func:`label_anchors`: positive, negative or ignored, §3.1.2);
3. a random sample of at most 256 labelled anchors, at most half positive (:func:`sample_anchors`,
   §3.1.3);
4. regression targets (:func:`encode_boxes`, the paper's Eq. 2) and the loss over the sample
   (:func:`rpn_loss`);

and, to turn predictions into proposals, :func:`decode_boxes`, :func:`clip_boxes` and
non-maximum suppression (:func:`nms`, :func:`propose`). :class:`TinyRPN` and :func:`train_rpn`
train a small backbone plus RPN head end to end, with the paper's joint sample or the two
alternatives the chapter compares (``"per_type"`` and ``"all"``).

Convention:
    Boxes are ``(x1, y1, x2, y2)`` in pixels, widths ``x2 − x1`` (no ``+1``), as torchvision 0.28.
    Anchors follow torchvision's ``AnchorGenerator``: the anchor of location ``(x, y)`` is centred at
    ``(x·stride, y·stride)`` (the top-left corner of the cell, not its centre as in the original
    Caffe code), and anchors are flattened in ``(y, x, a)`` order, anchor type ``a`` fastest. The
    head's output channels follow torchvision's ``RPNHead``: objectness channel ``a`` and box
    channels ``4a .. 4a+3`` belong to anchor type ``a``. Labels are int64 ``1`` (positive), ``0``
    (negative), ``-1`` (ignored); torchvision uses float labels with the same values.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_choice,
    check_finite,
    check_floating_dtype,
    check_generator,
    check_int,
    check_nonempty,
    check_number,
    check_pair,
    check_same_batch,
    check_same_shape,
    check_tensor,
)
from companion.core.device import resolve_device, seeded
from companion.core.training import check_finite_loss

__all__ = [
    "BATCH_SIZE_PER_IMAGE",
    "BBOX_XFORM_CLIP",
    "BG_IOU",
    "FG_IOU",
    "LAMBDA",
    "NMS_IOU",
    "N_REG",
    "POSITIVE_FRACTION",
    "SAMPLINGS",
    "SMOOTH_L1_BETA",
    "Proposals",
    "RpnConfig",
    "RpnHistory",
    "TinyRPN",
    "anchor_types",
    "box_iou",
    "clip_boxes",
    "decode_boxes",
    "encode_boxes",
    "generate_anchors",
    "label_anchors",
    "nms",
    "proposal_recall",
    "propose",
    "rpn_loss",
    "sample_anchors",
    "sample_anchors_per_type",
    "train_rpn",
]

# --- Constants: the paper's, and torchvision's where the paper leaves a choice -------------------

FG_IOU = 0.7  # IoU at or above which an anchor is positive (Ren et al. 2015, §3.1.2)
BG_IOU = 0.3  # IoU below which (for every box) an anchor is negative (§3.1.2)
BATCH_SIZE_PER_IMAGE = 256  # anchors sampled per image (§3.1.3)
POSITIVE_FRACTION = 0.5  # "up to 1:1" positives to negatives (§3.1.3)
LAMBDA = 10.0  # weight of the box term in the paper's Eq. 1 (§3.1.2)
N_REG = 2400  # the paper's box-term normaliser, "number of anchor locations" (§3.1.2)
NMS_IOU = 0.7  # NMS threshold on proposals (§3.3)
SMOOTH_L1_BETA = 1.0 / 9.0  # torchvision's RPN box loss (smooth L1 with beta = 1/9)
BBOX_XFORM_CLIP = math.log(1000.0 / 16.0)  # torchvision's clamp on decoded log-size offsets

Sampling = Literal["joint", "per_type", "all"]
SAMPLINGS: tuple[str, ...] = ("joint", "per_type", "all")


@dataclass(frozen=True)
class RpnConfig:
    """Sizes and hyper-parameters of the chapter's small RPN, sized for ~5 s per run on one CPU core.

    Attributes:
        image_size: ``(H, W)`` of the input images; 64×64 holds 1–3 shapes of 5–30 px.
        stride: Backbone stride, a power of 2 (one stride-2 convolution per halving). 4 gives a
            16×16 map and 2,304 anchors per image, so that a 256-anchor sample is a small part
            of them (11 %), as in the paper (256 of ~6,000 training anchors, §3.3).
        sizes: Anchor sizes (square roots of the areas) in pixels, a factor 2 apart like the
            paper's 128, 256, 512 (§3.3), spanning the shapes' 5–30 px.
        ratios: Anchor aspect ratios ``h / w``, the paper's 1:2, 1:1, 2:1 (§3.3).
        channels: Width of the backbone and of the RPN's 3×3 convolution. 16 is enough for
            bright shapes on a dark ground and keeps a step at ~15 ms.
        steps: Optimizer steps; every variant gets the same number (equal budget).
        batch_images: Images per step.
        lr: Adam's learning rate (constant); 3e-3 trains this small net in a few hundred steps.
            A cosine decay at 3e-3 or 1e-2 gave no better or steadier recall at this budget.
        batch_size_per_image: Anchors sampled per image (the paper's 256, §3.1.3).
        positive_fraction: Largest fraction of positives in the sample (the paper's 1:1).
        fg_iou: Positive IoU threshold (0.7, §3.1.2).
        bg_iou: Negative IoU threshold (0.3, §3.1.2).
        pre_nms_top_n: Proposals kept by score before NMS (torchvision keeps 1,000 per map at
            test time; here 300 of 2,304 anchors).
        post_nms_top_n: Proposals kept after NMS (the paper evaluates up to 300, §4.1).
        nms_iou: NMS IoU threshold (0.7, §3.3).

    Raises:
        TypeError: If a count is not an int, a size not a pair, or a number not a real number.
        ValueError: If a value is out of range, ``sizes`` or ``ratios`` repeats a value, or the
            image size is not a multiple of ``stride``.

    Example:
        >>> RpnConfig().num_anchors, RpnConfig().feature_size
        (9, (16, 16))
    """

    image_size: tuple[int, int] = (64, 64)
    stride: int = 4
    sizes: tuple[float, ...] = (8.0, 16.0, 32.0)
    ratios: tuple[float, ...] = (0.5, 1.0, 2.0)
    channels: int = 16
    steps: int = 300
    batch_images: int = 8
    lr: float = 3e-3
    batch_size_per_image: int = BATCH_SIZE_PER_IMAGE
    positive_fraction: float = POSITIVE_FRACTION
    fg_iou: float = FG_IOU
    bg_iou: float = BG_IOU
    pre_nms_top_n: int = 300
    post_nms_top_n: int = 100
    nms_iou: float = NMS_IOU

    def __post_init__(self) -> None:
        h, w = check_pair(self.image_size, "image_size")
        check_int(self.stride, "stride", minimum=2)
        if self.stride & (self.stride - 1):
            raise ValueError(f"stride must be a power of 2 (>= 2), got {self.stride}")
        if h % self.stride or w % self.stride:
            raise ValueError(
                f"image_size must be a multiple of stride={self.stride}, got {self.image_size}"
            )
        _check_positive_list(self.sizes, "sizes")
        _check_positive_list(self.ratios, "ratios")
        check_int(self.channels, "channels", minimum=1)
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_images, "batch_images", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_int(self.batch_size_per_image, "batch_size_per_image", minimum=1)
        check_number(self.positive_fraction, "positive_fraction", low=0, high=1)
        check_number(self.fg_iou, "fg_iou", low=0, high=1)
        check_number(self.bg_iou, "bg_iou", low=0, high=self.fg_iou)
        check_int(self.pre_nms_top_n, "pre_nms_top_n", minimum=1)
        check_int(self.post_nms_top_n, "post_nms_top_n", minimum=1)
        check_number(self.nms_iou, "nms_iou", low=0, high=1)

    @property
    def num_anchors(self) -> int:
        """``A``, anchors per location: ``len(sizes) · len(ratios)``."""
        return len(self.sizes) * len(self.ratios)

    @property
    def feature_size(self) -> tuple[int, int]:
        """``(H', W')`` of the feature map: ``image_size // stride``."""
        return (self.image_size[0] // self.stride, self.image_size[1] // self.stride)


def _check_positive_list(values: object, name: str) -> tuple[float, ...]:
    """A non-empty sequence of distinct positive numbers (a repeat would duplicate anchor types)."""
    if not isinstance(values, Sequence) or isinstance(values, str) or len(values) == 0:
        raise TypeError(f"{name} must be a non-empty sequence of numbers, got {values!r}")
    out = tuple(
        check_number(v, f"{name}[{i}]", low=0, low_inclusive=False) for i, v in enumerate(values)
    )
    if len(set(out)) != len(out):
        raise ValueError(f"{name} must be distinct (each makes one anchor type), got {values!r}")
    return out


def _check_sequence(values: object, name: str) -> list:
    """A non-empty list or tuple (not a string, not None), as a list."""
    if not isinstance(values, Sequence) or isinstance(values, str):
        raise TypeError(f"{name} must be a sequence (a list or tuple), got {type(values).__name__}")
    if len(values) == 0:
        raise ValueError(f"{name} must not be empty")
    return list(values)


def _optional_device(device: object) -> torch.device | None:
    """``None`` (torch's default device) or a checked device."""
    return None if device is None else resolve_device(device)  # type: ignore[arg-type]


def _check_boxes(boxes: object, name: str) -> torch.Tensor:
    check_tensor(boxes, name, floating=True)
    if boxes.ndim < 2 or boxes.shape[-1] != 4:  # type: ignore[union-attr]
        raise ValueError(
            f"{name} must be (..., N, 4) boxes (x1, y1, x2, y2), got shape {tuple(boxes.shape)}"  # type: ignore[union-attr]
        )
    return boxes  # type: ignore[return-value]


# --- 1. Anchors ----------------------------------------------------------------------------------


def generate_anchors(
    feature_size: tuple[int, int],
    stride: int,
    sizes: Sequence[float],
    ratios: Sequence[float],
    *,
    dtype: torch.dtype = torch.float32,
    device: torch.device | str | None = None,
) -> torch.Tensor:
    """All anchors of one feature map, equal to torchvision's ``AnchorGenerator`` for that map.

    The ``A = len(ratios) · len(sizes)`` base anchors are centred at 0 with area ``size²`` and
    ``h / w = ratio`` (``w = size / sqrt(ratio)``, ``h = size · sqrt(ratio)``), ordered ratio-major
    then size, and their corners are rounded to integers (half to even, ``torch.round``). Location
    ``(x, y)`` shifts them by ``(x·stride, y·stride)``.

    Args:
        feature_size: ``(H, W)`` of the feature map.
        stride: Pixels between neighbouring locations, >= 1.
        sizes: Anchor sizes in pixels, each > 0.
        ratios: Aspect ratios ``h / w``, each > 0.
        dtype: Floating dtype of the result.
        device: Device of the result.

    Returns:
        ``(H·W·A, 4)`` anchors ``(x1, y1, x2, y2)``, flattened in ``(y, x, a)`` order: anchor
        ``(y·W + x)·A + a`` is type ``a`` at location ``(x, y)``.

    Raises:
        TypeError: If ``feature_size`` is not a pair of ints, ``stride`` not an int, ``sizes``
            or ``ratios`` not a sequence of numbers, ``dtype`` not a floating torch dtype, or
            ``device`` not a device, a string or ``None``.
        ValueError: If a value is not positive, ``sizes`` or ``ratios`` repeats a value, or
            ``device`` names no torch device.

    Example:
        >>> generate_anchors((1, 2), 16, sizes=(32,), ratios=(0.5, 1.0, 2.0))
        tensor([[-23., -11.,  23.,  11.],
                [-16., -16.,  16.,  16.],
                [-11., -23.,  11.,  23.],
                [ -7., -11.,  39.,  11.],
                [  0., -16.,  32.,  16.],
                [  5., -23.,  27.,  23.]])
    """
    height, width = check_pair(feature_size, "feature_size")
    check_int(stride, "stride", minimum=1)
    check_floating_dtype(dtype, "dtype")
    device = _optional_device(device)
    sizes_t = torch.tensor(_check_positive_list(sizes, "sizes"), dtype=dtype, device=device)
    ratios_t = torch.tensor(_check_positive_list(ratios, "ratios"), dtype=dtype, device=device)
    h_ratio = torch.sqrt(ratios_t)  # (R,)
    ws = (sizes_t[None, :] / h_ratio[:, None]).reshape(-1)  # (R, S) -> (A,) ratio-major
    hs = (sizes_t[None, :] * h_ratio[:, None]).reshape(-1)  # (R, S) -> (A,)
    base = (torch.stack((-ws, -hs, ws, hs), dim=1) / 2).round()  # (A, 4)
    xs = torch.arange(width, dtype=dtype, device=device) * stride  # (W,)
    ys = torch.arange(height, dtype=dtype, device=device) * stride  # (H,)
    sy, sx = torch.meshgrid(ys, xs, indexing="ij")  # (H, W) each
    shifts = torch.stack((sx, sy, sx, sy), dim=-1)  # (H, W, 4)
    anchors = shifts[:, :, None, :] + base[None, None, :, :]  # (H, W, A, 4)
    return anchors.reshape(-1, 4)  # (H, W, A, 4) -> (H*W*A, 4)


def anchor_types(num_locations: int, num_types: int, *, device: torch.device | None = None):
    """The anchor type ``a`` of every anchor in ``(y, x, a)`` order: ``arange(N) % A``.

    Args:
        num_locations: ``H·W``, >= 1.
        num_types: ``A``, >= 1.
        device: Device of the result.

    Returns:
        ``(H·W·A,)`` int64 type indices.

    Raises:
        TypeError: If a count is not an int, or ``device`` not a device, a string or ``None``.
        ValueError: If a count is < 1 or ``device`` names no torch device.

    Example:
        >>> anchor_types(2, 3)
        tensor([0, 1, 2, 0, 1, 2])
    """
    check_int(num_locations, "num_locations", minimum=1)
    check_int(num_types, "num_types", minimum=1)
    device = _optional_device(device)
    return torch.arange(num_locations * num_types, device=device) % num_types


# --- 2. IoU and labels ---------------------------------------------------------------------------


def box_iou(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """Intersection over union of every box of ``a`` with every box of ``b``.

    Args:
        a: ``(..., N, 4)`` boxes ``(x1, y1, x2, y2)``.
        b: ``(..., M, 4)`` boxes with the same leading dimensions as ``a`` (no broadcasting).

    Returns:
        ``(..., N, M)`` IoU in ``[0, 1]``; 0 where the union is empty (two degenerate boxes).
        Pure math: NaN coordinates propagate to that box's IoUs as torch's arithmetic does
        (an infinite coordinate gives NaN or 0).

    Raises:
        TypeError: If a box tensor is not floating point.
        ValueError: If a tensor is not ``(..., 4)`` or the leading dimensions differ.

    Example:
        >>> box_iou(torch.tensor([[0., 0., 2., 2.]]), torch.tensor([[1., 0., 3., 2.], [5., 5., 6., 6.]]))
        tensor([[0.3333, 0.0000]])
    """
    _check_boxes(a, "a")
    _check_boxes(b, "b")
    if a.shape[:-2] != b.shape[:-2]:
        raise ValueError(
            f"a and b must have the same leading dimensions, got {tuple(a.shape)} and "
            f"{tuple(b.shape)}"
        )
    area_a = (a[..., 2] - a[..., 0]) * (a[..., 3] - a[..., 1])  # (..., N)
    area_b = (b[..., 2] - b[..., 0]) * (b[..., 3] - b[..., 1])  # (..., M)
    ax1, ay1, ax2, ay2 = (a[..., :, None, i] for i in range(4))  # (..., N, 1) each
    bx1, by1, bx2, by2 = (b[..., None, :, i] for i in range(4))  # (..., 1, M) each
    iw = (torch.minimum(ax2, bx2) - torch.maximum(ax1, bx1)).clamp_(min=0)  # (..., N, M)
    ih = (torch.minimum(ay2, by2) - torch.maximum(ay1, by1)).clamp_(min=0)  # (..., N, M)
    inter = iw.mul_(ih)  # (..., N, M), written into iw (a fresh tensor, not an input)
    union = area_a[..., :, None] + area_b[..., None, :] - inter  # (..., N, M)
    return torch.where(union > 0, inter / union.clamp(min=torch.finfo(a.dtype).tiny), 0.0)


def label_anchors(
    anchors: torch.Tensor,
    gt_boxes: torch.Tensor,
    fg_iou: float = FG_IOU,
    bg_iou: float = BG_IOU,
    *,
    valid: torch.Tensor | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Label each anchor positive, negative or ignored by the paper's rule (§3.1.2).

    An anchor is positive if its IoU with some ground-truth box is ``>= fg_iou``, or if it is
    (one of, ties included) the anchor(s) with the highest IoU for some box, provided that IoU is
    above zero. A non-positive anchor is negative if its IoU is ``< bg_iou`` for every box; the rest
    are ignored. Each anchor is matched to the box it overlaps most.

    Convention:
        Same labels as torchvision's RPN (``Matcher(fg_iou, bg_iou, allow_low_quality_matches=
        True)``) except in one case: torchvision also forces the best anchors of a box whose best
        IoU is 0, and since every anchor that misses that box ties at 0, every such anchor turns
        positive. Here a box that overlaps no anchor forces nothing. ``matched`` is the arg-max
        box for every anchor (torchvision returns -1/-2 for negatives and ignored anchors); it is
        meaningful only where ``labels == 1``, and is 0 where an image has no box.

    Args:
        anchors: ``(N, 4)`` anchors, ``N >= 1``, finite.
        gt_boxes: ``(M, 4)`` ground-truth boxes of one image, or ``(B, M, 4)`` for ``B`` images,
            finite (padding rows included).
        fg_iou: Positive threshold in ``[0, 1]``.
        bg_iou: Negative threshold in ``[0, fg_iou]``.
        valid: Optional ``(M,)`` or ``(B, M)`` bool mask of real boxes (padding is ``False``);
            ``None`` means every box is real.

    Returns:
        ``(labels, matched)``, each ``(N,)`` (or ``(B, N)``) int64: labels in ``{1, 0, -1}``,
        matched the index of each anchor's box. No box (``M = 0`` or nothing valid) means every
        anchor negative.

    Raises:
        TypeError: If a tensor has the wrong dtype or a threshold is not a number.
        ValueError: If a shape is wrong, ``anchors`` is empty, a box is not finite, or a
            threshold out of range.

    Example:
        >>> anchors = torch.tensor([[0., 0., 10., 10.], [20., 0., 30., 10.], [0., 20., 4., 24.]])
        >>> labels, matched = label_anchors(anchors, torch.tensor([[0., 0., 10., 9.], [2., 20., 5., 23.]]))
        >>> labels.tolist(), matched.tolist()
        ([1, 0, 1], [0, 0, 1])
    """
    _check_boxes(anchors, "anchors")
    if anchors.ndim != 2:
        raise ValueError(f"anchors must be 2-D (N, 4), got shape {tuple(anchors.shape)}")
    check_nonempty(anchors, "anchors")
    check_finite(anchors, "anchors")
    _check_boxes(gt_boxes, "gt_boxes")
    if gt_boxes.ndim not in (2, 3):
        raise ValueError(f"gt_boxes must be (M, 4) or (B, M, 4), got shape {tuple(gt_boxes.shape)}")
    check_finite(gt_boxes, "gt_boxes")
    check_number(fg_iou, "fg_iou", low=0, high=1)
    check_number(bg_iou, "bg_iou", low=0, high=fg_iou)
    single = gt_boxes.ndim == 2
    gt = gt_boxes[None] if single else gt_boxes  # (B, M, 4)
    b, m = gt.shape[:2]
    if valid is None:
        mask = torch.ones(b, m, dtype=torch.bool, device=gt.device)  # (B, M)
    else:
        check_tensor(valid, "valid")
        if valid.dtype != torch.bool:
            raise TypeError(f"valid must be a bool tensor, got {valid.dtype}")
        if valid.shape != gt_boxes.shape[:-1]:
            raise ValueError(
                f"valid must have shape {tuple(gt_boxes.shape[:-1])} (one flag per box of "
                f"gt_boxes {tuple(gt_boxes.shape)}), got {tuple(valid.shape)}"
            )
        mask = valid[None] if single else valid  # (B, M)
    n = anchors.shape[0]
    iou = box_iou(anchors.expand(b, n, 4), gt)  # (B, N, M)
    iou = torch.where(mask[:, None, :], iou, -1.0)  # padding never matches
    if m == 0:
        best = torch.full((b, n), -1.0, dtype=iou.dtype, device=iou.device)  # (B, N)
        matched = torch.zeros(b, n, dtype=torch.int64, device=iou.device)  # (B, N)
    else:
        best, matched = iou.max(dim=2)  # (B, N) each
    labels = torch.full((b, n), -1, dtype=torch.int64, device=iou.device)  # (B, N) ignored
    labels = torch.where(best < bg_iou, 0, labels)  # also every anchor of an image with no box
    labels = torch.where(best >= fg_iou, 1, labels)
    if m > 0:
        box_best = iou.max(dim=1, keepdim=True).values  # (B, 1, M) best IoU of each box
        forced = ((iou == box_best) & (box_best > 0) & mask[:, None, :]).any(dim=2)  # (B, N)
        labels = torch.where(forced, 1, labels)
    matched = torch.where(mask.any(dim=1, keepdim=True), matched, 0)  # (B, N)
    if single:
        return labels[0], matched[0]
    return labels, matched


# --- 3. Sampling ---------------------------------------------------------------------------------


def _sample_rows(
    labels: torch.Tensor,
    batch_size: int,
    positive_fraction: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Boolean ``(R, N)`` masks of the sampled positives and negatives, row by row, vectorised."""
    pos, neg = labels == 1, labels == 0  # (R, N)
    num_pos = pos.sum(dim=1).clamp(max=int(batch_size * positive_fraction))  # (R,)
    num_neg = torch.minimum(neg.sum(dim=1), batch_size - num_pos)  # (R,)
    # A uniform random subset of size k of a set: the k members with the largest random keys.
    keys = torch.rand(labels.shape, generator=generator, device=labels.device)  # (R, N)

    def first_k(member: torch.Tensor, k: torch.Tensor) -> torch.Tensor:
        order = torch.argsort(torch.where(member, keys, -1.0), dim=1, descending=True)  # (R, N)
        rank = torch.empty_like(order).scatter_(
            1, order, torch.arange(order.shape[1], device=order.device).expand_as(order)
        )  # (R, N) rank of each anchor among the row's keys
        return member & (rank < k[:, None])

    return first_k(pos, num_pos), first_k(neg, num_neg)


def _check_labels(labels: object, name: str = "labels") -> None:
    """Integer labels in ``{1, 0, -1}`` (one reduction: a single sync)."""
    check_tensor(labels, name, integer=True)
    if labels.numel() and not bool((labels.abs() <= 1).all()):  # type: ignore[union-attr]
        bad = labels[labels.abs() > 1][0]  # type: ignore[union-attr,index]
        raise ValueError(
            f"{name} must hold 1, 0 or -1 (positive, negative, ignored), got {int(bad)}"
        )


def _check_sampling_args(
    labels: object, batch_size: int, positive_fraction: float, generator: object
) -> None:
    check_tensor(labels, "labels", integer=True)
    if labels.ndim not in (1, 2) or labels.shape[-1] == 0:  # type: ignore[union-attr]
        raise ValueError(
            f"labels must be (N,) or (B, N) with N >= 1, got shape {tuple(labels.shape)}"  # type: ignore[union-attr]
        )
    _check_labels(labels)
    check_int(batch_size, "batch_size", minimum=1)
    check_number(positive_fraction, "positive_fraction", low=0, high=1)
    check_generator(generator)


def sample_anchors(
    labels: torch.Tensor,
    batch_size: int = BATCH_SIZE_PER_IMAGE,
    positive_fraction: float = POSITIVE_FRACTION,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Sample at most ``batch_size`` labelled anchors per image, at most a fraction positive.

    Per image (row of ``labels``): ``min(#positives, int(batch_size · positive_fraction))``
    positives and then ``min(#negatives, batch_size − that)`` negatives, each drawn uniformly
    without replacement, across all anchors of the image whatever their type (§3.1.3; torchvision's
    ``BalancedPositiveNegativeSampler``). Ignored anchors (``-1``) are never drawn.

    Args:
        labels: ``(N,)`` labels of one image or ``(B, N)`` of ``B`` images, integer, in
            ``{1, 0, -1}``.
        batch_size: Anchors per image, >= 1.
        positive_fraction: Largest fraction of positives, in ``[0, 1]``.
        generator: Random generator (``None``: torch's global one).

    Returns:
        ``(pos_idx, neg_idx)``: int64 indices into ``labels.flatten()`` (for ``(B, N)`` labels,
        ``b·N + n``), increasing.

    Raises:
        TypeError: If ``labels`` is not an integer tensor or an argument has the wrong type.
        ValueError: If ``labels`` is not 1-D or 2-D with ``N >= 1``, holds a value other than
            1, 0 and -1, or a number is out of range.

    Example:
        >>> labels = torch.tensor([1, 1, 1, 0, 0, 0, 0, -1])
        >>> pos, neg = sample_anchors(labels, batch_size=4, generator=torch.Generator().manual_seed(0))
        >>> len(pos), len(neg), bool((labels[pos] == 1).all() and (labels[neg] == 0).all())
        (2, 2, True)
    """
    _check_sampling_args(labels, batch_size, positive_fraction, generator)
    return _sample_anchors(labels, batch_size, positive_fraction, generator)


def _sample_anchors(
    labels: torch.Tensor,
    batch_size: int,
    positive_fraction: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_anchors` on checked arguments."""
    rows = labels.reshape(-1, labels.shape[-1])  # (N,) or (B, N) -> (B, N)
    pos, neg = _sample_rows(rows, batch_size, positive_fraction, generator)
    return (
        pos.flatten().nonzero().squeeze(1),  # (B, N) -> (B*N,) -> (P,)
        neg.flatten().nonzero().squeeze(1),  # (B, N) -> (B*N,) -> (Q,)
    )


def sample_anchors_per_type(
    labels: torch.Tensor,
    num_types: int,
    batch_size: int = BATCH_SIZE_PER_IMAGE,
    positive_fraction: float = POSITIVE_FRACTION,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The asker's reading: a separate balanced sample for each anchor type, same total budget.

    Each image's anchors are split by type ``a`` (anchor ``n`` has type ``n % A``, the ``(y, x, a)``
    order of :func:`generate_anchors`), and each type gets its own sample of
    ``batch_size // A`` anchors, at most a ``positive_fraction`` of them positive, as if each type
    had its own network and minibatch.

    Args:
        labels: ``(N,)`` or ``(B, N)`` integer labels, ``N`` a multiple of ``num_types``.
        num_types: ``A``, >= 1.
        batch_size: Anchors per image in all (each type gets ``batch_size // A``), >= ``A``.
        positive_fraction: Largest fraction of positives per type, in ``[0, 1]``.
        generator: Random generator.

    Returns:
        ``(pos_idx, neg_idx)`` int64 indices into ``labels.flatten()``, increasing.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a shape or number is out of range, or ``labels`` holds a value other than
            1, 0 and -1.

    Example:
        >>> labels = torch.tensor([1, 0, 0, 0, 0, 1, 0, 0, 0])  # 3 locations, 3 types
        >>> pos, neg = sample_anchors_per_type(labels, 3, batch_size=6)
        >>> sorted((pos % 3).tolist()), sorted((neg % 3).tolist())
        ([0, 2], [0, 1, 1, 2])
    """
    _check_sampling_args(labels, batch_size, positive_fraction, generator)
    check_int(num_types, "num_types", minimum=1)
    n = labels.shape[-1]
    if n % num_types:
        raise ValueError(f"labels' last size ({n}) must be a multiple of num_types={num_types}")
    if batch_size < num_types:
        raise ValueError(f"batch_size must be >= num_types={num_types}, got {batch_size}")
    return _sample_anchors_per_type(labels, num_types, batch_size, positive_fraction, generator)


def _sample_anchors_per_type(
    labels: torch.Tensor,
    num_types: int,
    batch_size: int,
    positive_fraction: float,
    generator: torch.Generator | None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`sample_anchors_per_type` on checked arguments."""
    n = labels.shape[-1]
    rows = labels.reshape(-1, n // num_types, num_types)  # (B, N) -> (B, H*W, A)
    by_type = rows.transpose(1, 2).reshape(-1, n // num_types)  # (B, H*W, A) -> (B*A, H*W)
    pos, neg = _sample_rows(by_type, batch_size // num_types, positive_fraction, generator)
    b = rows.shape[0]

    def back(mask: torch.Tensor) -> torch.Tensor:
        m = mask.reshape(b, num_types, n // num_types).transpose(1, 2)  # (B*A, H*W) -> (B, H*W, A)
        return m.reshape(-1).nonzero().squeeze(1)  # (B, H*W, A) -> (B*N,)

    return back(pos), back(neg)


# --- 4. Targets and loss -------------------------------------------------------------------------


def encode_boxes(boxes: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Regression targets of ``boxes`` relative to ``anchors``: the paper's Eq. 2.

    With centres ``(x, y)`` and sizes ``w = x2 − x1``, ``h = y2 − y1``:
    ``t_x = (x − x_a) / w_a``, ``t_y = (y − y_a) / h_a``, ``t_w = log(w / w_a)``,
    ``t_h = log(h / h_a)`` (torchvision's ``BoxCoder`` with weights ``(1, 1, 1, 1)``, the RPN's).

    Args:
        boxes: ``(..., 4)`` target boxes, positive sizes.
        anchors: ``(..., 4)`` anchors, same shape, positive sizes.

    Returns:
        ``(..., 4)`` targets ``(t_x, t_y, t_w, t_h)``. Pure math: a NaN or infinite coordinate
        propagates to its box's targets, as torch's arithmetic does.

    Raises:
        TypeError: If a tensor is not floating point.
        ValueError: If the shapes differ or are not ``(..., 4)``.

    Example:
        >>> encode_boxes(torch.tensor([[2., 0., 12., 20.]]), torch.tensor([[0., 0., 10., 10.]]))
        tensor([[0.2000, 0.5000, 0.0000, 0.6931]])
    """
    _check_boxes(boxes, "boxes")
    _check_boxes(anchors, "anchors")
    check_same_shape(boxes, "boxes", anchors, "anchors")
    wa, ha = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    xa, ya = anchors[..., 0] + 0.5 * wa, anchors[..., 1] + 0.5 * ha
    w, h = boxes[..., 2] - boxes[..., 0], boxes[..., 3] - boxes[..., 1]
    x, y = boxes[..., 0] + 0.5 * w, boxes[..., 1] + 0.5 * h
    return torch.stack(((x - xa) / wa, (y - ya) / ha, torch.log(w / wa), torch.log(h / ha)), -1)


def decode_boxes(deltas: torch.Tensor, anchors: torch.Tensor) -> torch.Tensor:
    """Boxes from offsets ``(t_x, t_y, t_w, t_h)`` and anchors: the inverse of :func:`encode_boxes`.

    ``t_w`` and ``t_h`` are clamped at ``log(1000 / 16)`` before ``exp`` (torchvision's
    ``bbox_xform_clip``), so an untrained head cannot overflow; below that the two functions are
    exact inverses.

    Args:
        deltas: ``(..., 4)`` offsets.
        anchors: ``(..., 4)`` anchors, same shape.

    Returns:
        ``(..., 4)`` boxes ``(x1, y1, x2, y2)``, in ``deltas``' dtype. Pure math: a NaN
        offset or anchor coordinate propagates to its box, as torch's arithmetic does.

    Raises:
        TypeError: If a tensor is not floating point.
        ValueError: If the shapes differ or are not ``(..., 4)``.

    Example:
        >>> deltas = torch.tensor([[0.2, 0.5, 0.0, math.log(2.0)]])
        >>> decode_boxes(deltas, torch.tensor([[0., 0., 10., 10.]]))
        tensor([[ 2.,  0., 12., 20.]])
    """
    _check_boxes(deltas, "deltas")
    _check_boxes(anchors, "anchors")
    check_same_shape(deltas, "deltas", anchors, "anchors")
    anchors = anchors.to(deltas.dtype)
    wa, ha = anchors[..., 2] - anchors[..., 0], anchors[..., 3] - anchors[..., 1]
    xa, ya = anchors[..., 0] + 0.5 * wa, anchors[..., 1] + 0.5 * ha
    x = deltas[..., 0] * wa + xa
    y = deltas[..., 1] * ha + ya
    w = torch.exp(deltas[..., 2].clamp(max=BBOX_XFORM_CLIP)) * wa
    h = torch.exp(deltas[..., 3].clamp(max=BBOX_XFORM_CLIP)) * ha
    return torch.stack((x - 0.5 * w, y - 0.5 * h, x + 0.5 * w, y + 0.5 * h), dim=-1)


def rpn_loss(
    objectness: torch.Tensor,
    deltas: torch.Tensor,
    labels: torch.Tensor,
    regression_targets: torch.Tensor,
    pos_idx: torch.Tensor,
    neg_idx: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The RPN loss over a sample, normalised as torchvision's ``RegionProposalNetwork``.

    ``cls_loss`` is the binary cross-entropy of the objectness logits over the sampled anchors
    (positives and negatives), averaged; ``box_loss`` is smooth-L1 (``beta = 1/9``) summed over
    the sampled positives' four offsets and divided by the number of sampled anchors. Their sum is
    the paper's Eq. 1 with ``N_cls = N_reg`` = the sample size and ``λ = 1``, which weights the two
    terms about as the paper's ``N_cls = 256``, ``N_reg ≈ 2,400``, ``λ = 10`` does (§3.1.2).

    Args:
        objectness: ``(N,)`` logits (all images' anchors flattened).
        deltas: ``(N, 4)`` predicted offsets.
        labels: ``(N,)`` integer labels in ``{1, 0, -1}``.
        regression_targets: ``(N, 4)`` targets from :func:`encode_boxes` (used at positives only).
        pos_idx: ``(P,)`` int64 indices of sampled positives, in ``[0, N)``.
        neg_idx: ``(Q,)`` int64 indices of sampled negatives, in ``[0, N)``, ``P + Q >= 1``.

    Returns:
        ``(cls_loss, box_loss)``, two 0-d tensors. Pure math: a NaN or infinite logit, offset or
        target at a sampled anchor propagates into the loss, as in torch (:func:`train_rpn` then
        stops with :class:`~companion.core.training.NonFiniteLossError`).

    Raises:
        TypeError: If a tensor has the wrong dtype.
        ValueError: If a shape is wrong, the ``N`` differ, a label is not 1, 0 or -1, an index is
            outside ``[0, N)``, the sample is empty, or a sampled label disagrees with its role
            (a "positive" whose label is not 1, a "negative" whose label is not 0).

    Example:
        >>> labels = torch.tensor([1, 0, -1])
        >>> cls, box = rpn_loss(torch.zeros(3), torch.zeros(3, 4), labels, torch.zeros(3, 4),
        ...                     torch.tensor([0]), torch.tensor([1]))
        >>> round(cls.item(), 4), box.item()
        (0.6931, 0.0)
    """
    check_tensor(objectness, "objectness", ndim=1, dims="(N,)", floating=True)
    check_tensor(deltas, "deltas", ndim=2, dims="(N, 4)", floating=True, size={1: 4})
    check_tensor(labels, "labels", ndim=1, dims="(N,)", integer=True)
    check_tensor(
        regression_targets, "regression_targets", ndim=2, dims="(N, 4)", floating=True,
        size={1: 4},
    )  # fmt: skip
    n = check_same_batch(
        objectness=objectness, deltas=deltas, labels=labels, regression_targets=regression_targets
    )
    _check_labels(labels)
    for idx, name in ((pos_idx, "pos_idx"), (neg_idx, "neg_idx")):
        check_tensor(idx, name, ndim=1, integer=True)
        if idx.numel() and (int(idx.min()) < 0 or int(idx.max()) >= n):
            raise ValueError(
                f"{name} must index anchors in [0, {n}), got {int(idx.min())}..{int(idx.max())}"
            )
    if pos_idx.numel() + neg_idx.numel() == 0:
        raise ValueError("pos_idx and neg_idx are both empty: the sample has no anchor")
    if not bool((labels[pos_idx] == 1).all()):
        raise ValueError("pos_idx must index anchors that labels marks 1 (positive)")
    if not bool((labels[neg_idx] == 0).all()):
        raise ValueError("neg_idx must index anchors that labels marks 0 (negative)")
    return _rpn_loss(objectness, deltas, labels, regression_targets, pos_idx, neg_idx)


def _rpn_loss(
    objectness: torch.Tensor,
    deltas: torch.Tensor,
    labels: torch.Tensor,
    regression_targets: torch.Tensor,
    pos_idx: torch.Tensor,
    neg_idx: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`rpn_loss` on checked arguments (no host sync)."""
    sampled = torch.cat((pos_idx, neg_idx))  # (P + Q,)
    target = (labels[sampled] == 1).to(objectness.dtype)  # (P + Q,)
    cls_loss = F.binary_cross_entropy_with_logits(objectness[sampled], target)
    box_loss = (
        F.smooth_l1_loss(
            deltas[pos_idx], regression_targets[pos_idx], beta=SMOOTH_L1_BETA, reduction="sum"
        )
        / sampled.numel()
    )
    return cls_loss, box_loss


# --- 5. Proposals: decode, clip, NMS -------------------------------------------------------------


def clip_boxes(boxes: torch.Tensor, image_size: tuple[int, int]) -> torch.Tensor:
    """Clip boxes to the image: ``x`` into ``[0, W]``, ``y`` into ``[0, H]``.

    Args:
        boxes: ``(..., 4)`` boxes.
        image_size: ``(H, W)``.

    Returns:
        ``(..., 4)`` clipped boxes (a new tensor). Pure math: NaN coordinates propagate (as
        through ``torch.clamp``); infinite ones are clipped to the border.

    Raises:
        TypeError: If ``boxes`` is not floating point or ``image_size`` not a pair of ints.
        ValueError: If ``boxes`` is not ``(..., 4)`` or a side of ``image_size`` is < 1.

    Example:
        >>> clip_boxes(torch.tensor([[-3., 2., 70., 9.]]), (32, 64))
        tensor([[ 0.,  2., 64.,  9.]])
    """
    _check_boxes(boxes, "boxes")
    height, width = check_pair(image_size, "image_size")
    x = boxes[..., 0::2].clamp(0, width)  # (..., 2)
    y = boxes[..., 1::2].clamp(0, height)  # (..., 2)
    return torch.stack((x[..., 0], y[..., 0], x[..., 1], y[..., 1]), dim=-1)


def _nms_keep_sorted(iou: torch.Tensor, iou_threshold: float, alive: torch.Tensor) -> torch.Tensor:
    """Greedy NMS on ``(..., n, n)`` IoU of boxes already sorted by decreasing score.

    Box ``i`` is kept iff no kept box ``j < i`` overlaps it by more than the threshold. That
    recursion has exactly one solution; iterating ``keep ← alive ∧ ¬any_j<i(keep_j ∧ S_ji)`` from
    "keep everything" reaches it, because after round ``r`` the first ``r`` decisions are final.
    So the loop runs over *rounds*, each one tensor operation on all boxes at once, and stops at
    the fixed point: as many rounds as the longest chain of suppressions (a handful in practice),
    at most ``n``.
    """
    n = iou.shape[-1]
    earlier = torch.ones(n, n, dtype=torch.bool, device=iou.device).triu(1)  # (n, n) j < i
    suppresses = ((iou > iou_threshold) & earlier & alive[..., :, None]).to(iou.dtype)  # j -> i
    keep = alive.clone()
    for _ in range(n + 1):
        # Number of kept earlier boxes that overlap each box: (..., 1, n) @ (..., n, n).
        hits = (keep.to(iou.dtype).unsqueeze(-2) @ suppresses).squeeze(-2)  # (..., n)
        new = alive & (hits == 0)
        if torch.equal(new, keep):
            break
        keep = new
    return keep


def nms(boxes: torch.Tensor, scores: torch.Tensor, iou_threshold: float) -> torch.Tensor:
    """Greedy non-maximum suppression, as ``torchvision.ops.nms``.

    Visit boxes by decreasing score; keep a box unless a kept box overlaps it with IoU
    ``> iou_threshold``. Vectorised: one IoU matrix and a loop over suppression *rounds* (tensor
    operations on all boxes), not over boxes; see the module source for why it is exact.

    Args:
        boxes: ``(N, 4)`` boxes, finite.
        scores: ``(N,)`` scores, finite.
        iou_threshold: In ``[0, 1]``.

    Returns:
        ``(K,)`` int64 indices of the kept boxes, in decreasing score order (ties: lower index
        first).

    Raises:
        TypeError: If a tensor is not floating point or the threshold not a number.
        ValueError: If a shape is wrong, ``boxes`` and ``scores`` differ in ``N``, a box or
            score is not finite (a NaN score has no place in the order), or the threshold is
            out of range.

    Example:
        >>> boxes = torch.tensor([[0., 0., 10., 10.], [1., 1., 11., 11.], [20., 20., 30., 30.]])
        >>> nms(boxes, torch.tensor([0.9, 0.95, 0.5]), 0.5)
        tensor([1, 2])
    """
    _check_boxes(boxes, "boxes")
    if boxes.ndim != 2:
        raise ValueError(f"boxes must be 2-D (N, 4), got shape {tuple(boxes.shape)}")
    check_tensor(scores, "scores", ndim=1, dims="(N,)", floating=True)
    check_same_batch(boxes=boxes, scores=scores)
    check_finite(boxes, "boxes")
    check_finite(scores, "scores")
    check_number(iou_threshold, "iou_threshold", low=0, high=1)
    order = torch.sort(scores, descending=True, stable=True).indices  # (N,)
    sorted_boxes = boxes[order]  # (N, 4)
    alive = torch.ones(len(order), dtype=torch.bool, device=boxes.device)  # (N,)
    keep = _nms_keep_sorted(box_iou(sorted_boxes, sorted_boxes), iou_threshold, alive)
    return order[keep]


@dataclass(frozen=True)
class Proposals:
    """Proposals of a batch of images, sorted by decreasing objectness, padded.

    Attributes:
        boxes: ``(B, P, 4)`` boxes; rows where ``valid`` is False are zeros.
        scores: ``(B, P)`` objectness probabilities (0 on padding).
        valid: ``(B, P)`` bool.
    """

    boxes: torch.Tensor
    scores: torch.Tensor
    valid: torch.Tensor


def propose(
    objectness: torch.Tensor,
    deltas: torch.Tensor,
    anchors: torch.Tensor,
    image_size: tuple[int, int],
    *,
    pre_nms_top_n: int = 300,
    post_nms_top_n: int = 100,
    nms_iou: float = NMS_IOU,
    min_size: float = 1e-3,
) -> Proposals:
    """Turn RPN outputs into proposals, per image: top-n by score, decode, clip, NMS, top-n.

    The same steps as torchvision's ``RegionProposalNetwork.filter_proposals`` for one feature
    map, batched over images (NMS runs on a ``(B, n, n)`` IoU tensor).

    Args:
        objectness: ``(B, N)`` logits, finite.
        deltas: ``(B, N, 4)`` offsets, finite.
        anchors: ``(N, 4)`` anchors, finite.
        image_size: ``(H, W)`` to clip to.
        pre_nms_top_n: Highest-scoring anchors kept before NMS, >= 1.
        post_nms_top_n: Proposals kept after NMS, >= 1.
        nms_iou: NMS threshold in ``[0, 1]``.
        min_size: Boxes narrower or lower than this (after clipping) are dropped, >= 0.

    Returns:
        :class:`Proposals` with ``P = min(post_nms_top_n, pre_nms_top_n, N)``.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a shape or number is out of range, ``deltas`` or ``anchors`` does not
            match ``objectness``' ``(B, N)``, or an input is not finite.

    Example:
        >>> anchors = generate_anchors((4, 4), 8, (16.0,), (1.0,))  # neighbours overlap by 1/3
        >>> scores = torch.linspace(1, 0, 16)[None]  # (1, 16)
        >>> props = propose(scores, torch.zeros(1, 16, 4), anchors, (32, 32), nms_iou=0.3)
        >>> props.boxes.shape, int(props.valid.sum())
        (torch.Size([1, 16, 4]), 8)
    """
    check_tensor(objectness, "objectness", ndim=2, dims="(B, N)", floating=True)
    b, n = objectness.shape
    check_tensor(deltas, "deltas", ndim=3, dims="(B, N, 4)", floating=True, size={2: 4})
    if deltas.shape[:2] != (b, n):
        raise ValueError(
            f"deltas must be (B, N, 4) with objectness' (B, N) = {(b, n)}, "
            f"got shape {tuple(deltas.shape)}"
        )
    check_tensor(anchors, "anchors", ndim=2, dims="(N, 4)", floating=True, size={1: 4})
    if anchors.shape[0] != n:
        raise ValueError(
            f"anchors must be (N, 4) with objectness' N = {n}, got shape {tuple(anchors.shape)}"
        )
    for x, name in ((objectness, "objectness"), (deltas, "deltas"), (anchors, "anchors")):
        check_finite(x, name)
    check_int(pre_nms_top_n, "pre_nms_top_n", minimum=1)
    check_int(post_nms_top_n, "post_nms_top_n", minimum=1)
    check_number(nms_iou, "nms_iou", low=0, high=1)
    check_number(min_size, "min_size", low=0)
    k = min(pre_nms_top_n, n)
    logits, top = objectness.detach().topk(k, dim=1)  # (B, k) each, decreasing
    boxes = decode_boxes(deltas.detach().gather(1, top[..., None].expand(b, k, 4)), anchors[top])
    boxes = clip_boxes(boxes, image_size)  # (B, k, 4)
    big = ((boxes[..., 2] - boxes[..., 0]) >= min_size) & (
        (boxes[..., 3] - boxes[..., 1]) >= min_size
    )
    keep = _nms_keep_sorted(box_iou(boxes, boxes), nms_iou, big)  # (B, k)
    # Move kept boxes to the front, in score order: sort by (not kept, rank).
    rank = torch.arange(k, device=boxes.device).expand(b, k) + k * (~keep)  # (B, k)
    order = rank.argsort(dim=1)[:, : min(post_nms_top_n, k)]  # (B, P)
    valid = keep.gather(1, order)  # (B, P)
    boxes = boxes.gather(1, order[..., None].expand(*order.shape, 4))  # (B, P, 4)
    scores = torch.sigmoid(logits.gather(1, order))  # (B, P)
    return Proposals(
        torch.where(valid[..., None], boxes, 0.0), torch.where(valid, scores, 0.0), valid
    )


def proposal_recall(
    proposals: Proposals,
    gt_boxes: torch.Tensor,
    gt_valid: torch.Tensor,
    iou_thresholds: Sequence[float],
    counts: Sequence[int],
) -> torch.Tensor:
    """Fraction of ground-truth boxes covered by one of the top-``k`` proposals at IoU >= ``t``.

    Args:
        proposals: What :func:`propose` returned, ``(B, P, 4)``.
        gt_boxes: ``(B, M, 4)`` boxes, finite.
        gt_valid: ``(B, M)`` bool mask of real boxes.
        iou_thresholds: Thresholds ``t`` in ``[0, 1]``, at least one.
        counts: Numbers of proposals ``k`` >= 1 (``k > P`` counts all ``P``), at least one.

    Returns:
        ``(len(iou_thresholds), len(counts))`` float recall.

    Raises:
        TypeError: If an argument has the wrong type.
        ValueError: If a shape is wrong, a box is not finite, ``iou_thresholds`` or ``counts``
            is empty or holds a value out of range, or nothing is valid.

    Example:
        >>> props = Proposals(torch.tensor([[[0., 0., 10., 10.], [0., 0., 5., 5.]]]),
        ...                   torch.tensor([[0.9, 0.8]]), torch.tensor([[True, True]]))
        >>> proposal_recall(props, torch.tensor([[[0., 0., 5., 5.]]]), torch.tensor([[True]]),
        ...                 [0.5], [1, 2])
        tensor([[0., 1.]])
    """
    if not isinstance(proposals, Proposals):
        raise TypeError(f"proposals must be a Proposals, got {type(proposals).__name__}")
    b, p = proposals.valid.shape
    check_tensor(gt_boxes, "gt_boxes", ndim=3, dims="(B, M, 4)", floating=True, size={0: b, 2: 4})
    check_finite(gt_boxes, "gt_boxes")
    check_tensor(gt_valid, "gt_valid", ndim=2, dims="(B, M)", size={0: b, 1: gt_boxes.shape[1]})
    if gt_valid.dtype != torch.bool:
        raise TypeError(f"gt_valid must be a bool tensor, got {gt_valid.dtype}")
    if not bool(gt_valid.any()):
        raise ValueError("gt_valid must mark at least one real box (True)")
    thresholds = [
        check_number(t, f"iou_thresholds[{i}]", low=0, high=1)
        for i, t in enumerate(_check_sequence(iou_thresholds, "iou_thresholds"))
    ]
    ks = [
        min(check_int(k, f"counts[{i}]", minimum=1), p)
        for i, k in enumerate(_check_sequence(counts, "counts"))
    ]
    iou = box_iou(proposals.boxes, gt_boxes.to(proposals.boxes.dtype))  # (B, P, M)
    iou = torch.where(proposals.valid[..., None], iou, 0.0)
    best_so_far = iou.cummax(dim=1).values  # (B, P, M) best IoU among the first k proposals
    at_k = best_so_far[:, torch.tensor(ks) - 1, :]  # (B, K, M)
    t = torch.tensor(thresholds, dtype=iou.dtype, device=iou.device)[:, None, None, None]
    hit = (at_k[None] >= t) & gt_valid[None, :, None, :]  # (T, B, K, M)
    return hit.sum(dim=(1, 3)).to(iou.dtype) / gt_valid.sum()  # (T, K)


# --- 6. The network and its training ------------------------------------------------------------


class TinyRPN(nn.Module):
    """A small backbone and an RPN head: a 3×3 conv, then 1×1 convs to A and 4A channels.

    Backbone: one 3×3 stride-2 convolution per halving (``log2(stride)`` of them, the first
    ``channels // 2`` wide, the others ``channels``), then a 3×3 convolution, ReLU after each. Head (torchvision's ``RPNHead``): a 3×3 convolution with ReLU shared by all
    anchor types, then ``cls_logits`` (1×1, ``A`` outputs) and ``bbox_pred`` (1×1, ``4A`` outputs),
    initialised from N(0, 0.01²) with zero bias (§3.1.3).

    Args:
        num_anchors: ``A``, >= 1.
        channels: Width, >= 1.
        in_channels: Image channels, >= 1.
        stride: Backbone stride, a power of 2, >= 2.
        seed: Seed of the initial weights.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is < 1 (``seed`` < 0) or ``stride`` not a power of 2.

    Example:
        >>> net = TinyRPN(num_anchors=9, channels=8, stride=8)
        >>> obj, deltas = net(torch.zeros(2, 1, 32, 32))
        >>> obj.shape, deltas.shape
        (torch.Size([2, 144]), torch.Size([2, 144, 4]))
    """

    def __init__(
        self,
        num_anchors: int,
        channels: int = 32,
        in_channels: int = 1,
        stride: int = 8,
        *,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.num_anchors = check_int(num_anchors, "num_anchors", minimum=1)
        check_int(channels, "channels", minimum=1)
        check_int(in_channels, "in_channels", minimum=1)
        c = channels
        check_int(stride, "stride", minimum=2)
        if stride & (stride - 1):
            raise ValueError(f"stride must be a power of 2 (>= 2), got {stride}")
        widths = [in_channels] + [c // 2 or 1] + [c] * (stride.bit_length() - 2)
        with seeded(seed):
            layers: list[nn.Module] = []
            for c_in, c_out in itertools.pairwise(widths):  # one stride-2 conv per halving
                layers += [nn.Conv2d(c_in, c_out, 3, stride=2, padding=1), nn.ReLU()]
            layers += [nn.Conv2d(widths[-1], c, 3, padding=1), nn.ReLU()]
            self.backbone = nn.Sequential(*layers)
            self.conv = nn.Conv2d(c, c, 3, padding=1)
            self.cls_logits = nn.Conv2d(c, num_anchors, 1)
            self.bbox_pred = nn.Conv2d(c, 4 * num_anchors, 1)
            for layer in (self.cls_logits, self.bbox_pred):
                nn.init.normal_(layer.weight, std=0.01)
                nn.init.zeros_(layer.bias)

    def forward(self, images: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Map ``(B, C, H, W)`` images to ``(B, H'·W'·A)`` logits and ``(B, H'·W'·A, 4)`` offsets.

        The outputs are flattened in the ``(y, x, a)`` order of :func:`generate_anchors`; the
        network is fully convolutional, so any ``H, W >= 1`` gives ``H' = ⌈H / stride⌉``,
        ``W' = ⌈W / stride⌉``. Images of another floating dtype are converted to the weights'.
        Pure math: a NaN or infinite pixel propagates to the outputs, as through torch's
        convolutions.

        Raises:
            TypeError: If ``images`` is not a floating-point tensor.
            ValueError: If ``images`` is not 4-D with ``C = in_channels``.
        """
        c_in = self.backbone[0].in_channels
        check_tensor(images, "images", ndim=4, dims="(B, C, H, W)", floating=True, size={1: c_in})
        images = images.to(self.cls_logits.weight.dtype)
        t = F.relu(self.conv(self.backbone(images)))  # (B, D, H', W')
        logits, boxes = self.cls_logits(t), self.bbox_pred(t)  # (B, A, H', W'), (B, 4A, H', W')
        b, a, h, w = logits.shape
        logits = logits.permute(0, 2, 3, 1).reshape(b, h * w * a)  # (B, A, H', W') -> (B, H'*W'*A)
        boxes = boxes.view(b, a, 4, h, w)  # (B, 4A, H', W') -> (B, A, 4, H', W')
        boxes = boxes.permute(0, 3, 4, 1, 2).reshape(b, h * w * a, 4)  # -> (B, H'*W'*A, 4)
        return logits, boxes


@dataclass
class RpnHistory:
    """What :func:`train_rpn` recorded, one entry per step.

    Attributes:
        cls_loss: Objectness loss of each step's sample.
        box_loss: Box loss of each step's sample.
        positives: Sampled positives per image at each step (mean over the step's images).
        sampled: Sampled anchors per image at each step (mean).
    """

    cls_loss: list[float] = field(default_factory=list)
    box_loss: list[float] = field(default_factory=list)
    positives: list[float] = field(default_factory=list)
    sampled: list[float] = field(default_factory=list)


def train_rpn(
    images: torch.Tensor,
    gt_boxes: torch.Tensor,
    gt_valid: torch.Tensor,
    config: RpnConfig | None = None,
    *,
    sampling: Sampling = "joint",
    seed: int = 0,
    progress: bool = False,
) -> tuple[TinyRPN, RpnHistory]:
    """Train :class:`TinyRPN` with Adam on ``cls_loss + box_loss`` (:func:`rpn_loss`).

    Labels and regression targets are computed once for all images (anchors and boxes are
    fixed). Each step draws ``config.batch_images`` images and then the anchors of the loss:

    - ``"joint"``: the paper's sample (§3.1.3), :func:`sample_anchors` over all anchor types;
    - ``"per_type"``: the asker's reading, :func:`sample_anchors_per_type` (same total budget);
    - ``"all"``: no sampling, every labelled anchor (mean loss over them).

    Args:
        images: ``(N, C, H, W)`` training images, finite, ``N >= 1``; converted to float32
            (the model's dtype).
        gt_boxes: ``(N, M, 4)`` boxes, finite; converted to float32.
        gt_valid: ``(N, M)`` bool mask of real boxes.
        config: Hyper-parameters (default :class:`RpnConfig`).
        sampling: ``"joint"``, ``"per_type"`` or ``"all"``.
        seed: Seed of the initial weights, the image order and the anchor samples.
        progress: Show a progress bar.

    Returns:
        ``(model, history)``: the trained model (on ``images``' device) and an :class:`RpnHistory`.

    Raises:
        TypeError: If an argument has the wrong type (``gt_valid`` not bool included).
        ValueError: If a shape is wrong, the batch sizes differ, ``images`` is empty, an image
            or box is not finite, ``sampling`` unknown, the images' size differs from
            ``config.image_size``, or a step's images have no labelled anchor to learn from.
        companion.core.training.NonFiniteLossError: If a loss becomes NaN or infinite.
    """
    config = RpnConfig() if config is None else config
    if not isinstance(config, RpnConfig):
        raise TypeError(f"config must be an RpnConfig, got {type(config).__name__}")
    check_tensor(images, "images", ndim=4, dims="(N, C, H, W)", floating=True)
    if tuple(images.shape[-2:]) != tuple(config.image_size):
        raise ValueError(
            f"images must be {config.image_size} (config.image_size), got {tuple(images.shape[-2:])}"
        )
    check_tensor(gt_boxes, "gt_boxes", ndim=3, dims="(N, M, 4)", floating=True, size={2: 4})
    check_tensor(gt_valid, "gt_valid", ndim=2, dims="(N, M)")
    if gt_valid.dtype != torch.bool:
        raise TypeError(f"gt_valid must be a bool tensor, got {gt_valid.dtype}")
    n = check_same_batch(images=images, gt_boxes=gt_boxes, gt_valid=gt_valid)
    if gt_valid.shape[1] != gt_boxes.shape[1]:
        raise ValueError(
            f"gt_valid must have one flag per box of gt_boxes (M = {gt_boxes.shape[1]}), "
            f"got shape {tuple(gt_valid.shape)}"
        )
    check_nonempty(images, "images")
    check_finite(images, "images")
    check_finite(gt_boxes, "gt_boxes")
    check_choice(sampling, "sampling", SAMPLINGS)
    check_int(seed, "seed", minimum=0)
    check_bool(progress, "progress")
    images, gt_boxes = images.float(), gt_boxes.float()  # the model's dtype
    device = images.device
    anchors = generate_anchors(
        config.feature_size, config.stride, config.sizes, config.ratios, device=device
    )
    labels, matched = label_anchors(
        anchors, gt_boxes, config.fg_iou, config.bg_iou, valid=gt_valid
    )  # (N, A_all) each
    matched_boxes = gt_boxes.gather(
        1, matched[..., None].expand(*matched.shape, 4)
    )  # (N, A_all, 4)
    safe = torch.where((labels == 1)[..., None], matched_boxes, anchors.expand_as(matched_boxes))
    targets = encode_boxes(safe, anchors.expand_as(safe))  # (N, A_all, 4), used at positives only
    model = TinyRPN(
        config.num_anchors, config.channels, images.shape[1], config.stride, seed=seed
    ).to(device)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    g = torch.Generator(device=device).manual_seed(seed)
    history = RpnHistory()
    model.train()
    for step in tqdm(range(config.steps), disable=not progress, desc=f"RPN ({sampling})"):
        idx = torch.randint(0, n, (config.batch_images,), generator=g, device=device)  # (b,)
        batch_labels = labels[idx]  # (b, A_all)
        # Labels, samples and indices are correct by construction here: the unchecked versions
        # skip the public functions' host syncs.
        if sampling == "joint":
            pos, neg = _sample_anchors(
                batch_labels, config.batch_size_per_image, config.positive_fraction, g
            )
        elif sampling == "per_type":
            pos, neg = _sample_anchors_per_type(
                batch_labels, config.num_anchors, config.batch_size_per_image,
                config.positive_fraction, g,
            )  # fmt: skip
        else:
            flat = batch_labels.flatten()  # (b, A_all) -> (b*A_all,)
            pos, neg = (flat == 1).nonzero().squeeze(1), (flat == 0).nonzero().squeeze(1)
        logits, deltas = model(images[idx])
        if len(pos) + len(neg) == 0:  # no labelled anchor in these images: nothing to learn
            raise ValueError(
                f"step {step}: the sampled images have no positive or negative anchor; "
                "check gt_boxes, gt_valid and config.fg_iou/bg_iou"
            )
        cls_loss, box_loss = _rpn_loss(
            logits.flatten(),  # (b, A_all) -> (b*A_all,)
            deltas.reshape(-1, 4),  # (b, A_all, 4) -> (b*A_all, 4)
            batch_labels.flatten(),  # (b, A_all) -> (b*A_all,)
            targets[idx].reshape(-1, 4),  # (b, A_all, 4) -> (b*A_all, 4)
            pos,
            neg,
        )
        loss = cls_loss + box_loss
        check_finite_loss(loss.detach(), "RPN loss", step)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        optimizer.step()
        history.cls_loss.append(cls_loss.item())
        history.box_loss.append(box_loss.item())
        history.positives.append(len(pos) / config.batch_images)
        history.sampled.append((len(pos) + len(neg)) / config.batch_images)
    model.eval()
    return model, history
