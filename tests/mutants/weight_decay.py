"""Mutants of companion/weight_decay.py: the two Adams, the losses, the hourglass, the recording loop."""

TARGET = "companion/weight_decay.py"
TESTS = ["tests/test_weight_decay.py"]
MUTANTS = [
    (
        "Adam + L2 adds -λ·w to the gradient (wrong sign)",
        "grad = grad.add(p, alpha=decay)",
        "grad = grad.add(p, alpha=-decay)",
    ),
    (
        "AdamW couples its decay into the gradient (L2 and decoupled swapped)",
        "    decoupled = True\n",
        "    decoupled = False\n",
    ),
    (
        "AdamW's decay is not multiplied by the learning rate",
        "p.mul_(1 - lr * decay)",
        "p.mul_(1 - decay)",
    ),
    (
        "the second moment is not bias-corrected",
        "denom = (v.sqrt() / math.sqrt(1 - beta2**t)).add_(eps)",
        "denom = v.sqrt().add_(eps)",
    ),
    (
        "the summed heatmap loss is a mean over K, H, W",
        "return ((pred - target) ** 2).sum(dim=(1, 2, 3)).mean()",
        "return ((pred - target) ** 2).mean(dim=(1, 2, 3)).mean()",
    ),
    (
        "the best constant is fitted per image instead of per channel",
        "dims = (-4, -2, -1)  # B, H, W",
        "dims = (-2, -1)  # B, H, W",
    ),
    (
        "the best constant's loss uses the unbiased variance",
        "heatmaps.var(dim=dims, unbiased=False, keepdim=True)",
        "heatmaps.var(dim=dims, unbiased=True, keepdim=True)",
    ),
    (
        "the decoder's full-resolution skip is dropped",
        "d0 = self.dec0(self.up(d1) + e0)",
        "d0 = self.dec0(self.up(d1))",
    ),
    (
        "the decoder's half-resolution skip is dropped",
        "d1 = self.dec1(self.up(m) + e1)",
        "d1 = self.dec1(self.up(m))",
    ),
    (
        "the head is not zero-initialised (the untrained net does not output 0)",
        "        nn.init.zeros_(self.head.weight)\n",
        "",
    ),
    (
        "summed-loss runs are recorded per image, not per pixel",
        'per_pixel = heatmaps[0].numel() if reduction == "sum" else 1',
        "per_pixel = 1",
    ),
    (
        "the recorded ratio forgets λ (weight norm over gradient norm)",
        "float(self.decay_of.get(p, 0.0) * p.norm() / p.grad.norm().clamp_min(1e-30))",
        "float(p.norm() / p.grad.norm().clamp_min(1e-30))",
    ),
    (
        "the recorded penalty is λ·‖w‖² (the 1/2 dropped)",
        "sum(0.5 * lam * float(p.pow(2).sum()) for p, lam in self.decay_of.items() if lam)",
        "sum(lam * float(p.pow(2).sum()) for p, lam in self.decay_of.items() if lam)",
    ),
    (
        "a channel counts as alive only if it is positive everywhere",
        "self.alive[name] = (out.detach() > 0).any(dim=(0, 2, 3))",
        "self.alive[name] = (out.detach() > 0).all(dim=(0, 2, 3))",
    ),
    (
        "records taken one step early (off by one)",
        "probe.watching = (s + 1) % record_every == 0",
        "probe.watching = s % record_every == 0",
    ),
    (
        "the diagnostics are recorded after the update ('step, then record')",
        "            if probe.watching:\n"
        "                probe.record(s, pred)  # record the weights and gradients ...\n"
        "            optimizer.step()  # ... then step\n",
        "            optimizer.step()\n"
        "            if probe.watching:\n"
        "                probe.record(s, pred)\n",
    ),
    (
        "dead units counted in every forward pass, not only the watched one",
        "            if self.watching:\n                self.alive[name]",
        "            if True:\n                self.alive[name]",
    ),
    (
        "a NaN loss does not stop training",
        'loss[s] = check_finite_loss(batch_loss.detach(), "loss", s) / per_pixel',
        "loss[s] = float(batch_loss.detach()) / per_pixel",
    ),
    (
        "the hourglass's initial weights ignore its seed",
        "he = torch.Generator().manual_seed(seed)",
        "he = torch.Generator().manual_seed(0)",
    ),
    (
        "the batch sampler ignores its seed",
        "g = torch.Generator().manual_seed(seed)\n    index",
        "g = torch.Generator().manual_seed(0)\n    index",
    ),
    (
        "the forward hooks stay on the model",
        "            handle.remove()",
        "            pass",
    ),
    (
        "the slice's objective uses λ·‖θ‖² (the 1/2 dropped)",
        "penalty = 0.5 * lam * sum(t.pow(2).sum() for t in theta.values())",
        "penalty = lam * sum(t.pow(2).sum() for t in theta.values())",
    ),
]
