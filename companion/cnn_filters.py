"""Who chooses the values in a CNN's filters? The initialiser, then the gradient.

A convolution layer's filters are ordinary weights. They start as random numbers drawn by the
framework's initialiser and then move downhill along the gradient of the loss, like every other
weight. This module holds the pieces the chapter measures that with:

- the initialisers' bounds: :func:`pytorch_conv_bound` (PyTorch's default ``Conv2d`` weights) and
  :func:`glorot_uniform_bound` (Keras's default ``glorot_uniform`` kernel initialiser);
- :func:`conv_weight_grad`: the gradient of a loss with respect to a filter, written as what it is,
  the cross-correlation of the layer's input with the gradient at the layer's output;
- :func:`sobel_kernels` and :func:`edge_score`: how much of a filter is an oriented edge detector;
- :func:`match_filters`: a one-to-one matching of two filter banks (the Hungarian algorithm on
  signed cosine similarity), to compare runs with different seeds;
- :func:`permute_channels`: reorder a layer's filters, and the next layer's inputs with them, without
  changing the network's function;
- :func:`digit_cnn`, :func:`train_filter_runs` and :func:`ablation_importance`: many copies of one
  small digit classifier (one 3×3 convolution, ReLU, max-pool, linear read-out), one per seed,
  trained at once as a single batched network, and the loss each filter's removal costs.

Convention:
    "Convolution" means cross-correlation, as in PyTorch's ``conv2d`` and Keras's ``Conv2D``: the
    filter is not flipped. Filters are stored ``(K, C, kh, kw)`` as in PyTorch (Keras stores
    ``(kh, kw, C, K)``); both compute ``fan_in = C·kh·kw`` and ``fan_out = K·kh·kw``.
"""

from __future__ import annotations

import copy
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
import torch.nn.functional as F
from scipy.optimize import linear_sum_assignment
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_finite,
    check_floating_dtype,
    check_int,
    check_nonempty,
    check_number,
    check_same_batch,
    check_tensor,
)
from companion.core.device import resolve_device, seeded
from companion.core.training import check_finite_loss

__all__ = [
    "CnnFiltersConfig",
    "FilterRunsHistory",
    "ablation_importance",
    "any_within_first",
    "conv_weight_grad",
    "digit_cnn",
    "edge_score",
    "glorot_uniform_bound",
    "match_filters",
    "permute_channels",
    "pytorch_conv_bound",
    "sobel_kernels",
    "train_filter_runs",
]

# PyTorch's Conv2d.reset_parameters calls kaiming_uniform_(weight, a=sqrt(5)); the leaky-ReLU gain
# sqrt(2 / (1 + a^2)) = sqrt(1/3) then turns He et al.'s bound into 1 / sqrt(fan_in)
# (pytorch/pytorch issue #15314).
PYTORCH_DEFAULT_A = math.sqrt(5.0)
CLASSES = 10  # digits 0..9


@dataclass(frozen=True)
class CnnFiltersConfig:
    """Defaults of the digit classifiers whose filters the chapter studies (about 5 s for 20 seeds).

    Attributes:
        filters: Filters ``K`` in the convolution. 32, the asker's ``Conv2D(32, (3, 3))``.
        kernel_size: Side of the square filters. 3, the asker's 3×3.
        pool: Max-pool window after the ReLU. 2 halves the 8×8 digits to 4×4 before the read-out.
        steps: SGD steps. 200 steps of 32 images (about six passes over the 1,079 training
            digits) take every seed above 95 % validation accuracy.
        batch_size: Images per step, the same batches for every seed: seeds differ only in their
            initial weights, which is the follow-up's question.
        lr: SGD learning rate. 0.05 with momentum 0.9 is stable for this network at every seed.
        momentum: Heavy-ball momentum, 0.9, the usual value.
        weight_decay: L2 penalty coefficient added to the gradient (PyTorch SGD's
            ``weight_decay``). 0 by default; the chapter compares with 1e-2, large enough to act
            within 200 steps (lr·wd·steps / (1 − momentum) = 1).

    Raises:
        TypeError: If a count is not an int or a rate is not a number.
        ValueError: If a count is < 1, ``kernel_size`` is even, ``lr <= 0``, ``momentum`` is
            outside ``[0, 1)`` or ``weight_decay < 0``.

    Example:
        >>> CnnFiltersConfig(weight_decay=1e-2).filters
        32
    """

    filters: int = 32
    kernel_size: int = 3
    pool: int = 2
    steps: int = 200
    batch_size: int = 32
    lr: float = 0.05
    momentum: float = 0.9
    weight_decay: float = 0.0

    def __post_init__(self) -> None:
        check_int(self.filters, "filters", minimum=1)
        check_int(self.kernel_size, "kernel_size", minimum=1)
        if self.kernel_size % 2 == 0:
            raise ValueError(f"kernel_size must be odd ('same' padding), got {self.kernel_size}")
        check_int(self.pool, "pool", minimum=1)
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_number(self.momentum, "momentum", low=0, high=1, high_inclusive=False)
        check_number(self.weight_decay, "weight_decay", low=0)


# --- Where the numbers start --------------------------------------------------------------------


def _conv_fans(in_channels: int, out_channels: int, kernel_size: int) -> tuple[int, int]:
    check_int(in_channels, "in_channels", minimum=1)
    check_int(out_channels, "out_channels", minimum=1)
    check_int(kernel_size, "kernel_size", minimum=1)
    return in_channels * kernel_size**2, out_channels * kernel_size**2


def pytorch_conv_bound(in_channels: int, kernel_size: int) -> float:
    """Bound of PyTorch's default ``Conv2d`` initialisation: weights and bias ~ U(−b, b).

    ``Conv2d.reset_parameters`` calls ``kaiming_uniform_(weight, a=√5)``: He et al.'s uniform
    bound ``gain·√(3 / fan_in)`` with the leaky-ReLU gain ``√(2 / (1 + a²)) = √(1/3)``, which is
    ``1 / √fan_in``. The bias is drawn from the same interval.

    Args:
        in_channels: Input channels ``C``, >= 1.
        kernel_size: Side of the square filter, >= 1.

    Returns:
        ``1 / √(C·k²)``.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is < 1.

    Example:
        >>> round(pytorch_conv_bound(3, 3), 3)
        0.192
    """
    fan_in, _ = _conv_fans(in_channels, 1, kernel_size)
    gain = math.sqrt(2.0 / (1.0 + PYTORCH_DEFAULT_A**2))
    return gain * math.sqrt(3.0 / fan_in)


def glorot_uniform_bound(in_channels: int, out_channels: int, kernel_size: int) -> float:
    """Bound of Keras's default ``glorot_uniform`` kernel initialiser (bias: zeros).

    ``limit = √(6 / (fan_in + fan_out))`` with ``fan_in = C·k²`` and ``fan_out = K·k²``
    (Glorot & Bengio 2010, eq. 16, with the receptive field counted as Keras does).
    PyTorch's ``xavier_uniform_`` uses the same formula and the same fans.

    Args:
        in_channels: Input channels ``C``, >= 1.
        out_channels: Filters ``K``, >= 1.
        kernel_size: Side of the square filter, >= 1.

    Returns:
        The bound ``limit``.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is < 1.

    Example:
        >>> round(glorot_uniform_bound(3, 32, 3), 3)
        0.138
    """
    fan_in, fan_out = _conv_fans(in_channels, out_channels, kernel_size)
    return math.sqrt(6.0 / (fan_in + fan_out))


# --- How a filter's gradient is formed ------------------------------------------------------------


def _pair(value: object, name: str, minimum: int) -> tuple[int, int]:
    if isinstance(value, Sequence) and not isinstance(value, str):
        if len(value) != 2:
            raise TypeError(f"{name} must be an int or a pair of ints, got {value!r}")
        return check_int(value[0], f"{name}[0]", minimum=minimum), check_int(
            value[1], f"{name}[1]", minimum=minimum
        )
    v = check_int(value, name, minimum=minimum)
    return v, v


def conv_weight_grad(
    x: torch.Tensor,
    grad_out: torch.Tensor,
    kernel_size: int | tuple[int, int],
    stride: int | tuple[int, int] = 1,
    padding: int | tuple[int, int] = 0,
) -> torch.Tensor:
    """Gradient of a loss with respect to a convolution's filters, as a cross-correlation.

    For ``out = conv2d(x, w, stride=s, padding=p)`` and ``g = ∂loss/∂out``,

        ∂loss/∂w[k, c, i, j] = Σ_b Σ_{u,v} x_pad[b, c, s·u + i, s·v + j] · g[b, k, u, v]:

    the input cross-correlated with the output gradient, the batch summed like a channel. It is
    computed by one ``conv2d`` whose "images" are the input channels and whose "filters" are the
    output gradients (stride becomes dilation).

    Args:
        x: The layer's input ``(B, C, H, W)``, floating point.
        grad_out: The gradient at the layer's output ``(B, K, H_out, W_out)``, same dtype.
        kernel_size: ``kh`` or ``(kh, kw)``.
        stride: The layer's stride, an int or a pair, >= 1.
        padding: The layer's zero padding, an int or a pair, >= 0.

    Returns:
        ``(K, C, kh, kw)``, equal to autograd's gradient of ``(conv2d(x, w) * grad_out).sum()``
        with respect to ``w``, on ``x``'s device. Pure math: a NaN or infinite entry of ``x`` or
        ``grad_out`` propagates into the result, as it does through torch's ``conv2d``.

    Raises:
        TypeError: If a tensor is not a floating-point tensor, the dtypes differ, or a size is not
            an int or a pair of ints.
        ValueError: If a tensor is not 4-D, the batch sizes differ, a size is out of range, the
            padded input is smaller than the kernel, or ``grad_out``'s spatial size is not the
            layer's output size.

    Example:
        >>> x, w = torch.randn(2, 3, 6, 6), torch.randn(4, 3, 3, 3, requires_grad=True)
        >>> g = torch.randn(2, 4, 4, 4)
        >>> (F.conv2d(x, w) * g).sum().backward()
        >>> torch.allclose(conv_weight_grad(x, g, 3), w.grad, atol=1e-5)
        True
    """
    check_tensor(x, "x", ndim=4, dims="(B, C, H, W)", floating=True)
    check_tensor(grad_out, "grad_out", ndim=4, dims="(B, K, H_out, W_out)", floating=True)
    if grad_out.dtype != x.dtype:
        raise TypeError(f"grad_out must have x's dtype {x.dtype}, got {grad_out.dtype}")
    kh, kw = _pair(kernel_size, "kernel_size", 1)
    sh, sw = _pair(stride, "stride", 1)
    ph, pw = _pair(padding, "padding", 0)
    b, _, h, w = x.shape
    if h + 2 * ph < kh or w + 2 * pw < kw:
        raise ValueError(
            f"x's padded spatial size ({h + 2 * ph}, {w + 2 * pw}) must be at least "
            f"kernel_size ({kh}, {kw}), got x of shape {tuple(x.shape)}"
        )
    h_out, w_out = (h + 2 * ph - kh) // sh + 1, (w + 2 * pw - kw) // sw + 1
    if grad_out.shape[0] != b:
        raise ValueError(f"grad_out must have x's batch size {b}, got {grad_out.shape[0]}")
    if h_out < 1 or w_out < 1 or grad_out.shape[-2:] != (h_out, w_out):
        raise ValueError(
            f"grad_out must be (B, K, {h_out}, {w_out}) for this layer, "
            f"got shape {tuple(grad_out.shape)}"
        )
    inputs = x.transpose(0, 1)  # (B, C, H, W) -> (C, B, H, W): channels become "images"
    grads = grad_out.transpose(0, 1)  # (B, K, Ho, Wo) -> (K, B, Ho, Wo): batch becomes channels
    corr = F.conv2d(inputs, grads, padding=(ph, pw), dilation=(sh, sw))  # (C, K, >=kh, >=kw)
    return corr[:, :, :kh, :kw].transpose(0, 1)  # (C, K, kh, kw) -> (K, C, kh, kw)


# --- Is a filter an edge detector? ------------------------------------------------------------------


def sobel_kernels(size: int = 3, dtype: torch.dtype = torch.float32) -> torch.Tensor:
    """The two Sobel derivative filters of an odd ``size``: ``d/dx`` then ``d/dy``.

    ``d/dx`` is the outer product of a binomial smoothing column (``[1, 2, 1]`` for size 3) and a
    smoothed central difference row (``[-1, 0, 1]`` for size 3, ``[-1, -2, 0, 2, 1]`` for 5);
    ``d/dy`` is its transpose. The two are orthogonal and have equal norms.

    Args:
        size: Odd side length, >= 3.
        dtype: Floating-point dtype of the result.

    Returns:
        ``(2, size, size)``: ``[d/dx, d/dy]``; ``d/dx`` is positive on the right (a dark-to-light
        edge from left to right gives a positive response under cross-correlation).

    Raises:
        TypeError: If ``size`` is not an int or ``dtype`` is not a floating-point torch dtype.
        ValueError: If ``size`` is even or < 3.

    Example:
        >>> sobel_kernels()[0]
        tensor([[-1.,  0.,  1.],
                [-2.,  0.,  2.],
                [-1.,  0.,  1.]])
    """
    check_int(size, "size", minimum=3)
    check_floating_dtype(dtype, "dtype")
    if size % 2 == 0:
        raise ValueError(f"size must be odd, got {size}")
    smooth = np.array([math.comb(size - 1, i) for i in range(size)], dtype=np.float64)
    inner = np.array([math.comb(size - 3, i) for i in range(size - 2)], dtype=np.float64)
    diff = np.convolve(inner, [1.0, 0.0, -1.0])[::-1]  # smoothed central difference, + on the right
    dx = torch.tensor(np.outer(smooth, diff), dtype=dtype)  # (size, size)
    return torch.stack((dx, dx.T))  # (2, size, size)


def edge_score(filters: torch.Tensor) -> torch.Tensor:
    """How much of each single-channel filter is an oriented edge (first-derivative) detector.

    The bank is the steerable family of Sobel filters ``cos θ · S_x + sin θ · S_y`` for every
    orientation ``θ``: a Sobel edge detector rotated to any angle. The score is the largest cosine
    similarity between the filter and a member of the bank. Because ``S_x ⟂ S_y`` and
    ``‖S_x‖ = ‖S_y‖``, it equals the norm of the filter's projection onto ``span(S_x, S_y)``
    divided by the filter's norm: ``√(cos²(f, S_x) + cos²(f, S_y))``.

    Scale: in ``[0, 1]``. 1 for any (rotated, rescaled, sign-flipped) Sobel filter; 0 for a filter
    orthogonal to both (a constant, a Laplacian, a centre-surround blob). Invariant to the
    filter's scale and sign (an edge of the opposite polarity is still an edge). For a 3×3
    filter with i.i.d. Gaussian entries, ``score²`` ~ Beta(1, 3.5), so ``P(score > 0.8) ≈ 0.028``.
    An all-zero filter scores 0.

    Args:
        filters: ``(K, 1, h, h)`` with ``h`` odd and >= 3, floating point.

    Returns:
        ``(K,)`` scores in ``[0, 1]``, on the filters' device and dtype. Pure math: a filter with
        a NaN or infinite entry scores NaN (NaN propagates, as through torch's ``norm``).

    Raises:
        TypeError: If ``filters`` is not a floating-point tensor.
        ValueError: If ``filters`` is not ``(K, 1, h, h)`` with odd ``h >= 3``.

    Example:
        >>> bank = sobel_kernels()[:, None]  # (2, 3, 3) -> (2, 1, 3, 3)
        >>> edge_score(torch.cat([3 * bank, -bank, torch.ones(1, 1, 3, 3)])).round(decimals=4)
        tensor([1., 1., 1., 1., 0.])
    """
    check_tensor(filters, "filters", ndim=4, dims="(K, 1, h, h)", floating=True)
    _, c, h, w = filters.shape
    if c != 1 or h != w or h < 3 or h % 2 == 0:
        raise ValueError(
            f"filters must be single-channel, square and odd-sized (K, 1, h, h) with h >= 3, "
            f"got shape {tuple(filters.shape)}"
        )
    bank = sobel_kernels(h, filters.dtype).to(filters.device)
    bank = bank.flatten(1) / bank.flatten(1).norm(dim=1, keepdim=True)  # (2, h, h) -> (2, h*h)
    flat = filters.flatten(1)  # (K, 1, h, h) -> (K, h*h)
    norms = flat.norm(dim=1)
    projection = (flat @ bank.T).norm(dim=1)  # (K, h*h) @ (h*h, 2) -> (K, 2) -> (K,)
    return torch.where(norms > 0, projection / norms.clamp_min(1e-30), torch.zeros_like(norms))


def any_within_first(flags: torch.Tensor, ks: Sequence[int]) -> torch.Tensor:
    """Fraction of runs in which at least one of the first ``k`` filters is flagged, for each k.

    Args:
        flags: ``(S, K)`` booleans, one row per run (seed), one column per filter index.
        ks: Prefix lengths, each in ``1..K``.

    Returns:
        ``(len(ks),)`` float fractions in ``[0, 1]``, non-decreasing in ``k``.

    Raises:
        TypeError: If ``flags`` is not a bool tensor, ``ks`` is not a sequence or a ``k`` not an
            int.
        ValueError: If ``flags`` is not 2-D or has no runs, or a ``k`` is outside ``1..K``.

    Example:
        >>> flags = torch.tensor([[False, True, False], [False, False, False]])
        >>> any_within_first(flags, [1, 2, 3])
        tensor([0.0000, 0.5000, 0.5000])
    """
    check_tensor(flags, "flags", ndim=2, dims="(S, K)")
    if flags.dtype != torch.bool:
        raise TypeError(f"flags must be a bool tensor, got {flags.dtype}")
    if flags.shape[0] == 0:
        raise ValueError(f"flags must hold at least one run (row), got shape {tuple(flags.shape)}")
    if not isinstance(ks, Sequence) or isinstance(ks, str):
        raise TypeError(f"ks must be a sequence of ints, got {type(ks).__name__}")
    for i, k in enumerate(ks):
        check_int(k, f"ks[{i}]", minimum=1)
        if k > flags.shape[1]:
            raise ValueError(
                f"ks[{i}] must be <= K = {flags.shape[1]} (the columns of flags), got {k}"
            )
    seen = flags.cummax(dim=1).values.float()  # (S, K): any flagged among the first j+1
    return seen[:, [k - 1 for k in ks]].mean(dim=0)


# --- Different runs, different filters: matching ------------------------------------------------


def match_filters(a: torch.Tensor, b: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Match two filter banks one to one, maximising the total signed cosine similarity.

    The cost matrix is the ``K × K`` cosine similarity of the flattened filters, and the
    assignment is scipy's ``linear_sum_assignment`` (the Hungarian algorithm). Signed: under a
    ReLU, ``f`` and ``−f`` are different features, so a sign flip is not forgiven. Cosine
    makes the match invariant to each filter's scale; an all-zero filter has cosine 0 with all.

    Args:
        a: ``(K, C, h, w)`` filters, floating point.
        b: Filters of the same shape.

    Returns:
        ``(index, similarity)``: ``index`` ``(K,)`` int64, ``index[i]`` the filter of ``b``
        matched to ``a[i]`` (a permutation of ``0..K-1``); ``similarity`` ``(K,)`` that pair's
        cosine, on ``a``'s device.

    Raises:
        TypeError: If ``a`` or ``b`` is not a floating-point tensor.
        ValueError: If ``a`` is not 4-D, the shapes differ, or an entry is NaN or infinite (the
            assignment needs finite similarities).

    Example:
        >>> a = torch.randn(5, 2, 3, 3)
        >>> index, sim = match_filters(a, 4 * a[[3, 0, 4, 1, 2]])
        >>> index.tolist(), bool(torch.allclose(sim, torch.ones(5)))
        ([1, 3, 4, 0, 2], True)
    """
    check_tensor(a, "a", ndim=4, dims="(K, C, h, w)", floating=True)
    check_tensor(b, "b", ndim=4, dims="(K, C, h, w)", floating=True)
    if a.shape != b.shape:
        raise ValueError(
            f"a and b must have the same shape, got {tuple(a.shape)} and {tuple(b.shape)}"
        )
    check_finite(a, "a")
    check_finite(b, "b")
    fa = F.normalize(a.flatten(1).double(), dim=1)  # (K, C, h, w) -> (K, C*h*w), unit rows
    fb = F.normalize(b.flatten(1).double(), dim=1)  # (K, C, h, w) -> (K, C*h*w), unit rows
    cosine = (fa @ fb.T).cpu()  # (K, K): cosine[i, j] between a[i] and b[j]
    rows, cols = linear_sum_assignment(cosine.numpy(), maximize=True)
    index = torch.as_tensor(cols[np.argsort(rows)], dtype=torch.int64)
    similarity = cosine[torch.arange(len(index)), index].to(a.dtype)
    return index.to(a.device), similarity.to(a.device)


# --- Filter order carries no meaning ------------------------------------------------------------


def _check_permutation(perm: object, k: int) -> torch.Tensor:
    check_tensor(perm, "perm", ndim=1, dims="(K,)", integer=True)
    if len(perm) != k or not torch.equal(perm.sort().values.cpu(), torch.arange(k)):
        raise ValueError(f"perm must be a permutation of 0..{k - 1}, got {perm.tolist()}")
    return perm


def permute_channels(
    conv: nn.Conv2d, next_layer: nn.Conv2d | nn.Linear, perm: torch.Tensor
) -> tuple[nn.Conv2d, nn.Conv2d | nn.Linear]:
    """Reorder a convolution's filters and the next layer's inputs so the network is unchanged.

    The new ``conv``'s output channel ``i`` is the old channel ``perm[i]`` (weight and bias).
    Anything channel-wise in between (ReLU, max-pool, dropout) commutes with the reordering, so
    moving the next layer's input weights the same way restores the function exactly. For a
    ``Conv2d`` that is its weight's input-channel axis; for a ``Linear`` after a flatten of
    ``(K, H', W')`` maps, the ``H'·W'`` consecutive columns of each channel move as one block.

    Args:
        conv: A ``Conv2d`` with ``groups=1``, ``K`` output channels.
        next_layer: A ``Conv2d`` with ``groups=1`` and ``K`` input channels, or a ``Linear`` whose
            ``in_features`` is a multiple of ``K`` (channel-major flatten, as ``nn.Flatten`` does).
        perm: ``(K,)`` integer tensor, a permutation of ``0..K-1``.

    Returns:
        ``(conv, next_layer)``: new modules (deep copies; the inputs are untouched).

    Raises:
        TypeError: If a module has the wrong type, or ``perm`` is not an integer tensor.
        ValueError: If a layer is grouped, the channel counts do not fit, or ``perm`` is not a
            permutation of ``0..K-1``.

    Example:
        >>> conv, lin = nn.Conv2d(1, 3, 3), nn.Linear(3 * 4, 2)
        >>> net = nn.Sequential(conv, nn.ReLU(), nn.Flatten(), lin)
        >>> conv2, lin2 = permute_channels(conv, lin, torch.tensor([2, 0, 1]))
        >>> x = torch.randn(5, 1, 4, 4)
        >>> torch.allclose(net(x), nn.Sequential(conv2, nn.ReLU(), nn.Flatten(), lin2)(x))
        True
    """
    if not isinstance(conv, nn.Conv2d):
        raise TypeError(f"conv must be a torch.nn.Conv2d, got {type(conv).__name__}")
    if not isinstance(next_layer, nn.Conv2d | nn.Linear):
        raise TypeError(
            f"next_layer must be a torch.nn.Conv2d or torch.nn.Linear, got {type(next_layer).__name__}"
        )
    if conv.groups != 1:
        raise ValueError(f"conv must have groups=1, got groups={conv.groups}")
    k = conv.out_channels
    perm = _check_permutation(perm, k)
    new_conv, new_next = copy.deepcopy(conv), copy.deepcopy(next_layer)
    idx = perm.to(conv.weight.device)
    with torch.no_grad():
        new_conv.weight.copy_(conv.weight[idx])
        if conv.bias is not None:
            new_conv.bias.copy_(conv.bias[idx])
        if isinstance(next_layer, nn.Conv2d):
            if next_layer.groups != 1 or next_layer.in_channels != k:
                raise ValueError(
                    f"next_layer must be a Conv2d with groups=1 and in_channels={k}, got "
                    f"groups={next_layer.groups}, in_channels={next_layer.in_channels}"
                )
            new_next.weight.copy_(next_layer.weight[:, idx])
        else:
            if next_layer.in_features % k != 0:
                raise ValueError(
                    f"next_layer's in_features must be a multiple of K={k}, "
                    f"got {next_layer.in_features}"
                )
            out = next_layer.out_features
            blocks = next_layer.weight.reshape(out, k, -1)  # (O, K*P) -> (O, K, P)
            new_next.weight.copy_(blocks[:, idx].reshape(out, -1))  # (O, K, P) -> (O, K*P)
    return new_conv, new_next


# --- Many small digit classifiers, one per seed, trained as one batched network -----------------


def digit_cnn(config: CnnFiltersConfig, seed: int, image_size: int = 8) -> nn.Sequential:
    """The chapter's classifier with PyTorch's default initial weights, drawn from ``seed`` only.

    ``Conv2d(1, K, k, padding=k // 2)`` → ReLU → ``MaxPool2d(pool)`` → ``Flatten`` →
    ``Linear(K·(image_size // pool)², 10)``.

    Args:
        config: Sizes (``filters``, ``kernel_size``, ``pool``).
        seed: Seed of the initial weights, >= 0.
        image_size: Side of the square input images, >= ``pool``.

    Returns:
        An ``nn.Sequential`` on the CPU; ``[0]`` is the convolution, ``[4]`` the read-out.

    Raises:
        TypeError: If ``config`` is not a :class:`CnnFiltersConfig` or an int is not an int.
        ValueError: If ``seed < 0`` or ``image_size < pool``.

    Example:
        >>> digit_cnn(CnnFiltersConfig(), seed=0)[0].weight.shape
        torch.Size([32, 1, 3, 3])
    """
    if not isinstance(config, CnnFiltersConfig):
        raise TypeError(f"config must be a CnnFiltersConfig, got {type(config).__name__}")
    check_int(image_size, "image_size", minimum=config.pool)
    k, side = config.filters, image_size // config.pool
    with seeded(seed):
        return nn.Sequential(
            nn.Conv2d(1, k, config.kernel_size, padding=config.kernel_size // 2),
            nn.ReLU(),
            nn.MaxPool2d(config.pool),
            nn.Flatten(),
            nn.Linear(k * side * side, CLASSES),
        )


@dataclass
class FilterRunsHistory:
    """What :func:`train_filter_runs` recorded: one row per seed, stacked.

    Attributes:
        seeds: The seeds of the initial weights, ``S`` of them.
        config: The configuration used.
        image_size: Side of the training images.
        init_filters: ``(S, K, 1, k, k)`` filters before training.
        filters: ``(S, K, 1, k, k)`` filters after training.
        conv_bias: ``(S, K)`` trained convolution biases.
        readout_weight: ``(S, 10, K·P)`` trained read-out weights (``P`` pooled pixels).
        readout_bias: ``(S, 10)`` trained read-out biases.
        loss: ``(steps, S)`` training loss of every seed at every step.
    """

    seeds: list[int]
    config: CnnFiltersConfig
    image_size: int
    init_filters: torch.Tensor
    filters: torch.Tensor
    conv_bias: torch.Tensor
    readout_weight: torch.Tensor
    readout_bias: torch.Tensor
    loss: torch.Tensor

    def model(self, i: int) -> nn.Sequential:
        """Run number ``i``'s trained network as a stand-alone :func:`digit_cnn`.

        Args:
            i: Position of the run in :attr:`seeds`, ``0 <= i < S``.

        Returns:
            A new ``nn.Sequential`` on the CPU holding the trained weights.

        Raises:
            TypeError: If ``i`` is not an int.
            ValueError: If ``i`` is negative or ``>= S``.
        """
        check_int(i, "i", minimum=0)
        if i >= len(self.seeds):
            raise ValueError(f"i must be < {len(self.seeds)}, got {i}")
        net = digit_cnn(self.config, self.seeds[i], self.image_size)
        with torch.no_grad():
            net[0].weight.copy_(self.filters[i])
            net[0].bias.copy_(self.conv_bias[i])
            net[4].weight.copy_(self.readout_weight[i])
            net[4].bias.copy_(self.readout_bias[i])
        return net


def _features(
    conv_w: torch.Tensor, conv_b: torch.Tensor, x: torch.Tensor, pool: int
) -> torch.Tensor:
    """Pooled ReLU maps of every seed's filters: ``(B, S, K, P)``."""
    s, k = conv_b.shape
    kernel = conv_w.shape[-1]
    filters = conv_w.reshape(s * k, 1, kernel, kernel)  # (S, K, 1, k, k) -> (S*K, 1, k, k)
    bias = conv_b.reshape(s * k)  # (S, K) -> (S*K,)
    maps = F.conv2d(x, filters, bias, padding=kernel // 2)  # (B, S*K, H, W)
    pooled = F.max_pool2d(maps.relu(), pool)  # (B, S*K, H', W')
    return pooled.reshape(len(x), s, k, -1)  # (B, S*K, H', W') -> (B, S, K, H'*W')


def _logits(params: list[torch.Tensor], x: torch.Tensor, pool: int) -> torch.Tensor:
    conv_w, conv_b, lin_w, lin_b = params
    feats = _features(conv_w, conv_b, x, pool).flatten(2)  # (B, S, K, P) -> (B, S, K*P)
    return torch.einsum("bsf,sof->bso", feats, lin_w) + lin_b  # (B, S, 10)


def _check_images(x: torch.Tensor, y: torch.Tensor) -> None:
    check_tensor(x, "x", ndim=4, dims="(B, 1, H, H)", floating=True)
    check_tensor(y, "y", ndim=1, dims="(B,)", integer=True)
    if x.shape[1] != 1 or x.shape[2] != x.shape[3]:
        raise ValueError(f"x must be (B, 1, H, H), got shape {tuple(x.shape)}")
    check_same_batch(x=x, y=y)
    check_nonempty(x, "x")
    check_finite(x, "x")
    if int(y.min()) < 0 or int(y.max()) >= CLASSES:
        raise ValueError(
            f"y must hold labels in 0..{CLASSES - 1}, got {int(y.min())}..{int(y.max())}"
        )


def train_filter_runs(
    x: torch.Tensor,
    y: torch.Tensor,
    seeds: Sequence[int],
    config: CnnFiltersConfig | None = None,
    *,
    batch_seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
) -> FilterRunsHistory:
    """Train one :func:`digit_cnn` per seed, all at once, with SGD on the same batches.

    The ``S`` networks are stacked into one: the convolution has ``S·K`` filters and the read-out
    is a batched ``einsum``. The loss is the sum of the ``S`` mean cross-entropies, so each seed's
    weights receive exactly the gradient they would get alone, and SGD acts on each element
    separately: seed ``i``'s result equals training ``digit_cnn(config, seeds[i])`` by itself (up
    to float rounding). Only the initial weights differ between seeds.

    Args:
        x: Training images ``(N, 1, H, H)``, floating point, finite; trained in float32 (the
            networks' dtype), so float64 images are converted.
        y: Class labels ``(N,)`` in ``0..9``, integer.
        seeds: ``S`` distinct seeds of the initial weights.
        config: Sizes and optimiser settings; ``CnnFiltersConfig()`` if ``None``.
        batch_seed: Seed of the batch order (the same for all networks).
        device: Where to train; ``x``'s device if ``None``.
        progress: Show a tqdm bar.

    Returns:
        A :class:`FilterRunsHistory` (tensors on the CPU).

    Raises:
        TypeError: If an argument has the wrong type (``seeds`` not a sequence of ints, a
            non-floating ``x``, non-integer ``y``, a ``progress`` that is not a bool).
        ValueError: If shapes or batch sizes do not fit, ``x`` is empty or not finite, ``seeds``
            is empty or repeats a seed, a seed is negative, a label is outside ``0..9``, or
            ``device`` names no torch device.
        companion.core.training.NonFiniteLossError: If the loss becomes NaN or infinite.
    """
    config = CnnFiltersConfig() if config is None else config
    if not isinstance(config, CnnFiltersConfig):
        raise TypeError(f"config must be a CnnFiltersConfig, got {type(config).__name__}")
    _check_images(x, y)
    if not isinstance(seeds, Sequence) or isinstance(seeds, str):
        raise TypeError(f"seeds must be a sequence of ints, got {type(seeds).__name__}")
    seeds = [check_int(s, f"seeds[{i}]", minimum=0) for i, s in enumerate(seeds)]
    if not seeds or len(set(seeds)) != len(seeds):
        raise ValueError(f"seeds must be non-empty and distinct, got {seeds}")
    check_int(batch_seed, "batch_seed", minimum=0)
    check_bool(progress, "progress")
    device = resolve_device(device) if device is not None else x.device
    nets = [digit_cnn(config, s, x.shape[-1]) for s in seeds]
    params = [
        torch.stack([getattr(net[layer], name).detach() for net in nets]).to(device)
        for layer, name in ((0, "weight"), (0, "bias"), (4, "weight"), (4, "bias"))
    ]
    init_filters = params[0].clone()
    for p in params:
        p.requires_grad_(True)
    opt = torch.optim.SGD(
        params, lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    x, y = x.to(device, torch.float32), y.to(device)  # the networks are float32
    gen = torch.Generator().manual_seed(batch_seed)
    s = len(seeds)
    losses = torch.empty(config.steps, s)
    for step in tqdm(range(config.steps), disable=not progress, desc="training"):
        idx = torch.randint(len(x), (config.batch_size,), generator=gen).to(device)
        logits = _logits(params, x[idx], config.pool)  # (B, S, 10)
        scores = logits.permute(0, 2, 1)  # (B, S, 10) -> (B, 10, S): classes second
        targets = y[idx, None].expand(-1, s)  # (B, S)
        per_seed = F.cross_entropy(scores, targets, reduction="none").mean(0)  # (S,)
        loss = per_seed.sum()
        check_finite_loss(loss.detach(), "loss", step)
        opt.zero_grad()
        loss.backward()
        opt.step()
        losses[step] = per_seed.detach().cpu()
    cpu = [p.detach().cpu() for p in params]
    return FilterRunsHistory(
        seeds, config, x.shape[-1], init_filters.cpu(), cpu[0], cpu[1], cpu[2], cpu[3], losses
    )


@torch.no_grad()
def ablation_importance(
    history: FilterRunsHistory, x: torch.Tensor, y: torch.Tensor
) -> tuple[torch.Tensor, torch.Tensor]:
    """Cross-entropy increase when one filter is removed, for every filter of every seed.

    Removing filter ``k`` (zero weights and bias) makes its ReLU-pooled map zero, so it only
    removes that channel's term from the read-out's logits. All ``S·K`` ablations are computed at
    once from the per-channel contributions.

    Args:
        history: Trained runs from :func:`train_filter_runs`.
        x: Evaluation images ``(N, 1, H, H)`` of the training size, floating point, finite;
            converted to the trained weights' dtype.
        y: Their labels ``(N,)`` in ``0..9``, integer.

    Returns:
        ``(importance, base_loss)``: ``importance`` ``(S, K)``, the mean cross-entropy with filter
        ``k`` removed minus ``base_loss`` ``(S,)``, the intact network's, on the CPU.

    Raises:
        TypeError: If ``history`` is not a :class:`FilterRunsHistory` or a tensor has the wrong
            dtype.
        ValueError: If shapes or batch sizes do not fit, ``x`` is empty or not finite, or a label
            is outside ``0..9``.

    Example:
        >>> x, y = torch.rand(16, 1, 8, 8), torch.arange(16) % 10
        >>> runs = train_filter_runs(x, y, [0, 1], CnnFiltersConfig(filters=4, steps=2))
        >>> importance, base = ablation_importance(runs, x, y)
        >>> importance.shape, base.shape
        (torch.Size([2, 4]), torch.Size([2]))
    """
    if not isinstance(history, FilterRunsHistory):
        raise TypeError(f"history must be a FilterRunsHistory, got {type(history).__name__}")
    _check_images(x, y)
    if x.shape[-1] != history.image_size:
        raise ValueError(
            f"x must be {history.image_size}×{history.image_size} images, got {x.shape[-1]}"
        )
    x, y = x.to("cpu", history.filters.dtype), y.cpu()
    feats = _features(history.filters, history.conv_bias, x, history.config.pool)  # (B, S, K, P)
    b, s, k, p = feats.shape
    w = history.readout_weight.reshape(s, CLASSES, k, p)  # (S, 10, K*P) -> (S, 10, K, P)
    parts = torch.einsum("bskp,sokp->bsko", feats, w)  # (B, S, K, 10): each channel's share
    logits = parts.sum(2) + history.readout_bias  # (B, S, 10)
    ablated = logits[:, :, None] - parts  # (B, S, K, 10): logits without channel k
    target = y[:, None].expand(b, s)  # (B, S)
    scores = logits.permute(0, 2, 1)  # (B, S, 10) -> (B, 10, S): classes second
    base = F.cross_entropy(scores, target, reduction="none").mean(0)  # (S,)
    scores = ablated.permute(0, 3, 1, 2)  # (B, S, K, 10) -> (B, 10, S, K)
    targets = target[..., None].expand(b, s, k)  # (B, S, K)
    without = F.cross_entropy(scores, targets, reduction="none").mean(0)  # (S, K)
    return without - base[:, None], base
