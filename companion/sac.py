"""Soft actor-critic (SAC) for continuous actions, in one scroll: density, networks, buffer, update.

The module follows the layout of CleanRL's ``sac_continuous_action.py`` (constants, then the pieces,
then the update), but every piece is importable and tested, and nothing runs at import. It backs the
chapter *Does soft actor-critic's policy gradient reduce to DDPG's?*.

The policy is a squashed Gaussian (Haarnoja et al. 2018, appendix C): with noise ``eps ~ N(0, I)``,

    u = mean(s) + exp(log_std(s)) * eps,        a = tanh(u),

and by the change of variables its log-density is

    log pi(a|s) = log N(u; mean, std^2) - sum_k log(1 - tanh(u_k)^2).

Shapes use the book's alphabet: ``B`` batch, ``D`` observation width, ``K`` action dimensions (the
channels of one action vector), ``N`` replay capacity, and ``M`` members: independent agents trained
side by side in one batched update (a list of seeds makes a population). A population's tensors
carry a leading ``M`` (``(M, B, D)`` observations); a single agent takes ``(B, D)``, as
``(1, B, D)`` would be. Every member has its own weights, optimiser state, temperature, replay
samples and environment, and its losses are summed, so its gradients are exactly those it would
get alone; batching the members only amortises PyTorch's per-operation overhead, which dominates
the update of networks this small.

Convention:
    Actions live in ``(-1, 1)^K``, the range of ``tanh``; the log-density, the critics, the buffer
    and the target entropy all use that space, and only the environment sees the action rescaled to
    its bounds (:func:`to_env_action`), as in Stable-Baselines3. CleanRL instead folds the
    rescaling into the actor and subtracts ``log(action_scale)`` inside the log-probability; the two
    log-densities differ by the constant ``sum_k log(action_scale_k)``, so the same numeric target
    entropy asks CleanRL's policy to be narrower when the action bound exceeds 1 (Pendulum's is 2).
"""

from __future__ import annotations

import copy
import itertools
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field, replace
from typing import NamedTuple

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_callable,
    check_finite,
    check_generator,
    check_int,
    check_module,
    check_number,
    check_same_shape,
    check_tensor,
)
from companion.core.device import resolve_device, seeded
from companion.core.training import check_finite_loss

__all__ = [
    "LOG_STD_MAX",
    "LOG_STD_MIN",
    "Batch",
    "ReplayBuffer",
    "SACAgent",
    "SACConfig",
    "SacHistory",
    "SquashedGaussianActor",
    "TwinQ",
    "evaluate_continuous_policy",
    "log_one_minus_tanh_sq",
    "polyak_update",
    "soft_q_target",
    "tanh_gaussian_log_prob",
    "to_env_action",
    "train_sac",
]

# Bounds on the actor's log standard deviation, as in CleanRL's SAC; log_std is squashed smoothly
# into them (no hard clamp, so the gradient never vanishes at a bound).
LOG_STD_MIN = -5.0
LOG_STD_MAX = 2.0
_LOG_2 = math.log(2.0)
_HALF_LOG_2PI = 0.5 * math.log(2.0 * math.pi)


@dataclass(frozen=True)
class SACConfig:
    """Hyper-parameters, sized so that Pendulum-v1 learns in a few thousand updates on a CPU.

    Attributes:
        hidden: Width of the two hidden layers of every network. Pendulum's 3-D observation needs
            little capacity, and 64-wide MLPs keep an update's arithmetic small enough that a
            population of a few members trains in under a minute on one CPU thread (Haarnoja et
            al. 2018 use 256 for MuJoCo).
        gamma: Discount factor (Haarnoja et al. 2018, appendix D, Table 1).
        tau: Polyak rate of the target critics, ``target <- (1 - tau) target + tau online``
            (Haarnoja et al. 2018, Table 1).
        batch_size: Transitions per update (per member). 256 is the paper's value (Table 1);
            the chapter halves it to halve the arithmetic of each update.
        policy_lr: Adam learning rate of the actor. 1e-3, above the paper's 3e-4, because the budget
            is a few thousand updates, not a million.
        q_lr: Adam learning rate of the critics, 1e-3 as in CleanRL.
        alpha_lr: Adam learning rate of ``log(alpha)`` when it is tuned: 1e-3, the critics'
            rate, as CleanRL uses for the temperature.
        autotune: Tune the temperature alpha towards ``target_entropy`` (Haarnoja et al. 2018b,
            section 5). If false, alpha stays at ``alpha``.
        alpha: The fixed temperature when ``autotune`` is false (0 gives a stochastic actor trained
            on the critic alone), and the starting temperature when it is true. 1.0 (``log alpha
            = 0``) is where CleanRL and Stable-Baselines3 start the tuned temperature.
        target_entropy: Entropy target of the tuned temperature; ``None`` means ``-K``, the
            heuristic of Haarnoja et al. 2018b (one nat below zero per action dimension).
        buffer_size: Replay capacity in transitions; larger than the runs here, so nothing is lost.
        learning_starts: Uniformly random transitions collected (per member) before the first
            update. 1 000, CleanRL's order of magnitude scaled to a budget of a few thousand
            steps: enough varied states for the critics' first batches (the chapter uses 500 of
            its 5 000 steps).

    Raises:
        TypeError: If a size is not an int, a rate not a number or ``autotune`` not a bool.
        ValueError: If a value is outside its range (``gamma`` in ``[0, 1]``, ``tau`` in
            ``(0, 1]``, positive learning rates, ``alpha >= 0`` and ``> 0`` when tuned, sizes
            >= 1).

    Example:
        >>> SACConfig(hidden=8).batch_size
        256
    """

    hidden: int = 64
    gamma: float = 0.99
    tau: float = 0.005
    batch_size: int = 256
    policy_lr: float = 1e-3
    q_lr: float = 1e-3
    alpha_lr: float = 1e-3
    autotune: bool = True
    alpha: float = 1.0
    target_entropy: float | None = None
    buffer_size: int = 100_000
    learning_starts: int = 1_000

    def __post_init__(self) -> None:
        check_int(self.hidden, "hidden", minimum=1)
        check_number(self.gamma, "gamma", low=0, high=1)
        check_number(self.tau, "tau", low=0, high=1, low_inclusive=False)
        check_int(self.batch_size, "batch_size", minimum=1)
        for name in ("policy_lr", "q_lr", "alpha_lr"):
            check_number(getattr(self, name), name, low=0, low_inclusive=False)
        if not isinstance(self.autotune, bool):
            raise TypeError(f"autotune must be a bool, got {type(self.autotune).__name__}")
        check_number(self.alpha, "alpha", low=0)
        if self.autotune and self.alpha == 0:
            raise ValueError("alpha must be > 0 when autotune is on (it is the starting value)")
        if self.target_entropy is not None:
            check_number(self.target_entropy, "target_entropy")
        check_int(self.buffer_size, "buffer_size", minimum=1)
        check_int(self.learning_starts, "learning_starts", minimum=0)


# ----------------------------------------------------------------------------------------------
# The density of a squashed Gaussian
# ----------------------------------------------------------------------------------------------


def log_one_minus_tanh_sq(u: torch.Tensor) -> torch.Tensor:
    """``log(1 - tanh(u)^2)``, elementwise, finite for every finite ``u``.

    The naive form rounds ``tanh(u)`` to exactly 1 once ``|u|`` exceeds about 9 (float32) and
    returns ``-inf``. Since ``1 - tanh(u)^2 = 4 / (e^u + e^-u)^2``,

        log(1 - tanh(u)^2) = 2 * (log 2 - u - softplus(-2u)),

    which only ever adds finite numbers.

    Args:
        u: Pre-squash values, any shape, floating point.

    Returns:
        A tensor of the same shape. NaN propagates, as in torch; ``u = +-inf`` gives the limit
        ``-inf``.

    Raises:
        TypeError: If ``u`` is not a floating-point tensor.

    Example:
        >>> log_one_minus_tanh_sq(torch.tensor([0.0, 20.0]))
        tensor([  0.0000, -38.6137])
    """
    check_tensor(u, "u", floating=True)
    return 2.0 * (_LOG_2 - u - nn.functional.softplus(-2.0 * u))


def tanh_gaussian_log_prob(
    u: torch.Tensor, mean: torch.Tensor, log_std: torch.Tensor
) -> torch.Tensor:
    """Log-density of ``a = tanh(u)`` where ``u ~ N(mean, exp(log_std)^2)``, summed over actions.

    The change of variables for the elementwise bijection ``tanh`` gives

        log pi(a) = sum_k [ log N(u_k; mean_k, std_k^2) - log(1 - tanh(u_k)^2) ],

    and ``log N(u; mean, std^2) = log N(eps; 0, 1) - log std`` with ``eps = (u - mean) / std``. The
    density of ``a`` is *not* the density of the noise ``eps``: the Jacobian terms ``-log std`` and
    ``-log(1 - tanh(u)^2)`` depend on the actor's parameters. The Jacobian term uses
    :func:`log_one_minus_tanh_sq`, so the result stays finite at ``|u| = 20``.

    The density is taken from ``u`` rather than from ``a``: inverting ``a`` with ``atanh`` is
    exact only while ``|a| < 1`` in floating point.

    Args:
        u: Pre-squash sample, shape ``(..., K)``.
        mean: Gaussian mean, same shape as ``u``.
        log_std: Log standard deviation, same shape as ``u``.

    Returns:
        ``log pi(tanh(u))``, shape ``(...)`` (the action dimension ``K`` summed out). NaN in an
        argument propagates, as in torch. The result is finite at ``u = mean`` however narrow the
        Gaussian (``log_std = -100`` included: the standardised noise is exactly 0 there).

    Raises:
        TypeError: If an argument is not a floating-point tensor.
        ValueError: If the shapes differ (no broadcasting) or ``u`` is 0-D.

    Example:
        >>> tanh_gaussian_log_prob(torch.zeros(1, 1), torch.zeros(1, 1), torch.zeros(1, 1))
        tensor([-0.9189])
    """
    check_tensor(u, "u", floating=True)
    check_tensor(mean, "mean", floating=True)
    check_tensor(log_std, "log_std", floating=True)
    if u.ndim == 0:
        raise ValueError("u must have an action dimension (..., K), got a 0-D tensor")
    check_same_shape(u, "u", mean, "mean")
    check_same_shape(u, "u", log_std, "log_std")
    diff = u - mean
    eps = torch.where(diff == 0, diff, diff * torch.exp(-log_std))  # 0 * inf would be NaN
    gaussian = -0.5 * eps.square() - log_std - _HALF_LOG_2PI
    return (gaussian - log_one_minus_tanh_sq(u)).sum(dim=-1)


def to_env_action(action: torch.Tensor, low: np.ndarray, high: np.ndarray) -> np.ndarray:
    """Map actions from ``(-1, 1)^K`` to the environment's box ``[low, high]``, affinely.

    Args:
        action: Squashed actions in ``[-1, 1]``, shape ``(B, K)``.
        low: Lower bounds, shape ``(K,)`` (a gymnasium ``Box``'s ``low``), finite.
        high: Upper bounds, shape ``(K,)``, ``high >= low``.

    Returns:
        A NumPy array ``(B, K)`` in the environment's dtype (``(0, K)`` for no actions).

    Raises:
        TypeError: If ``action`` is not a floating tensor or a bound is not a real array.
        ValueError: If ``action`` is not 2-D ``(B, K)`` or has a value outside ``[-1, 1]`` (NaN
            included), or a bound is not ``(K,)``, not finite, or ``low > high`` somewhere.

    Example:
        >>> to_env_action(torch.tensor([[-1.0], [0.5]]), np.array([-2.0]), np.array([2.0]))
        array([[-2.],
               [ 1.]])
    """
    check_tensor(action, "action", ndim=2, dims="(B, K)", floating=True)
    k = action.shape[1]
    bounds = []
    for name, value in (("low", low), ("high", high)):
        arr = np.asarray(value) if isinstance(value, np.ndarray | list | tuple) else None
        if arr is None or arr.dtype.kind not in "fiu":
            raise TypeError(f"{name} must be a real NumPy array of shape ({k},), got {value!r}")
        if arr.shape != (k,):
            raise ValueError(f"{name} must have shape ({k},) to match action's K, got {arr.shape}")
        if not np.isfinite(arr).all():
            raise ValueError(f"{name} must be finite, got {arr}")
        bounds.append(arr)
    low, high = bounds
    if (low > high).any():
        raise ValueError(f"low must be <= high in every dimension, got low {low}, high {high}")
    a = action.detach().cpu().numpy()
    if not (np.abs(a) <= 1.0).all():  # also False for NaN
        raise ValueError("action must lie in [-1, 1] (the range of tanh), with no NaN")
    return (low + (a + 1.0) * 0.5 * (high - low)).astype(low.dtype)


# ----------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------


def _mlp(inputs: int, hidden: int, outputs: int) -> nn.Sequential:
    return nn.Sequential(
        nn.Linear(inputs, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
        nn.Linear(hidden, outputs),
    )  # fmt: skip


def _member_seeds(seed: object) -> list[int]:
    """An int seed is one member; a list or tuple of ints is one member per seed."""
    if isinstance(seed, list | tuple):
        if not seed:
            raise ValueError("seed must be an int or a non-empty list of ints, got an empty list")
        return [check_int(s, "seed", minimum=0) for s in seed]
    return [check_int(seed, "seed", minimum=0)]


def _with_members(
    x: object, name: str, members: int, width: int, dims: str, dtype: torch.dtype
) -> torch.Tensor:
    """``x`` as ``(M, B, width)`` in ``dtype``: ``(B, width)`` is accepted when there is one member.

    Refuses a wrong ``M`` or ``width``, an empty batch and NaN or infinite entries, naming ``name``.
    """
    check_tensor(x, name, floating=True, size={-1: width})
    if x.ndim == 3 and len(x) == members:
        pass
    elif x.ndim == 2 and members == 1:
        x = x.unsqueeze(0)  # (B, width) -> (1, B, width)
    else:
        raise ValueError(
            f"{name} must be (M, B, {dims}) with M = {members} members"
            + (f" or (B, {dims})" if members == 1 else "")
            + f", got shape {tuple(x.shape)}"
        )
    if x.shape[1] == 0:
        raise ValueError(f"{name} must hold at least one row (B >= 1), got shape {tuple(x.shape)}")
    check_finite(x, name)
    return x.to(dtype)  # float64 in: converted to the networks' dtype


def _stacked_forward(x: torch.Tensor, weights, biases) -> torch.Tensor:
    """Independent MLPs, one per leading index: ``(S, B, in) -> (S, B, out)``, ReLU between."""
    last = len(weights) - 1
    for i, (w, b) in enumerate(zip(weights, biases, strict=True)):
        x = torch.baddbmm(b, x, w)  # (S, B, fan_in) @ (S, fan_in, fan_out) -> (S, B, fan_out)
        if i < last:
            x = torch.relu(x)
    return x


class SquashedGaussianActor(nn.Module):
    """The SAC policy: ``a = tanh(mean(s) + std(s) * eps)`` with ``eps ~ N(0, I)``.

    The ``M`` members' MLPs are stored stacked, ``weights[l]`` of shape ``(M, fan_in, fan_out)``
    (the last layer's columns ``[0, K)`` give the mean, ``[K, 2K)`` the raw log-std), and one
    batched product evaluates all of them.

    Args:
        obs_dim: Observation width ``D``.
        act_dim: Action dimensions ``K``.
        hidden: Width of the two hidden layers.
        seed: Seed of the initial weights, or a list of seeds, one per member. Member ``m`` starts
            exactly as a one-member actor with ``seed[m]`` (``nn.Linear``'s default
            initialisation, drawn inside :func:`~companion.core.device.seeded`).

    Raises:
        TypeError: If an argument is not an int (or ``seed`` a list of ints).
        ValueError: If a size is < 1, a seed < 0 or the list of seeds is empty.

    Example:
        >>> actor = SquashedGaussianActor(3, 1, hidden=8, seed=0)
        >>> action, log_prob = actor(torch.zeros(5, 3), generator=torch.Generator().manual_seed(0))
        >>> action.shape, log_prob.shape
        (torch.Size([5, 1]), torch.Size([5]))
        >>> SquashedGaussianActor(3, 1, hidden=8, seed=[0, 1]).mean_action(torch.zeros(2, 5, 3)).shape
        torch.Size([2, 5, 1])
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 64, *, seed: int | Sequence[int]
    ) -> None:
        super().__init__()
        self.obs_dim = check_int(obs_dim, "obs_dim", minimum=1)
        self.act_dim = check_int(act_dim, "act_dim", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        seeds = _member_seeds(seed)
        self.members = len(seeds)
        layers = []
        for s in seeds:
            with seeded(s):
                mlp = _mlp(obs_dim, hidden, 2 * act_dim)  # nn.Linear's draws, in its order
            layers.append([layer for layer in mlp if isinstance(layer, nn.Linear)])
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for depth in range(3):
            member = [ls[depth] for ls in layers]
            self.weights.append(  # nn.Linear's (out, in) -> (M, in, out)
                nn.Parameter(torch.stack([lin.weight.detach().T for lin in member]).contiguous())
            )
            self.biases.append(  # (out,) -> (M, 1, out)
                nn.Parameter(torch.stack([lin.bias.detach().unsqueeze(0) for lin in member]))
            )

    def distribution(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log standard deviation of the pre-squash Gaussian.

        Args:
            obs: Observations, shape ``(M, B, D)``, or ``(B, D)`` for a one-member actor.

        Returns:
            ``(mean, log_std)``, each ``(M, B, K)`` (or ``(B, K)``); ``log_std`` lies in
            ``(LOG_STD_MIN, LOG_STD_MAX)``.

        Raises:
            TypeError: If ``obs`` is not a floating tensor (float64 is converted to the weights'
                dtype).
            ValueError: If ``obs`` does not have this actor's ``D`` and ``M``, is empty, or holds
                NaN or infinite values.
        """
        x = _with_members(obs, "obs", self.members, self.obs_dim, "D", self.weights[0].dtype)
        mean, log_std = self._distribution(x)
        if obs.ndim == 2:
            return mean[0], log_std[0]  # (1, B, K) -> (B, K)
        return mean, log_std

    def _distribution(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`distribution` of checked ``(M, B, D)`` observations, ``(M, B, K)`` each."""
        out = _stacked_forward(x, self.weights, self.biases)  # (M, B, D) -> (M, B, 2K)
        mean, raw = out.chunk(2, dim=-1)  # (M, B, 2K) -> 2 x (M, B, K)
        log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw) + 1.0)
        return mean, log_std

    def _sample(
        self, x: torch.Tensor, eps: torch.Tensor | None, generator: torch.Generator | None
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """:meth:`forward` of checked ``(M, B, D)`` observations (and ``(M, B, K)`` noise)."""
        mean, log_std = self._distribution(x)
        if eps is None:
            eps = torch.randn(mean.shape, generator=generator, device=mean.device, dtype=mean.dtype)
        u = mean + torch.exp(log_std) * eps
        return torch.tanh(u), tanh_gaussian_log_prob(u, mean, log_std)

    def forward(
        self,
        obs: torch.Tensor,
        *,
        eps: torch.Tensor | None = None,
        generator: torch.Generator | None = None,
    ) -> tuple[torch.Tensor, torch.Tensor]:
        """Draw a reparameterised action and its log-probability.

        The sample is ``rsample``-style: the noise is drawn first and the action is a
        differentiable function of the parameters, so gradients reach both the mean and the
        standard deviation heads through the action *and* through the log-probability.

        Args:
            obs: Observations, shape ``(M, B, D)``, or ``(B, D)`` for a one-member actor.
            eps: Optional standard-normal noise, the shape of the action, to use instead of
                drawing it (to hold the noise fixed while the parameters change).
            generator: Source of the noise when ``eps`` is ``None``.

        Returns:
            ``(action, log_prob)``: actions in ``(-1, 1)``, shape ``(M, B, K)`` (or ``(B, K)``),
            and ``log pi(a|s)``, shape ``(M, B)`` (or ``(B,)``).

        Raises:
            TypeError: If ``obs`` or ``eps`` is not a floating tensor (float64 is converted) or
                ``generator`` is not a ``torch.Generator``.
            ValueError: If ``obs`` or ``eps`` has the wrong shape, ``obs`` is empty, or either
                holds NaN or infinite values.
        """
        check_generator(generator)
        x = _with_members(obs, "obs", self.members, self.obs_dim, "D", self.weights[0].dtype)
        if eps is not None:
            want = (*obs.shape[:-1], self.act_dim)
            check_tensor(eps, "eps", floating=True)
            if tuple(eps.shape) != want:
                raise ValueError(
                    f"eps must have shape {want}, the actions for obs of shape "
                    f"{tuple(obs.shape)}, got {tuple(eps.shape)}"
                )
            check_finite(eps, "eps")
            eps = eps.to(x.dtype).view(x.shape[0], x.shape[1], -1)  # (B, K) -> (1, B, K) or same
        action, log_prob = self._sample(x, eps, generator)
        if obs.ndim == 2:
            return action[0], log_prob[0]  # (1, B, K), (1, B) -> (B, K), (B,)
        return action, log_prob

    @torch.no_grad()
    def mean_action(self, obs: torch.Tensor) -> torch.Tensor:
        """The deterministic action ``tanh(mean(s))`` used for evaluation, shaped like the action.

        Raises:
            TypeError: If ``obs`` is not a floating tensor.
            ValueError: As :meth:`distribution`.
        """
        return torch.tanh(self.distribution(obs)[0])


class TwinQ(nn.Module):
    """Two independent critics ``Q_1(s, a)``, ``Q_2(s, a)`` (Fujimoto et al. 2018's clipped pair).

    The ``2 M`` MLPs (two per member) are stored stacked on a leading dimension, critic-major:
    index ``c * M + m`` is critic ``c`` of member ``m``, so that one batched matrix product
    evaluates all of them; each critic has its own weights, initialised as ``nn.Linear`` would
    (uniform in ``+-1/sqrt(fan_in)``), and none sees another's gradient.

    Args:
        obs_dim: Observation width ``D``.
        act_dim: Action dimensions ``K``.
        hidden: Width of the two hidden layers of each critic.
        seed: Seed of the initial weights, or a list of seeds, one per member (drawn inside
            :func:`~companion.core.device.seeded`; member ``m`` starts as a one-member pair with
            ``seed[m]``).

    Raises:
        TypeError: If an argument is not an int (or ``seed`` a list of ints).
        ValueError: If a size is < 1, a seed < 0 or the list of seeds is empty.

    Example:
        >>> q = TwinQ(3, 1, hidden=8, seed=0)
        >>> q(torch.zeros(5, 3), torch.zeros(5, 1)).shape
        torch.Size([2, 5])
        >>> TwinQ(3, 1, hidden=8, seed=[0, 1])(torch.zeros(2, 5, 3), torch.zeros(2, 5, 1)).shape
        torch.Size([2, 2, 5])
    """

    def __init__(
        self, obs_dim: int, act_dim: int, hidden: int = 64, *, seed: int | Sequence[int]
    ) -> None:
        super().__init__()
        self.obs_dim = check_int(obs_dim, "obs_dim", minimum=1)
        self.act_dim = check_int(act_dim, "act_dim", minimum=1)
        check_int(hidden, "hidden", minimum=1)
        seeds = _member_seeds(seed)
        self.members = m = len(seeds)
        sizes = [obs_dim + act_dim, hidden, hidden, 1]
        drawn = []  # per member: one (weight (2, in, out), bias (2, 1, out)) per layer
        for s in seeds:
            with seeded(s):
                layers = []
                for fan_in, fan_out in itertools.pairwise(sizes):
                    bound = 1.0 / math.sqrt(fan_in)
                    weight = torch.empty(2, fan_in, fan_out).uniform_(-bound, bound)
                    layers.append((weight, torch.empty(2, 1, fan_out).uniform_(-bound, bound)))
            drawn.append(layers)
        self.weights = nn.ParameterList()
        self.biases = nn.ParameterList()
        for depth, (fan_in, fan_out) in enumerate(itertools.pairwise(sizes)):
            w = torch.stack([d[depth][0] for d in drawn], dim=1)  # (2, M, in, out)
            b = torch.stack([d[depth][1] for d in drawn], dim=1)  # (2, M, 1, out)
            self.weights.append(nn.Parameter(w.reshape(2 * m, fan_in, fan_out)))  # -> (2M, in, out)
            self.biases.append(nn.Parameter(b.reshape(2 * m, 1, fan_out)))  # -> (2M, 1, out)

    def forward(self, obs: torch.Tensor, action: torch.Tensor) -> torch.Tensor:
        """Both critics' values.

        Args:
            obs: Observations, shape ``(M, B, D)``, or ``(B, D)`` for one member.
            action: Actions in ``(-1, 1)``, shape ``(M, B, K)`` (or ``(B, K)``).

        Returns:
            ``(2, M, B)`` (or ``(2, B)``): row 0 is ``Q_1``, row 1 is ``Q_2``.

        Raises:
            TypeError: If ``obs`` or ``action`` is not a floating tensor (float64 is converted).
            ValueError: If the shapes do not fit the critics, the batch sizes differ, a batch is
                empty, or an entry is NaN or infinite.
        """
        dtype = self.weights[0].dtype
        x_obs = _with_members(obs, "obs", self.members, self.obs_dim, "D", dtype)
        x_act = _with_members(action, "action", self.members, self.act_dim, "K", dtype)
        if obs.ndim != action.ndim or x_obs.shape[1] != x_act.shape[1]:
            raise ValueError(
                "obs and action must have the same batch size and rank, got shapes "
                f"{tuple(obs.shape)} and {tuple(action.shape)}"
            )
        out = self._q(x_obs, x_act)
        return out[:, 0] if obs.ndim == 2 else out  # (2, 1, B) -> (2, B) for (B, D) inputs

    def _q(self, x_obs: torch.Tensor, x_act: torch.Tensor) -> torch.Tensor:
        """:meth:`forward` of checked ``(M, B, D)`` and ``(M, B, K)`` inputs, ``(2, M, B)``."""
        m, b = x_obs.shape[:2]
        x = torch.cat([x_obs, x_act], dim=-1).expand(2, -1, -1, -1)  # (M, B, F) -> (2, M, B, F)
        x = x.reshape(2 * m, b, -1)  # (2, M, B, F) -> (2M, B, F)
        out = _stacked_forward(x, self.weights, self.biases)  # (2M, B, F) -> (2M, B, 1)
        return out.view(2, m, b)  # (2M, B, 1) -> (2, M, B)


@torch.no_grad()
def polyak_update(target: nn.Module, online: nn.Module, tau: float) -> None:
    """Move the target network towards the online one: ``target <- (1 - tau) target + tau online``.

    This is the one function in the module that changes an argument in place, by design: the
    target network is state that the update owns. ``online`` is left untouched.

    Args:
        target: The slow copy, modified in place.
        online: The network being trained; same architecture.
        tau: Polyak rate in ``(0, 1]``; ``tau = 1`` copies ``online``.

    Raises:
        TypeError: If ``target`` or ``online`` is not an ``nn.Module`` or ``tau`` not a number.
        ValueError: If ``tau`` is outside ``(0, 1]`` or the networks' parameter shapes differ.

    Example:
        >>> a, b = nn.Linear(1, 1), nn.Linear(1, 1)
        >>> _ = a.weight.data.fill_(0.0); _ = b.weight.data.fill_(1.0)
        >>> polyak_update(a, b, tau=0.25); a.weight.item()
        0.25
    """
    check_module(target, "target")
    check_module(online, "online")
    tau = check_number(tau, "tau", low=0, high=1, low_inclusive=False)
    t_params, o_params = list(target.parameters()), list(online.parameters())
    if [p.shape for p in t_params] != [p.shape for p in o_params]:
        raise ValueError("target and online must have parameters of the same shapes")
    torch._foreach_lerp_(t_params, o_params, tau)


# ----------------------------------------------------------------------------------------------
# Replay buffer
# ----------------------------------------------------------------------------------------------


class Batch(NamedTuple):
    """A minibatch of transitions ``(s, a, r, s', done)``.

    Attributes:
        obs: ``(B, D)`` observations.
        action: ``(B, K)`` actions in ``(-1, 1)``.
        reward: ``(B,)`` rewards.
        next_obs: ``(B, D)`` next observations (the true last one at a time-limit truncation).
        done: ``(B,)`` 1.0 where the episode *terminated* (no bootstrap), 0.0 otherwise; a
            time-limit truncation is not a termination.
    """

    obs: torch.Tensor
    action: torch.Tensor
    reward: torch.Tensor
    next_obs: torch.Tensor
    done: torch.Tensor


class ReplayBuffer:
    """A ring buffer of transitions in preallocated tensors, sampled uniformly with replacement.

    With ``members > 1`` each stored row holds one transition per member (fields ``(N, M, D)``,
    ``(N, M)``, ...), rows are added as ``(B, M, ...)``, and :meth:`sample` draws each member's
    rows independently and returns them member-major, ``(M, B, ...)``, as the networks take them.

    Args:
        capacity: ``N``, the most rows kept; the oldest are overwritten first.
        obs_dim: Observation width ``D``.
        act_dim: Action dimensions ``K``.
        seed: Seed of the sampling generator.
        members: ``M``, the agents whose transitions each row holds.
        device: Where the tensors live (:func:`~companion.core.device.resolve_device`).

    Raises:
        TypeError: If a size, ``seed`` or ``members`` is not an int, or ``device`` not a device.
        ValueError: If a size or ``members`` is < 1, ``seed < 0`` or ``device`` is unknown.

    Example:
        >>> buf = ReplayBuffer(4, obs_dim=1, act_dim=1, seed=0)
        >>> buf.add(Batch(torch.zeros(3, 1), torch.zeros(3, 1), torch.arange(3.0),
        ...               torch.zeros(3, 1), torch.zeros(3)))
        >>> len(buf), buf.sample(2).reward.shape
        (3, torch.Size([2]))
    """

    def __init__(
        self,
        capacity: int,
        obs_dim: int,
        act_dim: int,
        *,
        seed: int,
        members: int = 1,
        device: torch.device | str | None = None,
    ) -> None:
        self.capacity = check_int(capacity, "capacity", minimum=1)
        check_int(obs_dim, "obs_dim", minimum=1)
        check_int(act_dim, "act_dim", minimum=1)
        check_int(seed, "seed", minimum=0)
        self.members = check_int(members, "members", minimum=1)
        device = resolve_device(device)
        n, row = self.capacity, ((members,) if members > 1 else ())
        self.storage = Batch(
            torch.zeros(n, *row, obs_dim, device=device),
            torch.zeros(n, *row, act_dim, device=device),
            torch.zeros(n, *row, device=device),
            torch.zeros(n, *row, obs_dim, device=device),
            torch.zeros(n, *row, device=device),
        )
        self.generator = torch.Generator(device=self.storage.obs.device).manual_seed(seed)
        self.position = 0  # next row to write
        self.size = 0

    def __len__(self) -> int:
        return self.size

    def add(self, transitions: Batch) -> None:
        """Append ``B`` transitions (copied; the caller's tensors are not kept).

        Raises:
            TypeError: If ``transitions`` is not a :class:`Batch` or a field is not a floating
                tensor.
            ValueError: If a field has the wrong shape, ``B`` is 0 or exceeds the capacity, a
                field holds NaN or infinite values, or ``done`` a value other than 0 and 1.
        """
        if not isinstance(transitions, Batch):
            raise TypeError(f"transitions must be a Batch, got {type(transitions).__name__}")
        check_tensor(transitions.obs, "transitions.obs")
        b = len(transitions.obs) if transitions.obs.ndim else 0
        if b == 0:
            raise ValueError("transitions must hold at least one row, got an empty Batch")
        if b > self.capacity:
            raise ValueError(f"transitions holds {b} rows, more than the capacity {self.capacity}")
        for name, value, store in zip(Batch._fields, transitions, self.storage, strict=True):
            check_tensor(value, f"transitions.{name}", ndim=store.ndim, floating=True)
            if value.shape[1:] != store.shape[1:] or len(value) != b:
                raise ValueError(
                    f"transitions.{name} must have shape {(b, *store.shape[1:])}, "
                    f"got {tuple(value.shape)}"
                )
            check_finite(value, f"transitions.{name}")
        _check_done(transitions.done, "transitions.done")
        self._add(transitions)

    def _add(self, transitions: Batch) -> None:
        """:meth:`add` without the checks, for rows that are correct by construction."""
        b = len(transitions.obs)
        rows = (self.position + torch.arange(b)) % self.capacity  # (B,) ring positions
        for value, store in zip(transitions, self.storage, strict=True):
            store[rows] = value.to(store.device, store.dtype)
        self.position = (self.position + b) % self.capacity
        self.size = min(self.size + b, self.capacity)

    def sample(self, batch_size: int) -> Batch:
        """Draw ``batch_size`` stored transitions uniformly, with replacement (per member).

        Returns:
            A :class:`Batch` of ``(B, ...)`` fields, or ``(M, B, ...)`` with ``members > 1``.

        Raises:
            ValueError: If ``batch_size < 1`` or the buffer is empty.
        """
        check_int(batch_size, "batch_size", minimum=1)
        if self.size == 0:
            raise ValueError("cannot sample from an empty replay buffer")
        dev = self.generator.device
        if self.members == 1:
            idx = torch.randint(self.size, (batch_size,), generator=self.generator, device=dev)
            return Batch(*(store[idx] for store in self.storage))
        idx = torch.randint(  # (M, B): each member's own rows
            self.size, (self.members, batch_size), generator=self.generator, device=dev
        )
        member = torch.arange(self.members, device=dev).unsqueeze(1)  # (M, 1)
        return Batch(*(store[idx, member] for store in self.storage))  # (N, M, ...) -> (M, B, ...)


# ----------------------------------------------------------------------------------------------
# The agent and its update
# ----------------------------------------------------------------------------------------------


def soft_q_target(
    reward: torch.Tensor,
    done: torch.Tensor,
    q_next: torch.Tensor,
    next_log_prob: torch.Tensor,
    *,
    gamma: float,
    alpha: float | torch.Tensor,
) -> torch.Tensor:
    """The soft Bellman target ``y = r + gamma (1 - done) (Q'(s', a') - alpha log pi(a'|s'))``.

    The soft Bellman backup of Haarnoja et al. 2018 (eqs. 2-3), with the soft value estimated from
    one sampled ``a' ~ pi(.|s')``. With ``alpha = 0`` it is the ordinary (DDPG/TD3) target.

    Args:
        reward: ``(B,)`` rewards.
        done: ``(B,)`` 1.0 where the episode terminated (no bootstrap), else 0.0.
        q_next: ``(B,)`` target-critic value of ``(s', a')``, already the minimum of the pair.
        next_log_prob: ``(B,)`` ``log pi(a'|s')``.
        gamma: Discount in ``[0, 1]``.
        alpha: Temperature ``>= 0``, a float or a tensor that broadcasts against ``reward``
            (one temperature per member, ``(M, 1)``, for ``(M, B)`` inputs).

    Returns:
        Targets, shaped like ``reward``. NaN or infinite rewards, values and log-probabilities
        propagate into the target, as in torch (:meth:`SACAgent.update` then stops on the loss).

    Raises:
        TypeError: If a tensor argument is not floating point, or ``gamma``/``alpha`` not a
            number (or ``alpha`` a floating tensor).
        ValueError: If the shapes differ, ``alpha`` would broadcast ``reward`` to another shape
            or is negative or not finite, ``done`` holds a value other than 0 and 1, or
            ``gamma`` is outside ``[0, 1]``.

    Example:
        >>> soft_q_target(torch.tensor([1.0]), torch.tensor([0.0]), torch.tensor([2.0]),
        ...               torch.tensor([-1.0]), gamma=0.5, alpha=0.5)
        tensor([2.2500])
    """
    check_number(gamma, "gamma", low=0, high=1)
    check_tensor(reward, "reward", floating=True)
    if isinstance(alpha, torch.Tensor):
        check_tensor(alpha, "alpha", floating=True)
        try:
            fits = torch.broadcast_shapes(alpha.shape, reward.shape) == reward.shape
        except RuntimeError:
            fits = False
        if not fits:
            raise ValueError(
                f"alpha must broadcast against reward {tuple(reward.shape)} without changing its "
                f"shape (a scalar, or (M, 1) for (M, B)), got {tuple(alpha.shape)}"
            )
        check_finite(alpha, "alpha")
        if bool((alpha < 0).any()):
            raise ValueError(f"alpha must be >= 0, got {float(alpha.min())}")
    else:
        check_number(alpha, "alpha", low=0)
    for name, value in (("done", done), ("q_next", q_next), ("next_log_prob", next_log_prob)):
        check_tensor(value, name, floating=True)
        check_same_shape(reward, "reward", value, name)
    _check_done(done, "done")
    return _soft_q_target(reward, done, q_next, next_log_prob, gamma, alpha)


def _check_done(done: torch.Tensor, name: str) -> None:
    """Termination flags are 0.0 or 1.0: any other value would scale the bootstrap."""
    if bool(((done != 0) & (done != 1)).any()):
        raise ValueError(f"{name} must hold only 0.0 and 1.0 (terminated or not)")


def _soft_q_target(reward, done, q_next, next_log_prob, gamma, alpha) -> torch.Tensor:
    """:func:`soft_q_target` of checked inputs."""
    return reward + gamma * (1.0 - done) * (q_next - alpha * next_log_prob)


def _adam(params, lr: float) -> torch.optim.Adam:
    """Adam, fused into one kernel where PyTorch offers that (a third of the step time on a CPU)."""
    params = list(params)
    fused = all(p.device.type in ("cpu", "cuda") for p in params)
    return torch.optim.Adam(params, lr=lr, fused=fused or None)


class SACAgent:
    """Actor, twin critics with target copies, temperature, and their optimisers.

    One agent, or a population of ``M`` independent members trained in one batched update
    (pass a list of seeds). Members share the network sizes and learning rates; each may have
    its own temperature setting (``autotune``, ``alpha``, ``target_entropy``), so SAC and its
    ``alpha = 0`` variant can train side by side.

    Args:
        obs_dim: Observation width ``D``.
        act_dim: Action dimensions ``K``.
        config: Hyper-parameters, or one :class:`SACConfig` per member.
        seed: Seeds the weight initialisation (the actor with ``seed``, the critics with
            ``seed + 1``) and the policy noise; a list gives one seed per member (member ``m``
            starts with the weights of a single agent seeded ``seed[m]``; the first seed seeds
            the noise).
        device: Where the networks live (:func:`~companion.core.device.resolve_device`).

    Raises:
        TypeError: If ``config`` is not a :class:`SACConfig` (or a list of them) or ``seed`` not
            an int (or a list of ints).
        ValueError: If a seed is negative, the lists of configs and seeds differ in length, or
            the members' configs differ in more than their temperature settings.

    Example:
        >>> agent = SACAgent(3, 1, SACConfig(hidden=8, batch_size=4), seed=0)
        >>> batch = Batch(torch.zeros(4, 3), torch.zeros(4, 1), torch.ones(4),
        ...               torch.zeros(4, 3), torch.zeros(4))
        >>> sorted(agent.update(batch))
        ['actor_loss', 'alpha', 'entropy', 'q_loss']
        >>> pair = SACAgent(3, 1, [SACConfig(hidden=8), SACConfig(hidden=8, autotune=False,
        ...                 alpha=0.0)], seed=[0, 0])
        >>> pair.alpha
        [1.0, 0.0]
    """

    def __init__(
        self,
        obs_dim: int,
        act_dim: int,
        config: SACConfig | Sequence[SACConfig] = SACConfig(),  # frozen: a shared default is safe
        *,
        seed: int | Sequence[int],
        device: torch.device | str | None = None,
    ) -> None:
        configs = list(config) if isinstance(config, list | tuple) else [config]
        for c in configs:
            if not isinstance(c, SACConfig):
                raise TypeError(f"config must be a SACConfig, got {type(c).__name__}")
        seeds = _member_seeds(seed)
        if len(configs) == 1:
            configs = configs * len(seeds)
        if len(configs) != len(seeds):
            raise ValueError(
                f"config and seed must list the same members, got {len(configs)} configs "
                f"and {len(seeds)} seeds"
            )
        shared = {replace(c, autotune=True, alpha=1.0, target_entropy=None) for c in configs}
        if len(shared) > 1:
            raise ValueError(
                "config: members may differ only in autotune, alpha and target_entropy"
            )
        self.config = cfg = configs[0]
        self.configs = tuple(configs)
        self.members = len(seeds)
        dev = resolve_device(device)
        seed_arg = seeds if isinstance(seed, list | tuple) else seeds[0]
        critic_seed = [s + 1 for s in seeds] if isinstance(seed, list | tuple) else seeds[0] + 1
        self.actor = SquashedGaussianActor(obs_dim, act_dim, cfg.hidden, seed=seed_arg).to(dev)
        self.qf = TwinQ(obs_dim, act_dim, cfg.hidden, seed=critic_seed).to(dev)
        self.qf_target = copy.deepcopy(self.qf).requires_grad_(False)
        self.updates = 0  # updates made so far: the step that check_finite_loss names
        self.generator = torch.Generator(device=dev).manual_seed(seeds[0])
        self.target_entropy = torch.tensor(  # (M,): -K nats unless the config says otherwise
            [-float(act_dim) if c.target_entropy is None else c.target_entropy for c in configs],
            device=dev,
        )
        self.tuned = torch.tensor([float(c.autotune) for c in configs], device=dev)  # (M,)
        self.fixed_alpha = torch.tensor([c.alpha for c in configs], device=dev)  # (M,)
        self.log_alpha = torch.tensor(  # (M,): the tuned temperatures are learned in log space
            [math.log(c.alpha) if c.autotune else 0.0 for c in configs],
            device=dev,
            requires_grad=any(c.autotune for c in configs),
        )
        self.actor_opt = _adam(self.actor.parameters(), cfg.policy_lr)
        self.q_opt = _adam(self.qf.parameters(), cfg.q_lr)
        self.alpha_opt = (
            _adam([self.log_alpha], cfg.alpha_lr) if self.log_alpha.requires_grad else None
        )

    def _alphas(self) -> torch.Tensor:
        """``(M,)`` temperatures: ``exp(log_alpha)`` where tuned, else the config's ``alpha``."""
        return torch.where(self.tuned > 0, self.log_alpha.detach().exp(), self.fixed_alpha)

    def _per_member(self, values: torch.Tensor) -> float | list[float]:
        return values.item() if self.members == 1 else values.tolist()

    @property
    def alpha(self) -> float | list[float]:
        """The current temperature (exactly ``config.alpha`` when it is not tuned); a list with
        one value per member for a population."""
        return self._per_member(self._alphas())

    @torch.no_grad()
    def act(self, obs: torch.Tensor) -> torch.Tensor:
        """Sample exploration actions in ``(-1, 1)``, ``(M, B, K)`` for ``(M, B, D)`` observations
        (``(B, K)`` for ``(B, D)``).

        Raises:
            TypeError: If ``obs`` is not a floating tensor (float64 is converted).
            ValueError: If ``obs`` does not fit the members and the actor, is empty, or holds
                NaN or infinite values.
        """
        return self.actor(obs, generator=self.generator)[0]

    def _batch(self, batch: object) -> Batch:
        """Check a batch against the members and networks; return it as ``(M, B, ...)`` fields."""
        if not isinstance(batch, Batch):
            raise TypeError(f"batch must be a Batch, got {type(batch).__name__}")
        m, dtype = self.members, self.actor.weights[0].dtype
        check_tensor(batch.obs, "batch.obs", floating=True)
        obs = _with_members(batch.obs, "batch.obs", m, self.actor.obs_dim, "D", dtype)
        action = _with_members(batch.action, "batch.action", m, self.actor.act_dim, "K", dtype)
        next_obs = _with_members(
            batch.next_obs, "batch.next_obs", m, self.actor.obs_dim, "D", dtype
        )
        scalars = []
        for name in ("reward", "done"):
            value = getattr(batch, name)
            check_tensor(value, f"batch.{name}", floating=True)
            want = tuple(batch.obs.shape[:-1])
            if tuple(value.shape) != want:
                raise ValueError(
                    f"batch.{name} must have shape {want} to match batch.obs "
                    f"{tuple(batch.obs.shape)}, got {tuple(value.shape)}"
                )
            scalars.append(value.to(dtype).view(obs.shape[:2]))  # (B,) -> (1, B) or same
        for name, x in (("action", action), ("next_obs", next_obs)):
            if x.shape[1] != obs.shape[1] or getattr(batch, name).ndim != batch.obs.ndim:
                raise ValueError(
                    f"batch.{name} must have the batch size and rank of batch.obs "
                    f"{tuple(batch.obs.shape)}, got {tuple(getattr(batch, name).shape)}"
                )
        _check_done(scalars[1], "batch.done")
        return Batch(obs, action, scalars[0], next_obs, scalars[1])

    def update(self, batch: Batch) -> dict[str, float | list[float]]:
        """One SAC step for every member: critics, then actor, then temperature, then targets.

        Critic target (:func:`soft_q_target`, with the clipped pair of Fujimoto et al. 2018):
        ``y = r + gamma (1 - done) [min_i Q'_i(s', a') - alpha log pi(a'|s')]``, ``a' ~ pi(.|s')``.
        Actor loss (Haarnoja et al. 2018, eq. 12, reparameterised):
        ``alpha log pi(f(eps; s)|s) - min_i Q_i(s, f(eps; s))``, differentiated through both the
        action and the log-density. With ``alpha = 0`` only the critic's pathwise gradient is
        left: DDPG's deterministic policy gradient for the mean, and the same reparameterised
        Q-gradient for the standard deviation (SVG(0) of Heess et al. 2015), which nothing then
        holds open. Temperature loss (Haarnoja et al. 2018b, section 5):
        ``-alpha (log pi + target_entropy)``. Each loss is a mean over the batch, summed over
        members, so each member gets exactly the gradient it would get alone.

        Args:
            batch: Transitions sampled from the replay buffer, ``(B, ...)`` fields for one
                member or ``(M, B, ...)`` for a population.

        Returns:
            ``{"q_loss", "actor_loss", "alpha", "entropy"}``, floats (lists of ``M`` floats for
            a population); ``entropy`` is the batch estimate ``-mean log pi(a|s)`` of the
            policy's entropy, in nats.

        Raises:
            TypeError: If ``batch`` is not a :class:`Batch` or a field is not a floating tensor.
            ValueError: If its fields do not fit the members and networks or one another (no
                broadcast of a batch of 1), a batch is empty, ``obs``/``action``/``next_obs``
                hold NaN or infinite values, or ``done`` a value other than 0 and 1.
            companion.core.training.NonFiniteLossError: If the critics' or the actor's loss is
                NaN or infinite (a NaN reward, a diverging critic), before any weight moves.
        """
        return self._update(self._batch(batch))

    def _update(self, batch: Batch) -> dict[str, float | list[float]]:
        """:meth:`update` of a checked batch with ``(M, B, ...)`` fields."""
        cfg = self.config
        obs, action, reward, next_obs, done = batch
        alpha = self._alphas().unsqueeze(1)  # (M,) -> (M, 1)

        with torch.no_grad():
            next_action, next_log_prob = self.actor._sample(next_obs, None, self.generator)
            q_next = self.qf_target._q(next_obs, next_action).min(dim=0).values  # (M, B)
            target = _soft_q_target(reward, done, q_next, next_log_prob, cfg.gamma, alpha)
        q = self.qf._q(obs, action)  # (2, M, B)
        q_losses = (q - target).square().mean(dim=2).sum(dim=0)  # (M,): each pair's MSEs, summed
        q_loss = q_losses.sum()
        check_finite_loss(q_loss.detach(), "critic loss", self.updates)
        self.q_opt.zero_grad(set_to_none=True)
        q_loss.backward()
        self.q_opt.step()

        action, log_prob = self.actor._sample(obs, None, self.generator)  # (M, B, K), (M, B)
        self.qf.requires_grad_(False)  # the actor's loss must not leave gradients in the critics
        q_pi = self.qf._q(obs, action).min(dim=0).values  # (M, B)
        self.qf.requires_grad_(True)
        actor_losses = (alpha * log_prob - q_pi).mean(dim=1)  # (M,)
        actor_loss = actor_losses.sum()
        check_finite_loss(actor_loss.detach(), "actor loss", self.updates)
        self.actor_opt.zero_grad(set_to_none=True)
        actor_loss.backward()
        self.actor_opt.step()

        if self.alpha_opt is not None:  # members with a fixed alpha get a zero gradient
            gap = (log_prob.detach() + self.target_entropy.unsqueeze(1)).mean(dim=1)  # (M,)
            alpha_loss = -(self.tuned * self.log_alpha.exp() * gap).sum()
            self.alpha_opt.zero_grad(set_to_none=True)
            alpha_loss.backward()
            self.alpha_opt.step()

        polyak_update(self.qf_target, self.qf, cfg.tau)
        self.updates += 1
        return {
            "q_loss": self._per_member(q_losses.detach()),
            "actor_loss": self._per_member(actor_losses.detach()),
            "alpha": self._per_member(alpha.squeeze(1)),
            "entropy": self._per_member(-log_prob.detach().mean(dim=1)),
        }


# ----------------------------------------------------------------------------------------------
# Training and evaluation on a gymnasium environment
# ----------------------------------------------------------------------------------------------


@dataclass
class SacHistory:
    """What :func:`train_sac` recorded for one agent (one member of a population).

    Attributes:
        agent: The trained agent (for a population, the shared :class:`SACAgent`).
        buffer: Its replay buffer, holding every transition collected.
        member: Which member of ``agent`` this history follows (0 for a single agent).
        episode_steps: Environment steps this member collected (over its parallel environments)
            when each of its training episodes ended.
        episode_returns: The undiscounted return of each training episode, same order.
        update_steps: Environment steps collected at each update.
        entropy: The batch entropy estimate ``-mean log pi`` at each update, in nats.
        alpha: The temperature used at each update.
        q_loss: The critics' loss at each update.
    """

    agent: SACAgent
    buffer: ReplayBuffer
    member: int = 0
    episode_steps: list[int] = field(default_factory=list)
    episode_returns: list[float] = field(default_factory=list)
    update_steps: list[int] = field(default_factory=list)
    entropy: list[float] = field(default_factory=list)
    alpha: list[float] = field(default_factory=list)
    q_loss: list[float] = field(default_factory=list)


def _vector_env(env_id: str, num_envs: int):
    import gymnasium as gym

    if not isinstance(env_id, str):
        raise TypeError(f"env_id must be a gymnasium environment id (str), got {env_id!r}")
    try:
        gym.spec(env_id)
    except gym.error.Error as err:
        raise ValueError(f"env_id {env_id!r} is not a registered gymnasium environment") from err
    return gym.vector.SyncVectorEnv(
        [lambda: gym.make(env_id)] * num_envs,
        autoreset_mode=gym.vector.AutoresetMode.SAME_STEP,
    )


def train_sac(
    config: SACConfig | Sequence[SACConfig],
    *,
    env_steps: int,
    num_envs: int = 1,
    seed: int | Sequence[int],
    env_id: str = "Pendulum-v1",
    device: torch.device | str | None = None,
    progress: bool = False,
) -> SacHistory | list[SacHistory]:
    """Train a :class:`SACAgent` (or a population of them) on a gymnasium box-action environment.

    Each iteration steps ``num_envs`` copies of the environment per member once (one action
    each), stores the transitions, and, once ``config.learning_starts`` transitions per member
    are stored, makes one :meth:`SACAgent.update` on a sampled batch. Before that, actions are
    uniform on ``(-1, 1)^K``, drawn from a generator seeded with the member's seed, so two
    members with the same seed collect the same warm-up transitions. A time-limit truncation
    stores the true last observation and does not stop the bootstrap.

    Args:
        config: Hyper-parameters, or one :class:`SACConfig` per member (they may differ only in
            their temperature settings).
        env_steps: Transitions to collect per member; a multiple of ``num_envs``.
        num_envs: Environments stepped side by side per member (a gymnasium ``SyncVectorEnv``).
        seed: Seeds the environments (``seed + i`` for copy ``i``), the agent and the buffer; a
            list trains one member per seed, each with its own environments.
        env_id: A gymnasium environment id.
        device: Where the networks and the buffer live.
        progress: Show a tqdm bar.

    Returns:
        A :class:`SacHistory`, or one per member (a list) when ``seed`` is a list.

    Raises:
        TypeError: If ``config`` is not a :class:`SACConfig` (or a list of them), a count or
            ``seed`` not an int (or a list of ints), ``progress`` not a bool or ``env_id`` not a
            str.
        ValueError: If ``env_steps`` is not a positive multiple of ``num_envs``, a seed < 0, the
            configs and seeds do not fit together (see :class:`SACAgent`), or ``env_id`` is
            not a registered gymnasium environment.
        companion.core.training.NonFiniteLossError: If a loss becomes NaN or infinite (a NaN
            reward, a diverging critic): training stops at that update.
    """
    configs = list(config) if isinstance(config, list | tuple) else [config]
    for c in configs:
        if not isinstance(c, SACConfig):
            raise TypeError(f"config must be a SACConfig, got {type(c).__name__}")
    check_int(num_envs, "num_envs", minimum=1)
    check_int(env_steps, "env_steps", minimum=num_envs)
    seeds = _member_seeds(seed)
    if env_steps % num_envs:
        raise ValueError(f"env_steps must be a multiple of num_envs={num_envs}, got {env_steps}")
    check_bool(progress, "progress")
    cfg = configs[0]
    m, e = len(seeds), num_envs
    envs = _vector_env(env_id, m * e)  # member-major: copy m * e + i is member m's copy i
    obs_dim = envs.single_observation_space.shape[0]
    act_dim = envs.single_action_space.shape[0]
    low, high = envs.single_action_space.low, envs.single_action_space.high
    agent = SACAgent(obs_dim, act_dim, config, seed=seed, device=device)
    dev = agent.generator.device
    buffer = ReplayBuffer(cfg.buffer_size, obs_dim, act_dim, seed=seeds[0], members=m, device=dev)
    warmup = [torch.Generator(device=dev).manual_seed(s) for s in seeds]
    logs = [SacHistory(agent, buffer, member=i) for i in range(m)]

    def as_float(x: np.ndarray) -> torch.Tensor:
        return torch.as_tensor(x, dtype=torch.float32, device=dev)

    def rows(x: torch.Tensor) -> torch.Tensor:
        """``(M, E, ...)`` -> the buffer's rows, ``(E, M, ...)`` (or ``(E, ...)`` for one)."""
        return x.transpose(0, 1) if m > 1 else x[0]

    obs, _ = envs.reset(seed=[s + i for s in seeds for i in range(e)])
    returns = np.zeros(m * e)
    steps = 0  # transitions collected per member
    for _ in tqdm(range(env_steps // e), disable=not progress, desc="SAC", leave=False):
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=dev)
        obs_t = obs_t.view(m, e, obs_dim)  # (M*E, D) -> (M, E, D)
        if steps < cfg.learning_starts:
            action = torch.stack(  # (M, E, K)
                [torch.rand((e, act_dim), generator=g, device=dev) * 2.0 - 1.0 for g in warmup]
            )
        else:
            action = agent.act(obs_t)  # (M, E, D) -> (M, E, K)
        flat_action = action.reshape(m * e, act_dim)  # (M, E, K) -> (M*E, K)
        next_obs, reward, terminated, truncated, info = envs.step(
            to_env_action(flat_action, low, high)
        )
        real_next = next_obs.copy()
        if "_final_obs" in info:
            for i in np.flatnonzero(info["_final_obs"]):
                real_next[i] = info["final_obs"][i]
        buffer._add(  # rows correct by construction; a NaN reward stops at the critic loss
            Batch(
                rows(obs_t),
                rows(action),
                rows(as_float(reward).view(m, e)),  # (M*E,) -> (M, E)
                rows(as_float(real_next).view(m, e, obs_dim)),  # (M*E, D) -> (M, E, D)
                rows(as_float(terminated).view(m, e)),  # (M*E,) -> (M, E)
            )
        )
        steps += e
        returns += reward
        for i in np.flatnonzero(terminated | truncated):
            logs[i // e].episode_steps.append(steps)
            logs[i // e].episode_returns.append(float(returns[i]))
            returns[i] = 0.0
        obs = next_obs
        if steps >= cfg.learning_starts:
            sampled = buffer.sample(cfg.batch_size)  # (B, ...) or (M, B, ...)
            stats = agent._update(  # (B, ...) -> (1, B, ...) for one member
                Batch(*(x.unsqueeze(0) for x in sampled)) if m == 1 else sampled
            )
            for i, log in enumerate(logs):
                log.update_steps.append(steps)
                for name in ("entropy", "alpha", "q_loss"):
                    value = stats[name]
                    getattr(log, name).append(value[i] if m > 1 else value)
    envs.close()
    return logs if isinstance(seed, list | tuple) else logs[0]


def evaluate_continuous_policy(
    policy: Callable[[torch.Tensor], torch.Tensor],
    *,
    episodes: int = 10,
    seed: int,
    members: int = 1,
    env_id: str = "Pendulum-v1",
    device: torch.device | str | None = None,
) -> np.ndarray:
    """Undiscounted returns of ``episodes`` episodes, run side by side, one per environment copy.

    Args:
        policy: Maps observations ``(B, D)`` (float32, on ``device``) to actions ``(B, K)`` in
            ``(-1, 1)``, e.g. :meth:`SquashedGaussianActor.mean_action`; with ``members > 1``,
            ``(M, B, D)`` to ``(M, B, K)``, one row per member.
        episodes: Number of episodes per member (and of environment copies).
        seed: Copy ``i`` is reset with ``seed + i``, the same starts for every member.
        members: ``M``, the policies evaluated at once.
        env_id: A gymnasium environment id.
        device: Where observations are placed before calling ``policy``.

    Returns:
        A float array of shape ``(episodes,)``, or ``(M, episodes)`` with ``members > 1``.

    Raises:
        TypeError: If ``policy`` is not callable, ``episodes``, ``seed`` or ``members`` not an
            int, or ``env_id`` not a str.
        ValueError: If ``episodes < 1``, ``members < 1``, ``seed < 0``, ``env_id`` is not a
            registered gymnasium environment, or the policy returns the wrong shape or an action
            outside ``[-1, 1]``.
    """
    check_callable(policy, "policy")
    check_int(episodes, "episodes", minimum=1)
    check_int(seed, "seed", minimum=0)
    m = check_int(members, "members", minimum=1)
    device = resolve_device(device)
    envs = _vector_env(env_id, m * episodes)
    low, high = envs.single_action_space.low, envs.single_action_space.high
    act_dim = envs.single_action_space.shape[0]
    obs, _ = envs.reset(seed=[seed + i for _ in range(m) for i in range(episodes)])
    returns = np.zeros(m * episodes)
    running = np.ones(m * episodes, dtype=bool)
    shape = (m, episodes) if m > 1 else (episodes,)
    while running.any():
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
        with torch.no_grad():
            action = policy(obs_t.view(*shape, -1))  # (M*E, D) -> (M, E, D), or (E, D)
        check_tensor(
            action,
            "policy(obs)",
            ndim=len(shape) + 1,
            dims="(M, B, K)" if m > 1 else "(B, K)",
            size={i: n for i, n in enumerate((*shape, act_dim))},
        )
        obs, reward, terminated, truncated, _ = envs.step(
            to_env_action(action.reshape(m * episodes, act_dim), low, high)  # -> (M*E, K)
        )
        returns += np.where(running, reward, 0.0)
        running &= ~(terminated | truncated)
    envs.close()
    return returns.reshape(shape)  # (M*E,) -> (M, E), or (E,)
