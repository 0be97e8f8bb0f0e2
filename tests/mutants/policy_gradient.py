"""Mutants of companion/policy_gradient.py: returns, the surrogate, the estimators, REINFORCE."""

TARGET = "companion/policy_gradient.py"
TESTS = ["tests/test_policy_gradient.py"]
MUTANTS = [
    (
        "discounted returns sum the past instead of the future",
        "return rewards @ weights.T  # (..., T) @ (T, T) -> (..., T)",
        "return rewards @ weights  # (..., T) @ (T, T) -> (..., T)",
    ),
    (
        "REINFORCE loss has the wrong sign (descends J)",
        "return -(log_probs * advantage).mean()",
        "return (log_probs * advantage).mean()",
    ),
    (
        "returns are not detached in the surrogate",
        "advantage = returns.detach()",
        "advantage = returns",
    ),
    (
        "score of log sigma forgets the -1",
        "return torch.stack([z / sigma, z**2 - 1.0], dim=-1)",
        "return torch.stack([z / sigma, z**2], dim=-1)",
    ),
    (
        "leave-one-out baseline includes the sample itself (batch mean)",
        "return (values.sum(0, keepdim=True) - values) / (values.shape[0] - 1)",
        "return values.mean(0, keepdim=True).expand_as(values)",
    ),
    (
        "masked baseline always removes one sample from the count",
        "others = mask.sum(0, keepdim=True) - mask.to(values.dtype)",
        "others = mask.sum(0, keepdim=True) - 1",
    ),
    (
        "Gaussian estimator's baseline is the biased batch mean",
        "rewards = rewards - leave_one_out_baseline(rewards.T).T",
        "rewards = rewards - rewards.mean(1, keepdim=True)",
    ),
    (
        "trajectory log-prob pairs each action with the next state",
        "policy_terms = log_pi[states[:, :-1], actions].sum(1)",
        "policy_terms = log_pi[states[:, 1:], actions].sum(1)",
    ),
    (
        "exact return does not move the state distribution",
        'd = torch.einsum("sa,sat->t", joint, mdp.transitions)',
        'd = torch.einsum("sa,sat->s", joint, mdp.transitions)',
    ),
    (
        "train_reinforce ignores config.baseline",
        "returns, base = _returns_and_baseline(batch, config.gamma, config.baseline)",
        "returns, base = _returns_and_baseline(batch, config.gamma, False)",
    ),
    (
        "train_reinforce trains on the padding after each episode's end",
        "            mask = batch.mask\n",
        "            mask = torch.ones_like(batch.mask)\n",
    ),
    (
        "variance ratio inverted (with / without)",
        "ratio = without.var(0).sum() / with_b.var(0).sum().clamp(min=1e-30)",
        "ratio = with_b.var(0).sum() / without.var(0).sum().clamp(min=1e-30)",
    ),
    (
        "per-episode gradients count the padding",
        "weights = (batch.mask * (returns if base is None else returns - base)).detach()",
        "weights = (returns if base is None else returns - base).detach()",
    ),
    (
        "solved_at reports one episode early",
        "return int(hits[0]) + window if hits.size else None",
        "return int(hits[0]) + window - 1 if hits.size else None",
    ),
    (
        "a NaN REINFORCE loss does not stop training",
        '            check_finite_loss(loss.detach(), "REINFORCE loss", step)\n',
        "",
    ),
    (
        "a diverging Gaussian ascent does not stop",
        '        check_finite_loss(g.abs().sum(), "gradient estimate", step)\n',
        "",
    ),
    (
        "CartPolePolicy's weights come from the global generator, not its seed",
        "        with seeded(seed):\n",
        "        with torch.random.fork_rng(devices=[]):\n",
    ),
]
