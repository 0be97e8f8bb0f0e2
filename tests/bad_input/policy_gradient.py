"""Bad-input cases for ``companion.policy_gradient``."""

from __future__ import annotations

import gymnasium as gym
import torch

from bad_input import Case
from companion import policy_gradient as pg

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
F64 = torch.float64
MU = {"mu:negative": "any real mean", "mu:zero": "any real mean"}
LOG_SIGMA = {"log_sigma:negative": "any real log standard deviation"}
TARGET = {"target:negative": "any real target"}


def _mdp() -> pg.TabularMDP:
    return pg.make_random_mdp(horizon=3, generator=torch.Generator().manual_seed(0))


def _policy() -> pg.CartPolePolicy:
    return pg.CartPolePolicy(hidden=8, seed=0)


def _episodes() -> pg.EpisodeBatch:
    env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1", max_episode_steps=5)] * 2)
    env.reset(seed=0)
    return pg.rollout(_policy(), env, generator=torch.Generator().manual_seed(0))


def _float_mask() -> pg.EpisodeBatch:
    b = _episodes()
    return pg.EpisodeBatch(b.obs, b.actions, b.rewards, b.mask.float())


def _env():
    env = gym.vector.SyncVectorEnv([lambda: gym.make("CartPole-v1", max_episode_steps=5)] * 2)
    env.reset(seed=0)
    return env


P = torch.full((3, 2, 3), 1 / 3, dtype=F64)
BAD_P = P.clone()
BAD_P[0, 0] = torch.tensor([-0.5, 1.0, 0.5], dtype=F64)
ROW2 = P.clone()
ROW2[0, 0] = torch.tensor([1.0, 0.5, 0.5], dtype=F64)

CASES = [
    Case(
        "companion.policy_gradient.EpisodeBatch",
        record="a record of padded episodes that "
        "rollout fills; per_episode_gradients checks its fields",
    ),
    Case("companion.policy_gradient.GaussianAscentHistory", record=RECORD),
    Case("companion.policy_gradient.ReinforceHistory", record=RECORD),
    Case(
        "companion.policy_gradient.CartPolePolicy",
        lambda: (pg.CartPolePolicy, dict(obs_dim=4, num_actions=2, hidden=8, seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.policy_gradient.CartPolePolicy.forward",
        lambda: (_policy().forward, dict(obs=torch.zeros(2, 4))),
        ok={
            "obs:float64": "converted to float32",
            "obs:rank+1": "(..., D): any leading shape, as nn.Linear",
            "obs:rank-1": "(..., D): one observation (D,) is a valid input, as for nn.Linear",
        },
    ),
    Case(
        "companion.policy_gradient.PolicyGradientConfig",
        lambda: (
            pg.PolicyGradientConfig,
            dict(episodes_per_update=4, updates=2, hidden=8, lr=0.01, gamma=0.99, baseline=True),
        ),
    ),
    Case(
        "companion.policy_gradient.TabularMDP",
        lambda: (
            pg.TabularMDP,
            dict(
                transitions=P.clone(),
                rewards=torch.zeros(3, 2, dtype=F64),
                initial=torch.full((3,), 1 / 3, dtype=F64),
                horizon=3,
            ),
        ),
        ok={
            "transitions:float32": "any floating dtype",
            "rewards:float32": "any floating dtype",
            "initial:float32": "any floating dtype",
            "rewards:negative": "rewards may be negative",
        },
        extra=[
            ("negative probability", "transitions", BAD_P, "transitions"),
            ("row sums to 2", "transitions", ROW2, "transitions"),
            ("initial sums to 2", "initial", torch.full((3,), 2 / 3, dtype=F64), "initial"),
        ],
    ),
    Case(
        "companion.policy_gradient.discounted_returns",
        lambda: (pg.discounted_returns, dict(rewards=torch.tensor([1.0, 1.0, 1.0]), gamma=0.5)),
        ok={
            "rewards:float64": FLOAT64,
            "rewards:rank+1": "(B, T) is allowed",
            "rewards:last-1": "T = 1",
        },
    ),
    Case(
        "companion.policy_gradient.evaluate_cartpole_policy",
        lambda: (pg.evaluate_cartpole_policy, dict(policy=_policy(), episodes=1, seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.policy_gradient.exact_expected_return",
        lambda: (pg.exact_expected_return, dict(mdp=_mdp(), logits=torch.zeros(3, 2, dtype=F64))),
        ok={"logits:float32": "promoted to the MDP's dtype"},
    ),
    Case(
        "companion.policy_gradient.gaussian_analytic_gradient",
        lambda: (pg.gaussian_analytic_gradient, dict(mu=0.5, log_sigma=0.0, target=3.0)),
        ok={**MU, **LOG_SIGMA, **TARGET},
    ),
    Case(
        "companion.policy_gradient.gaussian_ascent",
        lambda: (
            pg.gaussian_ascent,
            dict(
                mu=0.5,
                log_sigma=0.0,
                steps=2,
                lr=0.05,
                num_samples=4,
                baseline=True,
                target=3.0,
                generator=torch.Generator().manual_seed(0),
            ),
        ),
        ok={**MU, **LOG_SIGMA, **TARGET},
    ),
    Case(
        "companion.policy_gradient.gaussian_expected_reward",
        lambda: (pg.gaussian_expected_reward, dict(mu=0.5, log_sigma=0.0, target=3.0)),
        ok={**MU, **LOG_SIGMA, **TARGET},
    ),
    Case(
        "companion.policy_gradient.gaussian_score",
        lambda: (pg.gaussian_score, dict(actions=torch.tensor([1.0, 2.0]), mu=1.0, log_sigma=0.0)),
        ok={
            **MU,
            **LOG_SIGMA,
            "actions:float64": FLOAT64,
            "actions:rank+1": "any shape",
            "actions:rank-1": "any shape",
            "actions:empty": "any shape",
            "actions:last-1": "any shape",
        },
    ),
    Case(
        "companion.policy_gradient.leave_one_out_baseline",
        lambda: (
            pg.leave_one_out_baseline,
            dict(
                values=torch.tensor([[1.0, 2.0], [2.0, 0.0], [6.0, 1.0]]),
                mask=torch.ones(3, 2, dtype=torch.bool),
            ),
        ),
        ok={
            "values:float64": FLOAT64,
            "values:last-1": "(N, ...)",
            "mask:none": "None is the documented default: no mask",
        },
    ),
    Case(
        "companion.policy_gradient.make_random_mdp",
        lambda: (
            pg.make_random_mdp,
            dict(
                num_states=3,
                num_actions=2,
                horizon=3,
                generator=torch.Generator().manual_seed(0),
                dtype=F64,
            ),
        ),
        extra=[("integer dtype", "dtype", torch.int64, "dtype")],
    ),
    Case(
        "companion.policy_gradient.per_episode_gradients",
        lambda: (
            pg.per_episode_gradients,
            dict(policy=_policy(), batch=_episodes(), gamma=0.99, baseline=True),
        ),
        extra=[("float mask", "batch", _float_mask(), "batch.mask")],
    ),
    Case(
        "companion.policy_gradient.quadratic_reward",
        lambda: (pg.quadratic_reward, dict(actions=torch.tensor([1.0, 3.0]), target=3.0)),
        ok={
            **TARGET,
            "actions:float64": FLOAT64,
            "actions:rank+1": "any shape",
            "actions:rank-1": "any shape",
            "actions:empty": "any shape",
            "actions:last-1": "any shape",
        },
    ),
    Case(
        "companion.policy_gradient.reinforce_loss",
        lambda: (
            pg.reinforce_loss,
            dict(
                log_probs=torch.tensor([-0.5, -1.0]),
                returns=torch.tensor([1.0, 2.0]),
                baseline=None,
            ),
        ),
        ok={
            "log_probs:float64": FLOAT64,
            "returns:float64": FLOAT64,
            "log_probs:rank+1": "any shape, same for both",
            "returns:rank+1": "any shape",
            "baseline:int": "a Python number is a constant baseline (documented)",
        },
        extra=[
            ("baseline 'no'", "baseline", "no", "baseline"),
            ("baseline True", "baseline", True, "baseline"),
            ("baseline of another shape", "baseline", torch.zeros(3), "baseline"),
        ],
    ),
    Case(
        "companion.policy_gradient.rollout",
        lambda: (
            pg.rollout,
            dict(policy=_policy(), env=_env(), generator=torch.Generator().manual_seed(0)),
        ),
    ),
    Case(
        "companion.policy_gradient.sample_trajectories",
        lambda: (
            pg.sample_trajectories,
            dict(
                mdp=_mdp(),
                logits=torch.zeros(3, 2, dtype=F64),
                num_episodes=2,
                generator=torch.Generator().manual_seed(1),
            ),
        ),
        ok={"logits:float32": "any floating dtype"},
    ),
    Case(
        "companion.policy_gradient.score_function_gradient",
        lambda: (
            pg.score_function_gradient,
            dict(
                mu=0.5,
                log_sigma=0.0,
                num_samples=4,
                num_repeats=1,
                baseline=False,
                target=3.0,
                generator=torch.Generator().manual_seed(0),
            ),
        ),
        ok={**MU, **LOG_SIGMA, **TARGET},
    ),
    Case(
        "companion.policy_gradient.solved_at",
        lambda: (pg.solved_at, dict(returns=[0.0, 500.0, 500.0], threshold=475.0, window=2)),
        ok={
            "threshold:negative": "any level",
            "returns:negative": "returns may be negative in other environments",
            "returns:longer": "any number of episodes >= window",
        },
        extra=[("NaN return", "returns", [0.0, float("nan"), 500.0], "returns")],
    ),
    Case(
        "companion.policy_gradient.train_reinforce",
        lambda: (
            pg.train_reinforce,
            dict(
                config=pg.PolicyGradientConfig(episodes_per_update=2, updates=1, hidden=8),
                seed=0,
                device=None,
                measure_variance=False,
                progress=False,
            ),
        ),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.policy_gradient.trajectory_log_prob",
        lambda: (
            pg.trajectory_log_prob,
            dict(
                mdp=_mdp(),
                logits=torch.zeros(3, 2, dtype=F64),
                states=torch.tensor([[0, 1, 2, 0]]),
                actions=torch.tensor([[1, 0, 1]]),
                include_dynamics=True,
                transitions=None,
            ),
        ),
        ok={"logits:float32": "any floating dtype"},
    ),
]
