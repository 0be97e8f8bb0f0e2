"""Tests of companion.weight_decay: the two Adams against PyTorch's, the losses, the hourglass, the loop."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from companion.core.training import NonFiniteLossError
from companion.weight_decay import (
    AdamL2,
    AdamW,
    HeatmapHistory,
    Hourglass,
    LayerProbe,
    WeightDecayConfig,
    best_constant_loss,
    heatmap_loss,
    losses_along_line,
    train_heatmaps,
    train_stacked,
)


def _model(seed: int, dtype: torch.dtype = torch.float32) -> nn.Module:
    torch.manual_seed(seed)
    return nn.Sequential(nn.Linear(6, 8), nn.Tanh(), nn.Linear(8, 3)).to(dtype)


def _train_pair(ours, theirs, steps: int, dtype: torch.dtype, seed: int = 0):
    """Run two copies of one model with two optimizers on the same random batches."""
    a, b = _model(seed, dtype), _model(seed, dtype)
    opt_a, opt_b = ours(a.parameters()), theirs(b.parameters())
    g = torch.Generator().manual_seed(seed)
    for _ in range(steps):
        x = torch.randn(16, 6, generator=g, dtype=dtype)
        y = torch.randn(16, 3, generator=g, dtype=dtype)
        for model, opt in ((a, opt_a), (b, opt_b)):
            opt.zero_grad()
            nn.functional.mse_loss(model(x), y).backward()
            opt.step()
    return a, b


def _assert_same_params(a: nn.Module, b: nn.Module, **tol) -> None:
    for pa, pb in zip(a.parameters(), b.parameters(), strict=True):
        torch.testing.assert_close(pa, pb, **tol)


# --- The optimizers against PyTorch's ---------------------------------------------------------


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2, 0.5])
def test_adam_l2_matches_torch_adam(weight_decay):
    a, b = _train_pair(
        lambda p: AdamL2(p, lr=3e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=weight_decay),
        lambda p: torch.optim.Adam(
            p, lr=3e-3, betas=(0.8, 0.99), eps=1e-7, weight_decay=weight_decay
        ),
        steps=200,
        dtype=torch.float32,
    )
    _assert_same_params(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize("weight_decay", [0.0, 1e-2, 0.5])
def test_adamw_matches_torch_adamw(weight_decay):
    a, b = _train_pair(
        lambda p: AdamW(p, lr=3e-3, weight_decay=weight_decay),
        lambda p: torch.optim.AdamW(p, lr=3e-3, weight_decay=weight_decay),
        steps=200,
        dtype=torch.float32,
    )
    _assert_same_params(a, b, rtol=1e-5, atol=1e-6)


@pytest.mark.parametrize(
    ("ours", "theirs"),
    [
        (lambda p: AdamL2(p, weight_decay=0.1), lambda p: torch.optim.Adam(p, weight_decay=0.1)),
        (lambda p: AdamW(p, weight_decay=0.1), lambda p: torch.optim.AdamW(p, weight_decay=0.1)),
    ],
)
def test_float64_agrees_to_double_precision(ours, theirs):
    a, b = _train_pair(ours, theirs, steps=100, dtype=torch.float64, seed=3)
    _assert_same_params(a, b, rtol=1e-12, atol=1e-14)


def test_defaults_are_pytorchs():
    w = [nn.Parameter(torch.zeros(1))]
    for ours, theirs in ((AdamL2(w), torch.optim.Adam(w)), (AdamW(w), torch.optim.AdamW(w))):
        for key in ("lr", "betas", "eps", "weight_decay"):
            assert ours.defaults[key] == theirs.defaults[key], key


def test_parameter_groups_and_closure():
    a, b = _model(1), _model(1)
    groups = lambda m: [  # noqa: E731
        {"params": m[0].parameters(), "weight_decay": 0.3},
        {"params": m[2].parameters(), "lr": 1e-2},
    ]
    opt_a = AdamL2(groups(a), lr=1e-3, weight_decay=0.0)
    opt_b = torch.optim.Adam(groups(b), lr=1e-3, weight_decay=0.0)
    x, y = torch.randn(8, 6), torch.randn(8, 3)
    for model, opt in ((a, opt_a), (b, opt_b)):
        for _ in range(20):

            def closure(model=model, opt=opt):
                opt.zero_grad()
                loss = nn.functional.mse_loss(model(x), y)
                loss.backward()
                return loss

            loss = opt.step(closure)
            assert torch.is_tensor(loss)
    _assert_same_params(a, b, rtol=1e-5, atol=1e-6)


def test_parameters_without_gradient_are_left_alone():
    used, unused = nn.Parameter(torch.ones(2)), nn.Parameter(torch.ones(2))
    opt = AdamL2([used, unused], lr=0.1, weight_decay=1.0)
    used.sum().backward()
    opt.step()
    assert torch.equal(unused.detach(), torch.ones(2))
    assert float(used.detach()[0]) < 1.0


# --- Where the decay enters: the convention ----------------------------------------------------


def test_l2_term_is_the_gradient_of_half_lambda_w_squared():
    # AdamL2(λ) on L equals plain Adam on L + λ/2·‖w‖², whose gradient autograd computes.
    lam = 0.3
    a, b = _model(2, torch.float64), _model(2, torch.float64)
    opt_a, opt_b = AdamL2(a.parameters(), weight_decay=lam), AdamL2(b.parameters())
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    for _ in range(30):
        opt_a.zero_grad()
        nn.functional.mse_loss(a(x), y).backward()
        opt_a.step()
        opt_b.zero_grad()
        penalty = sum(p.pow(2).sum() for p in b.parameters())
        (nn.functional.mse_loss(b(x), y) + lam / 2 * penalty).backward()
        opt_b.step()
    _assert_same_params(a, b, rtol=1e-10, atol=1e-12)


def test_penalty_gradient_gradcheck():
    # The gradient the L2 optimizer adds, λ·w, is what autograd finds for λ/2·‖w‖² (float64).
    lam = 0.7
    w = torch.randn(5, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda v: lam / 2 * (v**2).sum(), (w,))
    (grad,) = torch.autograd.grad(lam / 2 * (w**2).sum(), w)
    torch.testing.assert_close(grad, lam * w.detach())


def test_l2_dominated_adam_moves_every_weight_by_lr_per_step():
    # No data gradient: Adam normalises λ·w, so the pull is lr per step whatever the weight's size.
    w = nn.Parameter(torch.tensor([1.0, -0.5, 3.0], dtype=torch.float64))
    opt = AdamL2([w], lr=1e-3, weight_decay=1e-3)
    start = w.detach().clone()
    for _ in range(20):
        w.grad = torch.zeros_like(w)
        opt.step()
    moved = (start - w.detach()).abs()
    # Within 2% of 20·lr for weights six times apart in size (v̂ remembers the slightly larger λ·w of
    # earlier steps, so the step falls a little short of lr); an SGD step would differ six-fold.
    assert bool(((moved > 0.98 * 20e-3) & (moved <= 20e-3)).all()), moved
    assert bool((start.sign() * w.detach() < start.abs()).all())  # towards zero


def test_adamw_decay_is_geometric_and_scaled_by_lr():
    w = nn.Parameter(torch.tensor([1.0, -0.5, 3.0], dtype=torch.float64))
    start = w.detach().clone()
    opt = AdamW([w], lr=1e-2, weight_decay=0.5)
    for _ in range(20):
        w.grad = torch.zeros_like(w)
        opt.step()
    torch.testing.assert_close(w.detach(), start * (1 - 1e-2 * 0.5) ** 20)
    frozen = nn.Parameter(torch.ones(2))
    opt = AdamW([frozen], lr=0.0, weight_decay=10.0)  # lr = 0: the decay is off too
    frozen.grad = torch.zeros(2)
    opt.step()
    assert torch.equal(frozen.detach(), torch.ones(2))


@settings(max_examples=10, deadline=None)
@given(scale=st.sampled_from([10.0, 320.0, 5120.0]))
def test_scaling_the_loss_by_c_is_dividing_the_l2_decay_by_c(scale):
    # Adam ignores the gradient's scale, so loss × c with λ is loss × 1 with λ / c (up to ε).
    lam = 0.2
    a, b = _model(4, torch.float64), _model(4, torch.float64)
    opt_a = AdamL2(a.parameters(), weight_decay=lam, eps=0.0)
    opt_b = AdamL2(b.parameters(), weight_decay=lam / scale, eps=0.0)
    x, y = torch.randn(8, 6, dtype=torch.float64), torch.randn(8, 3, dtype=torch.float64)
    for _ in range(30):
        for model, opt, c in ((a, opt_a, scale), (b, opt_b, 1.0)):
            opt.zero_grad()
            (c * nn.functional.mse_loss(model(x), y)).backward()
            opt.step()
    _assert_same_params(a, b, rtol=1e-9, atol=1e-12)


@pytest.mark.parametrize("cls", [AdamL2, AdamW])
@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"lr": -1e-3}, "lr"),
        ({"betas": (1.0, 0.999)}, "betas"),
        ({"betas": (0.9, -0.1)}, "betas"),
        ({"eps": -1.0}, "eps"),
        ({"weight_decay": -1e-2}, "weight_decay"),
        ({"lr": float("nan")}, "lr"),
    ],
)
def test_bad_hyperparameters(cls, kwargs, name):
    with pytest.raises(ValueError, match=name):
        cls([nn.Parameter(torch.zeros(1))], **kwargs)


@pytest.mark.parametrize("cls", [AdamL2, AdamW])
def test_betas_must_be_a_pair(cls):
    with pytest.raises(TypeError, match="betas"):
        cls([nn.Parameter(torch.zeros(1))], betas=0.9)


# --- Losses ------------------------------------------------------------------------------------


def test_heatmap_loss_mean_is_mse_and_sum_is_khw_times_larger():
    torch.manual_seed(0)
    pred, target = torch.rand(3, 5, 8, 8), torch.rand(3, 5, 8, 8)
    mean = heatmap_loss(pred, target)
    torch.testing.assert_close(mean, nn.functional.mse_loss(pred, target))
    torch.testing.assert_close(heatmap_loss(pred, target, "sum"), mean * 5 * 8 * 8)


def test_heatmap_loss_bad_input():
    with pytest.raises(ValueError, match="pred and target"):
        heatmap_loss(torch.zeros(2, 5, 8, 8), torch.zeros(2, 5, 8, 1))
    with pytest.raises(ValueError, match="pred"):
        heatmap_loss(torch.zeros(5, 8, 8), torch.zeros(5, 8, 8))
    with pytest.raises(ValueError, match="reduction"):
        heatmap_loss(torch.zeros(1, 1, 2, 2), torch.zeros(1, 1, 2, 2), "none")


def test_best_constant_loss_is_the_loss_of_the_channel_means():
    torch.manual_seed(1)
    t = torch.rand(4, 3, 5, 5, dtype=torch.float64) ** 4
    best = best_constant_loss(t)
    means = t.mean(dim=(0, 2, 3), keepdim=True).expand_as(t)  # (1, K, 1, 1) -> (B, K, H, W)
    torch.testing.assert_close(best, heatmap_loss(means, t))
    for shift in (1e-3, -1e-3):  # any other constant does worse
        assert float(heatmap_loss(means + shift, t)) > float(best)
    pixel = t.mean(dim=0, keepdim=True).expand_as(t)  # (1, K, H, W) -> (B, K, H, W)
    torch.testing.assert_close(best_constant_loss(t, per="pixel"), heatmap_loss(pixel, t))


def test_best_constant_loss_of_a_sparse_gaussian_is_pi_sigma2_over_hw():
    from companion.core.heatmaps import gaussian_heatmaps

    sigma, h, w = 1.5, 64, 64
    t = gaussian_heatmaps(torch.tensor([[[31.3, 30.6]]], dtype=torch.float64), (h, w), sigma)
    estimate = math.pi * sigma**2 / (h * w)
    assert float(best_constant_loss(t)) == pytest.approx(estimate, rel=0.01)


def test_best_constant_loss_stack_of_batches():
    t = torch.rand(6, 4, 2, 3, 3)
    stacked = best_constant_loss(t)
    assert stacked.shape == (6,)
    torch.testing.assert_close(stacked[2], best_constant_loss(t[2]))


def test_best_constant_loss_bad_input():
    with pytest.raises(ValueError, match="heatmaps"):
        best_constant_loss(torch.zeros(3, 4, 4))
    with pytest.raises(ValueError, match="per"):
        best_constant_loss(torch.zeros(1, 1, 4, 4), per="image")
    with pytest.raises(TypeError, match="heatmaps"):
        best_constant_loss(torch.zeros(1, 1, 4, 4, dtype=torch.int64))


# --- The hourglass -----------------------------------------------------------------------------


@pytest.mark.parametrize("batch_norm", [False, True])
def test_hourglass_shapes(batch_norm):
    net = Hourglass(2, 7, width=4, batch_norm=batch_norm)
    assert net(torch.rand(3, 2, 16, 24)).shape == (3, 7, 16, 24)
    convs = [m for m in net.modules() if isinstance(m, nn.Conv2d) and m.kernel_size == (3, 3)]
    assert all((m.bias is None) == batch_norm for m in convs)
    assert sum(isinstance(m, nn.BatchNorm2d) for m in net.modules()) == (5 if batch_norm else 0)


def test_hourglass_forward_is_the_encoder_decoder_with_additive_skips():
    # The wiring, written out from the submodules: two skips, each added at its resolution.
    net = _with_random_head(Hourglass(width=4, seed=3))
    x = torch.rand(2, 1, 16, 16)
    e0 = net.enc0(x)  # (B, D, H, W)
    e1 = net.enc1(nn.functional.max_pool2d(e0, 2))  # (B, 2D, H/2, W/2)
    m = net.mid(nn.functional.max_pool2d(e1, 2))  # (B, 2D, H/4, W/4)
    up = lambda t: nn.functional.interpolate(t, scale_factor=2, mode="nearest")  # noqa: E731
    d1 = net.dec1(up(m) + e1)
    expected = net.head(net.dec0(up(d1) + e0))
    torch.testing.assert_close(net(x), expected)


def test_hourglass_skips_carry_the_input_past_the_bottleneck():
    # With the bottleneck's output zeroed, the output still depends on the input: the skips carry it.
    net = _with_random_head(Hourglass(width=4))
    with torch.no_grad():
        net.mid[0].weight.zero_()
        net.mid[0].bias.fill_(-1.0)  # the bottleneck's ReLU outputs 0 everywhere
    x = torch.rand(2, 1, 16, 16)
    assert float(net(x).detach().std(dim=0).mean()) > 0


def test_hourglass_starts_at_zero_output_and_is_seeded():
    torch.manual_seed(5)
    a = Hourglass(width=4, seed=1)
    state = torch.random.get_rng_state()
    torch.manual_seed(6)
    b, c = Hourglass(width=4, seed=1), Hourglass(width=4, seed=2)
    torch.manual_seed(5)
    Hourglass(width=4, seed=1)
    assert torch.equal(torch.random.get_rng_state(), state)  # the global generator is untouched
    x = torch.rand(2, 1, 16, 16)
    assert torch.equal(a(x), torch.zeros(2, 5, 16, 16))
    assert torch.equal(a.mid[0].weight, b.mid[0].weight)
    assert not torch.equal(a.mid[0].weight, c.mid[0].weight)
    # He-normal: the weights' variance is 2 / fan_in (fan_in = 8 channels × 3 × 3 here).
    w = Hourglass(width=32, seed=0).mid[0].weight.detach()
    assert float(w.var()) == pytest.approx(2 / (64 * 9), rel=0.05)


def test_hourglass_with_zero_weights_outputs_a_constant_per_channel():
    net = Hourglass(width=4)
    with torch.no_grad():
        for name, p in net.named_parameters():
            if name.endswith("weight") and not name.startswith("head"):
                p.zero_()
    out = net(torch.rand(3, 1, 16, 16))
    flat = out.permute(1, 0, 2, 3).reshape(5, -1)  # (B, K, H, W) -> (K, B*H*W)
    torch.testing.assert_close(flat, flat[:, :1].expand_as(flat))


def test_hourglass_bad_input():
    with pytest.raises(ValueError, match="x"):
        Hourglass()(torch.rand(1, 1, 18, 16))
    with pytest.raises(ValueError, match="x"):
        Hourglass()(torch.rand(1, 16, 16))
    with pytest.raises(ValueError, match="width"):
        Hourglass(width=0)
    with pytest.raises(TypeError, match="out_channels"):
        Hourglass(out_channels=2.5)


# --- The training loop -------------------------------------------------------------------------


def _with_random_head(net: Hourglass, seed: int = 0) -> Hourglass:
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        net.head.weight.copy_(torch.randn(net.head.weight.shape, generator=g))
    return net


def _data(n: int = 16, size: int = 16):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, size, size, generator=g), torch.rand(n, 5, size, size, generator=g) ** 8


def test_weight_decay_config_defaults_and_validation():
    cfg = WeightDecayConfig()
    assert (cfg.lr, cfg.weight_decay, cfg.width, cfg.batch_size, cfg.record_every) == (
        3e-3, 1e-2, 8, 8, 10,
    )  # fmt: skip
    with pytest.raises(ValueError, match="lr"):
        WeightDecayConfig(lr=0.0)
    with pytest.raises(ValueError, match="weight_decay"):
        WeightDecayConfig(weight_decay=-1.0)
    with pytest.raises(TypeError, match="batch_size"):
        WeightDecayConfig(batch_size=4.0)
    with pytest.raises(ValueError, match="record_every"):
        WeightDecayConfig(record_every=0)


def test_train_stops_on_a_non_finite_loss():
    x, y = _data()
    y[3] = float("nan")
    net = Hourglass(width=4)
    with pytest.raises(NonFiniteLossError, match="loss"):
        train_heatmaps(net, AdamL2(net.parameters()), x, y, 20, batch_size=16)


def test_probe_removes_its_hooks_and_needs_a_watched_pass():
    net = Hourglass(width=4)
    with LayerProbe(net, AdamL2(net.parameters())) as probe:
        assert all(m._forward_hooks for _, m in probe.relus)
        net(torch.rand(1, 1, 16, 16))  # not watched: nothing counted
        with pytest.raises(ValueError, match="watching"):
            probe.record(0, torch.zeros(1, 5, 16, 16))
    assert all(not m._forward_hooks for m in net.modules())
    with pytest.raises(TypeError, match="optimizer"):
        LayerProbe(net, net.parameters())


def test_train_records_consistent_diagnostics():
    x, y = _data()
    net = _with_random_head(Hourglass(width=4))
    run = train_heatmaps(
        net, AdamL2(net.parameters(), weight_decay=0.1), x, y, 12, batch_size=4, record_every=5
    )
    assert isinstance(run, HeatmapHistory)
    assert run.loss.shape == run.constant_loss.shape == run.penalty.shape == (12,)
    assert run.steps.tolist() == [4, 9]
    assert run.layers == ("enc0.0", "enc1.0", "mid.0", "dec1.0", "dec0.0", "head")
    assert run.ratio.shape == run.weight_norm.shape == (2, 6)
    assert run.relus == ("enc0.1", "enc1.1", "mid.1", "dec1.1", "dec0.1")
    assert run.dead.shape == (2, 5) and run.output_std.shape == (2,)
    assert bool((run.dead >= 0).all() and (run.dead <= 1).all())
    assert bool((run.ratio > 0).all())
    # The final weight norms are the network's.
    assert run.weight_norm[-1, -1] > 0


def test_train_first_record_matches_a_hand_computation():
    x, y = _data()
    net = _with_random_head(Hourglass(width=4))
    twin = _with_random_head(Hourglass(width=4))
    lam = 0.05
    run = train_heatmaps(
        net,
        AdamL2(net.parameters(), weight_decay=lam),
        x,
        y,
        1,
        batch_size=4,
        seed=7,
        record_every=1,
    )
    idx = torch.randint(16, (1, 4), generator=torch.Generator().manual_seed(7))[0]
    loss = heatmap_loss(twin(x[idx]), y[idx])
    loss.backward()
    w, grad = twin.mid[0].weight.detach(), twin.mid[0].weight.grad
    assert float(run.loss[0]) == pytest.approx(float(loss.detach()), rel=1e-6)
    assert float(run.ratio[0, 2]) == pytest.approx(float(lam * w.norm() / grad.norm()), rel=1e-5)
    assert float(run.weight_norm[0, 2]) == pytest.approx(float(w.norm()), rel=1e-6)
    penalty = lam / 2 * sum(float(p.detach().pow(2).sum()) for p in twin.parameters())
    assert float(run.penalty[0]) == pytest.approx(penalty, rel=1e-5)
    assert float(run.constant_loss[0]) == pytest.approx(float(best_constant_loss(y[idx])), rel=1e-6)


def test_train_dead_units_are_counted():
    x, y = _data()
    net = Hourglass(width=4)
    with torch.no_grad():
        net.dec0[0].bias[:3] = -1e3  # three of four channels can never be active
    run = train_heatmaps(
        net, AdamL2(net.parameters(), lr=0.0), x, y, 1, batch_size=4, record_every=1
    )
    assert float(run.dead[0, -1]) == pytest.approx(0.75)


def test_train_reports_sum_losses_per_pixel_and_is_seeded():
    x, y = _data()
    runs = []
    for reduction in ("mean", "sum", "mean"):
        torch.manual_seed(0)
        net = Hourglass(width=4)
        runs.append(
            train_heatmaps(
                net, AdamL2(net.parameters(), lr=0.0), x, y, 3, batch_size=4, reduction=reduction
            )
        )
    torch.testing.assert_close(runs[0].loss, runs[1].loss)
    assert torch.equal(runs[0].loss, runs[2].loss)


def test_train_does_not_modify_data_and_removes_hooks():
    x, y = _data()
    x0, y0 = x.clone(), y.clone()
    net = Hourglass(width=4)
    train_heatmaps(net, AdamL2(net.parameters()), x, y, 2, batch_size=4)
    assert torch.equal(x, x0) and torch.equal(y, y0)
    assert all(not m._forward_hooks for m in net.modules())


def test_train_bad_input():
    x, y = _data()
    net = Hourglass(width=4)
    opt = AdamL2(net.parameters())
    with pytest.raises(ValueError, match="images and heatmaps"):
        train_heatmaps(net, opt, x, y[:8], 2)
    with pytest.raises(ValueError, match="steps"):
        train_heatmaps(net, opt, x, y, 0)
    with pytest.raises(ValueError, match="reduction"):
        train_heatmaps(net, opt, x, y, 2, reduction="max")
    with pytest.raises(ValueError, match="heatmaps"):
        train_heatmaps(net, opt, x, y[:, 0], 2)
    with pytest.raises(TypeError, match="batch_size"):
        train_heatmaps(net, opt, x, y, 2, batch_size=2.0)


def test_train_bn_network_lists_its_scales_and_relus():
    x, y = _data()
    net = Hourglass(width=4, batch_norm=True)
    run = train_heatmaps(net, AdamL2(net.parameters(), weight_decay=0.1), x, y, 2, batch_size=4)
    assert run.layers[:2] == ("enc0.0", "enc0.1")  # the conv, then its batch norm's scale γ
    assert len(run.layers) == 11 and run.relus[0] == "enc0.2"


# --- The slice through the landscape ---------------------------------------------------------------


def test_losses_along_line_matches_direct_evaluation():
    x, y = _data(n=4)
    net = _with_random_head(Hourglass(width=4))
    start = {n: p.detach().clone() for n, p in net.named_parameters()}
    g = torch.Generator().manual_seed(1)
    direction = {n: torch.randn(p.shape, generator=g) * 0.1 for n, p in start.items()}
    lam = 0.3
    loss, objective = losses_along_line(net, start, direction, x, y, torch.tensor([-1.0, 0.5]), lam)
    with torch.no_grad():
        for p_name, p in net.named_parameters():
            p.copy_(start[p_name] + 0.5 * direction[p_name])
        expected = heatmap_loss(net(x), y)
        penalty = lam / 2 * sum(float(p.pow(2).sum()) for p in net.parameters())
    assert float(loss[1]) == pytest.approx(float(expected), rel=1e-5)
    assert float(objective[1]) == pytest.approx(float(expected) + penalty, rel=1e-5)
    for n, p in net.named_parameters():  # the model was changed only by this test's own copy
        torch.testing.assert_close(p.detach(), start[n] + 0.5 * direction[n])


def test_losses_along_line_bad_input():
    x, y = _data(n=2)
    net = Hourglass(width=4)
    theta = {n: p.detach() for n, p in net.named_parameters()}
    with pytest.raises(ValueError, match="direction"):
        losses_along_line(net, theta, {}, x, y, torch.zeros(2), 0.1)
    bad = dict(theta, **{"head.bias": torch.zeros(3)})
    with pytest.raises(ValueError, match="start"):
        losses_along_line(net, bad, theta, x, y, torch.zeros(2), 0.1)
    with pytest.raises(ValueError, match="alphas"):
        losses_along_line(net, theta, theta, x, y, torch.zeros(2, 2), 0.1)
    with pytest.raises(ValueError, match="weight_decay"):
        losses_along_line(net, theta, theta, x, y, torch.zeros(2), -0.1)


# --- Networks side by side, the readout control, the fixed probe -----------------------------------


def test_stacked_runs_are_the_separate_runs():
    # Each stacked network must take exactly the steps that its own optimizer takes alone:
    # AdamL2, AdamW and a summed loss, each with its own lr, in float64.
    x, y = (t.double() for t in _data())
    cfg = [(1e-3, 0.0, False, "mean"), (3e-3, 0.1, False, "mean"), (2e-3, 0.5, True, "mean"),
           (3e-3, 0.1, False, "sum")]  # fmt: skip
    stacked = [_with_random_head(Hourglass(width=4, seed=i), i).double() for i in range(4)]
    alone = [_with_random_head(Hourglass(width=4, seed=i), i).double() for i in range(4)]
    record = train_stacked(
        stacked, x, y, 6, batch_size=4, seed=2,
        lr=[c[0] for c in cfg], weight_decay=[c[1] for c in cfg],
        decoupled=[c[2] for c in cfg], reduction=[c[3] for c in cfg],
    )  # fmt: skip
    loss = record.loss
    assert loss.shape == (6, 4)
    for i, (lr, decay, decoupled, reduction) in enumerate(cfg):
        opt = (AdamW if decoupled else AdamL2)(alone[i].parameters(), lr=lr, weight_decay=decay)
        run = train_heatmaps(alone[i], opt, x, y, 6, batch_size=4, seed=2, reduction=reduction)
        torch.testing.assert_close(loss[:, i], run.loss, rtol=1e-6, atol=0)
        torch.testing.assert_close(record.constant_loss, run.constant_loss)
        _assert_same_params(stacked[i], alone[i], rtol=1e-10, atol=1e-12)


def test_stacked_sgd_and_weight_norms_are_the_separate_runs():
    # SGD networks (with and without momentum, with and without L2) stacked next to an Adam one
    # must take exactly torch.optim.SGD's steps, and the weight norms recorded every 2 steps must
    # be train_heatmaps' records of the same runs, in float64.
    x, y = (t.double() for t in _data())
    cfg = [("adam", 3e-3, 0.1, 0.0), ("sgd", 0.1, 0.1, 0.9), ("sgd", 0.05, 0.0, 0.0),
           ("sgd", 0.2, 0.0, 0.5)]  # fmt: skip
    stacked = [_with_random_head(Hourglass(width=4, seed=i), i).double() for i in range(4)]
    alone = [_with_random_head(Hourglass(width=4, seed=i), i).double() for i in range(4)]
    record = train_stacked(
        stacked, x, y, 6, batch_size=4, seed=1, record_every=2,
        optimizer=[c[0] for c in cfg], lr=[c[1] for c in cfg],
        weight_decay=[c[2] for c in cfg], momentum=[c[3] for c in cfg],
    )  # fmt: skip
    assert record.weight_norm.shape == (3, 4, len(record.layers))
    for i, (kind, lr, decay, mu) in enumerate(cfg):
        params = alone[i].parameters()
        opt = (
            torch.optim.SGD(params, lr=lr, momentum=mu, weight_decay=decay)
            if kind == "sgd"
            else AdamL2(params, lr=lr, weight_decay=decay)
        )
        run = train_heatmaps(alone[i], opt, x, y, 6, batch_size=4, seed=1, record_every=2)
        torch.testing.assert_close(record.loss[:, i], run.loss, rtol=1e-6, atol=0)
        _assert_same_params(stacked[i], alone[i], rtol=1e-10, atol=1e-12)
        assert record.layers == run.layers and torch.equal(record.steps, run.steps)
        torch.testing.assert_close(record.weight_norm[:, i].float(), run.weight_norm.float())


def test_stacked_one_setting_for_all_and_inputs_untouched():
    x, y = _data()
    x0 = x.clone()
    a = [Hourglass(width=4, seed=i) for i in range(2)]
    b = [Hourglass(width=4, seed=i) for i in range(2)]
    la = train_stacked(a, x, y, 3, lr=1e-3, weight_decay=0.1, batch_size=4).loss
    lb = train_stacked(b, x, y, 3, lr=[1e-3, 1e-3], weight_decay=[0.1, 0.1], batch_size=4).loss
    assert torch.equal(la, lb) and torch.equal(x, x0)
    assert not torch.equal(a[0].mid[0].weight, Hourglass(width=4, seed=0).mid[0].weight)


def test_stacked_bad_input():
    x, y = _data()
    nets = [Hourglass(width=4), Hourglass(width=4)]
    with pytest.raises(ValueError, match="lr"):
        train_stacked(nets, x, y, 2, lr=[1e-3])
    with pytest.raises(ValueError, match=r"weight_decay\[1\]"):
        train_stacked(nets, x, y, 2, lr=1e-3, weight_decay=[0.0, -1.0])
    with pytest.raises(ValueError, match="decoupled"):
        train_stacked(nets, x, y, 2, lr=1e-3, decoupled=[True])
    with pytest.raises(ValueError, match="reduction"):
        train_stacked(nets, x, y, 2, lr=1e-3, reduction="max")
    with pytest.raises(ValueError, match="optimizer"):
        train_stacked(nets, x, y, 2, lr=1e-3, optimizer="rmsprop")
    with pytest.raises(ValueError, match="decoupled"):
        train_stacked(nets, x, y, 2, lr=1e-3, optimizer="sgd", decoupled=True)
    with pytest.raises(ValueError, match=r"momentum\[0\]"):
        train_stacked(nets, x, y, 2, lr=1e-3, optimizer="sgd", momentum=1.0)
    with pytest.raises(ValueError, match="record_every"):
        train_stacked(nets, x, y, 2, lr=1e-3, record_every=0)
    with pytest.raises(ValueError, match="nets"):
        train_stacked([Hourglass(width=4), Hourglass(width=8)], x, y, 2, lr=1e-3)
    with pytest.raises(ValueError, match="nets"):
        train_stacked([Hourglass(width=4, batch_norm=True)], x, y, 2, lr=1e-3)
    with pytest.raises(TypeError, match="nets"):
        train_stacked([], x, y, 2, lr=1e-3)
    with pytest.raises(ValueError, match="images and heatmaps"):
        train_stacked(nets, x, y[:8], 2, lr=1e-3)


def test_pytorch_readout_is_conv2d_default_and_the_rest_is_unchanged():
    zero, default = Hourglass(width=4, seed=3), Hourglass(width=4, seed=3, readout="pytorch")
    for (name, p), q in zip(zero.named_parameters(), default.parameters(), strict=True):
        if not name.startswith("head"):
            assert torch.equal(p, q), name
    # PyTorch's Conv2d default: uniform in ±1/sqrt(fan_in) for weight and bias (fan_in = D = 4).
    w, b = default.head.weight.detach(), default.head.bias.detach()
    assert float(w.abs().max()) <= 0.5 and float(w.abs().min()) > 0 and float(b.abs().max()) > 0
    x = torch.rand(2, 1, 16, 16)
    assert (
        float(default(x).detach().std(dim=0).mean()) > 0
    )  # the untrained output depends on the input
    with pytest.raises(ValueError, match="readout"):
        Hourglass(readout="he")


def test_train_probe_images_measure_dead_units_and_spread_on_fixed_faces():
    x, y = _data()
    probe_x = torch.rand(6, 1, 16, 16, generator=torch.Generator().manual_seed(1))
    net = _with_random_head(Hourglass(width=4))
    run = train_heatmaps(
        net, AdamL2(net.parameters(), lr=1e-2), x, y, 10, batch_size=4, record_every=5,
        probe_images=probe_x,
    )  # fmt: skip
    # The record at step 9 sees the weights after 9 updates: rebuild them and measure by hand.
    twin = _with_random_head(Hourglass(width=4))
    train_heatmaps(twin, AdamL2(twin.parameters(), lr=1e-2), x, y, 9, batch_size=4)
    with torch.no_grad():
        out = twin(probe_x)  # (6, K, H, W)
        e0 = twin.enc0(probe_x)  # (6, D, H, W), after the first ReLU
    assert float(run.output_std[1]) == pytest.approx(float(out.std(dim=0).mean()), rel=1e-5)
    dead = 1 - float((e0 > 0).any(dim=(0, 2, 3)).float().mean())
    assert float(run.dead[1, 0]) == pytest.approx(dead)
    with pytest.raises(ValueError, match="probe_images"):
        train_heatmaps(net, AdamL2(net.parameters()), x, y, 2, probe_images=torch.rand(2, 1, 8, 8))
