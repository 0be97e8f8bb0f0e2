"""Mutants of companion/soft_argmax.py: the layer form, the decoders and the landmark training."""

TARGET = "companion/soft_argmax.py"
TESTS = ["tests/test_soft_argmax.py"]
MUTANTS = [
    (
        "layer's frozen weights hold (y, x) instead of (x, y)",
        "self.coords.weight.copy_(pixel_grid(height, width).T)",
        "self.coords.weight.copy_(pixel_grid(height, width).T.flip(0))",
    ),
    (
        "layer ignores beta",
        "return self.coords(self.softmax(self.beta * flat))",
        "return self.coords(self.softmax(flat))",
    ),
    (
        "layer's coordinate weights are trainable",
        "self.coords.weight.requires_grad_(False)",
        "self.coords.weight.requires_grad_(True)",
    ),
    (
        "decode reads a heatmap with soft-argmax instead of argmax",
        "        return argmax2d(scores)\n",
        "        return soft_argmax2d(scores, beta)\n",
    ),
    (
        "heatmap objective replaced by 0 * scores.sum() (issue 11)",
        "loss = F.mse_loss(scores, train.heatmaps[index].to(device))",
        "loss = 0 * scores.sum()",
    ),
    (
        "soft-argmax objective regresses (y, x) against (x, y) targets",
        "loss = F.l1_loss(soft_argmax2d(scores, config.beta), train.points[index].to(device))",
        "loss = F.l1_loss(soft_argmax2d(scores, config.beta), train.points[index].flip(-1).to(device))",
    ),
    (
        "validation error averaged per image instead of per keypoint",
        "return float(torch.stack(errors).sum()) / val.points[..., 0].numel()",
        "return float(torch.stack(errors).sum()) / len(val.points)",
    ),
    (
        "batch order ignores the seed (global generator)",
        "generator = torch.Generator().manual_seed(seed)",
        "generator = None",
    ),
    (
        "no validation point at the last step when steps is not a multiple of eval_every",
        "if step % config.eval_every == 0 or step == config.steps:",
        "if step % config.eval_every == 0:",
    ),
    (
        "config accepts a zero learning rate",
        '        check_number(self.lr, "lr", low=0, low_inclusive=False)\n',
        "",
    ),
    (
        "a NaN loss does not stop train_landmarks",
        'run.train_loss.append(check_finite_loss(loss.detach(), f"{objective} loss", step - 1))',
        "run.train_loss.append(float(loss.detach()))",
    ),
    (
        "LandmarkNet's weights come from the global generator, not its seed",
        "        with seeded(seed):\n",
        "        with torch.random.fork_rng(devices=[]):\n",
    ),
]
