"""Tests of companion.core.heatmaps.gaussian_heatmaps and companion.core.datasets.landmarks."""

from __future__ import annotations

import math

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.core.datasets import LANDMARK_NAMES, landmarks
from companion.core.heatmaps import gaussian_heatmaps

# --- gaussian_heatmaps -------------------------------------------------------------------------


def test_convention_point_is_x_column_y_row():
    # (x, y) = (3, 1): the peak is in row 1, column 3, and nowhere else equals 1.
    hm = gaussian_heatmaps(torch.tensor([[[3.0, 1.0]]]), size=(4, 6), sigma=0.5)
    assert hm.shape == (1, 1, 4, 6)
    assert hm[0, 0, 1, 3] == 1.0
    flat = int(hm.view(-1).argmax())  # (1, 1, 4, 6) -> (24,)
    assert divmod(flat, 6) == (1, 3)
    assert (hm.view(-1) == 1.0).sum() == 1  # (1, 1, 4, 6) -> (24,)


def test_matches_closed_form_at_every_pixel():
    points = torch.tensor([[[1.3, 2.7], [4.0, 0.5]]], dtype=torch.float64)  # (1, 2, 2)
    sigma = 1.7
    hm = gaussian_heatmaps(points, size=(5, 7), sigma=sigma)
    for k in range(2):
        x, y = points[0, k].tolist()
        for i in range(5):
            for j in range(7):
                expected = math.exp(-((j - x) ** 2 + (i - y) ** 2) / (2 * sigma**2))
                assert hm[0, k, i, j].item() == pytest.approx(expected, rel=1e-12)


@settings(max_examples=25, deadline=None)
@given(
    x=st.integers(0, 15),
    y=st.integers(0, 11),
    sigma=st.floats(0.3, 4.0),
)
def test_peak_at_integer_point_is_one_and_everything_else_below(x, y, sigma):
    hm = gaussian_heatmaps(torch.tensor([[[float(x), float(y)]]]), size=(12, 16), sigma=sigma)
    assert hm[0, 0, y, x] == 1.0
    assert float(hm.min()) >= 0.0
    others = hm.clone()
    others[0, 0, y, x] = 0.0
    assert float(others.max()) < 1.0


@settings(max_examples=25, deadline=None)
@given(
    x=st.floats(4.0, 11.0),
    y=st.floats(4.0, 11.0),
    sigma=st.floats(0.5, 2.0),
)
def test_symmetric_about_the_point(x, y, sigma):
    # Reflecting the point across the map's centre reflects the heatmap: the Gaussian is symmetric.
    size = (16, 16)
    hm = gaussian_heatmaps(torch.tensor([[[x, y]]], dtype=torch.float64), size, sigma)
    mirrored = gaussian_heatmaps(
        torch.tensor([[[15 - x, 15 - y]]], dtype=torch.float64), size, sigma
    )
    torch.testing.assert_close(mirrored, hm.flip(-1).flip(-2))
    # Swapping x and y transposes the map.
    swapped = gaussian_heatmaps(torch.tensor([[[y, x]]], dtype=torch.float64), size, sigma)
    torch.testing.assert_close(swapped, hm.transpose(-1, -2))


def test_symmetric_around_an_integer_point():
    hm = gaussian_heatmaps(torch.tensor([[[5.0, 6.0]]]), size=(13, 11), sigma=1.5)[0, 0]
    for d in range(1, 5):
        assert hm[6, 5 + d] == hm[6, 5 - d] == hm[6 + d, 5] == hm[6 - d, 5]


def test_sub_pixel_point_half_way_between_two_pixels():
    # x = 2.5: columns 2 and 3 are equally close and share the largest value exp(-0.25 / 2σ²) < 1.
    sigma = 1.0
    hm = gaussian_heatmaps(torch.tensor([[[2.5, 3.0]]]), size=(7, 6), sigma=sigma)[0, 0]
    assert hm[3, 2] == hm[3, 3] == hm.max()
    assert float(hm.max()) == pytest.approx(math.exp(-0.25 / (2 * sigma**2)))


def test_sub_pixel_point_recovered_by_the_centroid():
    # On a map large enough to hold the whole Gaussian, its centre of mass is the point itself.
    point = torch.tensor([[[10.3, 12.8]]], dtype=torch.float64)
    hm = gaussian_heatmaps(point, size=(25, 21), sigma=1.5)[0, 0]
    ys, xs = torch.meshgrid(torch.arange(25.0), torch.arange(21.0), indexing="ij")
    ys, xs = ys.double(), xs.double()
    centroid = torch.stack(((hm * xs).sum() / hm.sum(), (hm * ys).sum() / hm.sum()))
    torch.testing.assert_close(centroid, point[0, 0], atol=1e-6, rtol=0)


def test_mass_and_energy_of_an_interior_gaussian():
    # Σ h ≈ 2πσ² and Σ h² ≈ πσ²: the second gives the plateau π σ² / (H W) of the weight-decay chapter.
    sigma = 1.5
    hm = gaussian_heatmaps(torch.tensor([[[15.2, 16.7]]], dtype=torch.float64), (32, 32), sigma)
    assert float(hm.sum()) == pytest.approx(2 * math.pi * sigma**2, rel=1e-6)
    assert float((hm**2).sum()) == pytest.approx(math.pi * sigma**2, rel=1e-6)


def test_batch_and_keypoints_are_independent_and_dtype_kept():
    points = torch.rand(3, 4, 2, dtype=torch.float64) * 8
    hm = gaussian_heatmaps(points, size=(9, 10), sigma=1.2)
    assert hm.shape == (3, 4, 9, 10) and hm.dtype == torch.float64
    one = gaussian_heatmaps(points[1:2, 2:3], size=(9, 10), sigma=1.2)
    torch.testing.assert_close(hm[1:2, 2:3], one)


def test_points_not_modified():
    points = torch.tensor([[[1.0, 2.0]]])
    before = points.clone()
    gaussian_heatmaps(points, (4, 4), 1.0)
    assert torch.equal(points, before)


@pytest.mark.parametrize("sigma", [0.0, -1.0])
def test_non_positive_sigma(sigma):
    with pytest.raises(ValueError, match="sigma"):
        gaussian_heatmaps(torch.zeros(1, 1, 2), (4, 4), sigma)


@pytest.mark.parametrize("shape", [(1, 2), (1, 1, 3), (2, 1, 1, 2)])
def test_wrong_point_shapes(shape):
    with pytest.raises(ValueError, match="points"):
        gaussian_heatmaps(torch.zeros(shape), (4, 4), 1.0)


def test_integer_points_rejected():
    with pytest.raises(TypeError, match="points"):
        gaussian_heatmaps(torch.zeros(1, 1, 2, dtype=torch.int64), (4, 4), 1.0)


@pytest.mark.parametrize(
    ("size", "error"), [((0, 4), ValueError), (4, TypeError), ((4.0, 4), TypeError)]
)
def test_bad_size(size, error):
    with pytest.raises(error, match="size"):
        gaussian_heatmaps(torch.zeros(1, 1, 2), size, 1.0)


# --- datasets.landmarks ----------------------------------------------------------------------


def test_landmarks_shapes_and_dtypes():
    data = landmarks(6, size=(32, 40), sigma=2.0)
    assert data.images.shape == (6, 1, 32, 40)
    assert data.points.shape == (6, len(LANDMARK_NAMES), 2)
    assert data.heatmaps.shape == (6, 5, 32, 40)
    assert {data.images.dtype, data.points.dtype, data.heatmaps.dtype} == {torch.float32}


def test_landmarks_heatmaps_are_the_points_gaussians():
    data = landmarks(4, sigma=1.5)
    torch.testing.assert_close(data.heatmaps, gaussian_heatmaps(data.points, (32, 32), 1.5))


def test_landmarks_deterministic_by_seed():
    a, b, c = landmarks(5, seed=3), landmarks(5, seed=3), landmarks(5, seed=4)
    for field in ("images", "points", "heatmaps"):
        assert torch.equal(getattr(a, field), getattr(b, field))
    assert not torch.equal(a.points, c.points)
    assert not torch.equal(a.images, c.images)


def test_landmarks_points_inside_image_and_sub_pixel():
    data = landmarks(2000, size=(32, 48), seed=1)
    x, y = data.points[..., 0], data.points[..., 1]
    assert float(x.min()) >= 0 and float(x.max()) <= 47
    assert float(y.min()) >= 0 and float(y.max()) <= 31
    assert float((data.points - data.points.round()).abs().max()) > 0.1  # not snapped to pixels


def test_landmarks_face_layout_pins_y_down():
    # y points down (row index): the eyes sit above (smaller y than) the mouth corners, the left eye
    # (index 0) left of the right eye, for every face (rotation is at most about 20°).
    p = landmarks(500, seed=2).points
    eyes_y, mouth_y = p[:, :2, 1].max(dim=1).values, p[:, 3:, 1].min(dim=1).values
    assert bool((eyes_y < mouth_y).all())
    assert bool((p[:, 0, 0] < p[:, 1, 0]).all())


def test_landmarks_image_is_brightest_near_the_eyes():
    # The drawn eyes are bright blobs: the image is brighter at the eye pixels than on average.
    data = landmarks(64, noise=0.0, seed=5)
    cols = data.points[:, 0, 0].round().long()  # (N,) left eye column
    rows = data.points[:, 0, 1].round().long()  # (N,) left eye row
    at_eye = data.images[torch.arange(64), 0, rows, cols]  # (N,)
    assert float(at_eye.mean()) > 2 * float(data.images.mean())


def test_landmarks_noise_is_the_only_difference():
    clean, noisy = landmarks(8, noise=0.0, seed=7), landmarks(8, noise=0.1, seed=7)
    assert torch.equal(clean.points, noisy.points)
    residual = noisy.images - clean.images
    assert float(residual.std()) == pytest.approx(0.1, rel=0.1)


@pytest.mark.parametrize(
    ("kwargs", "error", "name"),
    [
        ({"n": 0}, ValueError, "n"),
        ({"n": 2.0}, TypeError, "n"),
        ({"n": 2, "size": (8, 32)}, ValueError, "size"),
        ({"n": 2, "size": 32}, TypeError, "size"),
        ({"n": 2, "sigma": 0.0}, ValueError, "sigma"),
        ({"n": 2, "noise": -0.1}, ValueError, "noise"),
        ({"n": 2, "seed": -1}, ValueError, "seed"),
    ],
)
def test_landmarks_bad_input(kwargs, error, name):
    with pytest.raises(error, match=name):
        landmarks(**kwargs)
