"""Tests of companion.deconv: the convolution matrix against PyTorch's own ops, exact and regularised
Fourier inversion against closed forms, the pseudo-inverse's two properties, and bad input."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from companion.deconv import (
    DeconvConfig,
    checkerboard_contrast,
    circular_conv2d,
    conv2d_matrix,
    deconvolve_fft,
    flip_pad_transpose,
    gaussian_kernel,
    kernel_spectrum,
    overlap_count,
    photograph,
    pinv_deconvolve,
    relative_error,
    resize_conv2d,
    scatter_transpose,
)

F64 = torch.float64


def rand(*shape, seed=0):
    return torch.randn(*shape, generator=torch.Generator().manual_seed(seed), dtype=F64)


def invertible_kernel(size, seed=0):
    """Centre tap 1, other taps summing in magnitude to 0.6: |K| >= 0.4 at every frequency."""
    k = rand(size, size, seed=seed)
    k[size // 2, size // 2] = 0.0
    k = 0.6 * k / k.abs().sum()
    k[size // 2, size // 2] = 1.0
    return k


geometry = st.tuples(
    st.integers(1, 7),  # H
    st.integers(1, 7),  # W
    st.integers(1, 4),  # kh
    st.integers(1, 4),  # kw
    st.integers(1, 3),  # stride
    st.integers(0, 2),  # padding
    st.integers(0, 10_000),  # seed
)


# --- the matrix against F.conv2d and F.conv_transpose2d ----------------------------------------


@settings(max_examples=25, deadline=None)
@given(geometry)
def test_matrix_matches_conv2d(g):
    h, w, kh, kw, s, p, seed = g
    assume(h + 2 * p >= kh and w + 2 * p >= kw)
    x, k = rand(h, w, seed=seed), rand(kh, kw, seed=seed + 1)
    expected = F.conv2d(x[None, None], k[None, None], stride=s, padding=p)[0, 0]
    A = conv2d_matrix(k, (h, w), stride=s, padding=p)
    assert A.shape == (expected.numel(), h * w)
    torch.testing.assert_close(A @ x.flatten(), expected.flatten(), rtol=0, atol=1e-12)


@settings(max_examples=25, deadline=None)
@given(geometry)
def test_transpose_matches_conv_transpose2d_and_scatter(g):
    h, w, kh, kw, s, p, seed = g
    assume(h + 2 * p >= kh and w + 2 * p >= kw)
    k = rand(kh, kw, seed=seed + 1)
    A = conv2d_matrix(k, (h, w), stride=s, padding=p)
    h_out, w_out = (h + 2 * p - kh) // s + 1, (w + 2 * p - kw) // s + 1
    y = rand(h_out, w_out, seed=seed + 2)
    # output_padding restores the rows/columns a strided forward pass skipped at the far border
    op = ((h + 2 * p - kh) % s, (w + 2 * p - kw) % s)
    expected = F.conv_transpose2d(
        y[None, None], k[None, None], stride=s, padding=p, output_padding=op
    )
    torch.testing.assert_close((A.T @ y.flatten()).view(h, w), expected[0, 0], rtol=0, atol=1e-12)
    torch.testing.assert_close(
        scatter_transpose(y, k, (h, w), s, p), expected[0, 0], rtol=0, atol=1e-12
    )
    torch.testing.assert_close(
        flip_pad_transpose(y, k, (h, w), s, p), expected[0, 0], rtol=0, atol=1e-12
    )


def test_flip_and_pad_needs_the_flip():
    """PyTorch's conv2d does not flip: an unflipped kernel gives a different, wrong map."""
    k = torch.zeros(3, 3, dtype=F64)
    k[0, 0] = 1.0  # forward: output (i, j) reads x[i - 1, j - 1]; the transpose shifts back
    y = rand(6, 6)
    got = flip_pad_transpose(y, k, (6, 6), 1, 1)
    expected = torch.zeros(6, 6, dtype=F64)
    expected[:-1, :-1] = y[1:, 1:]  # (A^T y)[m, n] = y[m + 1, n + 1]
    torch.testing.assert_close(got, expected, rtol=0, atol=0)
    unflipped = F.conv2d(F.pad(y, (1, 1, 1, 1))[None, None], k[None, None])[0, 0]
    assert (unflipped - expected).abs().max() > 1.0


@settings(max_examples=20, deadline=None)
@given(st.integers(1, 4), st.integers(1, 4), st.integers(0, 10_000), st.floats(0.0, 0.9))
def test_full_padding_makes_any_nonzero_kernel_injective(kh, kw, seed, sparsity):
    """Padding k - 1 ("full"): A has full column rank for any kernel that is not all zeros, so the
    least-squares (left) inverse recovers x, even for a box whose circular spectrum has zeros."""
    gen = torch.Generator().manual_seed(seed)
    k = torch.randn(kh, kw, generator=gen, dtype=F64)
    k = k * (torch.rand(kh, kw, generator=gen, dtype=F64) > sparsity)  # drop some taps ...
    k[kh // 2, kw // 2] += 0.0 if k.abs().sum() > 0 else 1.0  # ... but not all of them
    x = rand(6, 7, seed=seed)
    A = conv2d_matrix(k, (6, 7), padding=max(kh, kw) - 1)
    assert int(torch.linalg.matrix_rank(A)) == 42
    y = F.conv2d(x[None, None], k[None, None], padding=max(kh, kw) - 1)[0, 0]
    assert relative_error(pinv_deconvolve(y, k, (6, 7), 1, max(kh, kw) - 1), x) < 1e-8


def test_zero_same_padding_is_not_decided_by_the_circular_spectrum():
    """A 3x3 box: circular is singular on 24 x 24 and invertible on 23 x 23; with zero "same"
    padding it is the reverse (1-D eigenvalues 1 + 2 cos(pi j / (n + 1)) vanish when 3 | n + 1)."""
    box = torch.full((3, 3), 1 / 9, dtype=F64)
    rank = {n: int(torch.linalg.matrix_rank(conv2d_matrix(box, (n, n), padding=1))) for n in (8, 9)}
    assert rank == {8: 49, 9: 81}  # n = 8: 3 | 9, rank 7 per axis, 7 * 7 in 2-D
    assert float(kernel_spectrum(box, (9, 9)).abs().min()) < 1e-12  # circular: 3 | 9, singular
    assert float(kernel_spectrum(box, (8, 8)).abs().min()) > 1e-2


def test_adjoint_identity_and_transpose_is_the_input_gradient():
    x, k, y = rand(9, 8), rand(3, 3, seed=1), rand(5, 4, seed=2)
    A = conv2d_matrix(k, (9, 8), stride=2, padding=1)
    lhs = torch.dot(A @ x.flatten(), y.flatten())
    rhs = torch.dot(x.flatten(), scatter_transpose(y, k, (9, 8), 2, 1).flatten())
    torch.testing.assert_close(lhs, rhs, rtol=1e-12, atol=0)
    # backprop through conv2d applies the transpose to the upstream gradient
    xg = x.clone().requires_grad_(True)
    (F.conv2d(xg[None, None], k[None, None], stride=2, padding=1)[0, 0] * y).sum().backward()
    torch.testing.assert_close(xg.grad, scatter_transpose(y, k, (9, 8), 2, 1), rtol=0, atol=1e-12)


def test_matrix_convention_is_cross_correlation():
    # one-hot top-left tap, valid conv: output (i, j) reads x[i, j], no kernel flip
    k = torch.zeros(2, 2, dtype=F64)
    k[0, 0] = 1.0
    x = torch.arange(9, dtype=F64).view(3, 3)
    assert torch.equal((conv2d_matrix(k, (3, 3)) @ x.flatten()).view(2, 2), x[:2, :2])


def test_matrix_is_differentiable_in_the_kernel():
    k = rand(3, 3).requires_grad_(True)
    x = rand(5, 5, seed=1)
    assert torch.autograd.gradcheck(lambda k: conv2d_matrix(k, (5, 5), 1, 1) @ x.flatten(), (k,))


def test_transpose_then_forward_is_not_identity():
    x = photograph(24)
    k = gaussian_kernel(3, 1.0)
    A = conv2d_matrix(k, (24, 24), padding=1)
    assert relative_error((A.T @ (A @ x.flatten())).view(24, 24), x) > 1e-2


# --- circular convolution and the Fourier inverse ----------------------------------------------


@settings(max_examples=25, deadline=None)
@given(
    st.integers(3, 9), st.integers(3, 9), st.sampled_from([1, 3]), st.sampled_from([1, 3]),
    st.integers(0, 10_000),
)  # fmt: skip
def test_circular_matches_circular_pad_then_conv2d(h, w, kh, kw, seed):
    x, k = rand(h, w, seed=seed), rand(kh, kw, seed=seed + 1)
    p, q = kh // 2, kw // 2
    expected = F.conv2d(F.pad(x[None, None], (q, q, p, p), mode="circular"), k[None, None])[0, 0]
    torch.testing.assert_close(circular_conv2d(x, k), expected, rtol=0, atol=1e-12)


def test_circular_accepts_a_batch_and_does_not_modify_input():
    x, k = rand(4, 7, 6), rand(5, 3, seed=1)
    x0 = x.clone()
    out = circular_conv2d(x, k)
    assert out.shape == x.shape and torch.equal(x, x0)
    torch.testing.assert_close(out[2], circular_conv2d(x[2], k), rtol=0, atol=1e-14)


def test_circular_convention_one_hot_tap_rolls_down_right():
    k = torch.zeros(3, 5, dtype=F64)
    k[0, 0] = 1.0  # reads x[i - 1, j - 2]
    x = rand(6, 7)
    torch.testing.assert_close(
        circular_conv2d(x, k), torch.roll(x, (1, 2), (0, 1)), rtol=0, atol=1e-14
    )
    torch.testing.assert_close(
        deconvolve_fft(torch.roll(x, (1, 2), (0, 1)), k), x, rtol=0, atol=1e-14
    )


def test_spectrum_gives_the_singular_values_of_the_dense_circular_matrix():
    k = rand(3, 3)
    basis = torch.eye(36, dtype=F64).view(36, 6, 6)  # (H*W, H, W): one-hot images
    A = circular_conv2d(basis, k).reshape(36, 36).T  # column n is the image of basis vector n
    expected = torch.linalg.svdvals(A)
    got = kernel_spectrum(k, (6, 6)).abs().flatten().sort(descending=True).values
    torch.testing.assert_close(got, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize("shape", [(32, 32), (17, 24)])
def test_exact_recovery_for_an_invertible_kernel(shape):
    x, k = rand(*shape), invertible_kernel(5, seed=3)
    assert relative_error(deconvolve_fft(circular_conv2d(x, k), k), x) < 1e-12


def test_exact_recovery_of_a_photograph_by_a_random_kernel():
    x = photograph(64)
    k = torch.rand(5, 5, generator=torch.Generator().manual_seed(1), dtype=F64)
    assert relative_error(deconvolve_fft(circular_conv2d(x, k), k), x) < 1e-8


def test_singular_kernel_raises_and_regularised_inverse_is_tikhonov():
    box = torch.full((3, 3), 1 / 9, dtype=F64)  # spectrum (1 + 2 cos)/3 vanishes at 1/3 of the grid
    y = circular_conv2d(rand(6, 6), box)
    with pytest.raises(ValueError, match="kernel's spectrum has a zero"):
        deconvolve_fft(y, box)
    # the same box on a 7 x 7 grid has no zero
    deconvolve_fft(circular_conv2d(rand(7, 7), box), box)
    # eps > 0: the closed form argmin ||Ax - y||^2 + eps ||x||^2 = (A^T A + eps I)^-1 A^T y
    eps = 0.05
    A = circular_conv2d(torch.eye(36, dtype=F64).view(36, 6, 6), box).reshape(36, 36).T
    expected = torch.linalg.solve(A.T @ A + eps * torch.eye(36, dtype=F64), A.T @ y.flatten())
    torch.testing.assert_close(
        deconvolve_fft(y, box, eps=eps).flatten(), expected, rtol=0, atol=1e-12
    )


def test_regularised_inverse_of_an_asymmetric_kernel_is_tikhonov():
    """A kernel without symmetry has a complex spectrum: the conjugate in conj(K) Y matters."""
    k = rand(3, 3, seed=4)
    y = circular_conv2d(rand(5, 6, seed=5), k)
    eps = 0.3
    A = circular_conv2d(torch.eye(30, dtype=F64).view(30, 5, 6), k).reshape(30, 30).T
    expected = torch.linalg.solve(A.T @ A + eps * torch.eye(30, dtype=F64), A.T @ y.flatten())
    torch.testing.assert_close(
        deconvolve_fft(y, k, eps=eps).flatten(), expected, rtol=0, atol=1e-12
    )


def test_a_spectral_zero_rounded_to_a_few_hundredths_of_an_ulp_still_counts_as_zero():
    """Rows r, columns (1, 1, 1): a true zero at 1/3 of an 18-wide grid that the FFT rounds to
    about 0.06 ulp, not to 0. The tolerance refuses it; with no tolerance it passes."""
    r = torch.rand(3, 1, generator=torch.Generator().manual_seed(0), dtype=F64)
    k = r * torch.ones(1, 3, dtype=F64)
    y = circular_conv2d(rand(18, 18), k)
    with pytest.raises(ValueError, match="kernel's spectrum has a zero"):
        deconvolve_fft(y, k)
    # with no tolerance the residue passes for an invertible value and no error is raised
    deconvolve_fft(y, k, config=DeconvConfig(zero_rtol_ulps=0.0))
    with pytest.raises(ValueError, match="zero_rtol_ulps"):
        DeconvConfig(zero_rtol_ulps=-1.0)
    with pytest.raises(TypeError, match="config"):
        deconvolve_fft(y, k, config={"zero_rtol_ulps": 100.0})


def test_regularisation_shrinks_the_estimate():
    y = circular_conv2d(photograph(32), gaussian_kernel(5, 1.0))
    norms = [
        float(deconvolve_fft(y, gaussian_kernel(5, 1.0), eps=e).norm()) for e in (1e-4, 1e-2, 1)
    ]
    assert norms[0] > norms[1] > norms[2]


def test_deconvolve_gradcheck():
    y, k = rand(4, 5).requires_grad_(True), invertible_kernel(3).requires_grad_(True)
    for eps in (0.0, 0.1):
        assert torch.autograd.gradcheck(
            lambda y, k, eps=eps: deconvolve_fft(y, k, eps=eps), (y, k), fast_mode=True
        )


def test_float32_recovery():
    x, k = rand(16, 16).float(), invertible_kernel(3).float()
    assert relative_error(deconvolve_fft(circular_conv2d(x, k), k), x) < 1e-5


# --- pseudo-inverse ------------------------------------------------------------------------------


@pytest.mark.parametrize(("stride", "padding"), [(1, 0), (2, 1)])
def test_pinv_reproduces_y_and_is_minimum_norm(stride, padding):
    x, k = photograph(16), gaussian_kernel(3, 1.0)
    y = F.conv2d(x[None, None], k[None, None], stride=stride, padding=padding)[0, 0]
    x_pinv = pinv_deconvolve(y, k, (16, 16), stride, padding)
    A = conv2d_matrix(k, (16, 16), stride, padding)
    assert relative_error(A @ x_pinv.flatten(), y.flatten()) < 1e-10  # same output ...
    assert relative_error(x_pinv, x) > 1e-2  # ... different input
    # minimum norm: the difference lies in A's null space, orthogonal to x_pinv
    assert abs(float(torch.dot(x_pinv.flatten(), (x - x_pinv).flatten()))) < 1e-8
    assert float(x_pinv.norm()) < float(x.norm())


def test_pinv_of_an_invertible_square_system_is_the_inverse():
    x, k = rand(8, 8), invertible_kernel(3)
    y = F.conv2d(x[None, None], k[None, None], padding=1)[0, 0]
    assert relative_error(pinv_deconvolve(y, k, (8, 8), 1, 1), x) < 1e-10


# --- checkerboards ------------------------------------------------------------------------------


def test_overlap_counts():
    uneven = overlap_count(3, 2, 6)[2:-3, 2:-3]
    even = overlap_count(4, 2, 6)[3:-3, 3:-3]
    assert set(uneven.unique().tolist()) == {1.0, 2.0, 4.0}
    assert set(even.unique().tolist()) == {4.0}
    assert checkerboard_contrast(even, 2) == 0.0


@settings(max_examples=25, deadline=None)
@given(st.integers(1, 5), st.integers(1, 5), st.integers(1, 3), st.integers(0, 10_000))
def test_resize_conv_keeps_a_constant_constant(kh, kw, scale, seed):
    k = torch.rand(kh, kw, generator=torch.Generator().manual_seed(seed), dtype=F64)
    out = resize_conv2d(torch.full((2, 4, 3), 0.7, dtype=F64), k, scale)
    assert out.shape == (2, 4 * scale, 3 * scale)
    torch.testing.assert_close(out, torch.full_like(out, 0.7 * float(k.sum())), rtol=1e-12, atol=0)


def test_transposed_conv_of_a_constant_has_a_checkerboard_for_random_weights():
    k = torch.rand(4, 4, generator=torch.Generator().manual_seed(0), dtype=F64)
    out = F.conv_transpose2d(torch.ones(1, 1, 8, 8, dtype=F64), k[None, None], stride=2)[0, 0]
    assert checkerboard_contrast(out[4:-4, 4:-4], 2) > 0.05


# --- bad input ------------------------------------------------------------------------------------


def test_bad_input():
    k = rand(3, 3)
    with pytest.raises(ValueError, match="kernel"):
        conv2d_matrix(rand(3), (4, 4))
    with pytest.raises(TypeError, match="kernel"):
        conv2d_matrix(torch.ones(3, 3, dtype=torch.int64), (4, 4))
    with pytest.raises(ValueError, match="stride"):
        conv2d_matrix(k, (4, 4), stride=0)
    with pytest.raises(ValueError, match="padding"):
        conv2d_matrix(k, (4, 4), padding=-1)
    with pytest.raises(TypeError, match="input_shape"):
        conv2d_matrix(k, 4)
    with pytest.raises(ValueError, match="does not fit"):
        conv2d_matrix(k, (2, 2))
    with pytest.raises(ValueError, match="y must have shape"):
        scatter_transpose(rand(3, 3), k, (4, 4))
    with pytest.raises(TypeError, match="y and kernel must have the same dtype"):
        scatter_transpose(rand(2, 2).float(), k, (4, 4))
    with pytest.raises(ValueError, match="odd sides"):
        circular_conv2d(rand(5, 5), rand(2, 2))
    with pytest.raises(ValueError, match="larger than x"):
        circular_conv2d(rand(2, 5), k)
    with pytest.raises(ValueError, match="x must be at least 2-D"):
        circular_conv2d(rand(5), k)
    with pytest.raises(ValueError, match="eps"):
        deconvolve_fft(rand(5, 5), k, eps=-1.0)
    with pytest.raises(TypeError, match="eps"):
        deconvolve_fft(rand(5, 5), k, eps="0.1")
    with pytest.raises(ValueError, match="y must have shape"):
        pinv_deconvolve(rand(4, 4), k, (4, 4))
    with pytest.raises(ValueError, match="y must have shape"):
        flip_pad_transpose(rand(3, 3), k, (4, 4))
    with pytest.raises(TypeError, match="y and kernel must have the same dtype"):
        flip_pad_transpose(rand(2, 2).float(), k, (4, 4))
    with pytest.raises(ValueError, match="stride"):
        flip_pad_transpose(rand(2, 2), k, (4, 4), stride=0)
    with pytest.raises(ValueError, match="kernel"):
        flip_pad_transpose(rand(2, 2), rand(3), (4, 4))
    with pytest.raises(ValueError, match="kernel_size"):
        overlap_count(0, 2, 3)
    with pytest.raises(ValueError, match="x must be 2-D"):
        resize_conv2d(rand(5), k, 2)
    with pytest.raises(ValueError, match="multiples of period"):
        checkerboard_contrast(rand(5, 4), 2)
    with pytest.raises(ValueError, match="estimate and target"):
        relative_error(rand(3), rand(4))
    with pytest.raises(ValueError, match="size"):
        photograph(1000)
    with pytest.raises(ValueError, match="sigma"):
        gaussian_kernel(3, 0.0)
    with pytest.raises(TypeError, match="dtype"):
        gaussian_kernel(3, 1.0, dtype=torch.int64)
    with pytest.raises(TypeError, match="dtype"):
        photograph(8, dtype=None)
    with pytest.raises(ValueError, match="kernel must not be empty"):
        conv2d_matrix(rand(0, 3), (4, 4))
    with pytest.raises(ValueError, match=r"kernel \(3, 3\) on input_shape \(4, 4\)"):
        pinv_deconvolve(rand(4, 4), k, (4, 4))
    bad = k.clone()
    bad[1, 1] = float("nan")
    with pytest.raises(ValueError, match="kernel must be finite"):
        pinv_deconvolve(rand(2, 2), bad, (4, 4))
    with pytest.raises(ValueError, match="kernel must be finite"):
        deconvolve_fft(rand(5, 5), bad)
    with pytest.raises(ValueError, match="image must be finite"):
        checkerboard_contrast(torch.full((4, 4), float("nan")), 2)
    with pytest.raises(ValueError, match="image must not be empty"):
        checkerboard_contrast(rand(0, 4), 2)
    with pytest.raises(ValueError, match="x must have H, W >= 1"):
        resize_conv2d(rand(0, 4), k, 2)


def test_gaussian_kernel_of_a_vanishing_width_is_its_limit_not_nan():
    """sigma² underflows to 0 at sigma = 1e-200: the kernel is the limit, the central tap(s)."""
    odd, even = gaussian_kernel(3, 1e-200), gaussian_kernel(4, 1e-200)
    assert torch.equal(
        odd,
        torch.zeros(3, 3, dtype=F64).index_put_(
            (torch.tensor([1]),) * 2, torch.tensor(1.0, dtype=F64)
        ),
    )
    assert torch.equal(even[1:3, 1:3], torch.full((2, 2), 0.25, dtype=F64))
    assert float(even.sum()) == 1.0


def test_relative_error_neither_overflows_nor_underflows_in_float32():
    """Squares of 1e30 overflow float32 and squares of 1e-30 underflow it; the answer is 1/sqrt(5)."""
    for scale in (2.0**100, 2.0**-100):
        estimate = torch.tensor([3.0, 1.0]) * scale
        target = torch.tensor([2.0, 1.0]) * scale
        assert relative_error(estimate, target) == pytest.approx(5**-0.5, rel=1e-12)
