"""Tests of companion.policy_gradient: returns, the REINFORCE loss, the estimators, MDP, CartPole."""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.core.training import NonFiniteLossError
from companion.policy_gradient import (
    CARTPOLE_MAX_STEPS,
    CartPolePolicy,
    EpisodeBatch,
    PolicyGradientConfig,
    TabularMDP,
    _make_env,
    _one_thread,
    discounted_returns,
    evaluate_cartpole_policy,
    exact_expected_return,
    gaussian_analytic_gradient,
    gaussian_ascent,
    gaussian_expected_reward,
    gaussian_score,
    leave_one_out_baseline,
    make_random_mdp,
    per_episode_gradients,
    quadratic_reward,
    reinforce_loss,
    rollout,
    sample_trajectories,
    score_function_gradient,
    solved_at,
    train_reinforce,
    trajectory_log_prob,
)

# ----------------------------------------------------------------------------------------------
# discounted_returns
# ----------------------------------------------------------------------------------------------


def returns_by_loop(rewards: list[float], gamma: float) -> list[float]:
    out, g = [], 0.0
    for r in reversed(rewards):
        g = r + gamma * g
        out.append(g)
    return out[::-1]


@settings(max_examples=25, deadline=None)
@given(
    rewards=st.lists(st.floats(-10, 10), min_size=0, max_size=40),
    gamma=st.floats(0.0, 1.0),
)
def test_discounted_returns_match_a_direct_loop(rewards, gamma):
    got = discounted_returns(torch.tensor(rewards, dtype=torch.float64), gamma)
    want = torch.tensor(returns_by_loop(rewards, gamma), dtype=torch.float64)
    torch.testing.assert_close(got, want, rtol=1e-10, atol=1e-10)


def test_discounted_returns_extremes_pin_the_convention():
    r = torch.tensor([1.0, 2.0, 3.0])
    torch.testing.assert_close(discounted_returns(r, 0.0), r)  # gamma = 0: only the reward now
    torch.testing.assert_close(discounted_returns(r, 1.0), torch.tensor([6.0, 5.0, 3.0]))
    # G_t starts with r_t itself (weight gamma^0 = 1), not with r_{t+1}
    assert discounted_returns(torch.tensor([0.0, 0.0, 1.0]), 0.5)[0].item() == 0.25


def test_discounted_returns_batch_rows_and_zero_padding():
    gen = torch.Generator().manual_seed(0)
    rewards = torch.rand(4, 7, generator=gen)
    rewards[1, 3:] = 0.0  # an episode that ended after 3 steps, padded
    batch = discounted_returns(rewards, 0.9)
    for row in range(4):
        torch.testing.assert_close(batch[row], discounted_returns(rewards[row], 0.9))
    torch.testing.assert_close(batch[1, :3], discounted_returns(rewards[1, :3], 0.9))


def test_discounted_returns_keeps_dtype_and_does_not_modify_input():
    r = torch.ones(5, dtype=torch.float16)
    before = r.clone()
    out = discounted_returns(r, 0.5)
    assert out.dtype == torch.float16 and torch.equal(r, before)


@pytest.mark.parametrize("gamma", [-0.1, 1.5, math.nan])
def test_discounted_returns_rejects_bad_gamma(gamma):
    with pytest.raises(ValueError, match="gamma"):
        discounted_returns(torch.ones(3), gamma)


def test_discounted_returns_rejects_bad_rewards():
    with pytest.raises(TypeError, match="rewards"):
        discounted_returns(torch.ones(3, dtype=torch.int64), 0.9)
    with pytest.raises(ValueError, match="rewards"):
        discounted_returns(torch.ones(2, 3, 4), 0.9)
    with pytest.raises(TypeError, match="rewards"):
        discounted_returns([1.0, 2.0], 0.9)
    with pytest.raises(TypeError, match="gamma"):
        discounted_returns(torch.ones(3), torch.tensor(0.9))


# ----------------------------------------------------------------------------------------------
# reinforce_loss
# ----------------------------------------------------------------------------------------------


def test_reinforce_loss_gradient_matches_closed_form_for_a_categorical_policy():
    """d loss / d logits[s] = -(1/T) sum_{t: s_t = s} (onehot(a_t) - softmax(logits[s])) (G_t - b)."""
    gen = torch.Generator().manual_seed(1)
    num_states, num_actions, steps = 3, 4, 50
    logits = torch.randn(num_states, num_actions, generator=gen, dtype=torch.float64)
    logits.requires_grad_()
    states = torch.randint(num_states, (steps,), generator=gen)
    actions = torch.randint(num_actions, (steps,), generator=gen)
    returns = torch.randn(steps, generator=gen, dtype=torch.float64)
    baseline = 0.3
    log_probs = torch.log_softmax(logits, -1)[states, actions]  # (T,)
    reinforce_loss(log_probs, returns, baseline).backward()

    probs = torch.softmax(logits.detach(), -1)
    score = torch.nn.functional.one_hot(actions, num_actions).double() - probs[states]  # (T, A)
    want = torch.zeros(num_states, num_actions, dtype=torch.float64)
    want.index_add_(0, states, score * (returns - baseline)[:, None])
    torch.testing.assert_close(logits.grad, -want / steps)


def test_reinforce_loss_gradcheck():
    gen = torch.Generator().manual_seed(2)
    logits = torch.randn(5, 3, generator=gen, dtype=torch.float64, requires_grad=True)
    actions = torch.randint(3, (5,), generator=gen)
    returns = torch.randn(5, generator=gen, dtype=torch.float64)

    def loss_of(lg):
        log_probs = torch.log_softmax(lg, -1).gather(-1, actions[:, None])[:, 0]
        return reinforce_loss(log_probs, returns, returns.mean())

    assert torch.autograd.gradcheck(loss_of, (logits,))


def test_reinforce_loss_value_and_baseline_forms():
    log_probs = torch.tensor([-1.0, -2.0])
    returns = torch.tensor([3.0, 1.0])
    assert reinforce_loss(log_probs, returns).item() == pytest.approx(2.5)  # -mean(-3, -2)
    by_number = reinforce_loss(log_probs, returns, 1.0)
    by_scalar = reinforce_loss(log_probs, returns, torch.tensor(1.0))
    by_tensor = reinforce_loss(log_probs, returns, torch.ones(2))
    assert by_number.item() == by_scalar.item() == by_tensor.item() == pytest.approx(1.0)


def test_reinforce_loss_treats_returns_and_baseline_as_constants():
    log_probs = torch.tensor([-1.0, -2.0], requires_grad=True)
    returns = torch.tensor([3.0, 1.0], requires_grad=True)
    baseline = torch.tensor([0.5, 0.5], requires_grad=True)
    reinforce_loss(log_probs, returns, baseline).backward()
    assert returns.grad is None and baseline.grad is None
    torch.testing.assert_close(log_probs.grad, -(returns - baseline).detach() / 2)


def test_reinforce_loss_rejects_bad_input():
    lp, g = torch.zeros(3), torch.zeros(3)
    with pytest.raises(ValueError, match="log_probs and returns"):
        reinforce_loss(lp, torch.zeros(4))
    with pytest.raises(ValueError, match="baseline"):
        reinforce_loss(lp, g, torch.zeros(1))  # no silent broadcast
    with pytest.raises(TypeError, match="baseline"):
        reinforce_loss(lp, g, "mean")
    with pytest.raises(TypeError, match="returns"):
        reinforce_loss(lp, torch.zeros(3, dtype=torch.int64))
    with pytest.raises(TypeError, match="log_probs"):
        reinforce_loss([0.0], g)
    with pytest.raises(ValueError, match="log_probs"):
        reinforce_loss(torch.zeros(0), torch.zeros(0))


# ----------------------------------------------------------------------------------------------
# The Gaussian estimator
# ----------------------------------------------------------------------------------------------


def test_gaussian_score_matches_autograd_of_the_normal_log_density():
    gen = torch.Generator().manual_seed(3)
    actions = torch.randn(6, generator=gen, dtype=torch.float64)
    mu = torch.tensor(0.7, dtype=torch.float64, requires_grad=True)
    log_sigma = torch.tensor(-0.4, dtype=torch.float64, requires_grad=True)
    log_p = torch.distributions.Normal(mu, log_sigma.exp()).log_prob(actions)
    want = torch.stack(
        [torch.stack(torch.autograd.grad(lp, (mu, log_sigma), retain_graph=True)) for lp in log_p]
    )
    torch.testing.assert_close(gaussian_score(actions, 0.7, -0.4), want)


@pytest.mark.parametrize(("mu", "log_sigma"), [(0.0, 0.0), (2.0, -0.5), (5.0, 0.3)])
def test_analytic_gradient_matches_autograd_of_the_closed_form(mu, log_sigma):
    m = torch.tensor(mu, dtype=torch.float64, requires_grad=True)
    s = torch.tensor(log_sigma, dtype=torch.float64, requires_grad=True)
    value = -((m - 3.0) ** 2) - torch.exp(2 * s)
    assert value.item() == pytest.approx(gaussian_expected_reward(mu, log_sigma))
    torch.testing.assert_close(
        torch.stack(torch.autograd.grad(value, (m, s))), gaussian_analytic_gradient(mu, log_sigma)
    )


def test_expected_reward_closed_form_against_monte_carlo():
    gen = torch.Generator().manual_seed(4)
    a = 1.0 + 0.5 * torch.randn(400_000, generator=gen, dtype=torch.float64)
    mc = quadratic_reward(a).mean().item()
    assert mc == pytest.approx(gaussian_expected_reward(1.0, math.log(0.5)), abs=0.02)


@pytest.mark.parametrize("baseline", [False, True])
@pytest.mark.parametrize(("mu", "log_sigma"), [(0.0, 0.0), (2.5, -0.7)])
def test_estimator_mean_matches_the_analytic_gradient(mu, log_sigma, baseline):
    gen = torch.Generator().manual_seed(5)
    est = score_function_gradient(
        mu, log_sigma, 50, num_repeats=2000, baseline=baseline, generator=gen
    )
    mean, se = est.mean(0), est.std(0) / math.sqrt(est.shape[0])
    z = (mean - gaussian_analytic_gradient(mu, log_sigma)) / se
    assert z.abs().max() < 4.5, z


def test_plain_mean_baseline_would_shrink_the_estimate_but_leave_one_out_does_not():
    """With N = 2 the batch-mean baseline halves the gradient; the leave-one-out one does not."""
    gen = torch.Generator().manual_seed(6)
    a = torch.randn(200_000, 2, generator=gen, dtype=torch.float64)  # (B, N), mu=0, sigma=1
    r = quadratic_reward(a)
    score = gaussian_score(a, 0.0, 0.0)[..., 0]  # d/dmu
    plain = (score * (r - r.mean(1, keepdim=True))).mean(1).mean().item()
    loo = (score * (r - leave_one_out_baseline(r.T).T)).mean(1).mean().item()
    assert plain == pytest.approx(3.0, abs=0.15)  # (N - 1) / N * 6
    assert loo == pytest.approx(6.0, abs=0.3)


def test_estimator_points_uphill():
    gen = torch.Generator().manual_seed(7)
    left = score_function_gradient(0.0, 0.0, 5000, baseline=True, generator=gen)[0, 0]
    right = score_function_gradient(6.0, 0.0, 5000, baseline=True, generator=gen)[0, 0]
    assert left > 0 > right  # toward the best action a = 3 from either side


def test_estimator_is_reproducible_with_a_generator():
    a = score_function_gradient(0.0, 0.0, 10, generator=torch.Generator().manual_seed(8))
    b = score_function_gradient(0.0, 0.0, 10, generator=torch.Generator().manual_seed(8))
    assert torch.equal(a, b)


def test_estimator_rejects_bad_input():
    with pytest.raises(ValueError, match="num_samples"):
        score_function_gradient(0.0, 0.0, 1)
    with pytest.raises(TypeError, match="num_repeats"):
        score_function_gradient(0.0, 0.0, 10, num_repeats=2.0)
    with pytest.raises(ValueError, match="log_sigma"):
        score_function_gradient(0.0, math.inf, 10)
    with pytest.raises(TypeError, match="mu"):
        score_function_gradient(torch.tensor(0.0), 0.0, 10)


def test_gaussian_ascent_climbs_to_the_best_action():
    gen = torch.Generator().manual_seed(9)
    run = gaussian_ascent(0.0, 0.0, steps=80, lr=0.05, num_samples=50, generator=gen)
    assert run.params.shape == (81, 2) and run.grads.shape == (80, 2)
    start, end = run.params[0].tolist(), run.params[-1].tolist()
    assert gaussian_expected_reward(*end) > gaussian_expected_reward(*start) + 9
    assert abs(end[0] - 3.0) < 0.15 and end[1] < start[1]
    with pytest.raises(ValueError, match="lr"):
        gaussian_ascent(0.0, 0.0, steps=1, lr=0.0, num_samples=5)


def test_leave_one_out_baseline_against_a_loop_and_with_a_mask():
    gen = torch.Generator().manual_seed(10)
    values = torch.randn(5, 4, generator=gen, dtype=torch.float64)
    mask = torch.rand(5, 4, generator=gen) > 0.3
    mask[:, 0] = True
    mask[1:, 3] = False  # only episode 0 alive at the last step: nobody to average, baseline 0
    got = leave_one_out_baseline(values, mask)
    unmasked = leave_one_out_baseline(values)
    for i, t in itertools.product(range(5), range(4)):
        others = [j for j in range(5) if j != i]
        torch.testing.assert_close(unmasked[i, t], values[others, t].mean())
        kept = [j for j in others if mask[j, t]]
        want = values[kept, t].mean() if kept else torch.tensor(0.0, dtype=torch.float64)
        torch.testing.assert_close(got[i, t], want)


def test_leave_one_out_baseline_rejects_bad_input():
    with pytest.raises(ValueError, match="values"):
        leave_one_out_baseline(torch.zeros(1, 3))
    with pytest.raises(ValueError, match="values and mask"):
        leave_one_out_baseline(torch.zeros(3, 2), torch.ones(3, 3, dtype=torch.bool))
    with pytest.raises(TypeError, match="mask"):
        leave_one_out_baseline(torch.zeros(3, 2), torch.ones(3, 2))


# ----------------------------------------------------------------------------------------------
# The tabular MDP
# ----------------------------------------------------------------------------------------------


@pytest.fixture
def mdp() -> TabularMDP:
    return make_random_mdp(2, 2, 3, generator=torch.Generator().manual_seed(11))


def all_trajectories(mdp: TabularMDP) -> tuple[torch.Tensor, torch.Tensor]:
    s, a, t = mdp.num_states, mdp.num_actions, mdp.horizon
    states, actions = [], []
    for combo in itertools.product(range(s), *([range(a), range(s)] * t)):
        states.append(combo[0::2])
        actions.append(combo[1::2])
    return torch.tensor(states), torch.tensor(actions)


def test_exact_return_and_log_probs_against_enumeration(mdp):
    """Sum over every trajectory: probabilities add to 1 and sum p(tau) R(tau) equals J."""
    logits = torch.tensor([[0.3, -0.2], [1.0, 0.1]], dtype=torch.float64, requires_grad=True)
    states, actions = all_trajectories(mdp)
    p = trajectory_log_prob(mdp, logits, states, actions).exp()  # (B,)
    total = mdp.rewards[states[:, :-1], actions].sum(1)  # (B,)
    torch.testing.assert_close(p.sum(), torch.tensor(1.0, dtype=torch.float64))
    j_enum = (p * total).sum()
    j_exact = exact_expected_return(mdp, logits)
    torch.testing.assert_close(j_exact, j_enum)
    g_enum = torch.autograd.grad(j_enum, logits)[0]
    g_exact = torch.autograd.grad(j_exact, logits)[0]
    torch.testing.assert_close(g_exact, g_enum)
    # and the score-function identity, exactly over all trajectories: sum p * grad log pi * R
    log_pi = trajectory_log_prob(mdp, logits, states, actions, include_dynamics=False)
    g_score = torch.autograd.grad((p.detach() * log_pi * total).sum(), logits)[0]
    torch.testing.assert_close(g_score, g_exact)


def test_exact_expected_return_gradcheck(mdp):
    logits = torch.zeros(2, 2, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda lg: exact_expected_return(mdp, lg), (logits,))


def test_dynamics_drop_out_of_the_theta_gradient(mdp):
    gen = torch.Generator().manual_seed(12)
    logits = torch.randn(2, 2, generator=gen, dtype=torch.float64, requires_grad=True)
    states, actions = sample_trajectories(mdp, logits, 6, generator=gen)
    full = trajectory_log_prob(mdp, logits, states, actions).sum()
    only = trajectory_log_prob(mdp, logits, states, actions, include_dynamics=False).sum()
    assert not torch.allclose(full, only)  # the values differ ...
    g_full = torch.autograd.grad(full, logits)[0]
    g_only = torch.autograd.grad(only, logits)[0]
    assert torch.equal(g_full, g_only)  # ... their theta-gradients do not


def test_sampled_returns_average_to_the_exact_return(mdp):
    gen = torch.Generator().manual_seed(13)
    logits = torch.tensor([[0.5, -0.5], [0.0, 1.0]], dtype=torch.float64)
    states, actions = sample_trajectories(mdp, logits, 40_000, generator=gen)
    total = mdp.rewards[states[:, :-1], actions].sum(1)
    se = total.std().item() / math.sqrt(total.numel())
    assert abs(total.mean().item() - exact_expected_return(mdp, logits).item()) < 4.5 * se


def test_mdp_rejects_bad_input(mdp):
    with pytest.raises(ValueError, match="logits"):
        exact_expected_return(mdp, torch.zeros(3, 2, dtype=torch.float64))
    with pytest.raises(ValueError, match="transitions"):
        TabularMDP(torch.ones(2, 2, 3), torch.ones(2, 2), torch.ones(2) / 2, 3)
    with pytest.raises(ValueError, match="rewards"):
        TabularMDP(torch.ones(2, 2, 2) / 2, torch.ones(2, 3), torch.ones(2) / 2, 3)
    with pytest.raises(ValueError, match="horizon"):
        make_random_mdp(horizon=0)
    with pytest.raises(ValueError, match="states"):
        trajectory_log_prob(
            mdp, torch.zeros(2, 2, dtype=torch.float64), torch.zeros(1, 3, dtype=torch.int64),
            torch.zeros(1, 3, dtype=torch.int64),
        )  # fmt: skip


# ----------------------------------------------------------------------------------------------
# CartPole
# ----------------------------------------------------------------------------------------------


def test_rollout_masks_each_episode_as_a_prefix():
    policy = CartPolePolicy(hidden=8, seed=0)
    env = _make_env(5)
    env.reset(seed=0)
    batch = rollout(policy, env, generator=torch.Generator().manual_seed(0))
    env.close()
    assert isinstance(batch, EpisodeBatch)
    b, t = batch.actions.shape
    assert batch.obs.shape == (b, t, 4) and b == 5
    lengths = batch.mask.sum(1)
    assert torch.equal(batch.mask, torch.arange(t)[None, :] < lengths[:, None])  # prefix
    torch.testing.assert_close(batch.episode_returns, lengths.float())  # CartPole pays 1 per step
    assert lengths.max() == t <= CARTPOLE_MAX_STEPS
    assert torch.equal(batch.rewards[~batch.mask], torch.zeros_like(batch.rewards[~batch.mask]))


def test_train_reinforce_is_reproducible_and_restores_threads():
    threads = torch.get_num_threads()
    config = PolicyGradientConfig(episodes_per_update=4, updates=3)
    a = train_reinforce(config, seed=3)
    b = train_reinforce(config, seed=3)
    assert a.episode_returns == b.episode_returns and len(a.episode_returns) == 12
    for p, q in zip(a.policy.parameters(), b.policy.parameters(), strict=True):
        assert torch.equal(p, q)
    assert torch.get_num_threads() == threads


def test_one_thread_restores_the_setting_after_an_error():
    threads = torch.get_num_threads()
    with pytest.raises(RuntimeError), _one_thread():
        assert torch.get_num_threads() == 1
        raise RuntimeError
    assert torch.get_num_threads() == threads


def test_per_episode_gradients_average_to_the_batch_gradient():
    torch.manual_seed(0)
    policy = CartPolePolicy(hidden=8, seed=0)
    env = _make_env(4)
    env.reset(seed=1)
    batch = rollout(policy, env, generator=torch.Generator().manual_seed(1))
    env.close()
    rows = per_episode_gradients(policy, batch, gamma=0.9, baseline=True)
    returns = discounted_returns(batch.rewards, 0.9)
    base = leave_one_out_baseline(returns, batch.mask)
    log_pi = torch.log_softmax(policy(batch.obs), -1).gather(-1, batch.actions[..., None])[..., 0]
    objective = (log_pi * (returns - base) * batch.mask).sum() / batch.obs.shape[0]
    grads = torch.autograd.grad(objective, list(policy.parameters()))
    torch.testing.assert_close(rows.mean(0), torch.cat([g.flatten() for g in grads]))


def test_evaluate_cartpole_policy_is_seeded_and_counts_steps():
    policy = CartPolePolicy(hidden=4, seed=0)
    returns = evaluate_cartpole_policy(policy, episodes=3, seed=0)
    assert returns.shape == (3,) and (returns >= 1).all()
    np.testing.assert_array_equal(returns, evaluate_cartpole_policy(policy, episodes=3, seed=0))


def test_config_and_training_reject_bad_input():
    with pytest.raises(ValueError, match="gamma"):
        PolicyGradientConfig(gamma=1.5)
    with pytest.raises(ValueError, match="episodes_per_update"):
        PolicyGradientConfig(episodes_per_update=1)
    with pytest.raises(TypeError, match="baseline"):
        PolicyGradientConfig(baseline=1)
    with pytest.raises(TypeError, match="config"):
        train_reinforce({"lr": 0.01}, seed=0)
    with pytest.raises(ValueError, match="seed"):
        train_reinforce(PolicyGradientConfig(), seed=-1)
    with pytest.raises(TypeError, match="progress"):
        train_reinforce(PolicyGradientConfig(), seed=0, progress="yes")


def test_solved_at_counts_episodes_to_the_first_solved_window():
    assert solved_at([480.0] * 50 + [460.0] * 60, threshold=475.0, window=100) is None
    assert solved_at([0.0] * 10 + [500.0] * 100) == 105  # 5 zeros left in the window
    assert solved_at([500.0] * 100) == 100  # solved by the first full window
    with pytest.raises(ValueError, match="window"):
        solved_at([1.0, 2.0], window=3)


def replay_first_update(config: PolicyGradientConfig, seed: int):
    """train_reinforce's first update written out from the public pieces: batch, policy, loss."""
    policy = CartPolePolicy(hidden=config.hidden, seed=seed)
    start = [p.detach().clone() for p in policy.parameters()]
    env = _make_env(config.episodes_per_update)
    env.reset(seed=seed)
    with _one_thread():
        batch = rollout(policy, env, generator=torch.Generator().manual_seed(seed))
    env.close()
    returns = discounted_returns(batch.rewards, config.gamma)
    base = leave_one_out_baseline(returns, batch.mask) if config.baseline else None
    log_pi = torch.log_softmax(policy(batch.obs), -1).gather(-1, batch.actions[..., None])[..., 0]
    m = batch.mask
    loss = reinforce_loss(log_pi[m], returns[m], None if base is None else base[m])
    optimizer = torch.optim.Adam(policy.parameters(), lr=config.lr)
    loss.backward()
    optimizer.step()
    return policy, start, batch


@pytest.mark.parametrize("baseline", [True, False])
def test_train_reinforce_update_is_the_masked_reinforce_step(baseline):
    """One update = one Adam step on reinforce_loss over the valid steps, with or without b."""
    config = PolicyGradientConfig(episodes_per_update=5, updates=1, gamma=0.9, baseline=baseline)
    want, start, batch = replay_first_update(config, seed=2)
    assert not batch.mask.all()  # episodes of different lengths: the padding must be left out
    run = train_reinforce(config, seed=2)
    for p, q, p0 in zip(run.policy.parameters(), want.parameters(), start, strict=True):
        torch.testing.assert_close(p, q)
        assert not torch.equal(p, p0)
    assert run.episode_returns == batch.episode_returns.tolist()


def test_train_reinforce_variance_ratio_is_without_over_with_baseline():
    config = PolicyGradientConfig(episodes_per_update=6, updates=1)
    _, _, batch = replay_first_update(config, seed=4)
    policy = CartPolePolicy(hidden=config.hidden, seed=4)
    with_b = per_episode_gradients(policy, batch, gamma=config.gamma, baseline=True)
    without = per_episode_gradients(policy, batch, gamma=config.gamma, baseline=False)
    want = float(without.var(0).sum() / with_b.var(0).sum())
    run = train_reinforce(config, seed=4, measure_variance=True)
    assert run.variance_ratio == [pytest.approx(want, rel=1e-4)]


def test_train_reinforce_stops_when_the_loss_is_not_finite(monkeypatch):
    import companion.policy_gradient as pg

    monkeypatch.setattr(pg, "discounted_returns", lambda r, g: torch.full_like(r, math.nan))
    with pytest.raises(NonFiniteLossError, match="REINFORCE loss became nan at step 0"):
        train_reinforce(PolicyGradientConfig(episodes_per_update=2, updates=2), seed=0)


def test_gaussian_ascent_stops_when_it_diverges():
    with pytest.raises(NonFiniteLossError, match="gradient estimate"):
        gaussian_ascent(
            0.0, 0.0, steps=200, lr=1e3, num_samples=4, generator=torch.Generator().manual_seed(0)
        )


def test_baseline_estimator_is_unbiased_even_with_two_samples():
    """N = 2: a batch-mean baseline would halve d/dmu (6 -> 3); leave-one-out keeps it at 6."""
    gen = torch.Generator().manual_seed(14)
    est = score_function_gradient(0.0, 0.0, 2, num_repeats=100_000, baseline=True, generator=gen)
    mean, se = est[:, 0].mean().item(), est[:, 0].std().item() / math.sqrt(est.shape[0])
    assert abs(mean - 6.0) < 4.5 * se and 4.5 * se < 1.0


def test_policy_weights_depend_on_the_seed_only():
    torch.rand(3)  # the global generator's state must not matter
    a, b = CartPolePolicy(hidden=4, seed=1), CartPolePolicy(hidden=4, seed=1)
    assert all(torch.equal(p, q) for p, q in zip(a.parameters(), b.parameters(), strict=True))
    assert not torch.equal(a.net[0].weight, CartPolePolicy(hidden=4, seed=2).net[0].weight)
