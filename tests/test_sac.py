"""Tests for companion.sac: the squashed-Gaussian density, networks, buffer, update and training."""

from __future__ import annotations

import copy
import math
from dataclasses import replace

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.distributions import Normal, TanhTransform, TransformedDistribution

from companion.core.training import NonFiniteLossError
from companion.sac import (
    LOG_STD_MAX,
    LOG_STD_MIN,
    Batch,
    ReplayBuffer,
    SACAgent,
    SACConfig,
    SquashedGaussianActor,
    TwinQ,
    evaluate_continuous_policy,
    log_one_minus_tanh_sq,
    polyak_update,
    soft_q_target,
    tanh_gaussian_log_prob,
    to_env_action,
    train_sac,
)

F64 = torch.float64


@pytest.fixture(autouse=True)
def one_thread():
    """Tiny networks: a second intra-op thread only adds contention (25x slower on a busy CPU)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_tanh_normal(mean: torch.Tensor, log_std: torch.Tensor) -> TransformedDistribution:
    """The oracle: PyTorch's own squashed Gaussian (a Normal pushed through a TanhTransform)."""
    return TransformedDistribution(Normal(mean, log_std.exp()), [TanhTransform()])


def random_batch(b: int, obs_dim: int = 3, act_dim: int = 1, seed: int = 0) -> Batch:
    g = torch.Generator().manual_seed(seed)
    return Batch(
        torch.randn(b, obs_dim, generator=g),
        torch.rand(b, act_dim, generator=g) * 2 - 1,
        torch.randn(b, generator=g),
        torch.randn(b, obs_dim, generator=g),
        torch.zeros(b),
    )


# ----------------------------------------------------------------------------------------------
# The density
# ----------------------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 2**31 - 1), k=st.integers(1, 4))
def test_log_prob_matches_torch_transformed_distribution(seed, k):
    g = torch.Generator().manual_seed(seed)
    mean = torch.randn(16, k, generator=g, dtype=F64)
    log_std = torch.rand(16, k, generator=g, dtype=F64) * 2 - 1.5
    u = mean + log_std.exp() * torch.randn(16, k, generator=g, dtype=F64)
    u = u.clamp(-4, 4)  # where tanh(u) is not rounded to +-1, so torch's atanh is exact
    ours = tanh_gaussian_log_prob(u, mean, log_std)
    oracle = torch_tanh_normal(mean, log_std).log_prob(torch.tanh(u)).sum(-1)
    torch.testing.assert_close(ours, oracle, rtol=1e-9, atol=1e-9)


def test_log_prob_is_finite_and_exact_at_large_u():
    u = torch.tensor([[20.0], [-20.0], [60.0]])
    mean, log_std = torch.zeros_like(u), torch.zeros_like(u)
    naive = Normal(mean, 1.0).log_prob(u) - torch.log(1 - torch.tanh(u) ** 2)
    assert torch.isinf(naive).all()  # the form the contract forbids
    ours = tanh_gaussian_log_prob(u, mean, log_std)
    assert torch.isfinite(ours).all()
    # closed form: 1 - tanh(u)^2 = 4 / (e^u + e^-u)^2, so log = 2 log 2 - 2 logaddexp(u, -u)
    u64 = u.to(F64)
    exact = (
        -0.5 * u64**2
        - 0.5 * math.log(2 * math.pi)
        - (2 * math.log(2) - 2 * torch.logaddexp(u64, -u64))
    )
    torch.testing.assert_close(ours, exact.squeeze(-1).float())


@settings(max_examples=25, deadline=None)
@given(x=st.floats(-8, 8))
def test_log_one_minus_tanh_sq_matches_naive_and_is_even(x):
    u = torch.tensor([x, -x], dtype=F64)
    naive = torch.log(1 - torch.tanh(u) ** 2)
    torch.testing.assert_close(log_one_minus_tanh_sq(u), naive, rtol=1e-8, atol=1e-10)
    assert log_one_minus_tanh_sq(u)[0] == pytest.approx(log_one_minus_tanh_sq(u)[1].item())


def test_log_prob_integrates_to_one():
    # trapezoidal integral of exp(log pi(a)) over a in (-1, 1), through u = atanh(a)
    u = torch.linspace(-12, 12, 200_001, dtype=F64).unsqueeze(-1)
    mean, log_std = torch.full_like(u, 0.7), torch.full_like(u, math.log(1.3))
    density = tanh_gaussian_log_prob(u, mean, log_std).exp()  # density of a
    a = torch.tanh(u).squeeze(-1)
    assert torch.trapezoid(density, a).item() == pytest.approx(1.0, abs=1e-6)


def test_log_prob_gradcheck():
    g = torch.Generator().manual_seed(0)
    args = [torch.randn(4, 2, generator=g, dtype=F64, requires_grad=True) for _ in range(3)]
    assert torch.autograd.gradcheck(tanh_gaussian_log_prob, args)


def test_log_prob_gradient_wrt_log_std_is_not_zero_with_fixed_noise():
    # the reader's claim: with eps fixed, log pi does not depend on the parameters. It does:
    # d/d log_std of log pi(tanh(mean + std eps)) = -1 + 2 tanh(u) std eps, per dimension.
    eps = torch.randn(1000, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    mean = torch.zeros(1, 1, dtype=F64, requires_grad=True)
    log_std = torch.full((1, 1), -0.3, dtype=F64, requires_grad=True)
    u = mean + log_std.exp() * eps
    lp = tanh_gaussian_log_prob(u, mean.expand_as(u), log_std.expand_as(u)).mean()
    d_mean, d_log_std = torch.autograd.grad(lp, [mean, log_std])
    analytic = (-1 + 2 * torch.tanh(u) * log_std.exp() * eps).mean()
    torch.testing.assert_close(d_log_std.squeeze(), analytic.detach())
    torch.testing.assert_close(d_mean.squeeze(), (2 * torch.tanh(u)).mean().detach())
    assert d_log_std.abs().item() > 0.1


def test_log_prob_bad_input():
    x = torch.zeros(2, 1)
    with pytest.raises(ValueError, match="mean"):
        tanh_gaussian_log_prob(x, torch.zeros(2, 2), x)
    with pytest.raises(ValueError, match="log_std"):
        tanh_gaussian_log_prob(x, x, torch.zeros(1, 1))  # no silent broadcast
    with pytest.raises(TypeError, match="u"):
        tanh_gaussian_log_prob(torch.zeros(2, 1, dtype=torch.long), x, x)
    with pytest.raises(TypeError, match="mean"):
        tanh_gaussian_log_prob(x, [[0.0], [0.0]], x)
    with pytest.raises(ValueError, match="u"):
        tanh_gaussian_log_prob(torch.tensor(0.0), torch.tensor(0.0), torch.tensor(0.0))


def test_to_env_action_maps_the_ends_to_the_bounds():
    low, high = np.array([-2.0, 0.0], dtype=np.float32), np.array([2.0, 1.0], dtype=np.float32)
    out = to_env_action(torch.tensor([[-1.0, -1.0], [1.0, 1.0], [0.0, 0.0]]), low, high)
    np.testing.assert_allclose(out, [[-2, 0], [2, 1], [0, 0.5]])
    assert out.dtype == np.float32
    with pytest.raises(ValueError, match="action"):
        to_env_action(torch.zeros(2), low, high)


# ----------------------------------------------------------------------------------------------
# Networks
# ----------------------------------------------------------------------------------------------


def test_actor_log_prob_is_the_density_of_its_action():
    actor = SquashedGaussianActor(3, 2, hidden=16, seed=0).double()
    obs = torch.randn(32, 3, dtype=F64)
    action, log_prob = actor(obs, generator=torch.Generator().manual_seed(1))
    mean, log_std = actor.distribution(obs)
    oracle = torch_tanh_normal(mean, log_std).log_prob(action).sum(-1)
    torch.testing.assert_close(log_prob, oracle, rtol=1e-6, atol=1e-6)
    assert ((log_std > LOG_STD_MIN) & (log_std < LOG_STD_MAX)).all()
    assert (action.abs() < 1).all()


def test_actor_gradients_reach_mean_and_std_through_log_prob_and_action():
    actor = SquashedGaussianActor(3, 1, hidden=16, seed=0)
    obs = torch.randn(64, 3)
    eps = torch.randn(64, 1, generator=torch.Generator().manual_seed(0))
    last = actor.weights[-1]  # (M, hidden, 2K): columns [0, K) the mean, [K, 2K) the log-std

    action, log_prob = actor(obs, eps=eps)
    grad_lp = torch.autograd.grad(log_prob.mean(), last)[0][0]
    assert grad_lp[:, 0].abs().sum() > 0 and grad_lp[:, 1].abs().sum() > 0

    action, _ = actor(obs, eps=eps)
    grad_q = torch.autograd.grad((action - 0.3).square().mean(), last)[0][0]
    assert grad_q[:, 0].abs().sum() > 0 and grad_q[:, 1].abs().sum() > 0


def test_actor_fixed_noise_is_deterministic_and_generator_is_reproducible():
    actor = SquashedGaussianActor(3, 1, hidden=8, seed=0)
    obs = torch.randn(5, 3)
    a1, _ = actor(obs, generator=torch.Generator().manual_seed(3))
    a2, _ = actor(obs, generator=torch.Generator().manual_seed(3))
    torch.testing.assert_close(a1, a2)
    mean, _ = actor.distribution(obs)
    a0, _ = actor(obs, eps=torch.zeros(5, 1))
    torch.testing.assert_close(a0, torch.tanh(mean))
    torch.testing.assert_close(actor.mean_action(obs), torch.tanh(mean))


def test_actor_log_std_stays_inside_its_bounds_for_extreme_outputs():
    actor = SquashedGaussianActor(3, 1, hidden=8, seed=0)
    obs = torch.randn(4, 3, generator=torch.Generator().manual_seed(0))
    for raw in (1e4, -1e4):
        with torch.no_grad():
            actor.biases[-1][0, 0, 1] = raw  # column K: the log-std head
        _, log_std = actor.distribution(obs)
        assert ((log_std >= LOG_STD_MIN) & (log_std <= LOG_STD_MAX)).all()
        assert torch.isfinite(actor(obs, generator=torch.Generator().manual_seed(0))[1]).all()


def test_networks_weights_depend_on_the_seed_only():
    torch.rand(3)  # the global generator's state must not matter
    for make in (SquashedGaussianActor, TwinQ):
        a, b, c = make(3, 1, 8, seed=2), make(3, 1, 8, seed=2), make(3, 1, 8, seed=3)
        assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
        assert not torch.equal(next(a.parameters()), next(c.parameters()))


def test_actor_bad_input():
    actor = SquashedGaussianActor(3, 1, hidden=8, seed=0)
    with pytest.raises(ValueError, match="obs"):
        actor(torch.zeros(5, 4))
    with pytest.raises(ValueError, match="obs"):
        actor(torch.zeros(3))
    with pytest.raises(ValueError, match="eps"):
        actor(torch.zeros(5, 3), eps=torch.zeros(5, 2))
    with pytest.raises(ValueError, match="act_dim"):
        SquashedGaussianActor(3, 0, seed=0)


def test_twin_q_critics_are_independent_and_shaped():
    q = TwinQ(3, 1, hidden=16, seed=0)
    obs, act = torch.randn(7, 3), torch.rand(7, 1)
    values = q(obs, act)
    assert values.shape == (2, 7)
    assert not torch.allclose(values[0], values[1])  # two different initialisations
    values[0].sum().backward()  # Q_1 alone: no gradient may reach Q_2's weights
    for w in q.weights:
        assert w.grad[0].abs().sum() > 0 and w.grad[1].abs().sum() == 0


def test_twin_q_matches_a_plain_mlp_per_critic():
    q = TwinQ(3, 2, hidden=8, seed=0)
    x_obs, x_act = torch.randn(4, 3), torch.randn(4, 2)
    x = torch.cat([x_obs, x_act], -1)
    for i in range(2):
        h = torch.relu(x @ q.weights[0][i] + q.biases[0][i])
        h = torch.relu(h @ q.weights[1][i] + q.biases[1][i])
        torch.testing.assert_close(
            q(x_obs, x_act)[i], (h @ q.weights[2][i] + q.biases[2][i]).squeeze(-1)
        )


def test_twin_q_bad_input():
    q = TwinQ(3, 1, hidden=8, seed=0)
    with pytest.raises(ValueError, match="action"):
        q(torch.zeros(5, 3), torch.zeros(5, 2))
    with pytest.raises(ValueError, match="batch size"):
        q(torch.zeros(5, 3), torch.zeros(4, 1))


def test_polyak_update_moves_target_by_tau_and_leaves_online():
    target, online = TwinQ(3, 1, hidden=8, seed=0), TwinQ(3, 1, hidden=8, seed=1)
    before = [p.clone() for p in target.parameters()]
    online_before = [p.clone() for p in online.parameters()]
    polyak_update(target, online, tau=0.1)
    for t, t0, o in zip(target.parameters(), before, online.parameters(), strict=True):
        torch.testing.assert_close(t, 0.9 * t0 + 0.1 * o)
    for o, o0 in zip(online.parameters(), online_before, strict=True):
        assert torch.equal(o, o0)
    polyak_update(target, online, tau=1.0)
    for t, o in zip(target.parameters(), online.parameters(), strict=True):
        torch.testing.assert_close(t, o)


def test_polyak_update_bad_input():
    with pytest.raises(ValueError, match="tau"):
        polyak_update(TwinQ(3, 1, 8, seed=0), TwinQ(3, 1, 8, seed=0), tau=0.0)
    with pytest.raises(ValueError, match="tau"):
        polyak_update(TwinQ(3, 1, 8, seed=0), TwinQ(3, 1, 8, seed=0), tau=1.5)
    with pytest.raises(ValueError, match="same shapes"):
        polyak_update(TwinQ(3, 1, 8, seed=0), TwinQ(3, 1, 16, seed=0), tau=0.5)


# ----------------------------------------------------------------------------------------------
# Replay buffer
# ----------------------------------------------------------------------------------------------


def test_replay_buffer_ring_overwrites_oldest():
    buf = ReplayBuffer(5, obs_dim=1, act_dim=1, seed=0)
    for start in (0, 3, 6):
        r = torch.arange(start, start + 3, dtype=torch.float32)
        buf.add(Batch(r[:, None], r[:, None], r, r[:, None], torch.zeros(3)))
    assert len(buf) == 5
    assert sorted(buf.storage.reward.tolist()) == [4, 5, 6, 7, 8]  # 0..3 overwritten


def test_replay_buffer_samples_only_stored_rows_uniformly_and_reproducibly():
    buf = ReplayBuffer(100, obs_dim=2, act_dim=1, seed=0)
    r = torch.arange(4, dtype=torch.float32)
    buf.add(Batch(r[:, None].expand(4, 2), r[:, None], r, r[:, None].expand(4, 2), torch.zeros(4)))
    s = buf.sample(40_000)
    assert set(s.reward.unique().tolist()) == {0, 1, 2, 3}  # never an empty row
    assert torch.equal(s.obs[:, 0], s.reward) and torch.equal(
        s.action[:, 0], s.reward
    )  # rows intact
    freq = torch.bincount(s.reward.long(), minlength=4) / 40_000
    torch.testing.assert_close(freq, torch.full((4,), 0.25), atol=0.01, rtol=0)


def test_replay_buffer_sampling_is_fixed_by_its_seed():
    def filled(seed):
        buf = ReplayBuffer(100, obs_dim=3, act_dim=1, seed=seed)
        buf.add(random_batch(50))
        return buf

    assert torch.equal(filled(0).sample(20).reward, filled(0).sample(20).reward)
    assert not torch.equal(filled(0).sample(20).reward, filled(1).sample(20).reward)


def test_replay_buffer_copies_its_input():
    buf = ReplayBuffer(4, obs_dim=1, act_dim=1, seed=0)
    batch = random_batch(2, obs_dim=1)
    buf.add(batch)
    batch.reward.fill_(99.0)
    assert not (buf.storage.reward == 99.0).any()


def test_replay_buffer_bad_input():
    buf = ReplayBuffer(4, obs_dim=3, act_dim=1, seed=0)
    with pytest.raises(ValueError, match="empty"):
        buf.sample(2)
    with pytest.raises(TypeError, match="transitions"):
        buf.add((torch.zeros(1, 3),) * 5)
    bad = random_batch(2)._replace(action=torch.zeros(2, 2))
    with pytest.raises(ValueError, match=r"transitions\.action"):
        buf.add(bad)
    with pytest.raises(ValueError, match="capacity"):
        buf.add(random_batch(5))
    buf.add(random_batch(2))
    with pytest.raises(ValueError, match="batch_size"):
        buf.sample(0)
    with pytest.raises(ValueError, match="capacity"):
        ReplayBuffer(0, 3, 1, seed=0)


# ----------------------------------------------------------------------------------------------
# The update
# ----------------------------------------------------------------------------------------------


def test_soft_q_target_cases():
    r, q, lp = torch.tensor([1.0, 1.0]), torch.tensor([5.0, 5.0]), torch.tensor([-2.0, -2.0])
    done = torch.tensor([1.0, 0.0])
    y = soft_q_target(r, done, q, lp, gamma=0.9, alpha=0.5)
    torch.testing.assert_close(y, torch.tensor([1.0, 1 + 0.9 * (5 + 1.0)]))  # terminal: reward only
    y0 = soft_q_target(r, done, q, lp, gamma=0.9, alpha=0.0)
    torch.testing.assert_close(y0, torch.tensor([1.0, 1 + 0.9 * 5]))  # alpha = 0: DDPG's target
    with pytest.raises(ValueError, match="q_next"):
        soft_q_target(r, done, q[:1], lp, gamma=0.9, alpha=0.5)
    with pytest.raises(ValueError, match="gamma"):
        soft_q_target(r, done, q, lp, gamma=1.5, alpha=0.5)
    with pytest.raises(ValueError, match="alpha"):
        soft_q_target(r, done, q, lp, gamma=0.9, alpha=-1.0)


def test_update_moves_target_critics_by_tau():
    cfg = SACConfig(hidden=8, batch_size=16, tau=0.2)
    agent = SACAgent(3, 1, cfg, seed=0)
    target_before = [p.clone() for p in agent.qf_target.parameters()]
    agent.update(random_batch(16))
    for t, t0, o in zip(
        agent.qf_target.parameters(), target_before, agent.qf.parameters(), strict=True
    ):
        torch.testing.assert_close(t, 0.8 * t0 + 0.2 * o)


def test_update_changes_actor_and_critic_but_actor_loss_leaves_no_critic_gradient():
    agent = SACAgent(3, 1, SACConfig(hidden=8, batch_size=16), seed=0)
    actor0 = [p.clone() for p in agent.actor.parameters()]
    q0 = [p.clone() for p in agent.qf.parameters()]
    arrivals = [0] * len(q0)  # how many backward passes left a gradient in each critic weight
    for i, p in enumerate(agent.qf.parameters()):
        p.register_post_accumulate_grad_hook(
            lambda _, i=i: arrivals.__setitem__(i, arrivals[i] + 1)
        )
    stats = agent.update(random_batch(16))
    assert all(np.isfinite(list(stats.values())))
    assert any(
        not torch.equal(p, p0) for p, p0 in zip(agent.actor.parameters(), actor0, strict=True)
    )
    assert any(not torch.equal(p, p0) for p, p0 in zip(agent.qf.parameters(), q0, strict=True))
    assert arrivals == [1] * len(q0)  # the critics' own loss only; the actor's loss never
    assert all(p.requires_grad for p in agent.qf.parameters())  # restored after the actor step


@pytest.mark.parametrize("autotune", [True, False])
def test_update_losses_are_the_papers_formulas(autotune):
    """q_loss: clipped soft Bellman MSE (eqs. 2-3, min of the target pair); actor_loss: eq. 12."""
    cfg = SACConfig(hidden=8, batch_size=32, autotune=autotune, alpha=0.7, gamma=0.9)
    agent = SACAgent(3, 1, cfg, seed=1)
    batch = random_batch(32, seed=3)._replace(done=(torch.arange(32) % 3 == 0).float())
    actor0, qf0, target0 = (copy.deepcopy(m) for m in (agent.actor, agent.qf, agent.qf_target))
    noise = torch.Generator().set_state(agent.generator.get_state())
    with torch.no_grad():
        target0.weights[-1][1] += 0.5  # make the two target critics clearly different
        agent.qf_target.weights[-1][1] += 0.5
    alpha = agent.alpha
    stats = agent.update(batch)
    with torch.no_grad():
        next_a, next_lp = actor0(batch.next_obs, generator=noise)
        q_next = target0(batch.next_obs, next_a).min(dim=0).values
        y = batch.reward + 0.9 * (1 - batch.done) * (q_next - alpha * next_lp)
        q_loss = (qf0(batch.obs, batch.action) - y).square().mean(dim=1).sum()
        a, log_pi = actor0(batch.obs, generator=noise)
        actor_loss = (alpha * log_pi - agent.qf(batch.obs, a).min(dim=0).values).mean()
    assert stats["q_loss"] == pytest.approx(q_loss.item(), rel=1e-5)
    assert stats["actor_loss"] == pytest.approx(actor_loss.item(), rel=1e-5)
    assert stats["alpha"] == pytest.approx(alpha)


def test_update_stops_on_a_nan_reward_before_any_weight_moves():
    agent = SACAgent(3, 1, SACConfig(hidden=8, batch_size=4), seed=0)
    before = [p.clone() for p in agent.qf.parameters()]
    batch = random_batch(4)._replace(reward=torch.tensor([0.0, math.nan, 0.0, 0.0]))
    with pytest.raises(NonFiniteLossError, match="critic loss became nan at step 0"):
        agent.update(batch)
    assert all(torch.equal(p, p0) for p, p0 in zip(agent.qf.parameters(), before, strict=True))


def test_train_sac_stops_on_a_nan_reward(monkeypatch):
    import gymnasium as gym

    import companion.sac as sac

    def nan_reward_env(env_id, num_envs):
        make = lambda: gym.wrappers.TransformReward(gym.make(env_id), lambda r: math.nan)  # noqa: E731
        return gym.vector.SyncVectorEnv(
            [make] * num_envs, autoreset_mode=gym.vector.AutoresetMode.SAME_STEP
        )

    monkeypatch.setattr(sac, "_vector_env", nan_reward_env)
    cfg = SACConfig(hidden=8, batch_size=8, learning_starts=10)
    with pytest.raises(NonFiniteLossError, match="critic loss became nan at step 0"):
        train_sac(cfg, env_steps=30, seed=0)


@pytest.mark.parametrize(("target_entropy", "direction"), [(-100.0, -1), (100.0, 1)])
def test_temperature_moves_towards_the_entropy_target(target_entropy, direction):
    # entropy above the target -> alpha falls; below -> alpha rises (Haarnoja et al. 2018b, eq. 18)
    cfg = SACConfig(hidden=8, batch_size=16, target_entropy=target_entropy, alpha=0.5)
    agent = SACAgent(3, 1, cfg, seed=0)
    agent.update(random_batch(16))
    assert (agent.alpha - 0.5) * direction > 0
    assert agent.target_entropy == target_entropy
    assert SACAgent(3, 2, SACConfig(), seed=0).target_entropy == -2.0  # default: -K


def test_alpha_zero_keeps_the_temperature_at_zero():
    agent = SACAgent(3, 1, SACConfig(hidden=8, batch_size=16, autotune=False, alpha=0.0), seed=0)
    log_alpha = agent.log_alpha.clone()
    for _ in range(3):
        stats = agent.update(random_batch(16))
    assert stats["alpha"] == 0.0 and agent.alpha == 0.0
    assert torch.equal(agent.log_alpha, log_alpha) and not agent.log_alpha.requires_grad


def test_agent_bad_input():
    with pytest.raises(TypeError, match="config"):
        SACAgent(3, 1, {"hidden": 8}, seed=0)
    with pytest.raises(TypeError, match="batch"):
        SACAgent(3, 1, SACConfig(hidden=8), seed=0).update((torch.zeros(1),) * 5)
    with pytest.raises(ValueError, match="tau"):
        SACConfig(tau=0.0)
    with pytest.raises(ValueError, match="gamma"):
        SACConfig(gamma=1.5)
    with pytest.raises(ValueError, match="alpha"):
        SACConfig(alpha=-0.1)
    with pytest.raises(TypeError, match="autotune"):
        SACConfig(autotune="no")


def test_agent_seed_fixes_weights():
    a, b = SACAgent(3, 1, SACConfig(hidden=8), seed=4), SACAgent(3, 1, SACConfig(hidden=8), seed=4)
    for p, q in zip(a.actor.parameters(), b.actor.parameters(), strict=True):
        assert torch.equal(p, q)
    c = SACAgent(3, 1, SACConfig(hidden=8), seed=5)
    assert not torch.equal(next(a.actor.parameters()), next(c.actor.parameters()))


# ----------------------------------------------------------------------------------------------
# Training and evaluation on Pendulum-v1
# ----------------------------------------------------------------------------------------------


def test_train_sac_reaches_the_update_and_stores_true_last_observation():
    cfg = SACConfig(hidden=8, batch_size=16, learning_starts=380)
    log = train_sac(cfg, env_steps=420, num_envs=2, seed=0)
    assert log.update_steps[0] == 380 and len(log.update_steps) == 21
    assert log.episode_steps == [400, 400] and len(log.episode_returns) == 2
    assert all(r < 0 for r in log.episode_returns)  # Pendulum's rewards are costs
    assert np.isfinite(log.entropy).all() and np.isfinite(log.q_loss).all()


def test_train_sac_truncation_keeps_bootstrap_and_final_obs():
    # Pendulum's observation is (cos, sin, angular velocity): the stored next_obs must continue the
    # episode, and a time-limit truncation is not stored as done (the bootstrap goes on).
    log = train_sac(SACConfig(hidden=8, learning_starts=1000), env_steps=210, seed=0)
    assert log.update_steps == []  # still collecting
    s = log.buffer.storage
    assert len(log.buffer) == 210 and s.done[:210].sum() == 0
    torch.testing.assert_close(s.next_obs[:199], s.obs[1:200])  # consecutive within the episode
    assert not torch.allclose(s.next_obs[199], s.obs[200])  # obs[200] is the next episode's start
    # every stored next_obs, the truncated step 199 included, is Pendulum-v1's physics applied to
    # (obs, action): thdot' = clip(thdot + (3g/2l sin th + 3/(ml^2) u) dt, +-8), th' = th + thdot' dt
    # with g = 10, m = l = 1, dt = 0.05 and u = 2 * action (gymnasium's pendulum.py)
    cos, sin, thdot = s.obs[:210].double().unbind(-1)
    u = 2.0 * s.action[:210, 0].double()
    new_thdot = (thdot + (15.0 * sin + 3.0 * u) * 0.05).clamp(-8, 8)
    turn = new_thdot * 0.05
    physics = torch.stack(
        [cos * turn.cos() - sin * turn.sin(), sin * turn.cos() + cos * turn.sin(), new_thdot], -1
    )
    torch.testing.assert_close(s.next_obs[:210].double(), physics, rtol=0, atol=1e-4)
    assert (s.action[:210].abs() <= 1).all()


def test_train_sac_bad_input():
    with pytest.raises(ValueError, match="env_steps"):
        train_sac(SACConfig(), env_steps=7, num_envs=2, seed=0)
    with pytest.raises(ValueError, match="num_envs"):
        train_sac(SACConfig(), env_steps=8, num_envs=0, seed=0)
    with pytest.raises(TypeError, match="config"):
        train_sac({"hidden": 8}, env_steps=8, seed=0)
    with pytest.raises(TypeError, match="progress"):
        train_sac(SACConfig(), env_steps=8, seed=0, progress=1)


def test_evaluate_continuous_policy_is_seeded_and_rewards_are_costs():
    zero = lambda obs: torch.zeros(len(obs), 1)  # noqa: E731
    r1 = evaluate_continuous_policy(zero, episodes=3, seed=7)
    r2 = evaluate_continuous_policy(zero, episodes=3, seed=7)
    assert r1.shape == (3,) and np.array_equal(r1, r2)
    assert (r1 < 0).all()
    with pytest.raises(ValueError, match="policy"):
        evaluate_continuous_policy(lambda obs: torch.zeros(len(obs), 2), episodes=2, seed=0)
    with pytest.raises(ValueError, match="episodes"):
        evaluate_continuous_policy(zero, episodes=0, seed=0)


# ----------------------------------------------------------------------------------------------
# Populations: several agents trained side by side in one batched update
# ----------------------------------------------------------------------------------------------

SAC_CFG = SACConfig(hidden=8, batch_size=16, alpha=0.7)
ZERO_CFG = SACConfig(hidden=8, batch_size=16, autotune=False, alpha=0.0)


def population_batch(members: int, b: int = 16, seed: int = 0) -> Batch:
    singles = [random_batch(b, seed=seed + m) for m in range(members)]
    return Batch(
        *(torch.stack(f) for f in zip(*singles, strict=True))
    )  # M x (B, ...) -> (M, B, ...)


def test_population_members_start_as_the_single_agents_with_their_seeds():
    pop = SACAgent(3, 1, [SAC_CFG, ZERO_CFG], seed=[3, 5])
    for m, s in enumerate([3, 5]):
        single = SACAgent(3, 1, SAC_CFG, seed=s)
        for w, w1 in zip(pop.actor.weights, single.actor.weights, strict=True):
            assert torch.equal(w[m], w1[0])
        for w, w1 in zip(pop.qf.weights, single.qf.weights, strict=True):
            for c in range(2):  # critic-major: critic c of member m at c * M + m
                assert torch.equal(w[c * 2 + m], w1[c])
    assert pop.alpha == [pytest.approx(0.7), 0.0]


def test_population_forward_is_each_members_own_network():
    pop = SquashedGaussianActor(3, 1, hidden=8, seed=[0, 1])
    singles = [SquashedGaussianActor(3, 1, hidden=8, seed=s) for s in (0, 1)]
    obs, eps = torch.randn(2, 6, 3), torch.randn(2, 6, 1)
    action, log_prob = pop(obs, eps=eps)
    q_pop, q_singles = TwinQ(3, 1, 8, seed=[0, 1]), [TwinQ(3, 1, 8, seed=s) for s in (0, 1)]
    values = q_pop(obs, action)
    assert values.shape == (2, 2, 6)
    for m in range(2):
        a1, lp1 = singles[m](obs[m], eps=eps[m])
        torch.testing.assert_close(action[m], a1)
        torch.testing.assert_close(log_prob[m], lp1)
        torch.testing.assert_close(values[:, m], q_singles[m](obs[m], action[m]))
    with pytest.raises(ValueError, match="obs"):
        pop(torch.randn(6, 3))  # a population needs its (M, B, D) observations
    with pytest.raises(ValueError, match="obs"):
        pop(torch.randn(3, 6, 3))


def test_population_members_do_not_interact():
    # changing member 1's data (and its temperature setting) leaves member 0's update unchanged
    batch = population_batch(2)
    other = batch._replace(reward=torch.stack([batch.reward[0], batch.reward[1] + 5.0]))
    results = []
    for second, data in ((SAC_CFG, batch), (ZERO_CFG, other)):
        agent = SACAgent(3, 1, [SAC_CFG, second], seed=[0, 1])
        stats = agent.update(data)
        results.append((agent, stats))
    (a, sa), (b, sb) = results
    for p, q in zip(a.actor.weights, b.actor.weights, strict=True):
        torch.testing.assert_close(p[0], q[0], rtol=0, atol=0)
        assert not torch.equal(p[1], q[1])
    assert sa["q_loss"][0] == sb["q_loss"][0] and sa["q_loss"][1] != sb["q_loss"][1]
    assert sa["alpha"][0] == sb["alpha"][0] and sb["alpha"][1] == 0.0


def test_population_losses_are_each_members_formulas():
    agent = SACAgent(3, 1, [SAC_CFG, ZERO_CFG], seed=[1, 2])
    batch = population_batch(2, seed=4)
    actor0, qf0, target0 = (copy.deepcopy(m) for m in (agent.actor, agent.qf, agent.qf_target))
    noise = torch.Generator().set_state(agent.generator.get_state())
    alpha = torch.tensor([0.7, 0.0]).unsqueeze(1)  # (M, 1)
    stats = agent.update(batch)
    with torch.no_grad():
        next_a, next_lp = actor0(batch.next_obs, generator=noise)
        q_next = target0(batch.next_obs, next_a).min(dim=0).values
        y = batch.reward + 0.99 * (1 - batch.done) * (q_next - alpha * next_lp)
        q_loss = (qf0(batch.obs, batch.action) - y).square().mean(dim=2).sum(dim=0)
        a, log_pi = actor0(batch.obs, generator=noise)
        actor_loss = (alpha * log_pi - agent.qf(batch.obs, a).min(dim=0).values).mean(dim=1)
    assert stats["q_loss"] == pytest.approx(q_loss.tolist(), rel=1e-5)
    assert stats["actor_loss"] == pytest.approx(actor_loss.tolist(), rel=1e-5)
    assert agent.alpha[1] == 0.0 and agent.alpha[0] != pytest.approx(0.7)  # only member 0 tunes
    assert agent.log_alpha[1].item() == 0.0  # a fixed member's log-temperature never moves


def test_population_bad_input():
    with pytest.raises(ValueError, match="config"):
        SACAgent(3, 1, [SAC_CFG, SACConfig(hidden=16)], seed=[0, 1])
    with pytest.raises(ValueError, match="config and seed"):
        SACAgent(3, 1, [SAC_CFG, ZERO_CFG], seed=[0, 1, 2])
    with pytest.raises(ValueError, match="seed"):
        SACAgent(3, 1, SAC_CFG, seed=[])
    with pytest.raises(TypeError, match="config"):
        SACAgent(3, 1, [SAC_CFG, {"hidden": 8}], seed=[0, 1])
    with pytest.raises(ValueError, match="members"):
        ReplayBuffer(4, 3, 1, seed=0, members=0)
    with pytest.raises(ValueError, match="members"):
        evaluate_continuous_policy(lambda o: o[..., :1], episodes=2, seed=0, members=0)


def test_population_buffer_samples_each_members_own_rows_independently():
    buf = ReplayBuffer(100, obs_dim=1, act_dim=1, seed=0, members=3)
    r = torch.arange(50, dtype=torch.float32)
    member = torch.arange(3, dtype=torch.float32)
    value = r[:, None] * 10 + member  # row t, member m holds 10 t + m
    buf.add(Batch(value[..., None], value[..., None], value, value[..., None], torch.zeros(50, 3)))
    s = buf.sample(2000)
    assert s.obs.shape == (3, 2000, 1) and s.reward.shape == (3, 2000)
    assert torch.equal(s.reward % 10, member[:, None].expand(3, 2000))  # each member's own column
    assert torch.equal(s.obs[..., 0], s.reward) and torch.equal(s.next_obs[..., 0], s.reward)
    rows = s.reward // 10
    assert not torch.equal(rows[0], rows[1])  # independent draws per member
    assert set(rows[0].unique().tolist()) == set(range(50))


def test_train_sac_population_pairs_share_warmup_and_return_one_history_each():
    cfg = SACConfig(hidden=8, batch_size=8, learning_starts=1000)
    logs = train_sac([cfg, replace(cfg, autotune=False, alpha=0.0)], env_steps=30, seed=[4, 4])
    assert isinstance(logs, list) and [log.member for log in logs] == [0, 1]
    s = logs[0].buffer.storage
    assert s.obs.shape[1:] == (2, 3) and len(logs[0].buffer) == 30
    torch.testing.assert_close(s.obs[:30, 0], s.obs[:30, 1])  # same seed: same warm-up data
    torch.testing.assert_close(s.action[:30, 0], s.action[:30, 1])
    single = train_sac(cfg, env_steps=30, seed=4)
    torch.testing.assert_close(single.buffer.storage.obs[:30], s.obs[:30, 0])
    other = train_sac([cfg, cfg], env_steps=30, seed=[4, 5]).pop().buffer.storage
    assert not torch.allclose(other.action[:30, 0], other.action[:30, 1])


def test_evaluate_continuous_policy_gives_every_member_the_same_starts():
    zero = lambda obs: torch.zeros(*obs.shape[:-1], 1)  # noqa: E731
    r = evaluate_continuous_policy(zero, episodes=3, seed=7, members=2)
    assert r.shape == (2, 3) and np.array_equal(r[0], r[1])
    np.testing.assert_array_equal(r[0], evaluate_continuous_policy(zero, episodes=3, seed=7))
    with pytest.raises(ValueError, match="policy"):
        evaluate_continuous_policy(lambda o: torch.zeros(3, 1), episodes=3, seed=0, members=2)
