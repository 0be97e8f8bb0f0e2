"""Policy gradients through the score function: from a Gaussian toy to REINFORCE on CartPole.

The expected reward of a policy ``pi_theta`` is an integral over what the policy does,
``J(theta) = E_{tau ~ p(tau; theta)}[R(tau)]``. Its gradient is again an expectation, because
``grad p = p grad log p`` (the log-derivative or *score-function* identity):

    grad J(theta) = E[ grad log p(tau; theta) * R(tau) ]            (Williams 1992)

and the environment's dynamics drop out of ``grad log p(tau; theta)``, which is the sum of the
policy's ``grad log pi(a_t | s_t)``. This module holds the pieces the chapter *How does the score
function move a policy toward higher reward?* runs, in the order it runs them:

1. the two contract functions :func:`discounted_returns` and :func:`reinforce_loss`;
2. a Gaussian "policy" ``a ~ N(mu, sigma^2)`` with the reward ``R(a) = -(a - 3)^2``, whose gradient
   is known in closed form (:func:`score_function_gradient`, :func:`gaussian_ascent`);
3. a small tabular MDP with known dynamics, where ``log p(tau; theta)`` can be written out in full
   (:class:`TabularMDP`, :func:`trajectory_log_prob`, :func:`exact_expected_return`);
4. REINFORCE on gymnasium's ``CartPole-v1`` (:class:`PolicyGradientConfig`, :func:`train_reinforce`).

Shapes use the book's alphabet where it fits: ``B`` batch (episodes or independent repeats), ``T``
time steps, ``D`` observation width. Two letters are reinforcement learning's own: ``S`` states and
``A`` actions of a tabular MDP (``A`` is *not* anchors here), and ``N`` is the number of Monte Carlo
samples behind one estimate.

Convention:
    Gradients here point *uphill*: :func:`score_function_gradient` estimates ``+grad E[R]``, the
    direction of ascent, as in Williams (1992) and Sutton & Barto (2018, ch. 13).
    :func:`reinforce_loss` is the *negative* surrogate, so that a PyTorch optimiser, which
    minimises, ascends ``J`` (the same sign as CleanRL's and Spinning Up's ``pg_loss``).
"""

from __future__ import annotations

import contextlib
import math
from collections.abc import Iterator
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_finite,
    check_floating_dtype,
    check_generator,
    check_ids,
    check_int,
    check_module,
    check_number,
    check_same_shape,
    check_stochastic,
    check_tensor,
)
from companion.core.device import resolve_device, seeded
from companion.core.training import check_finite_loss, moving_average

__all__ = [
    "CARTPOLE_ID",
    "CARTPOLE_MAX_STEPS",
    "CARTPOLE_SOLVED_RETURN",
    "CARTPOLE_SOLVED_WINDOW",
    "TARGET",
    "CartPolePolicy",
    "EpisodeBatch",
    "GaussianAscentHistory",
    "PolicyGradientConfig",
    "ReinforceHistory",
    "TabularMDP",
    "discounted_returns",
    "evaluate_cartpole_policy",
    "exact_expected_return",
    "gaussian_analytic_gradient",
    "gaussian_ascent",
    "gaussian_expected_reward",
    "gaussian_score",
    "leave_one_out_baseline",
    "make_random_mdp",
    "per_episode_gradients",
    "quadratic_reward",
    "reinforce_loss",
    "rollout",
    "sample_trajectories",
    "score_function_gradient",
    "solved_at",
    "train_reinforce",
    "trajectory_log_prob",
]

# ----------------------------------------------------------------------------------------------
# Constants
# ----------------------------------------------------------------------------------------------

TARGET = 3.0  # the best action of the Gaussian toy, R(a) = -(a - TARGET)^2 (the question's example)

CARTPOLE_ID = "CartPole-v1"
CARTPOLE_MAX_STEPS = 500  # gymnasium's max_episode_steps for CartPole-v1 (its registration)
CARTPOLE_SOLVED_RETURN = 475.0  # gymnasium's reward_threshold for CartPole-v1 (its registration)
CARTPOLE_SOLVED_WINDOW = 100  # "average return over 100 consecutive episodes", the Gym convention


@dataclass(frozen=True)
class PolicyGradientConfig:
    """Hyper-parameters of REINFORCE on CartPole, sized to solve it in seconds on a CPU.

    Attributes:
        episodes_per_update: Complete episodes collected side by side (one vectorised
            environment) before each update. 16 lets one forward pass serve 16 episodes and
            gives the leave-one-out baseline 15 other episodes to average.
        updates: Number of gradient steps. 80 updates (1280 episodes) reached the solved level
            for every seed tried while the chapter was written; fewer left some seeds short.
        hidden: Width of the policy's one hidden layer. CartPole's 4-D observation needs little.
        lr: Adam learning rate. 1e-2 is large for deep RL but right for a 2-layer policy trained
            on whole-episode returns; 5e-3 had not solved CartPole after 1280 episodes.
        gamma: Discount of the returns. 0.99 keeps a 500-step horizon (effective horizon ~100)
            while down-weighting the truncation at step 500, which carries no bootstrap. Below 1
            the update is a biased surrogate for the undiscounted return that CartPole scores
            (and, lacking Sutton & Barto's ``gamma^t`` factor, not the discounted gradient
            either); the bias buys variance.
        baseline: Subtract :func:`leave_one_out_baseline` from the returns. On by default: the
            baseline is what the chapter's last section measures (it cuts the gradient variance).

    Raises:
        TypeError: If a count is not an int, a rate not a number, or ``baseline`` not a bool.
        ValueError: If ``episodes_per_update < 2`` (the leave-one-out baseline needs another
            episode), another count is < 1, ``lr <= 0`` or ``gamma`` lies outside ``[0, 1]``.

    Example:
        >>> PolicyGradientConfig(updates=10).episodes_per_update
        16
    """

    episodes_per_update: int = 16
    updates: int = 80
    hidden: int = 32
    lr: float = 1e-2
    gamma: float = 0.99
    baseline: bool = True

    def __post_init__(self) -> None:
        check_int(self.episodes_per_update, "episodes_per_update", minimum=2)
        check_int(self.updates, "updates", minimum=1)
        check_int(self.hidden, "hidden", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_number(self.gamma, "gamma", low=0, high=1)
        if not isinstance(self.baseline, bool):
            raise TypeError(f"baseline must be a bool, got {type(self.baseline).__name__}")


# ----------------------------------------------------------------------------------------------
# The contract: returns and the REINFORCE surrogate loss
# ----------------------------------------------------------------------------------------------


def discounted_returns(rewards: torch.Tensor, gamma: float) -> torch.Tensor:
    """Reward-to-go of every step, ``G_t = sum_{k >= 0} gamma^k r_{t+k}``.

    Computed as one product with the upper-triangular matrix ``M[t, k] = gamma^(k - t)`` for
    ``k >= t``: no Python loop over time, at ``O(T^2)`` memory (fine for ``T`` up to thousands).

    Args:
        rewards: ``(T,)`` rewards of one episode, or ``(B, T)`` for ``B`` episodes padded with
            zeros after their end (padding adds nothing to any return).
        gamma: Discount factor in ``[0, 1]``.

    Returns:
        Returns of the same shape, dtype and device as ``rewards``. A NaN or inf reward
        propagates, as in any torch product, to every return of its episode.

    Raises:
        TypeError: If ``rewards`` is not a floating-point tensor or ``gamma`` not a number.
        ValueError: If ``rewards`` is not 1-D or 2-D, or ``gamma`` lies outside ``[0, 1]``.

    Example:
        >>> discounted_returns(torch.tensor([1.0, 1.0, 1.0]), gamma=0.5)
        tensor([1.7500, 1.5000, 1.0000])
    """
    check_tensor(rewards, "rewards", floating=True)
    if rewards.ndim != 2:
        check_tensor(rewards, "rewards", ndim=1, dims="(T,) or (B, T)")
    gamma = check_number(gamma, "gamma", low=0.0, high=1.0)
    steps = torch.arange(rewards.shape[-1], device=rewards.device)
    lag = steps[None, :] - steps[:, None]  # (T, T): lag[t, k] = k - t
    base = torch.tensor(gamma, dtype=rewards.dtype, device=rewards.device)
    weights = torch.where(lag >= 0, base.pow(lag.clamp(min=0)), torch.zeros_like(base))  # (T, T)
    return rewards @ weights.T  # (..., T) @ (T, T) -> (..., T)


def reinforce_loss(
    log_probs: torch.Tensor,
    returns: torch.Tensor,
    baseline: torch.Tensor | float | None = None,
) -> torch.Tensor:
    """The REINFORCE surrogate ``-mean(log_probs * (returns - baseline))``.

    Its gradient is minus the score-function estimate of ``grad J``: the returns and the baseline
    are constants (detached), so only ``log_probs`` carries gradient, and minimising the loss
    ascends the expected return.

    Args:
        log_probs: ``log pi(a_t | s_t)`` of the actions taken, any shape (e.g. ``(T,)`` or the
            ``(B*T,)`` valid steps of a batch), differentiable in the policy's parameters.
        returns: The returns that followed each action, same shape as ``log_probs``.
        baseline: ``None`` (no baseline), a Python number, a 0-d tensor, or a tensor of the same
            shape as ``returns``. Never differentiated.

    Returns:
        A 0-d tensor. A NaN or inf in ``log_probs``, ``returns`` or ``baseline`` propagates to
        it, as in torch; :func:`train_reinforce` stops on it.

    Raises:
        TypeError: If an argument is not a floating-point tensor (or a number, for ``baseline``).
        ValueError: If shapes differ (no broadcasting) or ``log_probs`` is empty.

    Example:
        >>> logits = torch.zeros(2, requires_grad=True)
        >>> log_probs = torch.log_softmax(logits, dim=0)[torch.tensor([0, 0])]  # action 0 twice
        >>> reinforce_loss(log_probs, torch.tensor([1.0, 1.0])).backward()
        >>> logits.grad  # descending this raises the logit of the rewarded action
        tensor([-0.5000,  0.5000])
    """
    check_tensor(log_probs, "log_probs", floating=True)
    check_tensor(returns, "returns", floating=True)
    check_same_shape(log_probs, "log_probs", returns, "returns")
    if log_probs.numel() == 0:
        raise ValueError("log_probs must not be empty, got shape (0)")
    advantage = returns.detach()
    if baseline is not None:
        if isinstance(baseline, torch.Tensor):
            check_tensor(baseline, "baseline", floating=True)
            if baseline.ndim != 0:
                check_same_shape(returns, "returns", baseline, "baseline")
            advantage = advantage - baseline.detach()
        else:
            advantage = advantage - check_number(baseline, "baseline")
    return -(log_probs * advantage).mean()


# ----------------------------------------------------------------------------------------------
# A Gaussian "policy" with a known answer
# ----------------------------------------------------------------------------------------------


def quadratic_reward(actions: torch.Tensor, target: float = TARGET) -> torch.Tensor:
    """``R(a) = -(a - target)^2``: best at ``a = target``, the question's example.

    Args:
        actions: Actions of any shape, floating point.
        target: The best action.

    Returns:
        Rewards, same shape as ``actions``; a NaN or inf action propagates to its reward.

    Raises:
        TypeError: If ``actions`` is not a floating tensor or ``target`` not a number.
        ValueError: If ``target`` is not finite.

    Example:
        >>> quadratic_reward(torch.tensor([1.0, 3.0]))
        tensor([-4., -0.])
    """
    check_tensor(actions, "actions", floating=True)
    target = check_number(target, "target")
    return -((actions - target) ** 2)


def gaussian_expected_reward(mu: float, log_sigma: float, target: float = TARGET) -> float:
    """Closed form of ``E[R(a)]`` for ``a ~ N(mu, sigma^2)``: ``-(mu - target)^2 - sigma^2``.

    Args:
        mu: Mean of the policy.
        log_sigma: Log standard deviation of the policy.
        target: The best action of :func:`quadratic_reward`.

    Returns:
        The expected reward, a float.

    Raises:
        TypeError: If an argument is not a real number.
        ValueError: If an argument is not finite.

    Example:
        >>> gaussian_expected_reward(0.0, 0.0)
        -10.0
    """
    mu = check_number(mu, "mu")
    log_sigma = check_number(log_sigma, "log_sigma")
    target = check_number(target, "target")
    return -((mu - target) ** 2) - math.exp(2.0 * log_sigma)


def gaussian_analytic_gradient(mu: float, log_sigma: float, target: float = TARGET) -> torch.Tensor:
    """Exact ``grad E[R]`` with respect to ``(mu, log sigma)``: ``(-2 (mu - target), -2 sigma^2)``.

    Args:
        mu: Mean of the policy.
        log_sigma: Log standard deviation of the policy.
        target: The best action of :func:`quadratic_reward`.

    Returns:
        A float64 tensor of shape ``(2,)``.

    Raises:
        TypeError: If an argument is not a real number.
        ValueError: If an argument is not finite.

    Example:
        >>> gaussian_analytic_gradient(0.0, 0.0)
        tensor([ 6., -2.], dtype=torch.float64)
    """
    mu = check_number(mu, "mu")
    log_sigma = check_number(log_sigma, "log_sigma")
    target = check_number(target, "target")
    return torch.tensor(
        [-2.0 * (mu - target), -2.0 * math.exp(2.0 * log_sigma)], dtype=torch.float64
    )


def gaussian_score(actions: torch.Tensor, mu: float, log_sigma: float) -> torch.Tensor:
    """The score ``grad log N(a; mu, sigma^2)`` with respect to ``(mu, log sigma)``.

    ``d/dmu = (a - mu) / sigma^2`` and ``d/dlog sigma = ((a - mu) / sigma)^2 - 1``. Both have mean
    zero under the policy, which is why a constant baseline adds no bias.

    Args:
        actions: Actions of any shape ``(...)``.
        mu: Mean of the policy.
        log_sigma: Log standard deviation of the policy.

    Returns:
        ``(..., 2)``, same dtype and device as ``actions``; a NaN or inf action propagates to
        its score.

    Raises:
        TypeError: If ``actions`` is not a floating tensor or ``mu``/``log_sigma`` not a number.
        ValueError: If ``mu`` or ``log_sigma`` is not finite.

    Example:
        >>> gaussian_score(torch.tensor([1.0, 2.0]), mu=1.0, log_sigma=0.0)
        tensor([[ 0., -1.],
                [ 1.,  0.]])
    """
    check_tensor(actions, "actions", floating=True)
    mu = check_number(mu, "mu")
    sigma = math.exp(check_number(log_sigma, "log_sigma"))
    z = (actions - mu) / sigma
    return torch.stack([z / sigma, z**2 - 1.0], dim=-1)  # 2 x (...) -> (..., 2)


def leave_one_out_baseline(values: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
    """For each sample, the mean of the *other* samples along dimension 0.

    The plain batch mean includes a sample's own reward, so it is correlated with that sample's
    score and biases the estimate by a factor ``(N - 1) / N``; leaving the sample out removes the
    correlation and with it the bias.

    Args:
        values: ``(N, ...)`` rewards or returns; dimension 0 indexes independent samples.
        mask: Optional boolean ``(N, ...)``: which entries exist (e.g. time steps of an episode that
            has not ended). Missing entries are left out of every mean; where no other sample
            exists the baseline is 0.

    Returns:
        ``(N, ...)``, the baseline of every entry. A NaN or inf value propagates to the
        baselines of the other samples, as through any torch sum.

    Raises:
        TypeError: If ``values`` is not a floating tensor, or ``mask`` not a bool tensor.
        ValueError: If ``values`` has fewer than 2 samples or ``mask`` differs in shape.

    Example:
        >>> leave_one_out_baseline(torch.tensor([1.0, 2.0, 6.0]))
        tensor([4.0000, 3.5000, 1.5000])
    """
    check_tensor(values, "values", floating=True)
    if values.ndim == 0 or values.shape[0] < 2:
        raise ValueError(
            f"values needs at least 2 samples in dimension 0, got shape {values.shape}"
        )
    if mask is None:
        return (values.sum(0, keepdim=True) - values) / (values.shape[0] - 1)
    check_tensor(mask, "mask")
    check_same_shape(values, "values", mask, "mask")
    if mask.dtype != torch.bool:
        raise TypeError(f"mask must be a bool tensor, got {mask.dtype}")
    kept = torch.where(mask, values, torch.zeros_like(values))
    others = mask.sum(0, keepdim=True) - mask.to(values.dtype)
    total = kept.sum(0, keepdim=True) - kept
    return torch.where(others > 0, total / others.clamp(min=1), torch.zeros_like(values))


def score_function_gradient(
    mu: float,
    log_sigma: float,
    num_samples: int,
    *,
    num_repeats: int = 1,
    baseline: bool = False,
    target: float = TARGET,
    generator: torch.Generator | None = None,
) -> torch.Tensor:
    """Monte Carlo score-function estimates of ``grad E[R]`` for ``a ~ N(mu, sigma^2)``.

    Each estimate averages ``score(a_i) * (R(a_i) - b_i)`` over ``N = num_samples`` draws; with
    ``baseline=True``, ``b_i`` is the mean reward of the *other* draws
    (:func:`leave_one_out_baseline`), otherwise ``b_i = 0``. ``num_repeats`` independent estimates
    come out at once, for histograms of the estimator's spread.

    Args:
        mu: Mean of the policy.
        log_sigma: Log standard deviation of the policy.
        num_samples: Draws behind one estimate, at least 2.
        num_repeats: Independent estimates ``B``.
        baseline: Subtract the leave-one-out mean reward.
        target: The best action of :func:`quadratic_reward`.
        generator: Source of randomness (CPU).

    Returns:
        float64 ``(B, 2)``: estimates of ``(d/dmu, d/dlog sigma)`` of ``E[R]``.

    Raises:
        TypeError: If a number or count has the wrong type, ``baseline`` is not a bool or
            ``generator`` not a ``torch.Generator``.
        ValueError: If a number is not finite, ``num_samples < 2`` or ``num_repeats < 1``.

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> est = score_function_gradient(0.0, 0.0, 200_000, generator=g)
        >>> torch.allclose(est[0], gaussian_analytic_gradient(0.0, 0.0), rtol=0.05)
        True
    """
    mu = check_number(mu, "mu")
    log_sigma = check_number(log_sigma, "log_sigma")
    check_int(num_samples, "num_samples", minimum=2)
    check_int(num_repeats, "num_repeats", minimum=1)
    baseline = check_bool(baseline, "baseline")
    check_number(target, "target")
    check_generator(generator)
    noise = torch.randn(num_repeats, num_samples, generator=generator, dtype=torch.float64)
    actions = mu + math.exp(log_sigma) * noise  # (B, N)
    rewards = quadratic_reward(actions, target)  # (B, N)
    if baseline:
        rewards = rewards - leave_one_out_baseline(rewards.T).T  # (N, B) -> (B, N)
    return (gaussian_score(actions, mu, log_sigma) * rewards[..., None]).mean(1)  # (B, 2)


@dataclass
class GaussianAscentHistory:
    """What :func:`gaussian_ascent` recorded.

    Attributes:
        params: ``(steps + 1, 2)`` float64: ``(mu, log sigma)`` before each step and after the last.
        grads: ``(steps, 2)`` float64: the estimated gradient that made each step.
    """

    params: torch.Tensor
    grads: torch.Tensor


def gaussian_ascent(
    mu: float,
    log_sigma: float,
    *,
    steps: int,
    lr: float,
    num_samples: int,
    baseline: bool = True,
    target: float = TARGET,
    generator: torch.Generator | None = None,
) -> GaussianAscentHistory:
    """Stochastic gradient ascent on ``(mu, log sigma)`` driven by :func:`score_function_gradient`.

    Plain steps ``theta <- theta + lr * g_hat``: the iterative way to reach ``grad J = 0`` when
    ``J`` can only be sampled, never written down.

    Args:
        mu: Starting mean.
        log_sigma: Starting log standard deviation.
        steps: Number of steps.
        lr: Step size.
        num_samples: Draws per gradient estimate.
        baseline: Use the leave-one-out baseline.
        target: The best action.
        generator: Source of randomness.

    Returns:
        A :class:`GaussianAscentHistory`.

    Raises:
        TypeError: If a number or count has the wrong type, ``baseline`` is not a bool or
            ``generator`` not a ``torch.Generator``.
        ValueError: If a number is not finite, ``steps < 1``, ``lr <= 0`` or ``num_samples < 2``.
        companion.core.training.NonFiniteLossError: If a gradient estimate becomes NaN or
            infinite (the step is named).

    Example:
        >>> g = torch.Generator().manual_seed(0)
        >>> run = gaussian_ascent(0.0, 0.0, steps=100, lr=0.05, num_samples=100, generator=g)
        >>> abs(run.params[-1, 0].item() - 3.0) < 0.1
        True
    """
    theta = torch.tensor([check_number(mu, "mu"), check_number(log_sigma, "log_sigma")])
    theta = theta.double()
    check_int(steps, "steps", minimum=1)
    lr = check_number(lr, "lr", low=0, low_inclusive=False)
    check_int(num_samples, "num_samples", minimum=2)
    baseline = check_bool(baseline, "baseline")
    check_number(target, "target")
    check_generator(generator)
    params, grads = [theta], []
    for step in range(steps):
        g = score_function_gradient(
            float(theta[0]),
            float(theta[1]),
            num_samples,
            baseline=baseline,
            target=target,
            generator=generator,
        )[0]
        check_finite_loss(g.abs().sum(), "gradient estimate", step)
        theta = theta + lr * g
        params.append(theta)
        grads.append(g)
    return GaussianAscentHistory(torch.stack(params), torch.stack(grads))


# ----------------------------------------------------------------------------------------------
# A small MDP whose trajectory probability can be written out
# ----------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TabularMDP:
    """A finite-horizon MDP with known dynamics.

    Attributes:
        transitions: ``(S, A, S)``, ``transitions[s, a, s']`` = ``P(s' | s, a)``; rows sum to 1.
        rewards: ``(S, A)``, the reward of taking ``a`` in ``s``.
        initial: ``(S,)``, the distribution of the first state.
        horizon: Number of actions ``T`` per episode.

    Raises:
        TypeError: If a tensor is not floating point or ``horizon`` not an int.
        ValueError: If a shape does not fit ``(S, A, S)``, ``(S, A)``, ``(S,)``, a tensor is not
            finite, a row of ``transitions`` or ``initial`` is not a probability vector
            (negative entries, or not summing to 1 within 1e-6), or ``horizon < 1``.
    """

    transitions: torch.Tensor
    rewards: torch.Tensor
    initial: torch.Tensor
    horizon: int

    def __post_init__(self) -> None:
        check_tensor(self.transitions, "transitions", ndim=3, dims="(S, A, S)", floating=True)
        s, a, s2 = self.transitions.shape
        if s2 != s:
            raise ValueError(
                f"transitions must be (S, A, S), got shape {tuple(self.transitions.shape)}"
            )
        check_tensor(
            self.rewards, "rewards", ndim=2, dims="(S, A)", floating=True, size={0: s, 1: a}
        )
        check_tensor(self.initial, "initial", ndim=1, dims="(S,)", floating=True, size={0: s})
        check_stochastic(self.transitions, "transitions")
        check_finite(self.rewards, "rewards")
        check_stochastic(self.initial, "initial")
        check_int(self.horizon, "horizon", minimum=1)

    @property
    def num_states(self) -> int:
        """``S``."""
        return self.transitions.shape[0]

    @property
    def num_actions(self) -> int:
        """``A``."""
        return self.transitions.shape[1]


def make_random_mdp(
    num_states: int = 3,
    num_actions: int = 2,
    horizon: int = 5,
    *,
    generator: torch.Generator | None = None,
    dtype: torch.dtype = torch.float64,
) -> TabularMDP:
    """A random :class:`TabularMDP`: Dirichlet(1) transition rows, uniform rewards in ``[0, 1)``.

    Args:
        num_states: ``S``, >= 1.
        num_actions: ``A``, >= 1.
        horizon: Actions per episode ``T``, >= 1.
        generator: Source of randomness.
        dtype: Floating dtype of the tensors (float64 for exact gradient comparisons).

    Returns:
        The :class:`TabularMDP`; its initial distribution is Dirichlet(1) too.

    Raises:
        TypeError: If a size is not an int, ``generator`` not a ``torch.Generator`` or ``dtype``
            not a floating ``torch.dtype``.
        ValueError: If a size is < 1.

    Example:
        >>> mdp = make_random_mdp(generator=torch.Generator().manual_seed(0))
        >>> mdp.transitions.shape, bool(torch.allclose(mdp.transitions.sum(-1), torch.ones(3, 2,
        ...     dtype=torch.float64)))
        (torch.Size([3, 2, 3]), True)
    """
    s = check_int(num_states, "num_states", minimum=1)
    a = check_int(num_actions, "num_actions", minimum=1)
    check_int(horizon, "horizon", minimum=1)
    check_generator(generator)
    check_floating_dtype(dtype, "dtype")
    # -log(U) is Exp(1); normalised Exp(1) draws are Dirichlet(1, ..., 1).
    expo = -torch.log1p(-torch.rand(s, a, s, generator=generator, dtype=dtype))
    initial = -torch.log1p(-torch.rand(s, generator=generator, dtype=dtype))
    return TabularMDP(
        transitions=expo / expo.sum(-1, keepdim=True),
        rewards=torch.rand(s, a, generator=generator, dtype=dtype),
        initial=initial / initial.sum(),
        horizon=horizon,
    )


def _check_logits(mdp: TabularMDP, logits: torch.Tensor) -> None:
    if not isinstance(mdp, TabularMDP):
        raise TypeError(f"mdp must be a TabularMDP, got {type(mdp).__name__}")
    check_tensor(
        logits, "logits", ndim=2, dims="(S, A)", floating=True,
        size={0: mdp.num_states, 1: mdp.num_actions},
    )  # fmt: skip
    check_finite(logits, "logits")


def sample_trajectories(
    mdp: TabularMDP, logits: torch.Tensor, num_episodes: int, *, generator: torch.Generator | None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Run ``B`` episodes of a tabular softmax policy ``pi(a | s) = softmax(logits[s])[a]``.

    Vectorised over episodes; the loop runs over the ``T`` time steps only.

    Args:
        mdp: The MDP.
        logits: ``(S, A)`` policy logits.
        num_episodes: ``B``.
        generator: Source of randomness, on the logits' device.

    Returns:
        ``states (B, T + 1)`` and ``actions (B, T)``, int64.

    Raises:
        TypeError: If ``mdp`` is not a :class:`TabularMDP`, ``logits`` not a floating tensor,
            ``num_episodes`` not an int or ``generator`` not a ``torch.Generator``.
        ValueError: If ``logits`` is not ``(S, A)`` for this MDP or not finite, or
            ``num_episodes < 1``.

    Example:
        >>> mdp = make_random_mdp(horizon=4, generator=torch.Generator().manual_seed(0))
        >>> s, a = sample_trajectories(mdp, torch.zeros(3, 2, dtype=torch.float64), 5,
        ...                            generator=torch.Generator().manual_seed(1))
        >>> s.shape, a.shape
        (torch.Size([5, 5]), torch.Size([5, 4]))
    """
    _check_logits(mdp, logits)
    b = check_int(num_episodes, "num_episodes", minimum=1)
    check_generator(generator)
    probs = torch.softmax(logits.detach(), dim=-1)  # (S, A)
    state = torch.multinomial(mdp.initial.expand(b, -1), 1, generator=generator)[:, 0]  # (B,)
    states, actions = [state], []
    for _ in range(mdp.horizon):
        action = torch.multinomial(probs[state], 1, generator=generator)[:, 0]  # (B,)
        state = torch.multinomial(mdp.transitions[state, action], 1, generator=generator)[:, 0]
        actions.append(action)
        states.append(state)
    return torch.stack(states, 1), torch.stack(actions, 1)  # (B, T + 1), (B, T)


def trajectory_log_prob(
    mdp: TabularMDP,
    logits: torch.Tensor,
    states: torch.Tensor,
    actions: torch.Tensor,
    *,
    include_dynamics: bool = True,
    transitions: torch.Tensor | None = None,
) -> torch.Tensor:
    """``log p(tau; theta)`` of each trajectory, or only its policy terms.

    ``log p(tau) = log p0(s_0) + sum_t log pi(a_t | s_t) + sum_t log P(s_{t+1} | s_t, a_t)``. With
    ``include_dynamics=False`` only the middle sum is kept: what REINFORCE differentiates.

    Args:
        mdp: The MDP.
        logits: ``(S, A)`` policy logits, usually with ``requires_grad``.
        states: ``(B, T + 1)`` int64.
        actions: ``(B, T)`` int64.
        include_dynamics: Add the initial-state and transition terms.
        transitions: Optional ``(S, A, S)`` to use instead of ``mdp.transitions`` (e.g. a tensor
            with ``requires_grad``, to see that ``log p`` does depend on the dynamics).

    Returns:
        ``(B,)`` log-probabilities.

    Raises:
        TypeError: If ``mdp`` is not a :class:`TabularMDP`, ``logits`` or ``transitions`` is not
            floating, ``states``/``actions`` not signed integer tensors, or ``include_dynamics``
            not a bool.
        ValueError: If a shape does not fit the MDP, ``states`` is not ``(B, T + 1)``, a state
            lies outside ``[0, S)`` or an action outside ``[0, A)``, or ``logits`` is not finite.

    Example:
        >>> mdp = make_random_mdp(horizon=2, generator=torch.Generator().manual_seed(0))
        >>> logits = torch.zeros(3, 2, dtype=torch.float64)
        >>> s, a = torch.tensor([[0, 1, 2]]), torch.tensor([[1, 0]])
        >>> trajectory_log_prob(mdp, logits, s, a, include_dynamics=False)  # two coin flips
        tensor([-1.3863], dtype=torch.float64)
    """
    _check_logits(mdp, logits)
    check_tensor(states, "states", ndim=2, dims="(B, T + 1)", integer=True)
    check_tensor(actions, "actions", ndim=2, dims="(B, T)", integer=True)
    if states.shape[1] != actions.shape[1] + 1 or states.shape[0] != actions.shape[0]:
        raise ValueError(
            f"states must be (B, T + 1) for actions (B, T), got {tuple(states.shape)} and "
            f"{tuple(actions.shape)}"
        )
    check_ids(states, "states", mdp.num_states)  # a state of -1 would wrap to the last one
    check_ids(actions, "actions", mdp.num_actions)
    include_dynamics = check_bool(include_dynamics, "include_dynamics")
    log_pi = torch.log_softmax(logits, dim=-1)  # (S, A)
    policy_terms = log_pi[states[:, :-1], actions].sum(1)  # (B, T) -> (B,)
    if not include_dynamics:
        return policy_terms
    p = mdp.transitions if transitions is None else transitions
    check_tensor(p, "transitions", ndim=3, dims="(S, A, S)", floating=True)
    check_same_shape(p, "transitions", mdp.transitions, "mdp.transitions")
    dynamics_terms = torch.log(p[states[:, :-1], actions, states[:, 1:]]).sum(1)  # (B, T) -> (B,)
    return torch.log(mdp.initial[states[:, 0]]) + policy_terms + dynamics_terms


def exact_expected_return(mdp: TabularMDP, logits: torch.Tensor) -> torch.Tensor:
    """``J(theta) = E[sum_t r(s_t, a_t)]`` computed exactly, by pushing the state distribution.

    ``d_{t+1}(s') = sum_{s, a} d_t(s) pi(a | s) P(s' | s, a)``: differentiable in ``logits``, so
    autograd gives the exact policy gradient to compare estimates against.

    Args:
        mdp: The MDP.
        logits: ``(S, A)`` policy logits.

    Returns:
        A 0-d tensor.

    Raises:
        TypeError: If ``mdp`` is not a :class:`TabularMDP` or ``logits`` not a floating tensor.
        ValueError: If ``logits`` is not ``(S, A)`` for this MDP or not finite.

    Example:
        >>> mdp = make_random_mdp(generator=torch.Generator().manual_seed(0))
        >>> exact_expected_return(mdp, torch.zeros(3, 2, dtype=torch.float64)).shape
        torch.Size([])
    """
    _check_logits(mdp, logits)
    pi = torch.softmax(logits, dim=-1)  # (S, A)
    d = mdp.initial
    total = torch.zeros((), dtype=logits.dtype, device=logits.device)
    for _ in range(mdp.horizon):
        joint = d[:, None] * pi  # (S,) x (S, A) -> (S, A)
        total = total + (joint * mdp.rewards).sum()
        d = torch.einsum("sa,sat->t", joint, mdp.transitions)  # (S, A), (S, A, S) -> (S,)
    return total


# ----------------------------------------------------------------------------------------------
# REINFORCE on CartPole
# ----------------------------------------------------------------------------------------------


class CartPolePolicy(nn.Module):
    """A softmax policy: an MLP from observations ``(B, D)`` to action logits ``(B, A)``.

    Args:
        obs_dim: Observation width ``D`` (CartPole's is 4).
        num_actions: Number of discrete actions ``A``, >= 2.
        hidden: Width of the one hidden layer.
        seed: Seed of the initial weights (PyTorch's default initialisation, drawn inside
            :func:`~companion.core.device.seeded`).

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If a size is below its minimum or ``seed`` is negative.

    Example:
        >>> policy = CartPolePolicy(hidden=8, seed=0)
        >>> policy(torch.zeros(5, 4)).shape
        torch.Size([5, 2])
    """

    def __init__(
        self, obs_dim: int = 4, num_actions: int = 2, hidden: int = 32, *, seed: int
    ) -> None:
        super().__init__()
        check_int(obs_dim, "obs_dim", minimum=1)
        check_int(num_actions, "num_actions", minimum=2)
        check_int(hidden, "hidden", minimum=1)
        with seeded(seed):
            self.net = nn.Sequential(
                nn.Linear(obs_dim, hidden), nn.Tanh(), nn.Linear(hidden, num_actions)
            )

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        """Logits ``(..., A)`` of observations ``(..., D)``, any leading shape (as ``nn.Linear``).

        Observations of another floating dtype (numpy's float64) are converted to the policy's.
        A NaN or inf observation propagates to its logits, as through any torch module.

        Raises:
            TypeError: If ``obs`` is not a floating tensor.
            ValueError: If ``obs`` is 0-d or its last dimension is not the policy's ``D``.
        """
        if not isinstance(obs, torch.Tensor) or not obs.is_floating_point():
            check_tensor(obs, "obs", floating=True)  # raises, naming obs
        weight = self.net._modules["0"].weight  # (hidden, D), the first layer's
        if obs.ndim == 0 or obs.shape[-1] != weight.shape[1]:
            raise ValueError(
                f"obs must be (..., D) with D = {weight.shape[1]}, got shape {tuple(obs.shape)}"
            )
        return self.net(obs if obs.dtype == weight.dtype else obs.to(weight.dtype))


@dataclass
class EpisodeBatch:
    """``B`` complete episodes, padded to the longest, ``T`` steps.

    Attributes:
        obs: ``(B, T, D)`` observation before each action (padding: whatever came).
        actions: ``(B, T)`` int64.
        rewards: ``(B, T)``; zero after an episode's end.
        mask: ``(B, T)`` bool; True on the steps that belong to an episode.
    """

    obs: torch.Tensor
    actions: torch.Tensor
    rewards: torch.Tensor
    mask: torch.Tensor

    @property
    def episode_returns(self) -> torch.Tensor:
        """``(B,)`` undiscounted return of each episode."""
        return self.rewards.sum(1)


@contextlib.contextmanager
def _one_thread() -> Iterator[None]:
    """Run tiny per-step tensor ops on one thread, restoring the caller's setting afterwards.

    A rollout makes hundreds of forward passes on ``(16, 4)`` inputs. Measured on a loaded
    2-core machine, two intra-op threads made them about 15x slower than one: waking the second
    thread costs more than the arithmetic.
    """
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def _make_env(num_envs: int):
    import gymnasium as gym

    # gymnasium's native vectorised CartPole: one numpy step advances all copies.
    return gym.make_vec(CARTPOLE_ID, num_envs=num_envs, vectorization_mode="vector_entry_point")


@torch.no_grad()
def rollout(policy: nn.Module, env, *, generator: torch.Generator) -> EpisodeBatch:
    """Play one complete episode in every copy of a vectorised env, sampling from ``policy``.

    The env is reset first (unseeded: its own random stream continues) and stepped until every
    copy's episode has ended; a copy that ended early keeps stepping (gymnasium resets it) but
    those steps are masked out.

    Args:
        policy: Maps ``(B, D)`` float32 observations to logits ``(B, A)``.
        env: A gymnasium vector env with ``B`` copies and a discrete action space.
        generator: Samples the actions; on the policy's device.

    Returns:
        An :class:`EpisodeBatch` on the policy's device.

    Raises:
        TypeError: If ``policy`` is not an ``nn.Module``, ``env`` not a vector env (with
            ``reset``, ``step`` and ``num_envs``) or ``generator`` not a ``torch.Generator``.
    """
    check_module(policy, "policy")
    if not all(hasattr(env, attr) for attr in ("reset", "step", "num_envs")):
        raise TypeError(
            f"env must be a gymnasium vector env (reset, step, num_envs), got {type(env).__name__}"
        )
    check_generator(generator, optional=False)
    device = resolve_device(None, policy)
    obs, _ = env.reset()
    alive = np.ones(env.num_envs, dtype=bool)
    steps: list[tuple[torch.Tensor, torch.Tensor, np.ndarray, np.ndarray]] = []
    while alive.any():
        obs_t = torch.as_tensor(obs, dtype=torch.float32, device=device)
        probs = torch.softmax(policy(obs_t), dim=-1)  # (B, A)
        action = torch.multinomial(probs, 1, generator=generator)[:, 0]  # (B,)
        obs, reward, terminated, truncated, _ = env.step(action.cpu().numpy())
        steps.append((obs_t, action, reward * alive, alive.copy()))
        alive &= ~(terminated | truncated)
    obs_seq, act_seq, rew_seq, alive_seq = zip(*steps, strict=True)
    return EpisodeBatch(
        obs=torch.stack(obs_seq, 1),  # T x (B, D) -> (B, T, D)
        actions=torch.stack(act_seq, 1),  # T x (B,) -> (B, T)
        rewards=torch.as_tensor(np.stack(rew_seq, 1), dtype=torch.float32, device=device),
        mask=torch.as_tensor(np.stack(alive_seq, 1), device=device),  # (B, T)
    )


def _returns_and_baseline(
    batch: EpisodeBatch, gamma: float, baseline: bool
) -> tuple[torch.Tensor, torch.Tensor | None]:
    returns = discounted_returns(batch.rewards, gamma)  # (B, T)
    return returns, (leave_one_out_baseline(returns, batch.mask) if baseline else None)


def _check_batch(batch: EpisodeBatch) -> None:
    if not isinstance(batch, EpisodeBatch):
        raise TypeError(f"batch must be an EpisodeBatch, got {type(batch).__name__}")
    check_tensor(batch.obs, "batch.obs", ndim=3, dims="(B, T, D)", floating=True)
    check_tensor(batch.actions, "batch.actions", ndim=2, dims="(B, T)", integer=True)
    check_tensor(batch.rewards, "batch.rewards", ndim=2, dims="(B, T)", floating=True)
    check_tensor(batch.mask, "batch.mask", ndim=2, dims="(B, T)")
    if batch.mask.dtype != torch.bool:
        raise TypeError(f"batch.mask must be a bool tensor, got {batch.mask.dtype}")
    for name in ("actions", "rewards", "mask"):
        if getattr(batch, name).shape != batch.obs.shape[:2]:
            raise ValueError(
                f"batch.{name} must have batch.obs's (B, T) = {tuple(batch.obs.shape[:2])}, got "
                f"shape {tuple(getattr(batch, name).shape)}"
            )


def per_episode_gradients(
    policy: nn.Module, batch: EpisodeBatch, *, gamma: float, baseline: bool
) -> torch.Tensor:
    """Each episode's own REINFORCE estimate ``sum_t grad log pi(a_t|s_t) (G_t - b_t)``, flattened.

    Vectorised over episodes with ``torch.func.vmap``. The spread of these rows across episodes
    is the estimator's variance, with or without the baseline, on the *same* episodes.

    Args:
        policy: The policy that played ``batch``.
        batch: Episodes from :func:`rollout`.
        gamma: Discount of the returns.
        baseline: Subtract :func:`leave_one_out_baseline` (time-wise, over the other episodes).

    Returns:
        ``(B, P)``, ``P`` the number of policy parameters.

    Raises:
        TypeError: If ``policy`` is not an ``nn.Module``, ``batch`` not an :class:`EpisodeBatch`
            of floating ``obs`` and ``rewards``, integer ``actions`` and bool ``mask``, ``gamma``
            not a number or ``baseline`` not a bool.
        ValueError: If the fields of ``batch`` do not share ``(B, T)``, ``gamma`` lies outside
            ``[0, 1]``, or ``baseline`` is on with fewer than 2 episodes.
    """
    from torch.func import functional_call, grad, vmap

    check_module(policy, "policy")
    _check_batch(batch)
    baseline = check_bool(baseline, "baseline")
    check_number(gamma, "gamma", low=0.0, high=1.0)
    if baseline and batch.obs.shape[0] < 2:
        raise ValueError("batch must hold at least 2 episodes for the leave-one-out baseline")

    returns, base = _returns_and_baseline(batch, gamma, baseline)  # (B, T), (B, T) or None
    weights = (batch.mask * (returns if base is None else returns - base)).detach()  # (B, T)
    params = {k: v.detach() for k, v in policy.named_parameters()}

    def episode_objective(p, obs, actions, w):
        log_pi = torch.log_softmax(functional_call(policy, p, (obs,)), dim=-1)  # (T, A)
        return (log_pi.gather(-1, actions[:, None])[:, 0] * w).sum()

    grads = vmap(grad(episode_objective), in_dims=(None, 0, 0, 0))(
        params, batch.obs, batch.actions, weights
    )
    b = batch.obs.shape[0]
    return torch.cat([g.reshape(b, -1) for g in grads.values()], dim=1)  # (B, ...) -> (B, P)


@dataclass
class ReinforceHistory:
    """What :func:`train_reinforce` recorded.

    Attributes:
        policy: The trained policy.
        episode_returns: Undiscounted return of every training episode, in the order played.
        update_returns: Mean return of the episodes behind each update.
        variance_ratio: If measured, for each update: total variance of the per-episode gradient
            without the baseline divided by that with it, on the same episodes.
    """

    policy: CartPolePolicy
    episode_returns: list[float] = field(default_factory=list)
    update_returns: list[float] = field(default_factory=list)
    variance_ratio: list[float] = field(default_factory=list)


def train_reinforce(
    config: PolicyGradientConfig,
    *,
    seed: int,
    device: torch.device | str | None = None,
    measure_variance: bool = False,
    progress: bool = False,
) -> ReinforceHistory:
    """REINFORCE (Williams 1992) on ``CartPole-v1``, one update per batch of whole episodes.

    Each update plays ``config.episodes_per_update`` episodes side by side, computes discounted
    returns-to-go (not Williams's whole-episode return: the reward-to-go form of Sutton & Barto
    2018, §13.3, without their ``gamma^t`` factor), optionally subtracts :func:`leave_one_out_baseline` at each time step, and takes
    one Adam step on :func:`reinforce_loss` over all valid steps.

    Args:
        config: Hyper-parameters.
        seed: Seeds the policy's initial weights, the action sampling and the environments.
        device: Where the policy lives (default: the CPU).
        measure_variance: Also record :attr:`ReinforceHistory.variance_ratio` at every update.
        progress: Show a tqdm bar.

    Returns:
        A :class:`ReinforceHistory`.

    Raises:
        TypeError: If ``config`` is not a :class:`PolicyGradientConfig`, ``seed`` not an int, or
            ``measure_variance`` or ``progress`` not a bool.
        ValueError: If ``seed`` is negative.
        companion.core.training.NonFiniteLossError: If the REINFORCE loss becomes NaN or
            infinite (the update is named).

    Example:
        >>> run = train_reinforce(PolicyGradientConfig(episodes_per_update=4, updates=2), seed=0)
        >>> len(run.episode_returns)
        8
    """
    if not isinstance(config, PolicyGradientConfig):
        raise TypeError(f"config must be a PolicyGradientConfig, got {type(config).__name__}")
    check_int(seed, "seed", minimum=0)
    for name, flag in (("measure_variance", measure_variance), ("progress", progress)):
        if not isinstance(flag, bool):
            raise TypeError(f"{name} must be a bool, got {type(flag).__name__}")
    device = resolve_device(device)
    policy = CartPolePolicy(hidden=config.hidden, seed=seed).to(device)
    generator = torch.Generator(device=device).manual_seed(seed)
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    env = _make_env(config.episodes_per_update)
    env.reset(seed=seed)
    history = ReinforceHistory(policy)
    with _one_thread():
        for step in tqdm(
            range(config.updates), desc="REINFORCE", disable=not progress, leave=False
        ):
            batch = rollout(policy, env, generator=generator)
            if measure_variance:
                with_b = per_episode_gradients(policy, batch, gamma=config.gamma, baseline=True)
                without = per_episode_gradients(policy, batch, gamma=config.gamma, baseline=False)
                ratio = without.var(0).sum() / with_b.var(0).sum().clamp(min=1e-30)
                history.variance_ratio.append(float(ratio))
            returns, base = _returns_and_baseline(batch, config.gamma, config.baseline)
            logits = policy(batch.obs)  # (B, T, A)
            log_probs = torch.log_softmax(logits, -1).gather(-1, batch.actions[..., None])[..., 0]
            mask = batch.mask
            loss = reinforce_loss(
                log_probs[mask], returns[mask], None if base is None else base[mask]
            )
            check_finite_loss(loss.detach(), "REINFORCE loss", step)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            returns = batch.episode_returns.tolist()
            history.episode_returns.extend(returns)
            history.update_returns.append(float(np.mean(returns)))
    env.close()
    return history


def evaluate_cartpole_policy(
    policy: nn.Module, *, episodes: int = CARTPOLE_SOLVED_WINDOW, seed: int
) -> np.ndarray:
    """Undiscounted returns of fresh CartPole episodes, actions *sampled* from the policy.

    Args:
        policy: A trained :class:`CartPolePolicy` (any module mapping ``(B, 4)`` to logits).
        episodes: Number of episodes, played side by side.
        seed: Seeds the environments and the action sampling.

    Returns:
        A float array ``(episodes,)``.

    Raises:
        TypeError: If ``policy`` is not an ``nn.Module``, or ``episodes`` or ``seed`` not an int.
        ValueError: If ``episodes < 1`` or ``seed < 0``.
    """
    check_module(policy, "policy")
    check_int(episodes, "episodes", minimum=1)
    check_int(seed, "seed", minimum=0)
    device = resolve_device(None, policy)
    env = _make_env(episodes)
    env.reset(seed=seed)
    with _one_thread():
        batch = rollout(policy, env, generator=torch.Generator(device=device).manual_seed(seed))
    env.close()
    return batch.episode_returns.cpu().numpy().astype(float)


def solved_at(
    returns: np.ndarray | list[float],
    *,
    threshold: float = CARTPOLE_SOLVED_RETURN,
    window: int = CARTPOLE_SOLVED_WINDOW,
) -> int | None:
    """The number of episodes after which the running mean first reached ``threshold``, or None.

    The running mean is :func:`~companion.core.training.moving_average` over ``window`` episodes.

    Args:
        returns: Episode returns, in the order played, at least ``window`` of them.
        threshold: The solved level (gymnasium's ``reward_threshold`` for CartPole-v1).
        window: Number of consecutive episodes averaged (the Gym convention: 100).

    Returns:
        The count of episodes played when the mean of the last ``window`` first reached
        ``threshold``, or ``None`` if it never did.

    Raises:
        TypeError: If ``returns`` is not a sequence of numbers, ``threshold`` not a number or
            ``window`` not an int.
        ValueError: If ``returns`` is not 1-D, empty or not finite, or ``window`` is outside
            ``[1, len(returns)]``.

    Example:
        >>> solved_at([0.0, 500.0, 500.0], threshold=475.0, window=2)
        3
    """
    threshold = check_number(threshold, "threshold")
    if returns is None or isinstance(returns, (str, bytes)):
        raise TypeError(f"returns must be a sequence of numbers, got {type(returns).__name__}")
    try:
        values = np.asarray(returns, dtype=float)
    except (TypeError, ValueError) as err:
        raise TypeError(f"returns must be a sequence of numbers, got {returns!r:.60}") from err
    if values.ndim != 1 or values.size == 0:
        raise ValueError(f"returns must be a non-empty 1-D sequence, got shape {values.shape}")
    if not np.isfinite(values).all():
        raise ValueError("returns must be finite, got NaN or infinite entries")
    check_int(window, "window", minimum=1)
    if window > values.size:
        raise ValueError(f"window must be <= len(returns) = {values.size}, got {window}")
    means = moving_average(values, window)
    hits = np.flatnonzero(means >= threshold)
    return int(hits[0]) + window if hits.size else None
