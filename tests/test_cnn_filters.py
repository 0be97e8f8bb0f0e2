"""Tests of companion.cnn_filters: initialiser bounds, the filter gradient, matching, permutation,
the edge score and the batched training of many seeds."""

from __future__ import annotations

import itertools
import math

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from companion.cnn_filters import (
    CnnFiltersConfig,
    FilterRunsHistory,
    ablation_importance,
    any_within_first,
    conv_weight_grad,
    digit_cnn,
    edge_score,
    glorot_uniform_bound,
    match_filters,
    permute_channels,
    pytorch_conv_bound,
    sobel_kernels,
    train_filter_runs,
)
from companion.core.datasets import digits
from companion.core.training import NonFiniteLossError


def gen(seed: int) -> torch.Generator:
    return torch.Generator().manual_seed(seed)


SMALL = CnnFiltersConfig(filters=4, steps=6, batch_size=8)


@pytest.fixture(scope="module")
def data():
    return digits(flatten=False, seed=0)


# --- Initialiser bounds ---------------------------------------------------------------------------


def test_asker_layer_bounds_are_0192_and_0138():
    assert round(pytorch_conv_bound(3, 3), 3) == 0.192
    assert round(glorot_uniform_bound(3, 32, 3), 3) == 0.138
    assert pytorch_conv_bound(1, 3) == pytest.approx(1 / 3)
    assert glorot_uniform_bound(1, 32, 3) == pytest.approx(math.sqrt(6 / (9 + 288)))


@pytest.mark.parametrize(("c", "k", "size"), [(1, 32, 3), (3, 32, 3), (8, 4, 5)])
def test_pytorch_bound_is_what_conv2d_draws(c, k, size):
    """Oracle: PyTorch's own Conv2d. Its weights and bias fill U(-b, b) and no more."""
    torch.manual_seed(0)
    b = pytorch_conv_bound(c, size)
    weights = torch.cat([nn.Conv2d(c, k, size).weight.detach().flatten() for _ in range(20)])
    biases = torch.cat([nn.Conv2d(c, k, size).bias.detach() for _ in range(200)])
    assert float(weights.abs().max()) <= b
    assert float(weights.abs().max()) > 0.99 * b
    assert float(biases.abs().max()) <= b
    assert float(biases.abs().max()) > 0.9 * b


@pytest.mark.parametrize(("c", "k", "size"), [(1, 32, 3), (3, 32, 3), (8, 4, 5)])
def test_glorot_bound_is_what_xavier_uniform_draws(c, k, size):
    """Oracle: torch's xavier_uniform_, which shares Keras's fan convention for conv kernels."""
    w = nn.init.xavier_uniform_(torch.empty(20 * k, c, size, size), generator=gen(0))
    # 20*k filters would change fan_out: compute the bound for the real layer from the formula
    b_real = glorot_uniform_bound(c, k, size)
    b_big = glorot_uniform_bound(c, 20 * k, size)
    assert float(w.abs().max()) <= b_big
    assert float(w.abs().max()) > 0.99 * b_big
    assert b_real == pytest.approx(math.sqrt(6 / (c * size**2 + k * size**2)))


def test_bound_errors_name_the_argument():
    with pytest.raises(ValueError, match="in_channels"):
        pytorch_conv_bound(0, 3)
    with pytest.raises(TypeError, match="kernel_size"):
        pytorch_conv_bound(3, 3.0)
    with pytest.raises(ValueError, match="out_channels"):
        glorot_uniform_bound(3, 0, 3)


# --- The filter gradient ----------------------------------------------------------------------------


def autograd_weight_grad(x, g, kernel, stride, padding):
    w = torch.zeros(g.shape[1], x.shape[1], *kernel, dtype=x.dtype, requires_grad=True)
    (F.conv2d(x, w, stride=stride, padding=padding) * g).sum().backward()
    return w.grad


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "size"),
    [
        ((3, 3), 1, 0, (7, 7)),
        ((3, 3), 1, 1, (8, 8)),
        ((3, 3), 2, 1, (8, 9)),  # stride that does not divide the size: a cropped remainder
        ((2, 5), (2, 3), (1, 2), (9, 11)),
        ((1, 1), 1, 0, (4, 4)),
    ],
)
def test_weight_grad_equals_autograd(kernel, stride, padding, size):
    x = torch.randn(3, 2, *size, generator=gen(1), dtype=torch.float64)
    out = F.conv2d(
        x, torch.zeros(4, 2, *kernel, dtype=torch.float64), stride=stride, padding=padding
    )
    g = torch.randn(out.shape, generator=gen(2), dtype=torch.float64)
    ours = conv_weight_grad(x, g, kernel, stride=stride, padding=padding)
    torch.testing.assert_close(ours, autograd_weight_grad(x, g, kernel, stride, padding))


@settings(max_examples=25, deadline=None)
@given(
    b=st.integers(1, 3),
    c=st.integers(1, 3),
    k=st.integers(1, 3),
    h=st.integers(3, 9),
    w=st.integers(3, 9),
    kernel=st.integers(1, 3),
    stride=st.integers(1, 3),
    padding=st.integers(0, 2),
)
def test_weight_grad_equals_autograd_for_any_shape(b, c, k, h, w, kernel, stride, padding):
    x = torch.randn(b, c, h, w, generator=gen(h * w), dtype=torch.float64)
    out = F.conv2d(
        x, torch.zeros(k, c, kernel, kernel, dtype=torch.float64), stride=stride, padding=padding
    )
    g = torch.randn(out.shape, generator=gen(3), dtype=torch.float64)
    ours = conv_weight_grad(x, g, kernel, stride=stride, padding=padding)
    ref = autograd_weight_grad(x, g, (kernel, kernel), stride, padding)
    torch.testing.assert_close(ours, ref)


def test_weight_grad_matches_finite_differences():
    """Oracle without autograd: central differences of the loss sum(conv2d(x, w) * g)."""
    x = torch.randn(2, 2, 6, 6, generator=gen(4), dtype=torch.float64)
    w = torch.randn(3, 2, 3, 3, generator=gen(5), dtype=torch.float64)
    g = torch.randn(2, 3, 3, 3, generator=gen(6), dtype=torch.float64)

    def loss(weights):
        return float((F.conv2d(x, weights, stride=2, padding=1) * g).sum())

    eps = 1e-6
    numeric = torch.zeros_like(w)
    for idx in itertools.product(*(range(n) for n in w.shape)):
        step = torch.zeros_like(w)
        step[idx] = eps
        numeric[idx] = (loss(w + step) - loss(w - step)) / (2 * eps)
    torch.testing.assert_close(conv_weight_grad(x, g, 3, stride=2, padding=1), numeric)


def test_weight_grad_gradcheck_float64():
    """The gradient formula is itself differentiable (bilinear in x and grad_out)."""
    x = torch.randn(2, 2, 5, 5, dtype=torch.float64, requires_grad=True)
    g = torch.randn(2, 3, 3, 3, dtype=torch.float64, requires_grad=True)
    assert torch.autograd.gradcheck(lambda a, b: conv_weight_grad(a, b, 3), (x, g))


def test_weight_grad_is_a_cross_correlation_not_a_convolution():
    """Convention, pinned by one-hot inputs: the weight at offset (i, j) = (p - u, q - v) links
    input pixel (p, q) to output pixel (u, v); a flipped (convolution) formula would put it at
    (kh-1-i, kw-1-j)."""
    x = torch.zeros(1, 1, 5, 5)
    x[0, 0, 3, 2] = 1.0  # input pixel (p, q) = (3, 2)
    g = torch.zeros(1, 1, 3, 3)
    g[0, 0, 1, 0] = 1.0  # output pixel (u, v) = (1, 0)
    grad = conv_weight_grad(x, g, 3)
    expected = torch.zeros(1, 1, 3, 3)
    expected[0, 0, 2, 2] = 1.0
    torch.testing.assert_close(grad, expected)


def test_weight_grad_keeps_inputs_and_device_dtype():
    x = torch.randn(2, 1, 5, 5, generator=gen(7))
    g = torch.randn(2, 2, 3, 3, generator=gen(8))
    x0, g0 = x.clone(), g.clone()
    out = conv_weight_grad(x, g, 3)
    assert out.dtype == x.dtype and out.device == x.device and out.shape == (2, 1, 3, 3)
    assert torch.equal(x, x0) and torch.equal(g, g0)


def test_weight_grad_errors_name_the_argument():
    x, g = torch.randn(2, 1, 5, 5), torch.randn(2, 2, 3, 3)
    with pytest.raises(ValueError, match="x must be 4-D"):
        conv_weight_grad(x[0], g, 3)
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        conv_weight_grad(x.long(), g, 3)
    with pytest.raises(TypeError, match="grad_out must have x's dtype"):
        conv_weight_grad(x, g.double(), 3)
    with pytest.raises(ValueError, match="grad_out must have x's batch size"):
        conv_weight_grad(x, g[:1], 3)
    with pytest.raises(ValueError, match=r"grad_out must be \(B, K, 3, 3\)"):
        conv_weight_grad(x, torch.randn(2, 2, 4, 4), 3)
    with pytest.raises(ValueError, match="stride"):
        conv_weight_grad(x, g, 3, stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv_weight_grad(x, g, 3, padding=-1)
    with pytest.raises(TypeError, match="kernel_size"):
        conv_weight_grad(x, g, (3, 3, 3))
    with pytest.raises(ValueError, match=r"x's padded spatial size \(5, 5\) must be at least"):
        conv_weight_grad(x, g, 7)


# --- Sobel kernels and the edge score ---------------------------------------------------------------


def test_sobel_kernels_are_the_classic_ones_and_orthogonal():
    sx, sy = sobel_kernels()
    torch.testing.assert_close(sx, torch.tensor([[-1.0, 0, 1], [-2, 0, 2], [-1, 0, 1]]))
    torch.testing.assert_close(sy, sx.T)
    for size in (3, 5, 7):
        bx, by = sobel_kernels(size, torch.float64)
        assert abs(float((bx * by).sum())) < 1e-12
        assert float(bx.norm()) == pytest.approx(float(by.norm()))
    torch.testing.assert_close(sobel_kernels(5)[0, 2], torch.tensor([-6.0, -12, 0, 12, 6]))


def test_sobel_x_is_positive_on_a_dark_to_light_step():
    """Convention: under cross-correlation (conv2d), d/dx responds > 0 where x increases."""
    image = torch.zeros(1, 1, 5, 6)
    image[..., 3:] = 1.0  # dark on the left, light on the right
    response = F.conv2d(image, sobel_kernels()[:1, None])
    assert float(response.max()) > 0 and float(response.min()) == 0


@settings(max_examples=30, deadline=None)
@given(theta=st.floats(0, 2 * math.pi), scale=st.floats(-100, 100).filter(lambda s: abs(s) > 1e-3))
def test_any_rotated_sobel_scores_one(theta, scale):
    sx, sy = sobel_kernels(3, torch.float64)
    f = scale * (math.cos(theta) * sx + math.sin(theta) * sy)
    assert float(edge_score(f[None, None])) == pytest.approx(1.0, abs=1e-9)


def test_non_edges_score_zero_and_random_filters_lower():
    constant = torch.ones(1, 1, 3, 3)
    laplacian = torch.tensor([[[[0.0, 1, 0], [1, -4, 1], [0, 1, 0]]]])
    zero = torch.zeros(1, 1, 3, 3)
    scores = edge_score(torch.cat([constant, laplacian, zero]))
    torch.testing.assert_close(scores, torch.zeros(3))
    random = edge_score(torch.randn(20000, 1, 3, 3, generator=gen(9)))
    assert float(random.max()) <= 1 + 1e-6 and float(random.min()) >= 0
    assert float(random.mean()) < 0.5  # E[score^2] = 2/9 for Gaussian entries


def test_edge_score_matches_the_beta_law_for_gaussian_filters():
    """score^2 ~ Beta(1, 3.5) for i.i.d. Gaussian 3×3 entries: P(score > t) = (1 - t^2)^3.5."""
    scores = edge_score(torch.randn(200000, 1, 3, 3, generator=gen(10), dtype=torch.float64))
    for t in (0.5, 0.8):
        assert float((scores > t).double().mean()) == pytest.approx((1 - t * t) ** 3.5, abs=0.003)


def test_edge_score_is_the_best_cosine_over_orientations():
    """Oracle: a brute-force maximum over 3600 orientations of the Sobel bank."""
    filters = torch.randn(50, 1, 3, 3, generator=gen(11), dtype=torch.float64)
    sx, sy = sobel_kernels(3, torch.float64)
    theta = torch.linspace(0, 2 * math.pi, 3601, dtype=torch.float64)
    bank = torch.cos(theta)[:, None, None] * sx + torch.sin(theta)[:, None, None] * sy
    cos = F.normalize(filters.flatten(1), dim=1) @ F.normalize(bank.flatten(1), dim=1).T
    torch.testing.assert_close(edge_score(filters), cos.max(dim=1).values, atol=1e-6, rtol=0)


def test_edge_score_errors_name_the_argument():
    with pytest.raises(ValueError, match="filters must be single-channel"):
        edge_score(torch.randn(2, 2, 3, 3))
    with pytest.raises(ValueError, match="filters must be single-channel"):
        edge_score(torch.randn(2, 1, 4, 4))
    with pytest.raises(ValueError, match="filters must be 4-D"):
        edge_score(torch.randn(2, 3, 3))
    with pytest.raises(TypeError, match="filters"):
        edge_score(torch.ones(2, 1, 3, 3, dtype=torch.int64))
    with pytest.raises(ValueError, match="size must be odd"):
        sobel_kernels(4)


def test_any_within_first_matches_a_loop():
    flags = torch.rand(30, 12, generator=gen(12)) < 0.1
    ks = [1, 2, 5, 12]
    expected = [sum(bool(row[:k].any()) for row in flags) / len(flags) for k in ks]
    torch.testing.assert_close(any_within_first(flags, ks), torch.tensor(expected))
    with pytest.raises(ValueError, match=r"ks\[1\] must be <= K = 12"):
        any_within_first(flags, [1, 13])
    with pytest.raises(ValueError, match="flags must hold at least one run"):
        any_within_first(flags[:0], [1])
    with pytest.raises(TypeError, match="ks must be a sequence of ints"):
        any_within_first(flags, 3)
    with pytest.raises(TypeError, match="flags must be a bool tensor"):
        any_within_first(flags.float(), [1])


# --- Matching ----------------------------------------------------------------------------------------


def test_match_recovers_a_known_permutation_with_similarity_one():
    a = torch.randn(8, 2, 3, 3, generator=gen(13))
    perm = torch.randperm(8, generator=gen(14))
    scales = torch.rand(8, generator=gen(15))[:, None, None, None] * 10 + 0.1
    b = a[perm] * scales  # scale invariance: each filter rescaled by a positive factor
    index, sim = match_filters(a, b)
    assert torch.equal(perm[index], torch.arange(8))
    torch.testing.assert_close(sim, torch.ones(8))


def test_match_is_the_best_one_to_one_assignment():
    """Oracle: brute force over all 6! assignments."""
    a = torch.randn(6, 1, 3, 3, generator=gen(16), dtype=torch.float64)
    b = torch.randn(6, 1, 3, 3, generator=gen(17), dtype=torch.float64)
    cos = F.normalize(a.flatten(1), dim=1) @ F.normalize(b.flatten(1), dim=1).T
    best = max(sum(float(cos[i, p[i]]) for i in range(6)) for p in itertools.permutations(range(6)))
    index, sim = match_filters(a, b)
    assert sorted(index.tolist()) == list(range(6))
    assert float(sim.sum()) == pytest.approx(best)
    torch.testing.assert_close(sim, cos[torch.arange(6), index])


def test_match_does_not_forgive_a_sign_flip():
    a = torch.randn(1, 1, 3, 3, generator=gen(18))
    _, sim = match_filters(a, -a)
    torch.testing.assert_close(sim, -torch.ones(1))


def test_match_errors_name_the_argument():
    with pytest.raises(ValueError, match="a and b must have the same shape"):
        match_filters(torch.randn(3, 1, 3, 3), torch.randn(4, 1, 3, 3))
    with pytest.raises(ValueError, match="b must be 4-D"):
        match_filters(torch.randn(3, 1, 3, 3), torch.randn(3, 3, 3))
    with pytest.raises(TypeError, match="a must have a floating-point dtype"):
        match_filters(torch.ones(3, 1, 3, 3, dtype=torch.int64), torch.randn(3, 1, 3, 3))


# --- Permutation --------------------------------------------------------------------------------------


def conv_conv_net(seed=0):
    torch.manual_seed(seed)
    return nn.Conv2d(2, 5, 3, padding=1), nn.Conv2d(5, 4, 3)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_permutation_preserves_a_conv_conv_network(seed):
    conv, nxt = conv_conv_net(seed)
    perm = torch.randperm(5, generator=gen(seed))
    conv_p, nxt_p = permute_channels(conv, nxt, perm)
    x = torch.randn(3, 2, 8, 8, generator=gen(19))
    between = nn.Sequential(nn.ReLU(), nn.MaxPool2d(2))
    ref = nxt(between(conv(x)))
    torch.testing.assert_close(nxt_p(between(conv_p(x))), ref)
    torch.testing.assert_close(conv_p(x), conv(x)[:, perm])  # channel i is the old perm[i]


def test_permutation_preserves_a_network_with_a_linear_after_flatten():
    torch.manual_seed(3)
    net = digit_cnn(CnnFiltersConfig(filters=6), seed=3)
    perm = torch.tensor([3, 5, 0, 1, 4, 2])
    conv_p, lin_p = permute_channels(net[0], net[4], perm)
    net_p = nn.Sequential(conv_p, *net[1:4], lin_p)
    x = torch.rand(10, 1, 8, 8, generator=gen(20))
    torch.testing.assert_close(net_p(x), net(x))
    assert not torch.allclose(conv_p.weight, net[0].weight)


def test_permutation_leaves_the_inputs_untouched():
    conv, nxt = conv_conv_net(4)
    before = [p.detach().clone() for p in (*conv.parameters(), *nxt.parameters())]
    conv_p, nxt_p = permute_channels(conv, nxt, torch.tensor([1, 0, 2, 4, 3]))
    after = [p.detach() for p in (*conv.parameters(), *nxt.parameters())]
    assert all(torch.equal(a, b) for a, b in zip(before, after, strict=True))
    assert conv_p is not conv and nxt_p is not nxt
    assert conv_p.weight.data_ptr() != conv.weight.data_ptr()


def test_permutation_errors_name_the_argument():
    conv, nxt = conv_conv_net()
    with pytest.raises(ValueError, match="perm must be a permutation"):
        permute_channels(conv, nxt, torch.tensor([0, 0, 1, 2, 3]))
    with pytest.raises(ValueError, match="perm must be a permutation"):
        permute_channels(conv, nxt, torch.tensor([0, 1, 2, 3]))
    with pytest.raises(TypeError, match="perm must have an integer dtype"):
        permute_channels(conv, nxt, torch.arange(5.0))
    with pytest.raises(TypeError, match=r"conv must be a torch\.nn\.Conv2d"):
        permute_channels(nn.Linear(2, 5), nxt, torch.arange(5))
    with pytest.raises(TypeError, match="next_layer must be"):
        permute_channels(conv, nn.ReLU(), torch.arange(5))
    with pytest.raises(
        ValueError, match="next_layer must be a Conv2d with groups=1 and in_channels=5"
    ):
        permute_channels(conv, nn.Conv2d(6, 2, 1), torch.arange(5))
    with pytest.raises(ValueError, match="next_layer's in_features must be a multiple"):
        permute_channels(conv, nn.Linear(12, 2), torch.arange(5))
    with pytest.raises(ValueError, match="conv must have groups=1"):
        permute_channels(nn.Conv2d(2, 4, 3, groups=2), nn.Conv2d(4, 1, 1), torch.arange(4))


# --- The classifier, batched training and ablation -----------------------------------------------------


def test_config_validation():
    with pytest.raises(ValueError, match="kernel_size must be odd"):
        CnnFiltersConfig(kernel_size=4)
    with pytest.raises(ValueError, match="lr"):
        CnnFiltersConfig(lr=0.0)
    with pytest.raises(ValueError, match="momentum"):
        CnnFiltersConfig(momentum=1.0)
    with pytest.raises(ValueError, match="weight_decay"):
        CnnFiltersConfig(weight_decay=-1e-3)
    with pytest.raises(TypeError, match="steps"):
        CnnFiltersConfig(steps=10.0)


def test_digit_cnn_uses_pytorch_default_init_from_its_seed_only():
    a, b = digit_cnn(SMALL, 5), digit_cnn(SMALL, 5)
    assert torch.equal(a[0].weight, b[0].weight)
    assert not torch.equal(a[0].weight, digit_cnn(SMALL, 6)[0].weight)
    assert float(a[0].weight.detach().abs().max()) <= pytorch_conv_bound(1, 3)
    assert a(torch.zeros(2, 1, 8, 8)).shape == (2, 10)


def standalone_training(x, y, config, seed, batch_seed):
    """The oracle: one digit_cnn trained alone with torch.optim.SGD on the same batches."""
    net = digit_cnn(config, seed)
    opt = torch.optim.SGD(
        net.parameters(), lr=config.lr, momentum=config.momentum, weight_decay=config.weight_decay
    )
    g = gen(batch_seed)
    for _ in range(config.steps):
        idx = torch.randint(len(x), (config.batch_size,), generator=g)
        opt.zero_grad()
        F.cross_entropy(net(x[idx]), y[idx]).backward()
        opt.step()
    return net


@pytest.mark.parametrize("weight_decay", [0.0, 0.05])
def test_batched_training_equals_training_each_seed_alone(data, weight_decay):
    config = CnnFiltersConfig(filters=4, steps=6, batch_size=8, weight_decay=weight_decay)
    runs = train_filter_runs(data.x_train, data.y_train, [3, 7], config, batch_seed=2)
    for i, seed in enumerate([3, 7]):
        alone = standalone_training(data.x_train, data.y_train, config, seed, batch_seed=2)
        torch.testing.assert_close(runs.init_filters[i], digit_cnn(config, seed)[0].weight.detach())
        model = runs.model(i)
        for p, q in zip(model.parameters(), alone.parameters(), strict=True):
            torch.testing.assert_close(p, q, atol=1e-5, rtol=1e-4)


def test_training_lowers_the_loss_and_keeps_the_inputs(data):
    x, y = data.x_train, data.y_train
    x0 = x.clone()
    config = CnnFiltersConfig(filters=8, steps=60, batch_size=32)
    runs = train_filter_runs(x, y, [0, 1, 2], config)
    assert isinstance(runs, FilterRunsHistory)
    assert runs.loss.shape == (60, 3)
    assert bool((runs.loss[-10:].mean(0) < 0.6 * runs.loss[:5].mean(0)).all())
    assert torch.equal(x, x0)
    assert not torch.equal(runs.filters, runs.init_filters)


def test_training_stops_on_a_non_finite_loss(data):
    """Finite images, but a step size that overflows the weights: the loss turns NaN at step 1."""
    diverging = CnnFiltersConfig(filters=2, steps=3, batch_size=16, lr=1e30, momentum=0.0)
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 1"):
        train_filter_runs(data.x_train[:16], data.y_train[:16], [0], diverging)


def test_non_finite_images_are_refused_before_training(data):
    x = data.x_train[:16].clone()
    x[0, 0, 0, 0] = float("nan")
    with pytest.raises(ValueError, match="x must be finite"):
        train_filter_runs(x, data.y_train[:16], [0], SMALL)
    runs = train_filter_runs(data.x_train[:16], data.y_train[:16], [0], SMALL)
    with pytest.raises(ValueError, match="x must be finite"):
        ablation_importance(runs, x, data.y_train[:16])


def test_training_errors_name_the_argument(data):
    x, y = data.x_train[:16], data.y_train[:16]
    with pytest.raises(ValueError, match="seeds must be non-empty and distinct"):
        train_filter_runs(x, y, [1, 1], SMALL)
    with pytest.raises(ValueError, match="seeds must be non-empty and distinct"):
        train_filter_runs(x, y, [], SMALL)
    with pytest.raises(ValueError, match=r"y must hold labels in 0\.\.9"):
        train_filter_runs(x, y + 10, [0], SMALL)
    with pytest.raises(ValueError, match="x and y must have the same batch size"):
        train_filter_runs(x, y[:3], [0], SMALL)
    with pytest.raises(ValueError, match=r"x must be \(B, 1, H, H\)"):
        train_filter_runs(x.expand(-1, 2, -1, -1), y, [0], SMALL)
    with pytest.raises(TypeError, match="config must be a CnnFiltersConfig"):
        train_filter_runs(x, y, [0], {"steps": 3})
    with pytest.raises(TypeError, match="progress must be a bool"):
        train_filter_runs(x, y, [0], SMALL, progress="no")
    with pytest.raises(ValueError, match=r"seeds\[1\] must be >= 0"):
        train_filter_runs(x, y, [0, -1], SMALL)
    with pytest.raises(TypeError, match="seeds must be a sequence of ints"):
        train_filter_runs(x, y, None, SMALL)


def test_ablation_importance_matches_zeroing_each_filter(data):
    """Oracle: zero filter k's weights and bias in the stand-alone model and re-measure."""
    runs = train_filter_runs(data.x_train, data.y_train, [0, 1], SMALL)
    x, y = data.x_val[:100], data.y_val[:100]
    importance, base = ablation_importance(runs, x, y)
    assert importance.shape == (2, 4)
    with torch.no_grad():
        for i in range(2):
            model = runs.model(i)
            ref_base = F.cross_entropy(model(x), y)
            assert float(base[i]) == pytest.approx(float(ref_base), abs=1e-5)
            for k in range(4):
                ablated = runs.model(i)
                ablated[0].weight[k] = 0.0
                ablated[0].bias[k] = 0.0
                ref = F.cross_entropy(ablated(x), y) - ref_base
                assert float(importance[i, k]) == pytest.approx(float(ref), abs=1e-5)


def test_ablation_errors_name_the_argument(data):
    runs = train_filter_runs(data.x_train, data.y_train, [0], SMALL)
    with pytest.raises(TypeError, match="history must be a FilterRunsHistory"):
        ablation_importance({}, data.x_val, data.y_val)
    with pytest.raises(ValueError, match="x must be 8×8 images"):
        ablation_importance(runs, F.interpolate(data.x_val, scale_factor=2), data.y_val)
    with pytest.raises(ValueError, match="i must be < 1"):
        runs.model(1)
