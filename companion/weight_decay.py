"""Weight decay inside Adam: the L2 term in the gradient against decoupled decay.

Two ways to add weight decay to Adam (Kingma & Ba 2015), written out step by step:

* :class:`AdamL2` adds an L2 term ``λ·w`` to the *gradient* before Adam's moments see it. This is
  ``torch.optim.Adam(weight_decay=λ)``. Adam then divides the sum by its running RMS, so once the
  L2 term dwarfs the data gradient each weight moves by about ``lr`` per step towards zero,
  whatever λ is, and the data gradient's share of the step shrinks to nothing.
* :class:`AdamW` shrinks the *weights* by ``lr·λ·w`` and runs plain Adam on the data gradient
  (Loshchilov & Hutter 2019). This is ``torch.optim.AdamW(weight_decay=λ)``.

Around them: a small hourglass network (encoder–decoder with additive skips, Newell et al. 2016,
optional batch norm), a training loop on pre-generated heatmap data that records what the weight
decay is doing to every layer, a vectorised loop that trains several networks side by side with
their own Adam settings (:func:`train_stacked`), and the loss of the best constant prediction that
a collapsed network ends up outputting.

Convention:
    ``weight_decay`` means λ in ``λ·w`` added to the gradient (:class:`AdamL2`, as PyTorch's and
    Keras' ``Adam``/L2 regulariser, i.e. the gradient of ``λ/2·‖w‖²``) or in ``w ← w − lr·λ·w``
    (:class:`AdamW`, as PyTorch's ``AdamW`` and optax's ``adamw``, where the decay is multiplied by
    the learning rate). Both decay *every* parameter they are given, biases and batch-norm scales
    included, as PyTorch does unless the caller passes parameter groups.
    The heatmap loss is ``"mean"`` (PyTorch's ``mse_loss`` default: mean over B, K, H and W) or
    ``"sum"`` (sum over K, H, W, mean over B); :class:`HeatmapHistory` always reports it per pixel.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass

import torch
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
    check_optimizer,
    check_same_shape,
    check_tensor,
)
from companion.core.device import eval_mode, seeded
from companion.core.training import check_finite_loss

__all__ = [
    "ADAM_BETAS",
    "ADAM_EPS",
    "AdamL2",
    "AdamW",
    "HeatmapHistory",
    "Hourglass",
    "LayerProbe",
    "StackedHistory",
    "WeightDecayConfig",
    "best_constant_loss",
    "heatmap_loss",
    "losses_along_line",
    "train_heatmaps",
    "train_stacked",
]

ADAM_BETAS = (0.9, 0.999)  # Kingma & Ba 2015, Algorithm 1
ADAM_EPS = 1e-8  # Kingma & Ba 2015, Algorithm 1


@dataclass(frozen=True)
class WeightDecayConfig:
    """Hyper-parameters of the chapter's experiment, each default with its reason.

    Attributes:
        lr: 3e-3, thirty times the asker's 1e-4. Once the L2 term dominates, Adam moves each weight
            by about ``lr`` per step, so a collapse takes about ``|w| / lr`` steps: at 3e-3 it fits in
            a few hundred steps on a CPU, and the run without decay still trains stably.
        weight_decay: 1e-2, a hundred times the asker's 1e-4. What decides a collapse is ``λ·|w|``
            against the data gradient, and ours (32×32 maps, 5 landmarks, batch 8) differs from the
            asker's. 1e-2 collapses this network for each of seeds 0 to 9.
        width: 8 channels at full resolution: a fast CPU step, and still enough to learn the five
            32×32 heatmaps to about 5% of the constant prediction's loss in 600 steps.
        batch_size: 8 images per step: a fast CPU step, and still a batch-to-batch spread of the loss
            far below the effects measured.
        record_every: Record the layer diagnostics every 10 steps: fine enough to see the collapse,
            cheap enough not to slow training.

    Raises:
        ValueError: If a rate is negative or not finite, or a size is below 1.
        TypeError: If a size is not an int.

    Example:
        >>> WeightDecayConfig().weight_decay
        0.01
        >>> WeightDecayConfig(width=0)
        Traceback (most recent call last):
        ...
        ValueError: width must be >= 1, got 0
    """

    lr: float = 3e-3
    weight_decay: float = 1e-2
    width: int = 8
    batch_size: int = 8
    record_every: int = 10

    def __post_init__(self) -> None:
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_number(self.weight_decay, "weight_decay", low=0)
        check_int(self.width, "width", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_int(self.record_every, "record_every", minimum=1)


_DEFAULTS = WeightDecayConfig()


# --- The two optimizers ----------------------------------------------------------------------


def _check_hyper(lr: float, betas: tuple[float, float], eps: float, weight_decay: float) -> None:
    check_number(lr, "lr", low=0)
    if not isinstance(betas, (tuple, list)) or len(betas) != 2:
        raise TypeError(f"betas must be a pair of floats, got {betas!r}")
    check_number(betas[0], "betas[0]", low=0, high=1, high_inclusive=False)
    check_number(betas[1], "betas[1]", low=0, high=1, high_inclusive=False)
    check_number(eps, "eps", low=0)
    check_number(weight_decay, "weight_decay", low=0)


class _Adam(torch.optim.Optimizer):
    """Adam's moment updates, shared by :class:`AdamL2` and :class:`AdamW`."""

    decoupled = False  # where the decay enters: the gradient (False) or the weights (True)

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float,
        betas: tuple[float, float],
        eps: float,
        weight_decay: float,
    ) -> None:
        _check_hyper(lr, betas, eps, weight_decay)
        if params is None or isinstance(params, (torch.Tensor, str, Mapping)):
            raise TypeError(
                "params must be an iterable of tensors or of parameter groups (dicts), got "
                f"{type(params).__name__}"
            )
        params = list(params)
        if not params:
            raise ValueError("params must not be empty: an optimizer needs at least one tensor")
        defaults = {"lr": lr, "betas": tuple(betas), "eps": eps, "weight_decay": weight_decay}
        super().__init__(params, defaults)

    def add_param_group(self, param_group: dict) -> None:
        """Add a parameter group, checking its own hyperparameters as the constructor checks.

        Raises:
            TypeError: If the group's ``betas`` is not a pair or a hyperparameter is not a number.
            ValueError: If a hyperparameter is out of range (``lr``, ``eps`` or ``weight_decay``
                negative, a beta outside ``[0, 1)``).
        """
        super().add_param_group(param_group)
        group, i = self.param_groups[-1], len(self.param_groups) - 1
        if not isinstance(group["betas"], (tuple, list)) or len(group["betas"]) != 2:
            raise TypeError(f"betas of parameter group {i} must be a pair, got {group['betas']!r}")
        for key, bounds in (("lr", {"low": 0}), ("eps", {"low": 0}), ("weight_decay", {"low": 0})):
            check_number(group[key], f"{key} of parameter group {i}", **bounds)
        for j, beta in enumerate(group["betas"]):
            name = f"betas[{j}] of parameter group {i}"
            check_number(beta, name, low=0, high=1, high_inclusive=False)

    @torch.no_grad()
    def step(self, closure: Callable[[], torch.Tensor] | None = None) -> torch.Tensor | None:
        """Take one step; ``closure`` (optional) re-evaluates the loss, as in PyTorch.

        Raises:
            TypeError: If ``closure`` is neither ``None`` nor callable.
        """
        loss = None
        if closure is not None:
            check_callable(closure, "closure")
            with torch.enable_grad():
                loss = closure()
        for group in self.param_groups:
            lr, (beta1, beta2) = group["lr"], group["betas"]
            eps, decay = group["eps"], group["weight_decay"]
            for p in group["params"]:
                if p.grad is None:
                    continue
                grad = p.grad  # the data gradient ∂L/∂w, same shape as p
                state = self.state[p]
                if not state:
                    state["step"] = 0
                    state["exp_avg"] = torch.zeros_like(p)  # m, first moment
                    state["exp_avg_sq"] = torch.zeros_like(p)  # v, second moment
                state["step"] += 1
                l2, decoupled = (0.0, decay) if self.decoupled else (decay, 0.0)
                _adam_update_(p, grad, state, lr, l2, decoupled, (beta1, beta2), eps)
        return loss


def _adam_update_(
    p: torch.Tensor,
    grad: torch.Tensor,
    state: dict,
    lr: float | torch.Tensor,
    l2: float | torch.Tensor,
    decoupled: float | torch.Tensor,
    betas: tuple[float, float],
    eps: float,
) -> None:
    """One Adam step on ``p`` in place, with an L2 term ``l2`` and a decoupled decay ``decoupled``.

    ``lr``, ``l2`` and ``decoupled`` are numbers, or tensors that broadcast against ``p`` (one value
    per stacked model, shape ``(M, 1, ..., 1)``, for :func:`train_stacked`). ``state`` holds
    ``step`` (already incremented), ``exp_avg`` and ``exp_avg_sq``.
    """
    beta1, beta2 = betas
    t = state["step"]
    p.mul_(1 - lr * decoupled)  # AdamW: shrink the weight; the moments never see λ
    grad = grad + l2 * p  # Adam + L2: g ← ∂L/∂w + λ·w
    m, v = state["exp_avg"], state["exp_avg_sq"]
    m.lerp_(grad, 1 - beta1)  # m ← β1·m + (1 − β1)·g
    v.mul_(beta2).addcmul_(grad, grad, value=1 - beta2)  # v ← β2·v + (1 − β2)·g²
    step_size = lr / (1 - beta1**t)  # bias correction of m folded into the step
    denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)  # √v̂ + ε
    p.sub_(m / denom * step_size)  # w ← w − lr·m̂ / (√v̂ + ε)


class AdamL2(_Adam):
    """Adam with an L2 term in the gradient: ``torch.optim.Adam(weight_decay=λ)``, step by step.

    Each step: ``g = ∂L/∂w + λ·w``; ``m ← β1·m + (1−β1)·g``; ``v ← β2·v + (1−β2)·g²``;
    ``w ← w − lr·m̂/(√v̂ + ε)`` with the bias-corrected ``m̂ = m/(1−β1^t)`` and ``v̂ = v/(1−β2^t)``.
    Because ``λ·w`` passes through the division by ``√v̂``, a weight whose L2 term dwarfs its data
    gradient moves by about ``lr`` per step towards zero: the decay is no longer proportional to
    the weight, and the data gradient's share of the step shrinks to nothing.

    Args:
        params: Parameters or parameter groups, as for any ``torch.optim.Optimizer``.
        lr: Step size, >= 0.
        betas: ``(β1, β2)``, each in ``[0, 1)``.
        eps: ε added to ``√v̂``, >= 0.
        weight_decay: λ, >= 0.

    Raises:
        ValueError: If a hyperparameter (of the defaults or of a parameter group) is out of range,
            or ``params`` is empty; the message names it.
        TypeError: If ``betas`` is not a pair, a hyperparameter is not a number, or ``params`` is
            not an iterable of tensors or parameter groups.

    Example:
        >>> w = nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamL2([w], lr=0.1, weight_decay=1.0)
        >>> w.grad = torch.zeros(2)  # no data gradient: only the L2 term pulls
        >>> opt.step()
        >>> w.detach()  # each weight moved by lr towards zero, whatever its size
        tensor([ 0.9000, -1.9000])
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = ADAM_BETAS,
        eps: float = ADAM_EPS,
        weight_decay: float = 0.0,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


class AdamW(_Adam):
    """Adam with decoupled weight decay: ``torch.optim.AdamW(weight_decay=λ)``, step by step.

    Each step first shrinks the weight, ``w ← (1 − lr·λ)·w``, then takes the plain Adam step on the
    data gradient alone (Loshchilov & Hutter 2019). The decay stays proportional to the weight, and
    Adam's normalisation never compares it with the data gradient.

    Args:
        params: Parameters or parameter groups, as for any ``torch.optim.Optimizer``.
        lr: Step size, >= 0.
        betas: ``(β1, β2)``, each in ``[0, 1)``.
        eps: ε added to ``√v̂``, >= 0.
        weight_decay: λ, >= 0 (PyTorch's default 1e-2).

    Raises:
        ValueError: If a hyperparameter (of the defaults or of a parameter group) is out of range,
            or ``params`` is empty; the message names it.
        TypeError: If ``betas`` is not a pair, a hyperparameter is not a number, or ``params`` is
            not an iterable of tensors or parameter groups.

    Example:
        >>> w = nn.Parameter(torch.tensor([1.0, -2.0]))
        >>> opt = AdamW([w], lr=0.1, weight_decay=1.0)
        >>> w.grad = torch.zeros(2)  # no data gradient: only the decay acts
        >>> opt.step()
        >>> w.detach()  # each weight shrank by the factor 1 - lr·λ = 0.9
        tensor([ 0.9000, -1.8000])
    """

    decoupled = True

    def __init__(
        self,
        params: Iterable[torch.Tensor] | Iterable[dict],
        lr: float = 1e-3,
        betas: tuple[float, float] = ADAM_BETAS,
        eps: float = ADAM_EPS,
        weight_decay: float = 1e-2,
    ) -> None:
        super().__init__(params, lr, betas, eps, weight_decay)


# --- Losses --------------------------------------------------------------------------------


def heatmap_loss(pred: torch.Tensor, target: torch.Tensor, reduction: str = "mean") -> torch.Tensor:
    """Squared error between predicted and target heatmaps.

    Args:
        pred: Predicted heatmaps ``(B, K, H, W)``.
        target: Target heatmaps ``(B, K, H, W)``.
        reduction: ``"mean"`` over every element (``F.mse_loss``'s default) or ``"sum"`` over
            ``K, H, W`` and mean over ``B``, which is ``K·H·W`` times larger.

    Returns:
        A 0-d tensor. A NaN or inf in ``pred`` or ``target`` propagates to it, as in
        ``F.mse_loss``; the training functions stop on it.

    Raises:
        ValueError: If a tensor is not 4-D, the shapes differ, they are empty or ``reduction`` is
            unknown.
        TypeError: If a tensor is not a floating tensor, or ``reduction`` not a str.

    Example:
        >>> p, t = torch.zeros(2, 5, 4, 4), torch.ones(2, 5, 4, 4)
        >>> float(heatmap_loss(p, t)), float(heatmap_loss(p, t, "sum"))
        (1.0, 80.0)
    """
    check_tensor(pred, "pred", ndim=4, dims="(B, K, H, W)", floating=True)
    check_tensor(target, "target", ndim=4, dims="(B, K, H, W)", floating=True)
    check_same_shape(pred, "pred", target, "target")
    check_nonempty(pred, "pred")  # a mean over nothing is NaN
    if check_choice(reduction, "reduction", ("mean", "sum")) == "mean":
        return ((pred - target) ** 2).mean()
    return ((pred - target) ** 2).sum(dim=(1, 2, 3)).mean()


def best_constant_loss(heatmaps: torch.Tensor, per: str = "channel") -> torch.Tensor:
    """Mean squared error of the best prediction that ignores the input.

    A network whose weights have all decayed to zero outputs its last biases: one number per
    channel, the same for every image and pixel. The best such number is the channel's mean target,
    and its loss is the targets' variance within each channel, averaged over channels. For sparse
    heatmaps (one Gaussian of width σ per channel, peak 1) that is close to
    ``mean(target²) ≈ π·σ²/(H·W)``. With ``per="pixel"`` the prediction may differ by pixel but not
    by image (a network whose padding still shapes a constant output): the loss is the variance over
    the batch, averaged over ``K, H, W``.

    Args:
        heatmaps: Targets ``(B, K, H, W)`` or a stack of batches ``(S, B, K, H, W)``; the constant is
            fitted to each batch separately.
        per: ``"channel"`` (one constant per K) or ``"pixel"`` (one per K, H, W).

    Returns:
        A 0-d tensor, or ``(S,)`` for a stack of batches. A NaN or inf in ``heatmaps`` propagates
        to it, as through ``torch.var``.

    Raises:
        ValueError: If ``heatmaps`` is not 4-D or 5-D, is empty, or ``per`` is unknown.
        TypeError: If ``heatmaps`` is not a floating tensor.

    Example:
        >>> t = torch.zeros(2, 1, 2, 2); t[0, 0, 0, 0] = 1.0
        >>> float(best_constant_loss(t))  # the constant 1/8 on 8 pixels
        0.109375
    """
    check_tensor(heatmaps, "heatmaps", floating=True)
    if heatmaps.ndim not in (4, 5):
        raise ValueError(
            f"heatmaps must be 4-D (B, K, H, W) or 5-D (S, B, K, H, W), got shape "
            f"{tuple(heatmaps.shape)}"
        )
    check_nonempty(heatmaps, "heatmaps")
    if per == "channel":
        dims = (-4, -2, -1)  # B, H, W
    elif per == "pixel":
        dims = (-4,)  # B
    else:
        raise ValueError(f"per must be 'channel' or 'pixel', got {per!r}")
    var = heatmaps.var(dim=dims, unbiased=False, keepdim=True)  # (..., 1 or K, 1 or H, 1 or W)
    return var.mean(dim=(-4, -3, -2, -1))  # (S,) or ()


# --- The network -----------------------------------------------------------------------------


class _Block(nn.Sequential):
    """3×3 convolution, optional batch norm, ReLU (its own module, so hooks can watch it)."""

    def __init__(self, c_in: int, c_out: int, batch_norm: bool) -> None:
        layers: list[nn.Module] = [nn.Conv2d(c_in, c_out, 3, padding=1, bias=not batch_norm)]
        if batch_norm:
            layers.append(nn.BatchNorm2d(c_out))
        layers.append(nn.ReLU())
        super().__init__(*layers)


class Hourglass(nn.Module):
    """A one-module hourglass: encoder, bottleneck, decoder, additive skips (Newell et al. 2016).

    ``(B, C_in, H, W)`` is encoded at three resolutions (H, H/2, H/4) by 3×3 conv–ReLU blocks with
    2×2 max pooling between them, decoded by nearest-neighbour upsampling, each upsampled map *added*
    to the encoder map of the same resolution (the skip), and read out by a 1×1 convolution into K
    heatmaps. The 3×3 convolutions start He-normal (He et al. 2015) from ``seed`` with zero biases;
    the 1×1 head starts at zero (``readout="zero"``), so the untrained network outputs 0
    everywhere, or keeps PyTorch's default ``Conv2d`` initialisation (``readout="pytorch"``). With
    ``batch_norm=True`` every conv is followed by batch norm (and loses its bias, which
    batch norm would cancel). H and W must be divisible by 4.

    Args:
        in_channels: Channels of the input image, C_in.
        out_channels: Number of heatmaps, K.
        width: Channels at full resolution, D; the two lower resolutions use 2·D.
        batch_norm: Insert ``BatchNorm2d`` after every 3×3 convolution.
        seed: Seed of the initial weights (He-normal, biases zero), so that runs compared with
            each other start from the same network whatever the global random state.
        readout: ``"zero"`` (the head's weight and bias start at 0) or ``"pytorch"`` (the head
            keeps ``nn.Conv2d``'s default uniform initialisation, drawn from ``seed``).

    Raises:
        ValueError: If a size is < 1, ``seed`` is negative or ``readout`` is unknown.
        TypeError: If a size or ``seed`` is not an int, ``batch_norm`` is not a bool, or
            ``readout`` is not a str.

    Example:
        >>> net = Hourglass(1, 5, width=8)
        >>> net(torch.zeros(2, 1, 32, 32)).shape
        torch.Size([2, 5, 32, 32])
    """

    def __init__(
        self,
        in_channels: int = 1,
        out_channels: int = 5,
        width: int = _DEFAULTS.width,
        batch_norm: bool = False,
        *,
        seed: int = 0,
        readout: str = "zero",
    ) -> None:
        super().__init__()
        if not isinstance(readout, str):
            raise TypeError(f"readout must be a str, got {type(readout).__name__}")
        if readout not in ("zero", "pytorch"):
            raise ValueError(f"readout must be 'zero' or 'pytorch', got {readout!r}")
        batch_norm = check_bool(batch_norm, "batch_norm")
        check_int(in_channels, "in_channels", minimum=1)
        check_int(out_channels, "out_channels", minimum=1)
        d = check_int(width, "width", minimum=1)
        check_int(seed, "seed", minimum=0)
        with seeded(seed):  # the initial weights depend on `seed` only
            self.enc0 = _Block(in_channels, d, batch_norm)  # H
            self.enc1 = _Block(d, 2 * d, batch_norm)  # H/2
            self.mid = _Block(2 * d, 2 * d, batch_norm)  # H/4, the bottleneck
            self.dec1 = _Block(2 * d, d, batch_norm)  # H/2
            self.dec0 = _Block(d, d, batch_norm)  # H
            self.head = nn.Conv2d(d, out_channels, 1)
        default_head = {k: v.clone() for k, v in self.head.state_dict().items()}
        # He et al. 2015 (keeps the activations' scale through the ReLUs), drawn from a generator
        # of its own: the chapter's runs start from the weights this has always given.
        he = torch.Generator().manual_seed(seed)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, nonlinearity="relu", generator=he)
                if m.bias is not None:
                    nn.init.zeros_(m.bias)
        self.pool = nn.MaxPool2d(2)
        self.up = nn.Upsample(scale_factor=2, mode="nearest")
        # The head starts at zero: the untrained network predicts the empty heatmap, and every
        # run compared in the chapter starts from the same, input-independent prediction.
        nn.init.zeros_(self.head.weight)
        if readout == "pytorch":  # the control: PyTorch's own init of the 1×1 readout
            self.head.load_state_dict(default_head)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Map images ``(B, C_in, H, W)`` to heatmaps ``(B, K, H, W)``.

        A NaN or inf in ``x`` propagates to the output, as through any torch module; the training
        functions stop on the non-finite loss it gives.

        Raises:
            TypeError: If ``x`` is not a tensor of the network's dtype.
            ValueError: If ``x`` is not 4-D with ``C_in`` channels and H, W divisible by 4.
        """
        _check_input(self, x, "x")
        e0 = self.enc0(x)  # (B, D, H, W)
        e1 = self.enc1(self.pool(e0))  # (B, 2D, H/2, W/2)
        m = self.mid(self.pool(e1))  # (B, 2D, H/4, W/4)
        d1 = self.dec1(self.up(m) + e1)  # (B, D, H/2, W/2)
        d0 = self.dec0(self.up(d1) + e0)  # (B, D, H, W)
        return self.head(d0)  # (B, K, H, W)


def _check_input(model: nn.Module, x: object, name: str) -> torch.Tensor:
    """Check that ``x`` is a batch of images ``(B, C, H, W)`` that ``model`` can read.

    The dtype must be the model's (a float64 batch into a float32 network fails deep inside
    ``conv2d``); for an :class:`Hourglass` also ``C_in`` and the divisibility of H and W by 4.
    """
    check_tensor(x, name, ndim=4, dims="(B, C, H, W)", floating=True)
    weight = next(model.parameters(), None)
    if weight is not None and x.dtype != weight.dtype:
        raise TypeError(f"{name} must have the model's dtype {weight.dtype}, got {x.dtype}")
    if isinstance(model, Hourglass):
        c_in = model.enc0[0].in_channels
        if x.shape[1] != c_in:
            raise ValueError(
                f"{name} must have the network's {c_in} input channel(s), got shape "
                f"{tuple(x.shape)}"
            )
        if x.shape[-2] % 4 or x.shape[-1] % 4:
            raise ValueError(f"{name} must have H and W divisible by 4, got shape {tuple(x.shape)}")
    return x


# --- Training and what it records ------------------------------------------------------------


@dataclass(frozen=True)
class HeatmapHistory:
    """What :func:`train_heatmaps` recorded.

    Attributes:
        loss: ``(S,)`` per-pixel training loss of every step's batch, before that step's update.
        constant_loss: ``(S,)`` the best constant prediction's loss on the same batch
            (:func:`best_constant_loss`), so each step has its own plateau to compare with.
        penalty: ``(S,)`` ``λ/2·‖w‖²`` summed over the decayed parameters, before the update: the
            other half of the objective an L2 optimizer minimises (per-pixel loss units when the
            loss is the mean).
        steps: ``(R,)`` the (0-based) steps at which the diagnostics below were recorded: every
            ``record_every``-th step, the first one ``record_every - 1`` (at step 0 a zero-initialised
            head leaves every inner layer without a data gradient).
        layers: Names of the weight layers (convolutions and batch-norm scales).
        ratio: ``(R, L)`` per layer ``‖λ·w‖ / ‖∂L/∂w‖``: the L2 term against the data gradient.
        weight_norm: ``(R, L)`` per layer ``‖w‖``.
        relus: Names of the ReLU layers.
        dead: ``(R, M)`` per ReLU layer, the fraction of its channels that output 0 at every pixel
            of every image in the batch, or of the fixed ``probe_images`` where
            :func:`train_heatmaps` was given them (dead units).
        output_std: ``(R,)`` the prediction's standard deviation across the batch (or the probe
            images), averaged over ``K, H, W``: 0 when the network ignores its input.
    """

    loss: torch.Tensor
    constant_loss: torch.Tensor
    penalty: torch.Tensor
    steps: torch.Tensor
    layers: tuple[str, ...]
    ratio: torch.Tensor
    weight_norm: torch.Tensor
    relus: tuple[str, ...]
    dead: torch.Tensor
    output_std: torch.Tensor


class LayerProbe:
    """Watches a model during training and records what the weight decay does to each layer.

    Used as a context manager, it registers a forward hook on every ReLU while the block runs and
    removes the hooks when it ends. Set :attr:`watching` to ``True`` before a forward pass whose
    dead units should be counted; after the backward pass (and before the optimizer step),
    :meth:`record` stores per layer the ratio of the L2 term ``λ·w`` to the data gradient, the
    weight norm, the fraction of dead ReLU channels and how much the output varies across the
    batch. λ is read from the optimizer's parameter groups (0 for a group without
    ``weight_decay``).

    Args:
        model: The network; its weight layers are the parameters whose names end in ``weight``.
        optimizer: The optimizer that trains ``model``.

    Raises:
        TypeError: If ``model`` is not an ``nn.Module`` or ``optimizer`` not a
            ``torch.optim.Optimizer``.

    Example:
        >>> net = Hourglass(width=4)
        >>> opt = AdamL2(net.parameters(), weight_decay=0.1)
        >>> with LayerProbe(net, opt) as probe:
        ...     probe.watching = True
        ...     pred = net(torch.rand(2, 1, 16, 16))
        ...     heatmap_loss(pred, torch.rand(2, 5, 16, 16)).backward()
        ...     probe.record(0, pred)
        >>> probe.layers[2], len(probe.ratio[0]), len(probe.dead[0])
        ('mid.0', 6, 5)
    """

    def __init__(self, model: nn.Module, optimizer: torch.optim.Optimizer) -> None:
        check_module(model, "model")
        check_optimizer(optimizer, "optimizer")
        self.model = model
        self.weights = [
            (name.removesuffix(".weight"), p)
            for name, p in model.named_parameters()
            if name.endswith("weight")
        ]
        self.decay_of = {
            p: float(group.get("weight_decay", 0.0))
            for group in optimizer.param_groups
            for p in group["params"]
        }
        self.relus = [(n, m) for n, m in model.named_modules() if isinstance(m, nn.ReLU)]
        self.watching = False  # count dead units in the next forward pass?
        self.alive: dict[str, torch.Tensor] = {}  # per ReLU, (C,) True where a channel fired
        self.output: tuple[torch.Size, torch.dtype] | None = None  # the watched pass's output
        self.steps: list[int] = []
        self.ratio: list[list[float]] = []
        self.weight_norm: list[list[float]] = []
        self.dead: list[list[float]] = []
        self.output_std: list[float] = []
        self._handles: list[torch.utils.hooks.RemovableHandle] = []

    @property
    def layers(self) -> tuple[str, ...]:
        """Names of the weight layers."""
        return tuple(n for n, _ in self.weights)

    def _hook(self, name: str) -> Callable[[nn.Module, tuple, torch.Tensor], None]:
        def hook(_module: nn.Module, _inp: tuple, out: torch.Tensor) -> None:
            if self.watching:
                self.alive[name] = (out.detach() > 0).any(dim=(0, 2, 3))  # (B, C, H, W) -> (C,)

        return hook

    def _output_hook(self, _module: nn.Module, _inp: tuple, out: object) -> None:
        if self.watching and isinstance(out, torch.Tensor):
            self.output = (out.shape, out.dtype)

    def __enter__(self) -> LayerProbe:
        self._handles = [m.register_forward_hook(self._hook(n)) for n, m in self.relus]
        self._handles.append(self.model.register_forward_hook(self._output_hook))
        return self

    def __exit__(self, *exc: object) -> None:
        for handle in self._handles:
            handle.remove()
        self._handles = []

    @torch.no_grad()
    def penalty(self) -> float:
        """``λ/2·‖w‖²`` summed over every parameter the optimizer decays."""
        return sum(0.5 * lam * float(p.pow(2).sum()) for p, lam in self.decay_of.items() if lam)

    @torch.no_grad()
    def record(self, step: int, pred: torch.Tensor) -> None:
        """Store the diagnostics of ``step`` from the current weights, gradients and ``pred``.

        Args:
            step: The step being recorded (0-based), after any step already recorded.
            pred: The watched forward pass's output ``(B, K, H, W)``, finite.

        Raises:
            ValueError: If no forward pass was watched since the probe was entered, ``step`` is
                negative or not after the last recorded step, or ``pred`` is not finite or not
                the shape of the watched pass's output.
            TypeError: If ``step`` is not an int, or ``pred`` is not a tensor of the watched
                output's dtype.
        """
        if len(self.alive) != len(self.relus) or self.output is None:
            raise ValueError("record needs a forward pass run with watching = True first")
        check_int(step, "step", minimum=0)
        if self.steps and step <= self.steps[-1]:
            raise ValueError(
                f"step must come after the last recorded step {self.steps[-1]}, got {step}"
            )
        check_tensor(pred, "pred")
        shape, dtype = self.output
        if pred.shape != shape:
            raise ValueError(
                f"pred must be the watched forward pass's output, of shape {tuple(shape)}, got "
                f"{tuple(pred.shape)}"
            )
        if pred.dtype != dtype:
            raise TypeError(f"pred must have the watched output's dtype {dtype}, got {pred.dtype}")
        check_finite(pred, "pred")
        self.steps.append(step)
        self.ratio.append(
            [
                float(self.decay_of.get(p, 0.0) * p.norm() / p.grad.norm().clamp_min(1e-30))
                for _, p in self.weights
            ]
        )
        self.weight_norm.append([float(p.norm()) for _, p in self.weights])
        self.dead.append([1.0 - float(self.alive[n].float().mean()) for n, _ in self.relus])
        self.output_std.append(float(pred.std(dim=0).mean()))  # (B, K, H, W) -> ()

    def history(
        self, loss: torch.Tensor, constant_loss: torch.Tensor, penalty: torch.Tensor
    ) -> HeatmapHistory:
        """The per-step curves (recorded by the caller) and this probe's records, as one record.

        Args:
            loss: ``(S,)`` per-pixel losses, finite, one per step: S is more than the last
                recorded step.
            constant_loss: ``(S,)`` the best constant prediction's losses, finite (in the data's
                dtype).
            penalty: ``(S,)`` the L2 terms, finite.

        Returns:
            A :class:`HeatmapHistory`.

        Raises:
            TypeError: If a curve is not a floating tensor.
            ValueError: If a curve is not 1-D, is empty, is not finite, the three differ in
                length, or they are shorter than the recorded steps need.
        """
        curves = {"loss": loss, "constant_loss": constant_loss, "penalty": penalty}
        for name, curve in curves.items():
            check_tensor(curve, name, ndim=1, dims="(S,)", floating=True)
            check_nonempty(curve, name)
        for name, curve in curves.items():
            if curve.shape != loss.shape:
                raise ValueError(
                    f"{name} must have loss's length {len(loss)} (one value per step), got "
                    f"{len(curve)}"
                )
            check_finite(curve, name)
        if self.steps and len(loss) <= self.steps[-1]:
            raise ValueError(
                f"loss must cover every recorded step (up to {self.steps[-1]}), got {len(loss)} "
                "values"
            )
        return HeatmapHistory(
            loss=loss,
            constant_loss=constant_loss,
            penalty=penalty,
            steps=torch.tensor(self.steps, dtype=torch.int64),
            layers=self.layers,
            ratio=torch.tensor(self.ratio),
            weight_norm=torch.tensor(self.weight_norm),
            relus=tuple(n for n, _ in self.relus),
            dead=torch.tensor(self.dead),
            output_std=torch.tensor(self.output_std),
        )


def _check_data(model: nn.Module, images: object, heatmaps: object) -> None:
    """Images ``(N, C, H, W)`` that ``model`` reads, and heatmaps ``(N, K, H, W)`` to match."""
    _check_input(model, images, "images")
    check_tensor(heatmaps, "heatmaps", ndim=4, dims="(N, K, H, W)", floating=True)
    check_nonempty(images, "images")
    if len(images) != len(heatmaps):
        raise ValueError(
            f"images and heatmaps must have the same length N, got {len(images)} and {len(heatmaps)}"
        )
    if heatmaps.shape[-2:] != images.shape[-2:]:
        raise ValueError(
            f"heatmaps must have images' H, W = {tuple(images.shape[-2:])}, got shape "
            f"{tuple(heatmaps.shape)}"
        )
    if heatmaps.dtype != images.dtype:
        raise TypeError(f"heatmaps must have images' dtype {images.dtype}, got {heatmaps.dtype}")


def _check_training_args(
    model: nn.Module,
    images: torch.Tensor,
    heatmaps: torch.Tensor,
    progress: bool,
    desc: str,
    **counts: int,
) -> None:
    _check_data(model, images, heatmaps)
    for name, value in counts.items():
        check_int(value, name, minimum=0 if name == "seed" else 1)
    check_bool(progress, "progress")
    if not isinstance(desc, str):
        raise TypeError(f"desc must be a str, got {type(desc).__name__}")


def train_heatmaps(
    model: nn.Module,
    optimizer: torch.optim.Optimizer,
    images: torch.Tensor,
    heatmaps: torch.Tensor,
    steps: int,
    *,
    batch_size: int = _DEFAULTS.batch_size,
    seed: int = 0,
    reduction: str = "mean",
    record_every: int = _DEFAULTS.record_every,
    progress: bool = False,
    desc: str = "steps",
    probe_images: torch.Tensor | None = None,
) -> HeatmapHistory:
    """Train ``model`` on random mini-batches of pre-generated data, recording the decay's effect.

    Every step draws ``batch_size`` examples (with replacement, from a generator seeded by ``seed``,
    all indices drawn up front), computes :func:`heatmap_loss`, backpropagates, records, and only
    then steps: at steps ``record_every - 1``, ``2·record_every - 1``, ... (0-based) a
    :class:`LayerProbe` records the layer diagnostics before the update.

    Args:
        model: Maps ``(B, C, H, W)`` images to ``(B, K, H, W)`` heatmaps; trained in place.
        optimizer: Built on ``model.parameters()``.
        images: ``(N, C, H, W)`` inputs, on the model's device.
        heatmaps: ``(N, K, H, W)`` targets, on the same device.
        steps: Number of optimizer steps, >= 1.
        batch_size: Examples per step, >= 1.
        seed: Seed of the batch sampler.
        reduction: ``"mean"`` or ``"sum"``, see :func:`heatmap_loss`; recorded losses are per pixel
            either way.
        record_every: Steps between diagnostics, >= 1.
        progress: Show a tqdm bar.
        desc: The bar's label.
        probe_images: Optional ``(P, C, H, W)`` fixed images: if given, the dead units and the
            output spread are measured on them (in eval mode, without gradient) at every record
            instead of on the training batch, so that records differ by the weights alone.

    Returns:
        A :class:`HeatmapHistory`.

    Raises:
        ValueError: If the data do not match each other or the model, are empty, a count is < 1
            (``seed`` < 0), ``reduction`` is unknown, or ``optimizer`` holds a tensor that is not
            a parameter of ``model``.
        TypeError: If ``model`` is not a module, ``optimizer`` not an optimizer, a count not an
            int, the data not floating tensors of the model's dtype, ``progress`` not a bool or
            ``desc`` not a str.
        companion.core.training.NonFiniteLossError: If the loss becomes NaN or infinite (a NaN in
            the data included).
    """
    check_module(model, "model")
    check_optimizer(optimizer, "optimizer")
    _check_training_args(
        model, images, heatmaps, progress, desc, steps=steps, batch_size=batch_size, seed=seed,
        record_every=record_every,
    )  # fmt: skip
    check_choice(reduction, "reduction", ("mean", "sum"))
    own = {id(p) for p in model.parameters()}
    if any(id(p) not in own for group in optimizer.param_groups for p in group["params"]):
        raise ValueError("optimizer must be built on model.parameters(), got a foreign tensor")
    if probe_images is not None:
        _check_input(model, probe_images, "probe_images")
        if probe_images.shape[1:] != images.shape[1:]:
            raise ValueError(
                f"probe_images must have images' (C, H, W) = {tuple(images.shape[1:])}, got "
                f"shape {tuple(probe_images.shape)}"
            )
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(len(images), (steps, batch_size), generator=g).to(images.device)
    per_pixel = heatmaps[0].numel() if reduction == "sum" else 1  # sum -> per-pixel units
    loss, penalty = torch.zeros(steps), torch.zeros(steps)
    model.train()
    with LayerProbe(model, optimizer) as probe:
        for s in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
            record = (s + 1) % record_every == 0
            probe.watching = record and probe_images is None
            xb, yb = images[index[s]], heatmaps[index[s]]  # (B, C, H, W), (B, K, H, W)
            pred = model(xb)  # (B, K, H, W)
            batch_loss = heatmap_loss(pred, yb, reduction)
            loss[s] = check_finite_loss(batch_loss.detach(), "loss", s) / per_pixel
            penalty[s] = probe.penalty() / per_pixel
            optimizer.zero_grad(set_to_none=True)
            batch_loss.backward()
            if record and probe_images is not None:  # dead units and spread on fixed images
                probe.watching = True
                with torch.no_grad(), eval_mode(model):
                    pred = model(probe_images)  # (P, K, H, W)
                probe.watching = False
            if record:
                probe.record(s, pred)  # record the weights and gradients ...
            optimizer.step()  # ... then step
    chunks = index.split(100)  # the best constant of every batch, 100 steps at a time
    const = torch.cat([best_constant_loss(heatmaps[i]) for i in chunks])  # (S, B, K, H, W) -> (S,)
    return probe.history(loss, const.cpu(), penalty)


@dataclass(frozen=True)
class StackedHistory:
    """What :func:`train_stacked` recorded.

    Attributes:
        loss: ``(S, M)`` per-pixel training loss of every step's batch for each of the M
            networks, before that step's update.
        constant_loss: ``(S,)`` the best constant prediction's loss on the same batches
            (:func:`best_constant_loss`), the same for every network.
        steps: ``(R,)`` the (0-based) steps at which the weight norms were recorded, before
            that step's update, as in :class:`HeatmapHistory`.
        layers: Names of the weight layers (parameters whose names end in ``weight``).
        weight_norm: ``(R, M, L)`` per record, network and layer, ``‖w‖``.
    """

    loss: torch.Tensor
    constant_loss: torch.Tensor
    steps: torch.Tensor
    layers: tuple[str, ...]
    weight_norm: torch.Tensor


def _per_model(value: float | Iterable[float], name: str, m: int, **bounds: float) -> torch.Tensor:
    """A hyperparameter given once or per model, as a float64 ``(M,)`` tensor, checked."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        values = [value] * m
    elif isinstance(value, (list, tuple)):
        values = list(value)
    else:
        raise TypeError(
            f"{name} must be a number or a sequence of {m} numbers, got {type(value).__name__}"
        )
    if len(values) != m:
        raise ValueError(
            f"{name} must be a number or have one value per model ({m}), got {len(values)}"
        )
    for i, v in enumerate(values):
        check_number(v, f"{name}[{i}]", **bounds)
    return torch.tensor(values, dtype=torch.float64)


def _per_model_choice(value: str | Iterable[str], name: str, m: int, choices: tuple) -> list[str]:
    """A string option given once or per model, as a list of ``m`` strings from ``choices``."""
    if isinstance(value, str):
        values = [value] * m
    elif isinstance(value, (list, tuple)) and all(isinstance(v, str) for v in value):
        values = list(value)
    else:
        raise TypeError(f"{name} must be a str or a sequence of {m} str, got {value!r}")
    if len(values) != m or any(v not in choices for v in values):
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be {options} or {m} of them, got {value!r}")
    return values


def _sgd_update_(
    p: torch.Tensor,
    grad: torch.Tensor,
    state: dict,
    lr: float | torch.Tensor,
    l2: float | torch.Tensor,
    momentum: float | torch.Tensor,
) -> None:
    """One step of ``torch.optim.SGD(lr, momentum, weight_decay=l2)`` on ``p`` in place.

    ``b ← μ·b + (∂L/∂w + λ·w)``, ``w ← w − lr·b``, with ``b`` (``state["momentum_buffer"]``)
    starting at zero, so that the first step is PyTorch's ``b = g`` (no dampening, no Nesterov).
    """
    grad = grad + l2 * p  # SGD + L2: g ← ∂L/∂w + λ·w
    buf = state["momentum_buffer"]
    buf.mul_(momentum).add_(grad)  # b ← μ·b + g
    p.sub_(lr * buf)  # w ← w − lr·b


def train_stacked(
    nets: Sequence[nn.Module],
    images: torch.Tensor,
    heatmaps: torch.Tensor,
    steps: int,
    *,
    lr: float | Sequence[float],
    weight_decay: float | Sequence[float] = 0.0,
    decoupled: bool | Sequence[bool] = False,
    reduction: str | Sequence[str] = "mean",
    optimizer: str | Sequence[str] = "adam",
    momentum: float | Sequence[float] = 0.0,
    batch_size: int = _DEFAULTS.batch_size,
    seed: int = 0,
    record_every: int = _DEFAULTS.record_every,
    progress: bool = False,
    desc: str = "steps",
) -> StackedHistory:
    """Train M networks of one architecture side by side, each with its own optimizer settings.

    The M networks see the same batches (drawn as in :func:`train_heatmaps` with the same ``seed``)
    and are run as one vectorised model (``torch.func.stack_module_state`` and ``vmap``): a grid of
    learning rates and decays, or of initialisations, costs about what one wider network costs.
    Model ``i`` takes exactly the steps of ``AdamL2(lr=lr[i], weight_decay=weight_decay[i])``, or of
    ``AdamW`` where ``decoupled[i]`` is true, or of ``torch.optim.SGD(lr=lr[i],
    momentum=momentum[i], weight_decay=weight_decay[i])`` where ``optimizer[i]`` is ``"sgd"``, on
    :func:`heatmap_loss` with ``reduction[i]``, as :func:`train_heatmaps` would (a test checks it
    against separate runs). The trained weights are copied back into ``nets``.

    Args:
        nets: M >= 1 networks of the same architecture without batch norm, on the data's device;
            trained in place.
        images: ``(N, C, H, W)`` inputs.
        heatmaps: ``(N, K, H, W)`` targets.
        steps: Number of optimizer steps, >= 1.
        lr: Learning rate, one for all or one per network, > 0.
        weight_decay: λ, one for all or one per network, >= 0.
        decoupled: Where λ enters, one for all or one per network: the gradient (False, AdamL2)
            or the weights (True, AdamW).
        reduction: ``"mean"`` or ``"sum"`` (see :func:`heatmap_loss`), one for all or one per
            network; the recorded losses are per pixel either way.
        optimizer: ``"adam"`` (AdamL2 or AdamW, see ``decoupled``) or ``"sgd"`` (SGD with
            momentum and the L2 term in the gradient; ``decoupled`` must then be False), one for
            all or one per network.
        momentum: SGD's momentum μ, in ``[0, 1)``, one for all or one per network; Adam
            networks ignore it (their β1 is Kingma & Ba's 0.9).
        batch_size: Examples per step, >= 1.
        seed: Seed of the batch sampler.
        record_every: Steps between weight-norm records, >= 1.
        progress: Show a tqdm bar.
        desc: The bar's label.

    Returns:
        A :class:`StackedHistory`: every network's per-pixel loss at every step, the best
        constant prediction's loss on the same batches, and every network's weight norms per
        layer every ``record_every`` steps.

    Raises:
        ValueError: If the data do not match each other or the networks, are empty, a count is
            < 1 (``seed`` < 0), a hyperparameter is out of range or has the wrong length,
            ``reduction`` or ``optimizer`` is unknown, an SGD network is ``decoupled``, the
            networks differ in their parameters or one has buffers.
        TypeError: If ``nets`` is not a non-empty sequence of modules, a count is not an int, a
            hyperparameter is not a number (``decoupled`` a bool, ``reduction`` and
            ``optimizer`` a str) or a sequence of them, the data are not floating tensors of the networks' dtype,
            ``progress`` is not a bool or ``desc`` not a str.
        companion.core.training.NonFiniteLossError: If a loss becomes NaN or infinite (a NaN in
            the data included).

    Example:
        >>> nets = [Hourglass(width=4, seed=s) for s in (0, 1)]
        >>> x, y = torch.rand(6, 1, 16, 16), torch.rand(6, 5, 16, 16)
        >>> train_stacked(nets, x, y, 3, lr=1e-3, weight_decay=[0.0, 1e-2]).loss.shape
        torch.Size([3, 2])
    """
    if isinstance(nets, nn.Module):
        nets = [nets]
    if not isinstance(nets, (list, tuple, nn.ModuleList)):
        raise TypeError(f"nets must be a sequence of torch.nn.Module, got {type(nets).__name__}")
    nets = list(nets)
    if not nets or not all(isinstance(n, nn.Module) for n in nets):
        raise TypeError("nets must be a non-empty sequence of torch.nn.Module")
    _check_training_args(
        nets[0], images, heatmaps, progress, desc, steps=steps, batch_size=batch_size, seed=seed,
        record_every=record_every,
    )  # fmt: skip
    shapes = [[(k, p.shape) for k, p in n.named_parameters()] for n in nets]
    if any(s != shapes[0] for s in shapes):
        raise ValueError("nets must all have the same parameter names and shapes")
    if any(True for n in nets for _ in n.buffers()):
        raise ValueError(
            "nets must have no buffers (no batch norm): train those with train_heatmaps"
        )
    m = len(nets)
    lrs = _per_model(lr, "lr", m, low=0, low_inclusive=False)
    decays = _per_model(weight_decay, "weight_decay", m, low=0)
    if isinstance(decoupled, bool):
        flags = [decoupled] * m
    elif isinstance(decoupled, (list, tuple)):
        flags = list(decoupled)
    else:
        raise TypeError(f"decoupled must be a bool or {m} bools, got {type(decoupled).__name__}")
    if not all(isinstance(f, bool) for f in flags):
        raise TypeError(f"decoupled must be a bool or {m} bools, got {decoupled!r}")
    if len(flags) != m:
        raise ValueError(f"decoupled must be a bool or {m} bools, got {decoupled!r}")
    is_w = torch.tensor(flags, dtype=torch.float64)
    reductions = _per_model_choice(reduction, "reduction", m, ("mean", "sum"))
    kinds = _per_model_choice(optimizer, "optimizer", m, ("adam", "sgd"))
    if any(k == "sgd" and f for k, f in zip(kinds, flags, strict=True)):
        raise ValueError("decoupled must be False for the networks whose optimizer is 'sgd'")
    momenta = _per_model(momentum, "momentum", m, low=0, high=1, high_inclusive=False)
    is_sgd = torch.tensor([k == "sgd" for k in kinds])  # (M,) bool
    pixels = heatmaps[0].numel()  # K·H·W: a sum over them is this many times the mean
    scale = torch.tensor([pixels if r == "sum" else 1 for r in reductions], dtype=images.dtype)
    scale = scale.to(images.device)
    params, _ = torch.func.stack_module_state(nets)  # {name: (M, ...)}, leaves with gradients
    template = nets[0]

    def one(p: dict[str, torch.Tensor], x: torch.Tensor) -> torch.Tensor:
        return torch.func.functional_call(template, p, (x,))  # (B, C, H, W) -> (B, K, H, W)

    forward = torch.func.vmap(one, in_dims=(0, None))  # (M, ...) weights -> (M, B, K, H, W)
    hyper = {}  # per parameter: lr, L2 λ, decoupled λ, μ, SGD mask, each (M, 1, ..., 1)
    for name, p in params.items():
        view = (m,) + (1,) * (p.ndim - 1)
        cast = {"dtype": p.dtype, "device": p.device}
        hyper[name] = (
            lrs.to(**cast).view(view),  # (M,) -> (M, 1, ..., 1)
            (decays * (1 - is_w)).to(**cast).view(view),  # (M,) -> (M, 1, ..., 1)
            (decays * is_w).to(**cast).view(view),  # (M,) -> (M, 1, ..., 1)
            momenta.to(**cast).view(view),  # (M,) -> (M, 1, ..., 1)
            is_sgd.to(p.device).view(view),  # (M,) -> (M, 1, ..., 1)
        )
    state = {n: {"step": 0, "exp_avg": torch.zeros_like(p), "exp_avg_sq": torch.zeros_like(p),
                 "momentum_buffer": torch.zeros_like(p)}
             for n, p in params.items()}  # fmt: skip
    any_sgd, all_sgd = bool(is_sgd.any()), bool(is_sgd.all())
    weights = [n for n in params if n.endswith("weight")]
    record_steps, weight_norm = [], []
    g = torch.Generator().manual_seed(seed)
    index = torch.randint(len(images), (steps, batch_size), generator=g).to(images.device)
    losses = torch.zeros(steps, m)
    for s in tqdm(range(steps), desc=desc, disable=not progress, leave=False):
        xb, yb = images[index[s]], heatmaps[index[s]]  # (B, C, H, W), (B, K, H, W)
        per_model = ((forward(params, xb) - yb) ** 2).mean(
            dim=(1, 2, 3, 4)
        )  # (M, B, K, H, W) -> (M,)
        check_finite_loss(per_model.detach().sum(), "loss", s)
        losses[s] = per_model.detach().cpu()
        objective = (per_model * scale).sum()  # each model's gradient is its own loss's
        grads = torch.autograd.grad(objective, list(params.values()))
        with torch.no_grad():
            if (s + 1) % record_every == 0:  # weight norms before this step's update
                record_steps.append(s)
                weight_norm.append(torch.stack(
                    [params[n].flatten(1).norm(dim=1) for n in weights], dim=1
                ).cpu())  # (M, ...) -> (M, L)  # fmt: skip
            for (name, p), grad in zip(params.items(), grads, strict=True):
                state[name]["step"] += 1
                lr_, l2, dw, mu, sgd = hyper[name]
                if any_sgd:
                    p_sgd = p.clone()  # SGD's step for every model; kept where sgd is true
                    _sgd_update_(p_sgd, grad, state[name], lr_, l2, mu)
                if not all_sgd:
                    _adam_update_(p, grad, state[name], lr_, l2, dw, ADAM_BETAS, ADAM_EPS)
                if any_sgd:
                    p.copy_(torch.where(sgd, p_sgd, p))
    with torch.no_grad():
        for i, net in enumerate(nets):
            for name, p in net.named_parameters():
                p.copy_(params[name][i])
    chunks = index.split(100)  # the best constant of every batch, 100 steps at a time
    const = torch.cat([best_constant_loss(heatmaps[i]) for i in chunks])  # (S, B, K, H, W) -> (S,)
    return StackedHistory(
        loss=losses,
        constant_loss=const.cpu(),
        steps=torch.tensor(record_steps, dtype=torch.int64),
        layers=tuple(n.removesuffix(".weight") for n in weights),
        weight_norm=torch.stack(weight_norm) if weight_norm else torch.zeros(0, m, len(weights)),
    )


@torch.no_grad()
def losses_along_line(
    model: nn.Module,
    start: dict[str, torch.Tensor],
    direction: dict[str, torch.Tensor],
    images: torch.Tensor,
    heatmaps: torch.Tensor,
    alphas: torch.Tensor,
    weight_decay: float,
) -> tuple[torch.Tensor, torch.Tensor]:
    """The data loss and the L2-regularised objective at the parameters ``start + α·direction``.

    A one-dimensional slice through the loss landscape: it tells a minimum (both sides go up) from
    a saddle (one side goes down) at ``start``, for the data loss and for
    ``objective = loss + λ/2·‖θ‖²`` separately. The model is evaluated in its current mode with
    ``torch.func.functional_call``; its own parameters are not touched.

    Args:
        model: The network whose architecture is used.
        start: ``{name: tensor}`` for every parameter of ``model`` (as ``named_parameters``).
        direction: ``{name: tensor}`` of the same names and shapes.
        images: ``(N, C, H, W)`` inputs.
        heatmaps: ``(N, K, H, W)`` targets.
        alphas: ``(A,)`` positions along the line.
        weight_decay: λ of the L2 term, >= 0.

    Returns:
        ``(loss, objective)``, each ``(A,)``, the loss per pixel (mean reduction).

    Raises:
        ValueError: If the names or shapes of ``start`` and ``direction`` do not match the model's
            parameters, the data do not match each other or the model, are empty or not finite,
            ``alphas`` is not 1-D, empty or not finite, or ``weight_decay`` is negative.
        TypeError: If ``model`` is not a module, ``start`` or ``direction`` not a mapping of
            tensors, the data not floating tensors of the model's dtype, ``alphas`` not a
            floating tensor or ``weight_decay`` not a number.

    Example:
        >>> net = Hourglass(width=4)
        >>> theta = {n: p.detach() for n, p in net.named_parameters()}
        >>> zero = {n: torch.zeros_like(p) for n, p in theta.items()}
        >>> x, y = torch.rand(2, 1, 16, 16), torch.rand(2, 5, 16, 16)
        >>> loss, obj = losses_along_line(net, theta, zero, x, y, torch.tensor([0.0, 1.0]), 0.1)
        >>> bool(loss[0] == loss[1]), bool((obj > loss).all())
        (True, True)
    """
    check_module(model, "model")
    lam = check_number(weight_decay, "weight_decay", low=0)
    check_tensor(alphas, "alphas", ndim=1, dims="(A,)", floating=True)
    check_nonempty(alphas, "alphas")
    check_finite(alphas, "alphas")
    _check_data(model, images, heatmaps)
    check_finite(images, "images")
    check_finite(heatmaps, "heatmaps")
    names = {n: p.shape for n, p in model.named_parameters()}
    for arg, params in (("start", start), ("direction", direction)):
        if not isinstance(params, Mapping):
            raise TypeError(f"{arg} must be a dict {{name: tensor}}, got {type(params).__name__}")
        if set(params) != set(names):
            raise ValueError(f"{arg} must have exactly the model's parameter names {sorted(names)}")
        for n, shape in names.items():
            check_tensor(params[n], f"{arg}[{n!r}]", floating=True)
            check_finite(params[n], f"{arg}[{n!r}]")
            if params[n].shape != shape:
                raise ValueError(
                    f"{arg}[{n!r}] must have shape {tuple(shape)}, got {tuple(params[n].shape)}"
                )
    losses, objectives = [], []
    for a in alphas.tolist():
        theta = {n: start[n] + a * direction[n] for n in names}
        pred = torch.func.functional_call(model, theta, (images,))  # (N, K, H, W)
        loss = heatmap_loss(pred, heatmaps)
        penalty = 0.5 * lam * sum(t.pow(2).sum() for t in theta.values())
        losses.append(loss)
        objectives.append(loss + penalty)
    return torch.stack(losses), torch.stack(objectives)
