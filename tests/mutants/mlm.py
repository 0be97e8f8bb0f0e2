"""Mutants of companion/mlm.py: BERT's corruption, the MLM loss, the tied model, training, scoring."""

TARGET = "companion/mlm.py"
TESTS = ["tests/test_mlm.py"]
MUTANTS = [
    (
        "all-positions loss trains on the selected positions only",
        "    loss = nll.mean()  # = mlm_loss with every ordinary position counted\n",
        "    loss = nll[chosen].mean()\n",
    ),
    (
        "train_mlm(loss_on='all') trains on the selected positions only (the issue's breakage)",
        "                model, masked, ids, labels, special_ids\n            )\n",
        "                model, masked, ids, labels, special_ids\n            )\n"
        "            loss = selected_positions_loss(model, masked, labels)\n",
    ),
    (
        "the all-positions loss also skips the [MASK] positions (targets read from the corrupted ids)",
        "ordinary = ~torch.isin(input_ids, special_ids)  # (B, T)",
        "ordinary = ~torch.isin(masked_ids, special_ids)  # (B, T)",
    ),
    (
        "the unselected part of the all-positions loss averages in the selected positions",
        "return loss, nll[chosen].mean(), nll[~chosen].mean()",
        "return loss, nll[chosen].mean(), nll.mean()",
    ),
    (
        "masking fractions swapped: 10% [MASK], 80% random",
        "    to_mask = selected & (how < mask_fraction)\n"
        "    to_random = selected & (how >= mask_fraction) & (how < mask_fraction + random_fraction)",
        "    to_mask = selected & (how < random_fraction)\n"
        "    to_random = selected & (how >= random_fraction) & (how < mask_fraction + random_fraction)",
    ),
    (
        "special tokens can be selected",
        "selected = (_rand(input_ids.shape, generator, device) < mlm_probability) & ~torch.isin(\n"
        "        input_ids, special_ids\n    )",
        "selected = _rand(input_ids.shape, generator, device) < mlm_probability",
    ),
    (
        "random replacements drawn from the whole vocabulary, special ids included",
        "random_ids = ordinary[_randint(len(ordinary), input_ids.shape, generator, device)]",
        "random_ids = _randint(vocab_size, input_ids.shape, generator, device).to(input_ids.dtype)",
    ),
    (
        "every position gets its original id as label (nothing ignored)",
        "labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))",
        "labels = input_ids.clone()",
    ),
    (
        "the MLM loss is a mean of per-row means",
        "return -picked.sum() / counted.sum()",
        "return -(picked.sum(dim=1) / counted.sum(dim=1).clamp_min(1)).mean()",
    ),
    (
        "the MLM loss divides by every position, not the counted ones (mask after the mean)",
        "return -picked.sum() / counted.sum()",
        "return -picked.mean()",
    ),
    (
        "the output layer is not tied to the input embedding",
        "        self.decoder.weight = self.token_embedding.weight  # tied: one Parameter, one storage\n",
        "",
    ),
    (
        "attention looks at [PAD] positions",
        "return self.encoder(x, src_key_padding_mask=padding)",
        "return self.encoder(x)",
    ),
    (
        "warm-up off by one: the first step has learning rate 0",
        "        return (step + 1) / warmup_steps",
        "        return step / warmup_steps",
    ),
    (
        "no decay after the warm-up although config.decay is True",
        "warmup_steps=config.warmup_steps, decay=config.decay",
        "warmup_steps=config.warmup_steps, decay=False",
    ),
    (
        "a random draw that hits the original token counts as random, not kept",
        "    out[selected & (masked_ids == input_ids)] = KEPT\n",
        "",
    ),
    (
        "mlm_accuracy scores the model in training mode (dropout on)",
        "    with eval_mode(model):\n        for _ in range(repeats):",
        "    if True:\n        for _ in range(repeats):",
    ),
    (
        "each training step reuses the corruption of the first (static masking, same draws)",
        "random_fraction=config.random_fraction, generator=generator, **ids,",
        "random_fraction=config.random_fraction,"
        " generator=torch.Generator(device=windows.device).manual_seed(0), **ids,",
    ),
    (
        "train_mlm ignores the masking fractions of its config (always BERT's 80/10)",
        "mlm_probability=config.mask_prob, mask_fraction=config.mask_fraction,",
        "mlm_probability=config.mask_prob, mask_fraction=MASK_TOKEN_FRACTION,",
    ),
    (
        "a NaN loss does not stop training",
        'history.loss.append(check_finite_loss(loss.detach(), "loss", step))',
        "history.loss.append(float(loss.detach()))",
    ),
    (
        "TinyBert's initial weights ignore its seed",
        "with seeded(seed):  # the initial weights depend on `seed` only",
        "with seeded(0):  # the initial weights depend on `seed` only",
    ),
    (
        "a snapshot is taken one step late (after the update of its step)",
        "        if step in snap:\n            history.snapshots[step] = _cpu_copy(model)\n",
        "        if step - 1 in snap:\n            history.snapshots[step - 1] = _cpu_copy(model)\n",
    ),
    (
        "a snapshot shares storage with the model (it changes as training goes on)",
        'return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}',
        "return dict(model.state_dict())",
    ),
    (
        "the linear probe has no bias column",
        "return torch.cat([z, torch.ones_like(z[:, :1])], dim=1)",
        "return torch.cat([z, torch.zeros_like(z[:, :1])], dim=1)",
    ),
    (
        "the linear probe standardises the test features with their own statistics",
        "z = (f.detach().double().to(x.device) - mean) / std",
        "z = (f.detach().double() - f.detach().double().mean(0)) / std",
    ),
]
