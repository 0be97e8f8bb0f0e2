"""Mutants of companion/core/training.py: the loop's record, eval mode, data order, smoothing."""

TARGET = "companion/core/training.py"
TESTS = ["tests/test_core.py", "tests/test_core_plumbing.py"]
MUTANTS = [
    (
        "epoch loss is the plain mean of batch means, not size-weighted",
        "            total += value * n\n",
        "            total += value\n",
    ),
    (
        "val_loss measured in training mode (dropout on)",
        "    with eval_mode(model):\n        for xb, yb in loader:",
        "    if True:\n        for xb, yb in loader:",
    ),
    (
        "fit does not reset the sampler's epoch: a reused loader gives runs different orders",
        "            sampler.set_epoch(epoch)  # the order of epoch e depends on (seed, e) only",
        "            pass",
    ),
    (
        "every epoch draws the same order",
        "        self.epoch += 1\n",
        "",
    ),
    (
        "keep_best keeps the last epoch's weights",
        "        if keep_best and history.best_epoch == history.epochs - 1:",
        "        if keep_best:",
    ),
    (
        "NaN loss goes unnoticed",
        '            value = check_finite_loss(loss.detach(), "loss", step=len(history.iter_loss))',
        "            value = float(loss.detach())",
    ),
    (
        "the (N, 1) vs (N,) broadcast is trained on",
        "            _check_output_target(out, yb)\n            loss = loss_fn(out, yb)",
        "            loss = loss_fn(out, yb)",
    ),
    (
        "moving average off by one",
        "    return (csum[window:] - csum[:-window]) / window",
        "    return (csum[window:] - csum[:-window]) / (window + 1)",
    ),
    (
        "accuracy compares against the wrong axis",
        "    return (output.argmax(dim=1) == target).float().mean()",
        "    return (output.argmax(dim=0)[: len(target)] == target).float().mean()",
    ),
]
