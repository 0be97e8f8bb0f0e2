"""Bad-input cases for ``companion.sac``."""

from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch import nn

from bad_input import Case
from companion import sac

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
CFG = sac.SACConfig(hidden=8, batch_size=4, learning_starts=4, buffer_size=64)


def _batch(b: int = 4, **over) -> sac.Batch:
    fields = dict(
        obs=torch.zeros(b, 3),
        action=torch.zeros(b, 1),
        reward=torch.ones(b),
        next_obs=torch.zeros(b, 3),
        done=torch.zeros(b),
    )
    fields.update(over)
    return sac.Batch(**fields)


def _agent() -> sac.SACAgent:
    return sac.SACAgent(3, 1, CFG, seed=0)


def _actor() -> sac.SquashedGaussianActor:
    return sac.SquashedGaussianActor(3, 1, hidden=8, seed=0)


BROADCAST = [
    ("reward batch 1", "batch", _batch(reward=torch.ones(1)), "reward"),
    ("next_obs batch 1", "batch", _batch(next_obs=torch.zeros(1, 3)), "next_obs"),
    ("done batch 1", "batch", _batch(done=torch.zeros(1)), "done"),
    ("done not 0/1", "batch", _batch(done=torch.full((4,), 2.0)), "done"),
    ("reward NaN", "batch", _batch(reward=torch.tensor([1.0, float("nan"), 1.0, 1.0])), "reward"),
    ("obs width", "batch", _batch(obs=torch.zeros(4, 2)), "obs"),
    ("action (B,)", "batch", _batch(action=torch.zeros(4)), "action"),
    ("reward (B, 1)", "batch", _batch(reward=torch.ones(4, 1)), "reward"),
    ("int obs", "batch", _batch(obs=torch.zeros(4, 3, dtype=torch.long)), "obs"),
    ("empty", "batch", _batch(0), "batch"),
    ("a tuple", "batch", tuple(_batch()), "batch"),
    ("wrong M", "batch", sac.Batch(*(x.expand(2, *x.shape) for x in _batch())), "obs"),
]
# ReplayBuffer.add names its own argument, transitions, where SACAgent.update names batch
ADD = [(lab, a, bad, "transitions" if name == "batch" else name) for lab, a, bad, name in BROADCAST]
POPULATION = [  # seed lists and per-member configs (SACAgent and train_sac)
    ("empty seed list", "seed", [], "seed"),
    ("negative seed in a list", "seed", [0, -1], "seed"),
    ("float seed in a list", "seed", [0, 1.5], "seed"),
    ("configs and seeds of different lengths", "config", [CFG, CFG, CFG], "config"),
    ("None among the configs", "config", [CFG, None], "config"),
    ("configs differ beyond temperature", "config", [CFG, replace(CFG, hidden=16)], "config"),
]

CASES = [
    Case(
        "companion.sac.Batch",
        record="a named tuple of tensors; ReplayBuffer.add and SACAgent.update check its fields",
    ),
    Case("companion.sac.SacHistory", record=RECORD),
    Case(
        "companion.sac.SACConfig",
        lambda: (
            sac.SACConfig,
            dict(
                hidden=8,
                gamma=0.99,
                tau=0.005,
                batch_size=4,
                policy_lr=1e-3,
                q_lr=1e-3,
                alpha_lr=1e-3,
                autotune=True,
                alpha=1.0,
                target_entropy=None,
                buffer_size=64,
                learning_starts=4,
            ),
        ),
        ok={
            "target_entropy:str": "covered by target_entropy:int? no",
            "target_entropy:int": "a number: any real target entropy",
            "learning_starts:zero": "updates may start at once",
        },
    ),
    Case(
        "companion.sac.ReplayBuffer",
        lambda: (
            sac.ReplayBuffer,
            dict(capacity=8, obs_dim=3, act_dim=1, seed=0, members=2, device=None),
        ),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.sac.ReplayBuffer.add",
        lambda: (sac.ReplayBuffer(8, 3, 1, seed=0).add, dict(transitions=_batch())),
        extra=[(label, "transitions", bad, name) for label, _, bad, name in ADD],
    ),
    Case(
        "companion.sac.ReplayBuffer.sample",
        lambda: (_full_buffer().sample, dict(batch_size=2)),
    ),
    Case(
        "companion.sac.SACAgent",
        lambda: (
            sac.SACAgent,
            dict(obs_dim=3, act_dim=1, config=[CFG, CFG], seed=[0, 1], device=None),
        ),
        ok={"seed:longer": "configs are per member; a list of one config would be shared"},
        extra=[
            *POPULATION,
            ("float seed", "seed", 1.5, "seed"),
            ("negative seed", "seed", -1, "seed"),
        ],
    ),
    Case(
        "companion.sac.SACAgent.act",
        lambda: (_agent().act, dict(obs=torch.zeros(2, 3))),
        ok={
            "obs:float64": "converted to the networks' float32",
            "obs:rank+1": "(1, B, D) is a population of one, as documented",
        },
        extra=[("wrong M", "obs", torch.zeros(2, 2, 3), "obs")],
    ),
    Case(
        "companion.sac.SACAgent.update",
        lambda: (_agent().update, dict(batch=_batch())),
        extra=BROADCAST,
    ),
    Case(
        "companion.sac.SquashedGaussianActor",
        lambda: (sac.SquashedGaussianActor, dict(obs_dim=3, act_dim=1, hidden=8, seed=[0, 1])),
        ok={"seed:longer": "a longer list is a larger population"},
        extra=[*POPULATION[:3], ("float seed", "seed", 1.5, "seed")],
    ),
    Case(
        "companion.sac.SquashedGaussianActor.distribution",
        lambda: (_actor().distribution, dict(obs=torch.zeros(2, 3))),
        ok={
            "obs:float64": "converted to the networks' float32",
            "obs:rank+1": "(1, B, D) is a population of one, as documented",
        },
        extra=[("wrong M", "obs", torch.zeros(2, 2, 3), "obs")],
    ),
    Case(
        "companion.sac.SquashedGaussianActor.forward",
        lambda: (
            _actor().forward,
            dict(obs=torch.zeros(2, 3), eps=torch.zeros(2, 1), generator=None),
        ),
        ok={
            "obs:float64": "converted to the networks' float32",
            "eps:float64": "converted to the networks' float32",
            "eps:none": "None draws the noise from generator (the default)",
        },
        extra=[("wrong M", "obs", torch.zeros(2, 2, 3), "obs")],
    ),
    Case(
        "companion.sac.SquashedGaussianActor.mean_action",
        lambda: (_actor().mean_action, dict(obs=torch.zeros(2, 3))),
        ok={
            "obs:float64": "converted to the networks' float32",
            "obs:rank+1": "(1, B, D) is a population of one, as documented",
        },
        extra=[("wrong M", "obs", torch.zeros(2, 2, 3), "obs")],
    ),
    Case(
        "companion.sac.TwinQ",
        lambda: (sac.TwinQ, dict(obs_dim=3, act_dim=1, hidden=8, seed=[0, 1])),
        ok={"seed:longer": "a longer list is a larger population"},
        extra=[*POPULATION[:3], ("float seed", "seed", 1.5, "seed")],
    ),
    Case(
        "companion.sac.TwinQ.forward",
        lambda: (
            sac.TwinQ(3, 1, hidden=8, seed=0).forward,
            dict(obs=torch.zeros(2, 3), action=torch.zeros(2, 1)),
        ),
        ok={
            "obs:float64": "converted to the networks' float32",
            "action:float64": "converted to the networks' float32",
        },
        extra=[("wrong M", "obs", torch.zeros(2, 2, 3), "obs")],
    ),
    Case(
        "companion.sac.evaluate_continuous_policy",
        lambda: (
            sac.evaluate_continuous_policy,
            dict(
                policy=_actor().mean_action,
                episodes=1,
                seed=0,
                members=1,
                env_id="Pendulum-v1",
                device=None,
            ),
        ),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.sac.log_one_minus_tanh_sq",
        lambda: (sac.log_one_minus_tanh_sq, dict(u=torch.tensor([0.0, 20.0]))),
        ok={
            "u:float64": FLOAT64,
            "u:rank+1": "elementwise, any shape",
            "u:rank-1": "elementwise, any shape",
            "u:empty": "elementwise, any shape",
            "u:last-1": "elementwise, any shape",
        },
    ),
    Case(
        "companion.sac.polyak_update",
        lambda: (
            polyak := (nn.Linear(1, 1), nn.Linear(1, 1)),
            (sac.polyak_update, dict(target=polyak[0], online=polyak[1], tau=0.25)),
        )[1],
        extra=[("other architecture", "online", nn.Linear(2, 1), "online")],
    ),
    Case(
        "companion.sac.soft_q_target",
        lambda: (
            sac.soft_q_target,
            dict(
                reward=torch.ones(4),
                done=torch.zeros(4),
                q_next=torch.full((4,), 2.0),
                next_log_prob=torch.full((4,), -1.0),
                gamma=0.5,
                alpha=0.5,
            ),
        ),
        ok={
            "reward:float64": FLOAT64,
            "done:float64": FLOAT64,
            "q_next:float64": FLOAT64,
            "next_log_prob:float64": FLOAT64,
        },
        extra=[
            ("alpha (B, 1)", "alpha", torch.full((4, 1), 0.5), "alpha"),
            ("alpha negative tensor", "alpha", torch.tensor(-0.5), "alpha"),
            ("done 2", "done", torch.full((4,), 2.0), "done"),
            ("done bool", "done", torch.zeros(4, dtype=torch.bool), "done"),
            ("alpha (B,) tensor", "alpha", torch.full((4,), -0.5), "alpha"),
            ("alpha NaN tensor", "alpha", torch.tensor(float("nan")), "alpha"),
        ],
    ),
    Case(
        "companion.sac.tanh_gaussian_log_prob",
        lambda: (
            sac.tanh_gaussian_log_prob,
            dict(u=torch.zeros(2, 1), mean=torch.zeros(2, 1), log_std=torch.zeros(2, 1)),
        ),
        ok={
            "u:float64": FLOAT64,
            "mean:float64": FLOAT64,
            "log_std:float64": FLOAT64,
            "u:rank+1": "(..., K)",
            "mean:rank+1": "(..., K)",
            "log_std:rank+1": "(..., K)",
        },
        extra=[("log_std -100", "log_std", torch.full((2, 1), -100.0), None)],
    ),
    Case(
        "companion.sac.to_env_action",
        lambda: (
            sac.to_env_action,
            dict(action=torch.tensor([[-1.0], [0.5]]), low=np.array([-2.0]), high=np.array([2.0])),
        ),
        ok={
            "action:float64": FLOAT64,
            "action:empty": "no actions in, a (0, K) array out",
        },
        extra=[
            ("bounds of length 2", "low", np.array([-2.0, -2.0]), "low"),
            ("low > high", "low", np.array([3.0]), "low"),
            ("action outside [-1, 1]", "action", torch.tensor([[-3.0], [0.5]]), "action"),
        ],
    ),
    Case(
        "companion.sac.train_sac",
        lambda: (
            sac.train_sac,
            dict(
                config=CFG,
                env_steps=6,
                num_envs=1,
                seed=0,
                env_id="Pendulum-v1",
                device=None,
                progress=False,
            ),
        ),
        ok={"seed:zero": "seed 0"},
        extra=POPULATION,
    ),
]


def _full_buffer() -> sac.ReplayBuffer:
    buf = sac.ReplayBuffer(8, 3, 1, seed=0)
    buf.add(_batch())
    return buf
