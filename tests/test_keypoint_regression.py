"""Tests of companion.keypoint_regression and of the synthetic hands it trains on."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given, settings
from hypothesis import strategies as st
from torch import nn

from companion.core.datasets import hands
from companion.core.datasets.hands import (
    FINGER_NAMES,
    HAND_BONES,
    HAND_JOINT_NAMES,
    Hands,
    project_points,
)
from companion.core.training import NonFiniteLossError
from companion.keypoint_regression import (
    LOSSES,
    HandRegressor,
    HeatmapRegressor,
    KeypointHead,
    KeypointHistory,
    KeypointRegressionConfig,
    coordinate_rmse,
    mpjpe,
    per_joint_error,
    per_keypoint_rmse,
    predict,
    regression_loss,
    to_coordinate_major,
    train_keypoints,
)


def poses(seed: int, shape=(4, 21, 3), dtype=torch.float64) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    return torch.randn(shape, generator=g, dtype=dtype), torch.randn(
        shape, generator=g, dtype=dtype
    )


# --- Metrics against NumPy ------------------------------------------------------------------------


def numpy_mpjpe(pred: np.ndarray, target: np.ndarray, root: int | None = None) -> float:
    if root is not None:
        pred = pred - pred[:, root : root + 1]
        target = target - target[:, root : root + 1]
    total, count = 0.0, 0
    for b in range(pred.shape[0]):
        for j in range(pred.shape[1]):
            total += math.sqrt(
                sum((pred[b, j, d] - target[b, j, d]) ** 2 for d in range(pred.shape[2]))
            )
            count += 1
    return total / count


@settings(max_examples=25, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    b=st.integers(1, 4),
    j=st.integers(1, 6),
    d=st.integers(1, 4),
    root=st.one_of(st.none(), st.integers(0, 5)),
)
def test_mpjpe_matches_a_plain_numpy_loop(seed, b, j, d, root):
    pred, target = poses(seed, (b, j, d))
    root = None if root is None else root % j
    expected = numpy_mpjpe(pred.numpy(), target.numpy(), root)
    assert float(mpjpe(pred, target, root=root)) == pytest.approx(expected, rel=1e-10)


def test_mpjpe_is_euclidean_not_squared_nor_per_coordinate():
    pred = torch.tensor([[[3.0, 4.0, 0.0], [0.0, 0.0, 0.0]]])
    assert float(mpjpe(pred, torch.zeros(1, 2, 3))) == pytest.approx(2.5)  # (5 + 0) / 2


@settings(max_examples=25, deadline=None)
@given(seed=st.integers(0, 10_000), root=st.integers(0, 20))
def test_root_relative_mpjpe_ignores_translations(seed, root):
    """Shifting each predicted and each true hand by its own vector changes nothing with a root."""
    pred, target = poses(seed)
    g = torch.Generator().manual_seed(seed + 1)
    shift_p = 10 * torch.randn(4, 1, 3, generator=g, dtype=torch.float64)
    shift_t = 10 * torch.randn(4, 1, 3, generator=g, dtype=torch.float64)
    before = mpjpe(pred, target, root=root)
    after = mpjpe(pred + shift_p, target + shift_t, root=root)
    torch.testing.assert_close(after, before)
    assert float(mpjpe(pred + shift_p, target + shift_t)) > float(mpjpe(pred, target)) + 1


def test_root_relative_mpjpe_of_a_translated_copy_is_zero():
    pred, _ = poses(3)
    moved = pred + torch.tensor([1.0, -2.0, 5.0], dtype=torch.float64)
    assert float(mpjpe(moved, pred, root=0)) == pytest.approx(0.0, abs=1e-12)
    assert float(mpjpe(moved, pred)) == pytest.approx(math.sqrt(30))


def test_per_joint_error_averages_to_mpjpe():
    pred, target = poses(4)
    for root in (None, 0, 7):
        per_joint = per_joint_error(pred, target, root=root)
        assert per_joint.shape == (21,)
        torch.testing.assert_close(per_joint.mean(), mpjpe(pred, target, root=root))
    assert float(per_joint_error(pred, pred, root=3).abs().max()) == 0.0


def test_mpjpe_gradient_matches_finite_differences():
    """Section 4 trains on MPJPE: its gradient must be right (away from zero distances)."""
    pred, target = poses(5, (2, 3, 3))
    pred.requires_grad_()
    assert torch.autograd.gradcheck(lambda p: mpjpe(p, target), (pred,))
    assert torch.autograd.gradcheck(lambda p: mpjpe(p, target, root=1), (pred,))


def test_coordinate_rmse_is_one_number_over_all_coordinates():
    pred, target = poses(6)
    torch.testing.assert_close(coordinate_rmse(pred, target), F.mse_loss(pred, target).sqrt())
    each = per_keypoint_rmse(pred, target)
    torch.testing.assert_close(coordinate_rmse(pred, target), ((each**2).mean() / 3).sqrt())


def test_per_keypoint_rmse_matches_numpy():
    pred, target = poses(7)
    p, t = pred.numpy(), target.numpy()
    expected = np.sqrt(((p - t) ** 2).sum(axis=-1).mean(axis=0))
    np.testing.assert_allclose(per_keypoint_rmse(pred, target).numpy(), expected, rtol=1e-12)
    assert bool((per_keypoint_rmse(pred, target) >= per_joint_error(pred, target) - 1e-12).all())


def test_per_keypoint_rmse_of_one_hand_is_its_distance():
    pred = torch.tensor([[[3.0, 4.0, 0.0]]])
    assert float(per_keypoint_rmse(pred, torch.zeros(1, 1, 3))) == pytest.approx(5.0)
    assert float(coordinate_rmse(pred, torch.zeros(1, 1, 3))) == pytest.approx(5 / math.sqrt(3))


@pytest.mark.parametrize("kind", LOSSES)
def test_losses_against_their_definitions_and_blind_to_order(kind):
    pred, target = poses(8)
    oracle = {
        "mse": F.mse_loss(pred, target),
        "rmse": F.mse_loss(pred, target).sqrt(),
        "mpjpe": (pred - target).pow(2).sum(-1).sqrt().mean(),
        "l1": F.l1_loss(pred, target),
    }[kind]
    torch.testing.assert_close(regression_loss(pred, target, kind), oracle)
    g = torch.Generator().manual_seed(0)
    joints, coords = torch.randperm(21, generator=g), torch.tensor([2, 0, 1])
    permuted = regression_loss(pred[:, joints][..., coords], target[:, joints][..., coords], kind)
    torch.testing.assert_close(permuted, oracle)


# --- Bad input -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "fn",
    [
        mpjpe,
        per_joint_error,
        coordinate_rmse,
        per_keypoint_rmse,
        lambda p, t: regression_loss(p, t, "mse"),
    ],
)
def test_metrics_refuse_bad_shapes(fn):
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        fn(torch.zeros(2, 21, 3), torch.zeros(2, 21, 2))
    with pytest.raises(ValueError, match="pred must be 3-D"):
        fn(torch.zeros(2, 63), torch.zeros(2, 63))
    with pytest.raises(ValueError, match="target must be 3-D"):
        fn(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3, 1))
    with pytest.raises(TypeError, match="pred"):
        fn(np.zeros((2, 21, 3)), torch.zeros(2, 21, 3))
    with pytest.raises(TypeError, match="target"):
        fn(torch.zeros(2, 21, 3), torch.zeros(2, 21, 3, dtype=torch.long))
    with pytest.raises(ValueError, match="pred must not be empty"):  # a mean over nothing
        fn(torch.zeros(0, 21, 3), torch.zeros(0, 21, 3))


def test_mpjpe_refuses_a_bad_root():
    with pytest.raises(ValueError, match="root must be in"):
        mpjpe(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3), root=21)
    with pytest.raises(ValueError, match="root must be >= 0"):
        per_joint_error(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3), root=-1)
    with pytest.raises(TypeError, match="root must be an int"):
        mpjpe(torch.zeros(1, 21, 3), torch.zeros(1, 21, 3), root=True)


def test_regression_loss_refuses_an_unknown_kind():
    with pytest.raises(ValueError, match="kind must be one of"):
        regression_loss(torch.zeros(1, 2, 3), torch.zeros(1, 2, 3), "huber")


# --- The head's layout -----------------------------------------------------------------------------


def test_head_is_one_linear_layer_with_j_times_d_outputs():
    head = KeypointHead(16, num_joints=21, dims=3)
    modules = [m for m in head.modules() if m is not head]
    assert len(modules) == 1 and isinstance(modules[0], nn.Linear)
    assert (head.linear.in_features, head.linear.out_features) == (16, 63)


def test_joint_major_order_is_pinned():
    """Row j*D + d of the linear layer is joint j, coordinate d."""
    head = KeypointHead(2, num_joints=21, dims=3)
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.arange(63.0))
    out = head(torch.zeros(1, 2))[0]
    assert out.shape == (21, 3)
    assert out[0].tolist() == [0.0, 1.0, 2.0]
    assert out[5, 2].item() == 5 * 3 + 2
    assert out[20].tolist() == [60.0, 61.0, 62.0]


def test_coordinate_major_order_is_pinned():
    head = KeypointHead(2, num_joints=21, dims=3, layout="coordinate-major")
    with torch.no_grad():
        head.linear.weight.zero_()
        head.linear.bias.copy_(torch.arange(63.0))
    out = head(torch.zeros(1, 2))[0]
    assert out[0].tolist() == [0.0, 21.0, 42.0]
    assert out[5, 2].item() == 2 * 21 + 5


def test_to_coordinate_major_computes_the_same_joints_and_permutes_the_rows():
    torch.manual_seed(0)
    head = KeypointHead(8, num_joints=5, dims=3)
    before = head.linear.weight.detach().clone()
    other = to_coordinate_major(head)
    x = torch.randn(4, 8)
    torch.testing.assert_close(other(x), head(x))
    assert torch.equal(head.linear.weight, before)  # the input head is untouched
    torch.testing.assert_close(other.linear.weight[2 * 5 + 3], head.linear.weight[3 * 3 + 2])
    assert other.layout == "coordinate-major"
    flat_jm, flat_cm = head.linear(x), other.linear(x)
    assert not torch.allclose(flat_jm, flat_cm)  # different flat vectors, same joints
    torch.testing.assert_close(
        F.mse_loss(flat_jm, torch.zeros_like(flat_jm)),
        F.mse_loss(flat_cm, torch.zeros_like(flat_cm)),
    )


def test_head_refuses_bad_input():
    with pytest.raises(ValueError, match="layout must be one of"):
        KeypointHead(4, 21, layout="x-first")
    with pytest.raises(ValueError, match="num_joints must be >= 1"):
        KeypointHead(4, 0)
    with pytest.raises(TypeError, match="dims must be an int"):
        KeypointHead(4, 21, dims=3.0)
    with pytest.raises(ValueError, match="features must be 2-D"):
        KeypointHead(4, 21)(torch.zeros(2, 4, 1))
    with pytest.raises(ValueError, match="features"):
        KeypointHead(4, 21)(torch.zeros(2, 5))
    with pytest.raises(TypeError, match="head must be a KeypointHead"):
        to_coordinate_major(nn.Linear(4, 63))
    with pytest.raises(ValueError, match="head must be joint-major"):
        to_coordinate_major(KeypointHead(4, 21, layout="coordinate-major"))


# --- The networks ----------------------------------------------------------------------------------


def test_hand_regressor_outputs_in_target_units():
    net = HandRegressor(num_joints=21, dims=3, channels=4, seed=1)
    targets = 100 + 30 * torch.randn(50, 21, 3, generator=torch.Generator().manual_seed(0))
    net.set_target_stats(targets)
    torch.testing.assert_close(net.target_mean, targets.mean(0))
    torch.testing.assert_close(net.target_spread, (targets - targets.mean(0)).pow(2).mean().sqrt())
    images = torch.rand(3, 3, 32, 32)
    raw = net.head(net.features(images))
    torch.testing.assert_close(net(images), raw * net.target_spread + net.target_mean)


def test_models_depend_on_their_seed_only():
    a, b, c = (
        HandRegressor(channels=4, seed=3),
        HandRegressor(channels=4, seed=3),
        HandRegressor(channels=4, seed=4),
    )
    x = torch.rand(2, 3, 32, 32)
    torch.testing.assert_close(a(x), b(x))
    assert not torch.allclose(a(x), c(x))
    h1, h2 = HeatmapRegressor(channels=4, seed=3), HeatmapRegressor(channels=4, seed=3)
    torch.testing.assert_close(h1(x), h2(x))


@pytest.mark.parametrize(("row", "col"), [(0, 0), (2, 5), (7, 7)])
def test_heatmap_regressor_maps_cells_to_input_pixel_centres(row, col, monkeypatch):
    """A one-hot score at map cell (row, col) reads as pixel (4·col + 1.5, 4·row + 1.5)."""
    net = HeatmapRegressor(num_joints=2, channels=4)
    scores = torch.full((1, 2, 8, 8), -1e4)
    scores[0, :, row, col] = 0.0
    monkeypatch.setattr(net, "scores", lambda images: scores)
    out = net(torch.zeros(1, 3, 32, 32))
    torch.testing.assert_close(out, torch.tensor([[[4 * col + 1.5, 4 * row + 1.5]] * 2]))


def test_heatmap_regressor_shapes():
    net = HeatmapRegressor(num_joints=21, channels=4)
    x = torch.rand(2, 3, 32, 32)
    assert net.scores(x).shape == (2, 21, 8, 8)
    out = net(x)
    assert out.shape == (2, 21, 2)
    assert bool(((out >= 1.5) & (out <= 29.5)).all())  # inside the hull of the cell centres


def test_networks_refuse_bad_input():
    with pytest.raises(ValueError, match="divisible by 8"):
        HandRegressor(size=(30, 32))
    with pytest.raises(TypeError, match="size must be a pair"):
        HeatmapRegressor(size=32)
    with pytest.raises(ValueError, match=r"images must be \(B, 3, 32, 32\)"):
        HandRegressor(channels=4)(torch.zeros(1, 3, 16, 16))
    with pytest.raises(ValueError, match="images must be 4-D"):
        HeatmapRegressor(channels=4)(torch.zeros(3, 32, 32))
    with pytest.raises(ValueError, match=r"targets must be \(N, 21, 3\)"):
        HandRegressor(channels=4).set_target_stats(torch.zeros(5, 21, 2))
    with pytest.raises(ValueError, match="targets must not be empty"):
        HandRegressor(channels=4).set_target_stats(torch.zeros(0, 21, 3))
    with pytest.raises(TypeError, match="features must have a floating-point dtype"):
        KeypointHead(4, 2, 3)(torch.zeros(1, 4, dtype=torch.long))


def test_networks_convert_float64_images_and_predict_handles_an_empty_set():
    x = torch.rand(2, 3, 32, 32)
    for net in (HandRegressor(channels=4), HeatmapRegressor(channels=4)):
        out = net(x.double())
        assert out.dtype == torch.float32
        torch.testing.assert_close(out, net(x))
    assert predict(HandRegressor(channels=4), x[:0]).shape == (0, 21, 3)


# --- Training --------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def tiny():
    data = hands(96, size=(32, 32), seed=0)
    rel = (data.joints3d - data.joints3d[:, :1]) * 1000
    return data.images[:64], rel[:64], data.images[64:], rel[64:]


def test_training_learns_and_records(tiny):
    images, targets, val_images, val_targets = tiny
    config = KeypointRegressionConfig(steps=60, batch_size=16, lr=5e-3, eval_every=30)
    net = HandRegressor(channels=4, seed=0)
    history = train_keypoints(
        net, images[:16], targets[:16], val_images, val_targets, config=config, seed=0,
        metrics={"rel": lambda p, t: mpjpe(p, t, root=0)},
    )  # fmt: skip
    assert isinstance(history, KeypointHistory)
    assert len(history.train_loss) == 60
    assert history.eval_steps == [0, 30, 60]
    assert len(history.val_metrics["rel"]) == 3
    torch.testing.assert_close(net.target_mean.cpu(), targets[:16].mean(0))  # from train targets
    assert np.mean(history.train_loss[-10:]) < 0.5 * np.mean(history.train_loss[:5])  # it learns
    assert net.training  # predict() restores the mode


def test_training_is_repeatable_and_order_blind(tiny):
    """Same seed: same curve. A coordinate-major copy of the same network: the same curve too."""
    config = KeypointRegressionConfig(steps=15, batch_size=16, eval_every=15)
    a = train_keypoints(HandRegressor(channels=4, seed=2), *tiny, config=config, seed=5)
    b = train_keypoints(HandRegressor(channels=4, seed=2), *tiny, config=config, seed=5)
    assert a.train_loss == b.train_loss
    net = HandRegressor(channels=4, seed=2)
    net.head = to_coordinate_major(net.head)
    c = train_keypoints(net, *tiny, config=config, seed=5)
    np.testing.assert_allclose(c.train_loss, a.train_loss, rtol=1e-4)
    d = train_keypoints(HandRegressor(channels=4, seed=2), *tiny, config=config, seed=6)
    assert d.train_loss != a.train_loss  # another seed, other batches


def test_training_stops_on_a_non_finite_loss(tiny):
    """Finite data, but a step size that overflows the weights: the loss turns NaN at step 1."""
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 1"):
        train_keypoints(
            HandRegressor(channels=4), *tiny,
            config=KeypointRegressionConfig(steps=5, batch_size=16, lr=1e30), seed=0,
        )  # fmt: skip


def test_training_refuses_non_finite_or_mismatched_data(tiny):
    images, targets, val_images, val_targets = tiny
    net = HandRegressor(channels=4)
    bad = targets.clone()
    bad[3, 4, 1] = float("nan")
    with pytest.raises(ValueError, match="train_targets must be finite"):
        train_keypoints(net, images, bad, val_images, val_targets)
    with pytest.raises(ValueError, match="val_images must be finite"):
        train_keypoints(net, images, targets, val_images * float("inf"), val_targets)
    with pytest.raises(ValueError, match="train_targets and val_targets must agree"):
        train_keypoints(net, images, targets, val_images, val_targets[:, :20])
    with pytest.raises(ValueError, match="train_targets do not fit the model"):
        train_keypoints(net, images, targets[:, :20], val_images, val_targets[:, :20])
    with pytest.raises(ValueError, match="model's outputs must have val_targets' shape"):
        train_keypoints(
            HeatmapRegressor(channels=4), images, targets, val_images, val_targets,
            config=KeypointRegressionConfig(steps=1),
        )  # fmt: skip
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        train_keypoints(None, *tiny)
    with pytest.raises(TypeError, match=r"metrics\['rmse'\] must be callable"):
        train_keypoints(net, *tiny, metrics={"rmse": 3})
    with pytest.raises(TypeError, match="progress must be a bool"):
        train_keypoints(net, *tiny, progress="no")


def test_training_refuses_bad_input(tiny):
    images, targets, val_images, val_targets = tiny
    net = HandRegressor(channels=4)
    with pytest.raises(ValueError, match="loss must be one of"):
        train_keypoints(net, *tiny, loss="huber")
    with pytest.raises(
        ValueError, match="train_images and train_targets must have the same length"
    ):
        train_keypoints(net, images, targets[:10], val_images, val_targets)
    with pytest.raises(TypeError, match="config must be a KeypointRegressionConfig"):
        train_keypoints(net, *tiny, config={"steps": 3})
    with pytest.raises(ValueError, match="val_targets must be 3-D"):
        train_keypoints(net, images, targets, val_images, val_targets[:, 0])


def test_config_validates():
    with pytest.raises(ValueError, match="steps must be >= 1"):
        KeypointRegressionConfig(steps=0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        KeypointRegressionConfig(lr=0.0)
    with pytest.raises(TypeError, match="batch_size must be an int"):
        KeypointRegressionConfig(batch_size=32.0)


def test_predict_runs_in_eval_mode_and_restores_it():
    net = nn.Sequential(
        nn.Flatten(1), nn.Dropout(0.5), nn.Linear(3 * 32 * 32, 6), nn.Unflatten(1, (2, 3))
    )
    x = torch.rand(7, 3, 32, 32)
    out1, out2 = predict(net, x, batch_size=3), predict(net, x, batch_size=5)
    torch.testing.assert_close(out1, out2)  # no dropout: deterministic
    assert out1.shape == (7, 2, 3) and net.training


# --- The synthetic hands ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def sample() -> Hands:
    return hands(64, size=(32, 48), seed=3)


def test_record_shapes_and_units(sample):
    assert sample.images.shape == (64, 3, 32, 48)
    assert sample.joints3d.shape == (64, 21, 3) and sample.joints2d.shape == (64, 21, 2)
    assert sample.scale.shape == (64,) and sample.intrinsics.shape == (3, 3)
    assert sample.images.dtype == sample.joints3d.dtype == torch.float32
    # metres: a hand 10-25 cm long, 0.4-0.6 m from the camera (default depth range 0.45-0.55)
    length = (sample.joints3d[:, 12] - sample.joints3d[:, 0]).norm(dim=-1)
    assert bool(((length > 0.08) & (length < 0.25)).all())
    assert bool(((sample.joints3d[..., 2] > 0.3) & (sample.joints3d[..., 2] < 0.7)).all())


def test_projection_matches_the_pinhole_camera_model(sample):
    """joints2d from joints3d and K, recomputed in float64 NumPy: x = f X / Z + c_x, y = f Y / Z + c_y."""
    k = sample.intrinsics.double().numpy()
    xyz = sample.joints3d.double().numpy()
    x = k[0, 0] * xyz[..., 0] / xyz[..., 2] + k[0, 2]
    y = k[1, 1] * xyz[..., 1] / xyz[..., 2] + k[1, 2]
    np.testing.assert_allclose(sample.joints2d.numpy(), np.stack((x, y), axis=-1), atol=1e-3)
    # the principal point is the image centre in the pixel-centre convention: ((W-1)/2, (H-1)/2)
    assert (k[0, 2], k[1, 2]) == (23.5, 15.5)
    assert k[0, 1] == k[1, 0] == 0 and k[2].tolist() == [0, 0, 1]


def test_project_points_is_k_times_x_over_z():
    k = torch.tensor([[100.0, 0.0, 10.0], [0.0, 80.0, 20.0], [0.0, 0.0, 1.0]])
    point = torch.tensor([[0.2, -0.1, 2.0]])
    torch.testing.assert_close(project_points(point, k), torch.tensor([[20.0, 16.0]]))
    with pytest.raises(ValueError, match=r"points must have shape \(\.\.\., 3\)"):
        project_points(torch.zeros(4, 2), k)
    with pytest.raises(ValueError, match="intrinsics must be 2-D"):
        project_points(point, torch.zeros(3))


def test_strokes_are_drawn_where_joints2d_says(sample):
    """x is the column and y the row: each bone's midpoint lies on a bright stroke."""
    parents = [p for p, _ in HAND_BONES]
    children = [c for _, c in HAND_BONES]
    mid = (sample.joints2d[:, parents] + sample.joints2d[:, children]) / 2  # (N, 20, 2)
    h, w = sample.images.shape[-2:]
    inside = (
        (mid[..., 0] >= 0) & (mid[..., 0] <= w - 1) & (mid[..., 1] >= 0) & (mid[..., 1] <= h - 1)
    )
    col = mid[..., 0].round().long().clamp(0, w - 1)
    row = mid[..., 1].round().long().clamp(0, h - 1)
    bright = sample.images.max(dim=1).values[torch.arange(len(mid))[:, None], row, col]
    assert float((bright > 0.25).float()[inside].mean()) > 0.95
    background = sample.images.max(dim=1).values[:, 0, 0]  # a corner is usually empty
    assert float(background.median()) < 0.25


def test_joint_order_is_freihands():
    assert HAND_JOINT_NAMES[0] == "wrist" and len(HAND_JOINT_NAMES) == 21
    assert [HAND_JOINT_NAMES[1 + 4 * f].split()[0] for f in range(5)] == list(FINGER_NAMES)
    assert FINGER_NAMES == ("thumb", "index", "middle", "ring", "little")
    # the FreiHAND toolbox's bones: 0-1-2-3-4, 0-5-6-7-8, ..., 0-17-18-19-20
    expected = [(0 if k == 0 else 4 * f + k, 4 * f + k + 1) for f in range(5) for k in range(4)]
    assert list(HAND_BONES) == expected


def test_each_finger_runs_from_palm_to_tip():
    data = hands(200, seed=1)
    from_wrist = (data.joints3d - data.joints3d[:, :1]).norm(dim=-1).mean(0)  # (21,)
    for f in range(5):
        chain = from_wrist[1 + 4 * f : 5 + 4 * f]
        assert bool((chain[1:] > chain[:-1]).all()), FINGER_NAMES[f]


def test_same_seed_same_hands_other_seed_other_hands():
    a, b, c = hands(8, seed=11), hands(8, seed=11), hands(8, seed=12)
    for name in ("images", "joints3d", "joints2d", "scale"):
        assert torch.equal(getattr(a, name), getattr(b, name)), name
    assert not torch.allclose(a.joints3d, c.joints3d)
    assert not torch.allclose(a.images, c.images)


def test_size_and_distance_together_leave_the_image_unchanged():
    small = hands(16, seed=4, scale_range=(0.8, 0.8))
    large = hands(16, seed=4, scale_range=(1.2, 1.2))
    torch.testing.assert_close(large.joints3d, 1.5 * small.joints3d)
    torch.testing.assert_close(large.joints2d, small.joints2d, atol=1e-4, rtol=0)
    torch.testing.assert_close(large.images, small.images, atol=1e-4, rtol=0)


def test_scale_range_is_respected():
    data = hands(300, seed=5, scale_range=(0.75, 1.25))
    assert float(data.scale.min()) >= 0.75 and float(data.scale.max()) <= 1.25
    assert float(data.scale.max() - data.scale.min()) > 0.4
    assert torch.equal(hands(5, seed=5).scale, torch.ones(5))


def test_no_noise_gives_a_clean_background():
    data = hands(4, seed=6, noise=0.0)
    corner = data.images[:, :, 0, 0]
    assert bool(((corner >= 0.12) & (corner <= 0.16 + 1e-6)).all())


@pytest.mark.parametrize(
    ("kwargs", "error", "match"),
    [
        ({"n": 0}, ValueError, "n must be >= 1"),
        ({"size": (8, 32)}, ValueError, "size must be at least"),
        ({"size": 32}, TypeError, "size must be a pair"),
        ({"seed": -1}, ValueError, "seed must be >= 0"),
        ({"scale_range": (1.2, 0.8)}, ValueError, "scale_range must have low <= high"),
        ({"scale_range": (0.0, 1.0)}, ValueError, r"scale_range\[0\] must be > 0"),
        ({"scale_range": 1.0}, TypeError, "scale_range must be a pair"),
        ({"depth_range": (0.1, 0.5)}, ValueError, r"depth_range\[0\] must be >= 0.2"),
        ({"tilt": 2.0}, ValueError, "tilt must be in"),
        ({"noise": -0.1}, ValueError, "noise must be >= 0"),
        ({"n": 2.0}, TypeError, "n must be an int"),
    ],
)
def test_hands_refuses_bad_input(kwargs, error, match):
    args = {"n": 2, **kwargs}
    n = args.pop("n")
    with pytest.raises(error, match=match):
        hands(n, **args)
