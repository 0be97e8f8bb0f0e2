"""Mutants of companion/sts.py: each is a bug a reader could plausibly write, one per tested claim."""

TARGET = "companion/sts.py"
TESTS = ["tests/test_sts.py"]
MUTANTS = [
    (
        "sparse target: the mass goes to the wrong neighbour",
        "target[rows, low.long()] = 1 - frac",
        "target[rows, low.long()] = frac",
    ),
    (
        "sparse target: a top score of C - 1 indexes past the last class",
        "low = scores.floor().clamp(max=top - 1)",
        "low = scores.floor()",
    ),
    (
        "expected score: r counted from 1 (SICK's scale) instead of 0",
        "r = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)",
        "r = torch.arange(1, probs.shape[-1] + 1, dtype=probs.dtype, device=probs.device)",
    ),
    (
        "Pearson loss: the sign is lost (it rewards anti-correlation)",
        "return -(pc * tc).sum(dim=-1)",
        "return (pc * tc).sum(dim=-1)",
    ),
    (
        "Pearson loss: predictions not centred (cosine similarity, not correlation)",
        "pc = pred - pred.mean(dim=-1, keepdim=True)",
        "pc = pred",
    ),
    (
        "Pearson loss: a constant batch silently returns NaN",
        "        _check_not_constant(x, name)\n",
        "        pass\n",
    ),
    (
        "Pearson loss: a single item is accepted",
        "if len(pred) < 2:",
        "if len(pred) < 1:",
    ),
    (
        "KL head: cross-entropy to the target instead of KL (not zero at the optimum)",
        "loss = (torch.xlogy(target, target) - target * log_p).sum(dim=-1).mean(dim=-1)",
        "loss = (-target * log_p).sum(dim=-1).mean(dim=-1)",
    ),
    (
        "CE head: the score is truncated, not rounded, to a class",
        "labels = gold.round().long()",
        "labels = gold.long()",
    ),
    (
        "read-out: the CE head is read out by its mean, not its most probable class",
        "soft = torch.where(is_ce[:, None], argmax, mean)",
        "soft = mean",
    ),
    (
        "encoder: [PAD] tokens take part in the max-pooling",
        "keep[pad_id] = 0.0",
        "keep[pad_id] = 1.0",
    ),
    (
        "pair features: signed difference, so the score depends on the sentence order",
        "feats = torch.cat(((h1 - h2).abs(), h1 * h2), dim=-1)",
        "feats = torch.cat((h1 - h2, h1 * h2), dim=-1)",
    ),
    (
        "ensemble: every model starts from the first seed's weights",
        "with seeded(s):",
        "with seeded(self.seeds[0]):",
    ),
    (
        "skip mode: the constant row is not detached (NaN gradients)",
        "safe = torch.where(flat[:, None], torch.arange(len(gold)).to(pred), pred)",
        "safe = pred",
    ),
    (
        "training: skipped batches are not counted",
        "            skipped += skip\n",
        "            pass\n",
    ),
    (
        "calibration: the intercept forgets the slope",
        "return a, float(t.mean()) - a * float(p.mean())",
        "return a, float(t.mean())",
    ),
    (
        "scores: Spearman computed as Pearson",
        "float(stats.spearmanr(p, g).statistic)",
        "float(stats.pearsonr(p, g).statistic)",
    ),
]
