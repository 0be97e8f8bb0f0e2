"""Mutants of companion/sac.py: the squashed density, the critics' target, the update, training."""

TARGET = "companion/sac.py"
TESTS = ["tests/test_sac.py"]
MUTANTS = [
    (
        "log(1 - tanh^2) has the sign of u flipped",
        "return 2.0 * (_LOG_2 - u - nn.functional.softplus(-2.0 * u))",
        "return 2.0 * (_LOG_2 + u - nn.functional.softplus(-2.0 * u))",
    ),
    (
        "density adds the tanh Jacobian instead of subtracting it",
        "return (gaussian - log_one_minus_tanh_sq(u)).sum(dim=-1)",
        "return (gaussian + log_one_minus_tanh_sq(u)).sum(dim=-1)",
    ),
    (
        "density forgets the -log std Jacobian",
        "gaussian = -0.5 * eps.square() - log_std - _HALF_LOG_2PI",
        "gaussian = -0.5 * eps.square() - _HALF_LOG_2PI",
    ),
    (
        "log_std not squashed into its bounds",
        "log_std = LOG_STD_MIN + 0.5 * (LOG_STD_MAX - LOG_STD_MIN) * (torch.tanh(raw) + 1.0)",
        "log_std = raw",
    ),
    (
        "soft target bootstraps through terminations",
        "return reward + gamma * (1.0 - done) * (q_next - alpha * next_log_prob)",
        "return reward + gamma * (q_next - alpha * next_log_prob)",
    ),
    (
        "soft target adds the entropy bonus with the wrong sign",
        "return reward + gamma * (1.0 - done) * (q_next - alpha * next_log_prob)",
        "return reward + gamma * (1.0 - done) * (q_next + alpha * next_log_prob)",
    ),
    (
        "critic target takes the max of the pair, not the min",
        "q_next = self.qf_target(next_obs, next_action).min(dim=0).values",
        "q_next = self.qf_target(next_obs, next_action).max(dim=0).values",
    ),
    (
        "critics' requires_grad_(False) freeze removed from SACAgent.update (issue 11)",
        "        self.qf.requires_grad_(False)  # the actor's loss must not leave gradients in the critics\n",
        "",
    ),
    (
        "actor loss rewards log pi (entropy term with the wrong sign)",
        "actor_losses = (alpha * log_prob - q_pi).mean(dim=1)",
        "actor_losses = (-alpha * log_prob - q_pi).mean(dim=1)",
    ),
    (
        "actor loss descends Q",
        "actor_losses = (alpha * log_prob - q_pi).mean(dim=1)",
        "actor_losses = (alpha * log_prob + q_pi).mean(dim=1)",
    ),
    (
        "temperature loss with the wrong sign",
        "alpha_loss = -(self.tuned * self.log_alpha.exp() * gap).sum()",
        "alpha_loss = (self.tuned * self.log_alpha.exp() * gap).sum()",
    ),
    (
        "Polyak update moves by 1 - tau",
        "torch._foreach_lerp_(t_params, o_params, tau)",
        "torch._foreach_lerp_(t_params, o_params, 1.0 - tau)",
    ),
    (
        "time-limit truncation stores the next episode's first observation",
        '                real_next[i] = info["final_obs"][i]\n',
        "                pass\n",
    ),
    (
        "truncation stored as done (bootstrap cut at the time limit)",
        "rows(as_float(terminated).view(m, e)),",
        "rows(as_float(terminated | truncated).view(m, e)),",
    ),
    (
        "a NaN critic loss does not stop the update",
        '        check_finite_loss(q_loss.detach(), "critic loss", self.updates)\n',
        "",
    ),
    (
        "the actor's weights come from the global generator, not its seed",
        "            with seeded(s):\n                mlp = _mlp",
        "            with torch.random.fork_rng(devices=[]):\n                mlp = _mlp",
    ),
    (
        "a population's sample gives every member member 0's transitions",
        "return Batch(*(store[idx, member] for store in self.storage))",
        "return Batch(*(store[idx, 0] for store in self.storage))",
    ),
    (
        "a member with a fixed alpha still gets a temperature gradient",
        "alpha_loss = -(self.tuned * self.log_alpha.exp() * gap).sum()",
        "alpha_loss = -(self.log_alpha.exp() * gap).sum()",
    ),
    (
        "the members' warm-up actions come from one generator",
        "[torch.rand((e, act_dim), generator=g, device=dev) * 2.0 - 1.0 for g in warmup]",
        "[torch.rand((e, act_dim), generator=warmup[0], device=dev) * 2.0 - 1.0 for g in warmup]",
    ),
]
