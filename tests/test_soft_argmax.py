"""Tests of companion.soft_argmax: the soft-argmax function, its layer form and the decoders."""

from __future__ import annotations

import copy
import dataclasses

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.core.datasets import landmarks
from companion.core.heatmaps import gaussian_heatmaps
from companion.core.keypoints import argmax2d, keypoint_error, pixel_grid, soft_argmax2d
from companion.core.training import NonFiniteLossError
from companion.soft_argmax import (
    LandmarkNet,
    SoftArgmax2d,
    SoftArgmaxConfig,
    decode,
    train_landmarks,
)


def random_maps(seed: int, shape=(2, 3, 5, 7), dtype=torch.float32) -> torch.Tensor:
    return torch.randn(shape, generator=torch.Generator().manual_seed(seed), dtype=dtype)


# --- Oracles ---------------------------------------------------------------------------------------


def test_matches_a_direct_loop_over_pixels():
    """The vectorised expectation against the definition written pixel by pixel."""
    hm = random_maps(0, shape=(2, 2, 3, 4), dtype=torch.float64)
    beta = 1.7
    out = soft_argmax2d(hm, beta)
    b, k, height, width = hm.shape
    for bi in range(b):
        for ki in range(k):
            w = torch.exp(beta * hm[bi, ki])
            w = w / w.sum()
            x = sum(w[i, j] * j for i in range(height) for j in range(width))
            y = sum(w[i, j] * i for i in range(height) for j in range(width))
            torch.testing.assert_close(out[bi, ki], torch.stack((x, y)))


@pytest.mark.parametrize("beta", [0.25, 1.0, 4.0])
def test_agrees_with_kornia_with_temperature_one_over_beta(beta):
    """Convention: kornia 0.9's ``temperature`` divides the input, so it is 1 / beta here."""
    kornia = pytest.importorskip("kornia")
    hm = random_maps(1, shape=(3, 4, 6, 9))
    theirs = kornia.geometry.subpix.spatial_soft_argmax2d(
        hm, temperature=1.0 / beta, normalized_coordinates=False
    )
    torch.testing.assert_close(soft_argmax2d(hm, beta), theirs, atol=1e-5, rtol=1e-5)


def test_kornia_temperature_divides():
    """Pins kornia's direction: a temperature of 0.5 is our beta 2, not our beta 0.5."""
    kornia = pytest.importorskip("kornia")
    hm = random_maps(2, shape=(1, 1, 5, 5))
    theirs = kornia.geometry.subpix.spatial_soft_argmax2d(
        hm, temperature=0.5, normalized_coordinates=False
    )
    torch.testing.assert_close(soft_argmax2d(hm, 2.0), theirs, atol=1e-5, rtol=1e-5)
    assert not torch.allclose(soft_argmax2d(hm, 0.5), theirs, atol=1e-3)


# --- Conventions ----------------------------------------------------------------------------------


@pytest.mark.parametrize(("row", "col"), [(0, 0), (2, 5), (4, 0), (0, 6)])
def test_one_hot_heatmap_returns_its_pixel_as_x_y(row, col):
    hm = torch.zeros(1, 1, 5, 7, dtype=torch.float64)
    hm[0, 0, row, col] = 1e3
    torch.testing.assert_close(
        soft_argmax2d(hm), torch.tensor([[[float(col), float(row)]]], dtype=torch.float64)
    )
    torch.testing.assert_close(
        argmax2d(hm), torch.tensor([[[float(col), float(row)]]], dtype=torch.float64)
    )


def test_same_convention_as_gaussian_heatmaps():
    """A sub-pixel Gaussian, fed as its log (exact logits), returns its own centre."""
    points = torch.tensor([[[10.3, 12.8], [13.5, 9.25]]], dtype=torch.float64)
    hm = gaussian_heatmaps(points, size=(24, 24), sigma=1.5)  # >= 6 sigma from every edge
    torch.testing.assert_close(soft_argmax2d(torch.log(hm)), points, atol=1e-6, rtol=0)


def test_constant_heatmap_gives_the_image_centre():
    out = soft_argmax2d(torch.full((1, 1, 4, 7), 3.0))
    torch.testing.assert_close(out, torch.tensor([[[3.0, 1.5]]]))


def test_pixel_grid_is_row_major_x_then_y():
    grid = pixel_grid(3, 4)
    assert grid.shape == (12, 2)
    assert grid[1 * 4 + 3].tolist() == [3.0, 1.0]  # row 1, column 3 -> (x=3, y=1)


# --- Properties -----------------------------------------------------------------------------------


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.05, 20.0))
def test_flip_symmetry(seed, beta):
    """Flipping the map left-right maps x to (W - 1) - x and leaves y alone; likewise up-down."""
    hm = random_maps(seed, dtype=torch.float64)
    height, width = hm.shape[-2:]
    out = soft_argmax2d(hm, beta)
    lr = soft_argmax2d(hm.flip(-1), beta)
    ud = soft_argmax2d(hm.flip(-2), beta)
    torch.testing.assert_close(lr[..., 0], (width - 1) - out[..., 0])
    torch.testing.assert_close(lr[..., 1], out[..., 1])
    torch.testing.assert_close(ud[..., 1], (height - 1) - out[..., 1])
    torch.testing.assert_close(ud[..., 0], out[..., 0])


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    dx=st.integers(-3, 3),
    dy=st.integers(-3, 3),
    beta=st.floats(0.1, 10.0),
)
def test_translation_moves_the_result_by_the_shift(seed, dx, dy, beta):
    """A map embedded in a large very negative canvas, shifted by (dx, dy), moves by (dx, dy)."""
    small = random_maps(seed, shape=(1, 2, 4, 5), dtype=torch.float64)
    canvas = torch.full((1, 2, 12, 13), -1e4, dtype=torch.float64)
    a = canvas.clone()
    a[..., 4:8, 4:9] = small
    b = canvas.clone()
    b[..., 4 + dy : 8 + dy, 4 + dx : 9 + dx] = small
    shift = torch.tensor([dx, dy], dtype=torch.float64)
    torch.testing.assert_close(soft_argmax2d(b, beta), soft_argmax2d(a, beta) + shift)


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), c=st.floats(-50, 50))
def test_adding_a_constant_changes_nothing(seed, c):
    hm = random_maps(seed, dtype=torch.float64)
    torch.testing.assert_close(soft_argmax2d(hm + c), soft_argmax2d(hm))


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), beta=st.floats(0.01, 100.0))
def test_result_stays_inside_the_image(seed, beta):
    hm = random_maps(seed) * 10
    out = soft_argmax2d(hm, beta)
    height, width = hm.shape[-2:]
    tol = 1e-5 * max(height, width)  # float32 rounding of a convex combination of the pixels
    assert out.isfinite().all()
    assert (out[..., 0] >= -tol).all() and (out[..., 0] <= width - 1 + tol).all()
    assert (out[..., 1] >= -tol).all() and (out[..., 1] <= height - 1 + tol).all()


def test_large_beta_tends_to_argmax_and_small_beta_to_the_centre():
    hm = random_maps(3)
    torch.testing.assert_close(soft_argmax2d(hm, 1e4), argmax2d(hm), atol=1e-4, rtol=0)
    centre = torch.tensor([(hm.shape[-1] - 1) / 2, (hm.shape[-2] - 1) / 2])
    torch.testing.assert_close(
        soft_argmax2d(hm, 1e-6), centre.expand(hm.shape[0], hm.shape[1], 2), atol=1e-4, rtol=0
    )


def test_two_equal_modes_give_their_midpoint():
    hm = torch.zeros(1, 1, 9, 9)
    hm[0, 0, 2, 1] = hm[0, 0, 6, 7] = 50.0
    torch.testing.assert_close(soft_argmax2d(hm), torch.tensor([[[4.0, 4.0]]]))


def test_input_not_modified_and_result_on_input_dtype():
    hm = random_maps(4, dtype=torch.float64)
    before = hm.clone()
    out = soft_argmax2d(hm, 2.0)
    assert torch.equal(hm, before)
    assert out.dtype == torch.float64 and out.shape == (2, 3, 2)


# --- Gradients ------------------------------------------------------------------------------------


def test_gradcheck_float64():
    hm = random_maps(5, shape=(2, 2, 4, 5), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(lambda h: soft_argmax2d(h, 1.3), (hm,))


def test_gradcheck_on_tied_maxima():
    """A Gaussian half-way between two pixel centres ties them exactly: the gradient must hold."""
    hm = torch.zeros(1, 2, 3, 4, dtype=torch.float64)
    hm[0, 0, 1, 1] = hm[0, 0, 1, 2] = 1.0  # two tied maxima
    hm[0, 1] = 0.5  # a flat map: every pixel ties
    hm[0, 0, 0, 0] = 0.3
    assert torch.autograd.gradcheck(lambda h: soft_argmax2d(h, 2.0), (hm.requires_grad_(),))


def test_slope_on_a_sliding_gaussian_is_the_same_at_a_tie():
    """d x_hat / d x_true is continuous in x_true: the tie at x = 11.5 is no special point."""
    x = torch.tensor([11.49, 11.5, 11.51], dtype=torch.float64)
    points = torch.stack((x, torch.full_like(x, 15.3)), dim=-1)[:, None].requires_grad_()
    out = soft_argmax2d(gaussian_heatmaps(points, (32, 32), 1.5), 12.0)
    (grad,) = torch.autograd.grad(out[..., 0].sum(), points)
    slope = grad[:, 0, 0]
    assert abs(float(slope[1] - slope[0])) < 0.01 and abs(float(slope[1] - slope[2])) < 0.01


def test_gradient_matches_closed_form_and_is_nonzero():
    """d x / d h_ij = beta · p_ij · (x_j - x): non-zero at every pixel, unlike argmax."""
    hm = random_maps(6, shape=(1, 1, 4, 5), dtype=torch.float64).requires_grad_()
    beta = 2.0
    x = soft_argmax2d(hm, beta)[0, 0, 0]
    (grad,) = torch.autograd.grad(x, hm)
    p = torch.softmax(beta * hm.detach().flatten(), 0).view(4, 5)
    cols = torch.arange(5, dtype=torch.float64).expand(4, 5)
    expected = beta * p * (cols - x.detach())
    torch.testing.assert_close(grad[0, 0], expected)
    assert grad.isfinite().all() and grad.abs().sum() > 0


def test_gradient_finite_for_extreme_inputs():
    hm = torch.zeros(1, 1, 6, 6)
    hm[0, 0, 1, 1] = 1e4
    hm = hm.requires_grad_()
    soft_argmax2d(hm, 10.0).sum().backward()
    assert hm.grad is not None and hm.grad.isfinite().all()


def test_argmax_has_no_gradient():
    hm = random_maps(7).requires_grad_()
    assert not argmax2d(hm).requires_grad


# --- The layer form -------------------------------------------------------------------------------


@pytest.mark.parametrize("beta", [0.5, 1.0, 7.0])
def test_layer_equals_function(beta):
    hm = random_maps(8, shape=(3, 5, 6, 8))
    layer = SoftArgmax2d(6, 8, beta)
    torch.testing.assert_close(layer(hm), soft_argmax2d(hm, beta), atol=1e-5, rtol=1e-5)


def test_layer_is_softmax_then_frozen_linear():
    layer = SoftArgmax2d(3, 4)
    kinds = [type(m) for m in layer.children()]
    assert kinds == [torch.nn.Softmax, torch.nn.Linear]
    assert layer.coords.bias is None
    assert not any(p.requires_grad for p in layer.parameters())
    assert torch.equal(layer.coords.weight, pixel_grid(3, 4).T)


def test_layer_passes_gradients_to_its_input_and_follows_dtype():
    layer = SoftArgmax2d(4, 5).double()
    hm = random_maps(9, shape=(2, 1, 4, 5), dtype=torch.float64).requires_grad_()
    assert torch.autograd.gradcheck(layer, (hm,))
    assert layer.coords.weight.grad is None


def test_layer_rejects_the_wrong_size():
    with pytest.raises(ValueError, match="heatmaps"):
        SoftArgmax2d(4, 5)(torch.zeros(1, 1, 5, 4))


# --- Decoders, error and the training helper ------------------------------------------------------


def test_keypoint_error_is_mean_euclidean_distance():
    pred = torch.tensor([[[0.0, 0.0], [1.0, 1.0]]])
    target = torch.tensor([[[3.0, 4.0], [1.0, 1.0]]])
    assert float(keypoint_error(pred, target)) == pytest.approx(2.5)


def test_argmax_error_on_uniform_offsets_is_about_0_38():
    """E‖u‖ for u uniform on the unit square centred at 0 is ≈ 0.3826: argmax's floor."""
    g = torch.Generator().manual_seed(0)
    points = 6 + 20 * torch.rand(4000, 1, 2, generator=g)
    err = keypoint_error(argmax2d(gaussian_heatmaps(points, (32, 32), 1.5)), points)
    assert abs(float(err) - 0.3826) < 0.01


def test_decode_dispatches_and_rejects_unknown_objective():
    hm = random_maps(10)
    torch.testing.assert_close(decode(hm, "soft-argmax", 2.0), soft_argmax2d(hm, 2.0))
    torch.testing.assert_close(decode(hm, "heatmap"), argmax2d(hm))
    with pytest.raises(ValueError, match="objective"):
        decode(hm, "argmax")


def test_train_landmarks_soft_argmax_learns_quickly():
    """A few steps through soft-argmax already cut the validation error."""
    train, val = landmarks(64, size=(16, 16), seed=1), landmarks(16, size=(16, 16), seed=2)
    run = train_landmarks(
        LandmarkNet(channels=4, seed=0),
        train,
        val,
        "soft-argmax",
        config=SoftArgmaxConfig(steps=30, batch_size=8, eval_every=10),
        seed=0,
    )
    assert run.eval_steps == [0, 10, 20, 30]
    assert len(run.train_loss) == 30
    assert run.val_error[-1] < 0.7 * run.val_error[0]


@pytest.mark.parametrize("objective", ["soft-argmax", "heatmap"])
def test_train_landmarks_first_loss_is_the_objective_of_the_first_batch(objective):
    """Step 0's recorded loss is the objective's own formula on the seed's first batch."""
    train, val = landmarks(32, size=(16, 16), seed=3), landmarks(8, size=(16, 16), seed=4)
    net = LandmarkNet(channels=4, seed=1)
    before = copy.deepcopy(net)
    config = SoftArgmaxConfig(steps=1, batch_size=8, eval_every=1, beta=2.0)
    run = train_landmarks(net, train, val, objective, config=config, seed=5)
    index = torch.randint(32, (8,), generator=torch.Generator().manual_seed(5))
    with torch.no_grad():
        scores = before(train.images[index])
    if objective == "heatmap":
        want = F.mse_loss(scores, train.heatmaps[index])
    else:
        want = F.l1_loss(soft_argmax2d(scores, 2.0), train.points[index])
    assert run.objective == objective
    assert run.train_loss[0] == pytest.approx(float(want), rel=1e-5)
    assert run.train_loss[0] > 0


def test_train_landmarks_heatmap_objective_fits_the_heatmaps():
    """Training on heatmap MSE lowers the MSE to the target heatmaps (the gradient reaches them)."""
    train = landmarks(32, size=(16, 16), seed=3)
    val = dataclasses.replace(train)  # measure on the training images themselves
    net = LandmarkNet(channels=4, seed=2)
    with torch.no_grad():
        mse_before = float(F.mse_loss(net(train.images), train.heatmaps))
    config = SoftArgmaxConfig(steps=40, batch_size=8, eval_every=20, lr=5e-3)
    run = train_landmarks(net, train, val, "heatmap", config=config, seed=0)
    with torch.no_grad():
        mse_after = float(F.mse_loss(net(train.images), train.heatmaps))
    assert run.eval_steps == [0, 20, 40]
    assert mse_after < 0.5 * mse_before


def test_train_landmarks_val_error_is_the_mean_over_keypoints():
    """val_error[0] is keypoint_error of the untrained model, decoded the objective's way."""
    train, val = landmarks(16, size=(16, 16), seed=6), landmarks(300, size=(16, 16), seed=7)
    net = LandmarkNet(channels=4, seed=3)
    before = copy.deepcopy(net)
    for objective in ("soft-argmax", "heatmap"):
        run = train_landmarks(
            copy.deepcopy(net), train, val, objective,
            config=SoftArgmaxConfig(steps=1, batch_size=4), seed=0,
        )  # fmt: skip
        with torch.no_grad():
            want = keypoint_error(decode(before(val.images), objective), val.points)
        assert run.val_error[0] == pytest.approx(float(want), rel=1e-5)


def test_train_landmarks_evaluates_after_the_last_step_and_restores_train_mode():
    train = landmarks(16, size=(16, 16), seed=8)
    net = LandmarkNet(channels=2, seed=0)
    config = SoftArgmaxConfig(steps=5, batch_size=4, eval_every=2)
    run = train_landmarks(net, train, train, "heatmap", config=config, seed=0)
    assert run.eval_steps == [0, 2, 4, 5] and len(run.val_error) == 4
    assert net.training


def test_train_landmarks_batches_depend_on_the_seed_only():
    train, val = landmarks(64, size=(16, 16), seed=9), landmarks(4, size=(16, 16), seed=10)
    config = SoftArgmaxConfig(steps=6, batch_size=4, eval_every=6)

    def losses(seed):
        torch.rand(3)  # move torch's global generator: it must not matter
        net = LandmarkNet(channels=2, seed=0)
        return train_landmarks(net, train, val, "soft-argmax", config=config, seed=seed).train_loss

    assert losses(0) == losses(0)
    assert losses(0) != losses(1)


def test_landmark_net_weights_depend_on_the_seed_only():
    torch.rand(5)  # the global generator's state must not matter
    a, b = LandmarkNet(channels=2, seed=4), LandmarkNet(channels=2, seed=4)
    c = LandmarkNet(channels=2, seed=5)
    for p, q in zip(a.parameters(), b.parameters(), strict=True):
        assert torch.equal(p, q)
    assert not torch.equal(a.head.weight, c.head.weight)


def test_train_landmarks_stops_on_a_nan_image():
    train = landmarks(8, size=(16, 16), seed=11)
    images = train.images.clone()
    images[:] = float("nan")
    bad = dataclasses.replace(train, images=images)
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 0"):
        train_landmarks(
            LandmarkNet(channels=2, seed=0), bad, train, "heatmap",
            config=SoftArgmaxConfig(steps=3, batch_size=4), seed=0,
        )  # fmt: skip


# --- Bad input ------------------------------------------------------------------------------------


def test_rejects_3d_heatmaps():
    with pytest.raises(ValueError, match=r"heatmaps must be 4-D \(B, K, H, W\)"):
        soft_argmax2d(torch.zeros(2, 5, 5))
    with pytest.raises(ValueError, match="heatmaps"):
        argmax2d(torch.zeros(2, 5, 5))


def test_rejects_integer_heatmaps_and_non_tensors():
    with pytest.raises(TypeError, match="heatmaps"):
        soft_argmax2d(torch.zeros(1, 1, 3, 3, dtype=torch.long))
    with pytest.raises(TypeError, match="heatmaps"):
        soft_argmax2d([[[[0.0]]]])


@pytest.mark.parametrize("beta", [0.0, -1.0, float("nan"), float("inf")])
def test_rejects_non_positive_or_non_finite_beta(beta):
    with pytest.raises(ValueError, match="beta"):
        soft_argmax2d(torch.zeros(1, 1, 3, 3), beta)
    with pytest.raises(ValueError, match="beta"):
        SoftArgmax2d(3, 3, beta)


def test_rejects_bad_layer_sizes():
    with pytest.raises(ValueError, match="height"):
        SoftArgmax2d(0, 3)
    with pytest.raises(TypeError, match="width"):
        SoftArgmax2d(3, 2.5)


def test_keypoint_error_rejects_mismatched_shapes():
    with pytest.raises(ValueError, match="pred and target"):
        keypoint_error(torch.zeros(1, 2, 2), torch.zeros(1, 3, 2))
    with pytest.raises(ValueError, match="pred"):
        keypoint_error(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3))


def test_train_landmarks_rejects_bad_arguments():
    data = landmarks(4)
    with pytest.raises(ValueError, match="objective"):
        train_landmarks(LandmarkNet(channels=2, seed=0), data, data, "l2", seed=0)
    with pytest.raises(TypeError, match="val"):
        train_landmarks(LandmarkNet(channels=2, seed=0), data, (data.images,), "heatmap", seed=0)
    with pytest.raises(TypeError, match="config"):
        train_landmarks(
            LandmarkNet(channels=2, seed=0), data, data, "heatmap", config={"steps": 1}, seed=0
        )
    with pytest.raises(TypeError, match="progress"):
        train_landmarks(
            LandmarkNet(channels=2, seed=0), data, data, "heatmap", seed=0, progress="no"
        )
    with pytest.raises(ValueError, match="seed"):
        LandmarkNet(channels=2, seed=-1)


@pytest.mark.parametrize(
    ("kwargs", "name"),
    [
        ({"steps": 0}, "steps"),
        ({"batch_size": 0}, "batch_size"),
        ({"lr": 0.0}, "lr"),
        ({"eval_every": 0}, "eval_every"),
        ({"beta": 0.0}, "beta"),
    ],
)
def test_config_rejects_bad_values(kwargs, name):
    with pytest.raises(ValueError, match=name):
        SoftArgmaxConfig(**kwargs)
