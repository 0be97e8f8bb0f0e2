"""Convolution as a matrix: its transpose, its exact inverse when one exists, and its pseudo-inverse.

A 2-D convolution with one input and one output channel is a linear map, so it is a matrix ``A`` of
shape ``(Hout*Wout, H*W)`` acting on the flattened image. This module builds that matrix, its
transpose (what ``F.conv_transpose2d`` applies, what the "multiply each output by the kernel and
add it back" procedure computes, and what "zero-stuff, pad and flip the kernel" computes), the exact
inverse of a *circular* convolution by division in the
Fourier domain (with an optional Tikhonov/Wiener regulariser), the pseudo-inverse of a general one,
and the two small tools of the checkerboard story: overlap counts of a strided transposed
convolution and the resize-then-convolve alternative (Odena et al., Distill 2016).

Convention:
    PyTorch's. ``F.conv2d`` computes a *cross-correlation*: output ``(i, j)`` is
    ``sum_{a, b} kernel[a, b] * x[i*s - p + a, j*s - p + b]``, with no kernel flip (signal
    processing's convolution flips the kernel; NumPy's ``np.convolve`` and SciPy's
    ``scipy.signal.convolve2d`` do). Every function here follows PyTorch, and the circular
    convolution centres an odd kernel on the output pixel, as ``F.pad(..., mode="circular")``
    followed by ``F.conv2d`` does.

Shapes use the book-wide alphabet: H, W image height and width, B batch (any leading dimensions).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from companion.core.checks import (
    check_finite,
    check_floating_dtype,
    check_int,
    check_nonempty,
    check_number,
    check_pair,
    check_tensor,
)

__all__ = [
    "CAMERA_SIZE",
    "DeconvConfig",
    "checkerboard_contrast",
    "circular_conv2d",
    "conv2d_matrix",
    "deconvolve_fft",
    "flip_pad_transpose",
    "gaussian_kernel",
    "kernel_spectrum",
    "overlap_count",
    "photograph",
    "pinv_deconvolve",
    "relative_error",
    "resize_conv2d",
    "scatter_transpose",
]


CAMERA_SIZE = 512  # side of scikit-image's bundled camera man, the chapter's photograph (offline)


@dataclass(frozen=True)
class DeconvConfig:
    """Numerical settings of the exact Fourier inverse, each with the reason for its value.

    Attributes:
        zero_rtol_ulps: A spectral value below ``zero_rtol_ulps * eps(dtype) * max|K^|`` counts as
            an exact zero, and :func:`deconvolve_fft` refuses the exact inverse. The FFT of a
            kernel whose true spectrum vanishes (a 3x3 box on a grid of a multiple of 3) lands a
            few ``eps * max|K^|`` away from zero; 100 ulps covers that with room, and is still
            1e5 times below the smallest non-zero value of any kernel this chapter uses.

    Raises:
        TypeError: If ``zero_rtol_ulps`` is not a number.
        ValueError: If ``zero_rtol_ulps`` is negative or not finite.

    Example:
        >>> DeconvConfig().zero_rtol_ulps
        100.0
    """

    zero_rtol_ulps: float = 100.0

    def __post_init__(self) -> None:
        check_number(self.zero_rtol_ulps, "zero_rtol_ulps", low=0)


# --------------------------------------------------------------------------------------------------
# Small helpers
# --------------------------------------------------------------------------------------------------


def photograph(size: int = 256, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """scikit-image's bundled ``camera()`` photograph, area-downscaled to ``size x size``, in [0, 1].

    Args:
        size: Side in pixels, 1..512. Area averaging keeps the mean grey level.
        dtype: Floating dtype of the result (float64 for the chapter's ~1e-10 checks).

    Returns:
        Tensor (H, W) with ``H = W = size``.

    Raises:
        TypeError: If ``size`` is not an int or ``dtype`` not a floating torch dtype.
        ValueError: If ``size`` is outside 1..512.

    Example:
        >>> x = photograph(64)
        >>> x.shape, x.dtype, 0.0 <= float(x.min()) <= float(x.max()) <= 1.0
        (torch.Size([64, 64]), torch.float64, True)
    """
    from skimage import data  # ships with scikit-image: no download

    check_int(size, "size", minimum=1)
    check_floating_dtype(dtype, "dtype")
    if size > CAMERA_SIZE:
        raise ValueError(f"size must be <= {CAMERA_SIZE}, got {size}")
    img = torch.as_tensor(data.camera(), dtype=torch.float64) / 255.0  # (512, 512)
    img = F.interpolate(img[None, None], size=(size, size), mode="area")[0, 0]  # (H, W)
    return img.to(dtype)


def gaussian_kernel(size: int, sigma: float, *, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """A ``size x size`` sampled Gaussian blur kernel, normalised to sum 1.

    The exponent is measured from the central tap(s), which get exactly 1 before the
    normalisation: the same kernel, and no ``0 / 0`` when ``sigma`` is so small that ``sigma²``
    underflows (the kernel is then the limit, all weight on the central tap or taps).

    Args:
        size: Side of the kernel (>= 1).
        sigma: Standard deviation in pixels (> 0).
        dtype: Floating dtype of the result.

    Returns:
        Tensor (size, size).

    Raises:
        TypeError: If ``size`` is not an int, ``sigma`` not a number or ``dtype`` not a floating
            torch dtype.
        ValueError: If ``size < 1`` or ``sigma <= 0``.

    Example:
        >>> k = gaussian_kernel(5, 1.0)
        >>> k.shape, round(float(k.sum()), 12), bool(k[2, 2] == k.max())
        (torch.Size([5, 5]), 1.0, True)
    """
    check_int(size, "size", minimum=1)
    check_number(sigma, "sigma", low=0, low_inclusive=False)
    check_floating_dtype(dtype, "dtype")
    t = torch.arange(size, dtype=dtype) - (size - 1) / 2
    d = t**2 - (t**2).min()  # 0 at the central tap(s)
    g = torch.where(d == 0, 1.0, torch.exp(-d / (2 * sigma**2)))  # never 0 / 0
    k = g[:, None] * g[None, :]
    return k / k.sum()


def relative_error(estimate: torch.Tensor, target: torch.Tensor) -> float:
    """``||estimate - target|| / ||target||`` (Frobenius norms), as a Python float.

    Args:
        estimate: A floating tensor of any shape.
        target: The reference, same shape as ``estimate``, not all zeros.

    Returns:
        The relative error, a non-negative float. Computed in float64 after scaling both tensors
        by the power of two nearest their largest magnitude (an exact operation), so that values
        near float32's or float64's range neither overflow nor underflow in the squares. Pure
        math: a NaN or infinite entry propagates (the result is NaN or inf).

    Raises:
        TypeError: If an argument is not a floating tensor.
        ValueError: If the shapes differ (no broadcasting), they are empty, or ``target`` is all
            zeros.

    Example:
        >>> relative_error(torch.tensor([1.0, 1.0]), torch.tensor([1.0, 0.0]))
        1.0
        >>> big = torch.tensor([3.0, 1.0]) * 2.0**100  # float32 near 1e30: its squares overflow
        >>> round(relative_error(big, torch.tensor([2.0, 1.0]) * 2.0**100), 12)  # 1 / sqrt(5)
        0.4472135955
    """
    check_tensor(estimate, "estimate", floating=True)
    check_tensor(target, "target", floating=True)
    if estimate.shape != target.shape:
        raise ValueError(
            f"estimate and target must have the same shape, got {tuple(estimate.shape)} "
            f"and {tuple(target.shape)}"
        )
    check_nonempty(target, "target")
    e, t = estimate.detach().double(), target.detach().double()
    largest = torch.maximum(e.abs().max(), t.abs().max())
    if bool(torch.isfinite(largest)) and largest > 0:
        shift = -torch.frexp(largest).exponent  # scale by 2**shift: exact, the ratio unchanged
        e, t = torch.ldexp(e, shift), torch.ldexp(t, shift)
    norm = torch.linalg.vector_norm(t)
    if norm == 0:
        raise ValueError("target must not be all zeros")
    return float(torch.linalg.vector_norm(e - t) / norm)


def _check_kernel(kernel: object) -> torch.Tensor:
    check_tensor(kernel, "kernel", ndim=2, dims="(kh, kw)", floating=True)
    return check_nonempty(kernel, "kernel")  # type: ignore[arg-type]


def _check_same_dtype(x: torch.Tensor, x_name: str, kernel: torch.Tensor) -> None:
    if x.dtype != kernel.dtype:
        raise TypeError(
            f"{x_name} and kernel must have the same dtype, got {x.dtype} and {kernel.dtype}"
        )


def _output_size(
    input_shape: tuple[int, int], kernel_shape: tuple[int, int], stride: int, padding: int
) -> tuple[int, int]:
    (h, w), (kh, kw) = input_shape, kernel_shape
    h_out = (h + 2 * padding - kh) // stride + 1
    w_out = (w + 2 * padding - kw) // stride + 1
    if h + 2 * padding < kh or w + 2 * padding < kw:
        raise ValueError(
            f"kernel of shape ({kh}, {kw}) does not fit in input_shape ({h}, {w}) "
            f"with padding {padding}"
        )
    return h_out, w_out


def _check_geometry(
    kernel: torch.Tensor, input_shape: object, stride: object, padding: object
) -> tuple[tuple[int, int], tuple[int, int]]:
    """Validate ``input_shape``, ``stride`` and ``padding``; return ``(H, W)`` and ``(Hout, Wout)``."""
    hw = check_pair(input_shape, "input_shape")
    check_int(stride, "stride", minimum=1)
    check_int(padding, "padding", minimum=0)
    return hw, _output_size(hw, tuple(kernel.shape), stride, padding)


def _check_output_side(
    y: object, kernel: object, input_shape: object, stride: object, padding: object
) -> tuple[torch.Tensor, tuple[int, int], tuple[int, int]]:
    """Validate a convolution *output* ``y`` against the forward pass it came from.

    Returns the checked kernel, ``(H, W)`` and ``(Hout, Wout)``.
    """
    kernel = _check_kernel(kernel)
    check_tensor(y, "y", ndim=2, dims="(Hout, Wout)", floating=True)
    _check_same_dtype(y, "y", kernel)
    (h, w), (h_out, w_out) = _check_geometry(kernel, input_shape, stride, padding)
    if tuple(y.shape) != (h_out, w_out):
        raise ValueError(
            f"y must have shape (Hout, Wout) = ({h_out}, {w_out}) for this forward pass "
            f"(kernel {tuple(kernel.shape)} on input_shape ({h}, {w}), stride {stride}, "
            f"padding {padding}), got {tuple(y.shape)}"
        )
    return kernel, (h, w), (h_out, w_out)


# --------------------------------------------------------------------------------------------------
# 1. The matrix of a convolution, and its transpose
# --------------------------------------------------------------------------------------------------


def _tap_indices(
    kernel: torch.Tensor, hw_out: tuple[int, int], stride: int
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Padded-frame row and column of every (output pixel, kernel tap) pair.

    Returns ``rows`` (Hout, 1, kh, 1), ``cols`` (1, Wout, 1, kw) in the frame padded by ``padding``
    on each side, and ``out`` (Hout, Wout, 1, 1), the flat output index ``i * Wout + j``.
    """
    (kh, kw), (h_out, w_out), dev = kernel.shape, hw_out, kernel.device
    i, j = torch.arange(h_out, device=dev), torch.arange(w_out, device=dev)
    a, b = torch.arange(kh, device=dev), torch.arange(kw, device=dev)
    rows = (i[:, None] * stride + a[None, :])[:, None, :, None]  # (Hout, kh) -> (Hout, 1, kh, 1)
    cols = (j[:, None] * stride + b[None, :])[None, :, None, :]  # (Wout, kw) -> (1, Wout, 1, kw)
    out = (i[:, None] * w_out + j[None, :])[:, :, None, None]  # (Hout, Wout) -> (Hout, Wout, 1, 1)
    return rows, cols, out


def conv2d_matrix(
    kernel: torch.Tensor, input_shape: tuple[int, int], stride: int = 1, padding: int = 0
) -> torch.Tensor:
    """The dense matrix ``A`` of a single-channel 2-D convolution with zero padding.

    ``A @ x.flatten()`` equals ``F.conv2d(x[None, None], kernel[None, None], stride=stride,
    padding=padding).flatten()``. Row ``i * Wout + j`` holds the kernel's taps at the columns of
    the input pixels that output ``(i, j)`` reads; taps that land in the zero padding are dropped.
    The matrix is differentiable with respect to ``kernel``.

    Args:
        kernel: Tensor (kh, kw), floating.
        input_shape: ``(H, W)`` of the input image.
        stride: Step between output positions, the same along both axes (>= 1).
        padding: Zeros added on every side (>= 0).

    Returns:
        Tensor (Hout*Wout, H*W) with ``Hout = (H + 2*padding - kh) // stride + 1`` (likewise
        ``Wout``), on ``kernel``'s device and dtype. Rows are in row-major output order and columns
        in row-major input order, as ``flatten()`` orders them. Pure math: a NaN or infinite tap
        is copied into the matrix (NaN propagates to every product with it).

    Raises:
        TypeError: If ``kernel`` is not a floating tensor, or an argument has the wrong type.
        ValueError: If ``kernel`` is not 2-D or is empty, ``stride < 1``, ``padding < 0``, or the
            kernel does not fit in the padded input.

    Convention:
        PyTorch's cross-correlation (no kernel flip): ``y[i, j] = sum_{a,b} kernel[a, b] *
        x[i*stride - padding + a, j*stride - padding + b]``.

    Example:
        >>> A = conv2d_matrix(torch.tensor([[1.0, 2.0]]), (1, 3))  # (1, 2) kernel on a 1 x 3 row
        >>> A
        tensor([[1., 2., 0.],
                [0., 1., 2.]])
    """
    kernel = _check_kernel(kernel)
    (h, w), (h_out, w_out) = _check_geometry(kernel, input_shape, stride, padding)
    rows, cols, out = _tap_indices(kernel, (h_out, w_out), stride)
    rows, cols = rows - padding, cols - padding  # padded frame -> input frame
    shape = (h_out, w_out, *kernel.shape)
    inside = ((rows >= 0) & (rows < h) & (cols >= 0) & (cols < w)).expand(shape)
    flat_in = (rows * w + cols).expand(shape)  # (Hout, Wout, kh, kw) input column of each tap
    flat_out = out.expand(shape)  # (Hout, Wout, kh, kw) output row of each tap
    taps = kernel[None, None].expand(shape)  # (kh, kw) -> (Hout, Wout, kh, kw)
    matrix = kernel.new_zeros(h_out * w_out, h * w)
    # Within one row every tap hits a different column, so nothing is summed here.
    return matrix.index_put((flat_out[inside], flat_in[inside]), taps[inside])


def scatter_transpose(
    y: torch.Tensor,
    kernel: torch.Tensor,
    input_shape: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """Multiply every output value by the kernel and add it back into a zero-filled input.

    This is the procedure often described as "deconvolution": start from zeros of the input's
    shape, and for every output pixel ``(i, j)`` add ``y[i, j] * kernel`` at the place the kernel sat
    in the forward pass. It equals ``A.T @ y.flatten()`` with ``A = conv2d_matrix(...)``, which is
    what ``F.conv_transpose2d`` computes; it is *not* the inverse of the convolution.

    Args:
        y: Tensor (Hout, Wout), the convolution's output.
        kernel: Tensor (kh, kw), same dtype as ``y``.
        input_shape: ``(H, W)`` of the forward pass's input.
        stride: The forward pass's stride (>= 1).
        padding: The forward pass's zero padding (>= 0); contributions landing in it are dropped.

    Returns:
        Tensor (H, W). Pure math: a NaN or infinite value of ``y`` or ``kernel`` propagates to
        the pixels it is added to, as torch's arithmetic does.

    Raises:
        TypeError: If ``y`` or ``kernel`` is not floating, their dtypes differ, or an argument has
            the wrong type.
        ValueError: If ``kernel`` is not 2-D or is empty, ``stride < 1``, ``padding < 0``, or
            ``y``'s shape does not match the forward pass.

    Example:
        >>> scatter_transpose(torch.tensor([[1.0, 10.0]]), torch.tensor([[1.0, 2.0]]), (1, 3))
        tensor([[ 1., 12., 20.]])
    """
    kernel, (h, w), (h_out, w_out) = _check_output_side(y, kernel, input_shape, stride, padding)
    rows, cols, _ = _tap_indices(kernel, (h_out, w_out), stride)
    hp, wp = h + 2 * padding, w + 2 * padding  # the padded frame holds every tap
    shape = (h_out, w_out, *kernel.shape)
    target = (rows * wp + cols).expand(shape).reshape(-1)  # (Hout, Wout, kh, kw) -> (N,)
    contrib = y[:, :, None, None] * kernel[None, None]  # (Hout, Wout, kh, kw)
    contrib = contrib.reshape(-1)  # (Hout, Wout, kh, kw) -> (N,)
    canvas = y.new_zeros(hp * wp).index_add(0, target, contrib)  # (Hp*Wp,)
    canvas = canvas.view(hp, wp)  # (Hp*Wp,) -> (Hp, Wp)
    return canvas[padding : padding + h, padding : padding + w]


def flip_pad_transpose(
    y: torch.Tensor,
    kernel: torch.Tensor,
    input_shape: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """The transposed convolution as an ordinary convolution: zero-stuff, pad, flip the kernel.

    The recipe often offered for "undoing" a convolution: put ``stride - 1`` zeros between the
    values of ``y``, pad the result by ``k - 1 - padding`` on every side (plus the rows and columns
    a strided forward pass skipped at the far border), and run a stride-1 ``F.conv2d`` with the
    kernel rotated by 180 degrees. It computes ``A.T @ y.flatten()``, exactly what
    :func:`scatter_transpose` and ``F.conv_transpose2d`` compute: the transpose, not the inverse.

    Args:
        y: Tensor (Hout, Wout), the convolution's output.
        kernel: Tensor (kh, kw), same dtype as ``y``.
        input_shape: ``(H, W)`` of the forward pass's input.
        stride: The forward pass's stride (>= 1).
        padding: The forward pass's zero padding (>= 0). When it exceeds ``k - 1`` the "padding"
            is negative, a crop.

    Returns:
        Tensor (H, W). Pure math: a NaN or infinite value of ``y`` or ``kernel`` propagates, as
        through torch's ``conv2d``.

    Raises:
        TypeError: If ``y`` or ``kernel`` is not floating, their dtypes differ, or an argument has
            the wrong type.
        ValueError: If ``kernel`` is not 2-D or is empty, ``stride < 1``, ``padding < 0``, or
            ``y``'s shape does not match the forward pass.

    Convention:
        PyTorch's: ``F.conv2d`` does not flip the kernel, so the transpose needs the flip
        (``kernel.flip(0, 1)``); with signal processing's flipping convolution it would not.

    Example:
        >>> flip_pad_transpose(torch.tensor([[1.0, 10.0]]), torch.tensor([[1.0, 2.0]]), (1, 3))
        tensor([[ 1., 12., 20.]])
    """
    kernel, (h, w), (h_out, w_out) = _check_output_side(y, kernel, input_shape, stride, padding)
    kh, kw = kernel.shape
    stuffed = y.new_zeros((h_out - 1) * stride + 1, (w_out - 1) * stride + 1)
    stuffed[::stride, ::stride] = y  # stride - 1 zeros between neighbours
    extra_h, extra_w = (h + 2 * padding - kh) % stride, (w + 2 * padding - kw) % stride
    ph, pw = kh - 1 - padding, kw - 1 - padding  # negative: crop
    framed = F.pad(stuffed, (pw, pw + extra_w, ph, ph + extra_h))  # (H + kh - 1, W + kw - 1)
    flipped = kernel.flip(0, 1)  # rotated by 180 degrees
    return F.conv2d(framed[None, None], flipped[None, None])[0, 0]  # (H, W)


# --------------------------------------------------------------------------------------------------
# 2. Circular convolution and its exact inverse in the Fourier domain
# --------------------------------------------------------------------------------------------------


def _check_odd(kernel: torch.Tensor) -> None:
    kh, kw = kernel.shape
    if kh % 2 == 0 or kw % 2 == 0:
        raise ValueError(
            f"kernel must have odd sides for a centred circular convolution, got shape ({kh}, {kw}); "
            "zero-pad an even kernel to odd size"
        )


def _check_image(x: object, name: str, kernel: torch.Tensor) -> torch.Tensor:
    x = check_tensor(x, name, floating=True)
    if x.ndim < 2:
        raise ValueError(f"{name} must be at least 2-D (..., H, W), got shape {tuple(x.shape)}")
    _check_same_dtype(x, name, kernel)
    kh, kw = kernel.shape
    h, w = x.shape[-2:]
    if kh > h or kw > w:
        raise ValueError(f"kernel of shape ({kh}, {kw}) is larger than {name}'s image ({h}, {w})")
    return x


def _flipped_kernel_image(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The (H, W) image whose circular *convolution* equals ``kernel``'s centred cross-correlation.

    Tap ``(a, b)`` goes to ``((p - a) mod H, (q - b) mod W)`` with ``p, q`` the kernel's centre.
    """
    (kh, kw), (h, w), dev = kernel.shape, shape, kernel.device
    rows = (kh // 2 - torch.arange(kh, device=dev)) % h  # (kh,)
    cols = (kw // 2 - torch.arange(kw, device=dev)) % w  # (kw,)
    flat = (rows[:, None] * w + cols[None, :]).reshape(-1)  # (kh, kw) -> (kh*kw,)
    taps = kernel.reshape(-1)  # (kh, kw) -> (kh*kw,)
    image = kernel.new_zeros(h * w).index_add(0, flat, taps)  # (H*W,)
    return image.view(h, w)  # (H*W,) -> (H, W)


def kernel_spectrum(kernel: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """The 2-D DFT of the circular convolution by ``kernel`` on an ``(H, W)`` grid: its eigenvalues.

    The matrix of :func:`circular_conv2d` is block-circulant with circulant blocks, so the 2-D DFT
    diagonalises it; this returns the diagonal. Its absolute values are the matrix's singular
    values, and the convolution is invertible exactly when none is zero.

    Args:
        kernel: Tensor (kh, kw), odd sides, at most ``(H, W)``.
        shape: ``(H, W)`` of the image grid.

    Returns:
        Complex tensor (H, W), frequency ``(u, v)`` at index ``[u, v]`` (``torch.fft.fft2`` order).
        Pure math: a NaN or infinite tap propagates to every frequency (the DFT mixes all taps).

    Raises:
        TypeError: If ``kernel`` is not a floating tensor or ``shape`` not a pair of ints.
        ValueError: If ``kernel`` is not 2-D with odd sides, or larger than ``shape``, or a side
            of ``shape`` is < 1.

    Example:
        >>> s = kernel_spectrum(torch.full((3, 3), 1 / 9, dtype=torch.float64), (6, 6))
        >>> round(float(s.abs().max()), 12), float(s.abs().min()) < 1e-15  # DC gain 1; zero at 1/3
        (1.0, True)
    """
    kernel = _check_kernel(kernel)
    _check_odd(kernel)
    h, w = check_pair(shape, "shape")
    if kernel.shape[0] > h or kernel.shape[1] > w:
        raise ValueError(f"kernel of shape {tuple(kernel.shape)} is larger than shape ({h}, {w})")
    return torch.fft.fft2(_flipped_kernel_image(kernel, (h, w)))


def circular_conv2d(x: torch.Tensor, kernel: torch.Tensor) -> torch.Tensor:
    """Centred 2-D cross-correlation with wrap-around borders ("same" size), computed by FFT.

    Equals ``F.conv2d(F.pad(x[None, None], (q, q, p, p), mode="circular"), kernel[None, None])[0, 0]``
    with ``p, q = kh // 2, kw // 2``: the image is treated as a torus, so no pixel is lost at the
    border and the output has the input's size.

    Args:
        x: Tensor (H, W), or (..., H, W) to transform a batch at once.
        kernel: Tensor (kh, kw) with odd sides, ``kh <= H``, ``kw <= W``, same dtype as ``x``.

    Returns:
        Tensor of ``x``'s shape. Pure math: a NaN or infinite value in ``x`` or ``kernel``
        propagates to every pixel of its image (the FFT mixes all pixels).

    Raises:
        TypeError: If ``x`` or ``kernel`` is not floating, or their dtypes differ.
        ValueError: If ``kernel`` is not 2-D with odd sides, or larger than the image.

    Convention:
        PyTorch's cross-correlation, centred: ``y[i, j] = sum_{a,b} kernel[a, b] *
        x[(i + a - p) mod H, (j + b - q) mod W]``. A kernel whose only non-zero tap is its
        top-left corner therefore moves the image *down and right* by ``(p, q)``.

    Example:
        >>> k = torch.zeros(3, 3, dtype=torch.float64); k[0, 0] = 1.0  # reads x[i-1, j-1]
        >>> x = torch.arange(9.0, dtype=torch.float64).view(3, 3)
        >>> torch.equal(circular_conv2d(x, k).round(), torch.roll(x, (1, 1), (0, 1)))
        True
    """
    kernel = _check_kernel(kernel)
    _check_odd(kernel)
    x = _check_image(x, "x", kernel)
    h, w = x.shape[-2:]
    spectrum = torch.fft.rfft2(_flipped_kernel_image(kernel, (h, w)))  # (H, W//2+1)
    return torch.fft.irfft2(torch.fft.rfft2(x) * spectrum, s=(h, w))


def deconvolve_fft(
    y: torch.Tensor,
    kernel: torch.Tensor,
    eps: float = 0.0,
    *,
    config: DeconvConfig = DeconvConfig(),  # frozen, so one shared default is safe
) -> torch.Tensor:
    """Invert :func:`circular_conv2d` in the Fourier domain, exactly or with Tikhonov regularisation.

    With ``K`` the kernel's spectrum (:func:`kernel_spectrum`) and ``Y`` the DFT of ``y``, the
    estimate's DFT is ``Y / K`` when ``eps == 0`` (the exact inverse) and
    ``conj(K) Y / (|K|^2 + eps)`` when ``eps > 0``. The latter minimises
    ``||circular_conv2d(x) - y||^2 + eps ||x||^2`` (Tikhonov); it is also the Wiener filter for white
    signal and noise with noise-to-signal power ratio ``eps``. Frequencies where ``|K|^2 >> eps`` are
    inverted, those where ``|K|^2 << eps`` are damped instead of amplified.

    Args:
        y: Tensor (H, W), or (..., H, W), a circular convolution's output.
        kernel: Tensor (kh, kw) with odd sides, same dtype as ``y``.
        eps: Regularisation strength, ``>= 0``, in the units of ``|K|^2`` (1 at DC for a kernel
            that sums to 1).
        config: The tolerance below which a spectral value counts as an exact zero.

    Returns:
        Tensor of ``y``'s shape. Pure math in ``y``: a NaN or infinite value propagates to every
        pixel of its image (the FFT mixes all pixels).

    Raises:
        TypeError: If ``y`` or ``kernel`` is not floating, their dtypes differ, ``eps`` is not a
            number or ``config`` not a :class:`DeconvConfig`.
        ValueError: If ``eps < 0``, the shapes are wrong, the kernel is not finite (its spectrum's
            zeros could not be found), or ``eps == 0`` and the kernel's spectrum has a zero on
            this grid (below ``config.zero_rtol_ulps`` machine epsilons of its largest value):
            then no exact inverse exists.

    Example:
        >>> x = photograph(32)
        >>> k = gaussian_kernel(3, 0.8)
        >>> relative_error(deconvolve_fft(circular_conv2d(x, k), k), x) < 1e-12
        True
    """
    kernel = _check_kernel(kernel)
    _check_odd(kernel)
    check_finite(kernel, "kernel")
    y = _check_image(y, "y", kernel)
    eps = check_number(eps, "eps", low=0)
    if not isinstance(config, DeconvConfig):
        raise TypeError(f"config must be a DeconvConfig, got {type(config).__name__}")
    h, w = y.shape[-2:]
    spectrum = torch.fft.rfft2(_flipped_kernel_image(kernel, (h, w)))  # (H, W//2+1)
    y_hat = torch.fft.rfft2(y)  # (..., H, W//2+1)
    if eps == 0.0:
        magnitude = spectrum.abs()
        tol = config.zero_rtol_ulps * torch.finfo(y.dtype).eps * magnitude.max()
        if bool((magnitude <= tol).any()):
            raise ValueError(
                f"kernel's spectrum has a zero on the ({h}, {w}) grid (min |K| = "
                f"{float(magnitude.min()):.2e}, max |K| = {float(magnitude.max()):.2e}): the "
                "circular convolution is not invertible; pass eps > 0 for a regularised inverse"
            )
        x_hat = y_hat / spectrum
    else:
        x_hat = y_hat * spectrum.conj() / (spectrum.abs() ** 2 + eps)
    return torch.fft.irfft2(x_hat, s=(h, w))


# --------------------------------------------------------------------------------------------------
# 3. The pseudo-inverse of a general (valid, strided) convolution
# --------------------------------------------------------------------------------------------------


def pinv_deconvolve(
    y: torch.Tensor,
    kernel: torch.Tensor,
    input_shape: tuple[int, int],
    stride: int = 1,
    padding: int = 0,
) -> torch.Tensor:
    """The minimum-norm input that the convolution maps closest to ``y``: ``pinv(A) @ y``.

    When ``A`` (:func:`conv2d_matrix`) has fewer rows than columns ("valid" convolution, stride > 1)
    and full row rank, every ``y`` is reached exactly, by infinitely many inputs; the
    pseudo-inverse picks the one of least norm, which has no component in ``A``'s null space. The
    true input differs from it by exactly that null-space component, which the convolution erased.
    When ``A`` instead has full column rank (more rows than columns, as with "full" padding
    ``k - 1``, which makes any kernel that is not all zeros injective), the pseudo-inverse is an
    exact left inverse, ``pinv(A) @ A = I``, and returns the true input.

    Args:
        y: Tensor (Hout, Wout), the convolution's output.
        kernel: Tensor (kh, kw), same dtype as ``y`` (use float64: this builds and decomposes a
            dense ``(Hout*Wout, H*W)`` matrix, so keep ``H*W`` to a few thousand).
        input_shape: ``(H, W)`` of the forward pass's input.
        stride: The forward pass's stride (>= 1).
        padding: The forward pass's zero padding (>= 0).

    Returns:
        Tensor (H, W). Pure math in ``y``: a NaN or infinite value propagates to every pixel it
        reaches through ``pinv(A)``.

    Raises:
        TypeError: If ``y`` or ``kernel`` is not floating, their dtypes differ, or an argument has
            the wrong type.
        ValueError: If ``kernel`` is not 2-D, is empty or is not finite (the SVD behind ``pinv``
            needs finite values), ``stride < 1``, ``padding < 0``, or ``y``'s shape does not
            match the forward pass.

    Example:
        >>> x = photograph(16)
        >>> k = gaussian_kernel(3, 1.0)
        >>> y = F.conv2d(x[None, None], k[None, None])[0, 0]  # "valid": 14 x 14 from 16 x 16
        >>> x_pinv = pinv_deconvolve(y, k, (16, 16))
        >>> A = conv2d_matrix(k, (16, 16))
        >>> relative_error(A @ x_pinv.flatten(), y.flatten()) < 1e-10, relative_error(x_pinv, x) > 1e-3
        (True, True)
    """
    kernel, (h, w), _ = _check_output_side(y, kernel, input_shape, stride, padding)
    check_finite(kernel, "kernel")
    matrix = conv2d_matrix(kernel, (h, w), stride, padding)  # (Hout*Wout, H*W)
    x = torch.linalg.pinv(matrix) @ y.reshape(-1)  # (Hout, Wout) -> (Hout*Wout,) -> (H*W,)
    return x.view(h, w)  # (H*W,) -> (H, W)


# --------------------------------------------------------------------------------------------------
# 4. Checkerboards: overlap of strided transposed convolutions, and resize-then-convolve
# --------------------------------------------------------------------------------------------------


def overlap_count(kernel_size: int, stride: int, size: int) -> torch.Tensor:
    """How many kernel placements cover each output pixel of a strided transposed convolution.

    It is ``F.conv_transpose2d`` of an all-ones ``size x size`` input with an all-ones kernel and no
    padding: an even count everywhere in the interior when ``kernel_size`` is a multiple of
    ``stride``, an uneven (checkerboard) count otherwise (Odena et al. 2016).

    Args:
        kernel_size: Side of the square kernel (>= 1).
        stride: Stride (>= 1).
        size: Side of the square input (>= 1).

    Returns:
        Tensor (H, W) of float32 counts, ``H = W = (size - 1) * stride + kernel_size``.

    Raises:
        TypeError: If an argument is not an int.
        ValueError: If an argument is < 1.

    Example:
        >>> overlap_count(3, 2, 3)[2:5, 2:5]  # interior: 1, 2 and 4 overlaps in a 2 x 2 pattern
        tensor([[4., 2., 4.],
                [2., 1., 2.],
                [4., 2., 4.]])
    """
    check_int(kernel_size, "kernel_size", minimum=1)
    check_int(stride, "stride", minimum=1)
    check_int(size, "size", minimum=1)
    ones = torch.ones(1, 1, size, size)
    return F.conv_transpose2d(ones, torch.ones(1, 1, kernel_size, kernel_size), stride=stride)[0, 0]


def resize_conv2d(x: torch.Tensor, kernel: torch.Tensor, scale: int) -> torch.Tensor:
    """Upsample by nearest-neighbour resize, then convolve ("same" size, replicated borders).

    The alternative to a strided transposed convolution that Odena et al. (2016) recommend: every
    output pixel sees the same number of kernel taps, so a constant input gives a constant output
    whatever the weights, and no checkerboard can come from the layer's structure.

    Args:
        x: Tensor (H, W) or (B, H, W).
        kernel: Tensor (kh, kw), same dtype as ``x``.
        scale: Integer upsampling factor (>= 1).

    Returns:
        Tensor (..., scale*H, scale*W) with ``x``'s leading dimensions. Pure math: a NaN or
        infinite value of ``x`` or ``kernel`` propagates, as through torch's ``conv2d``.

    Raises:
        TypeError: If ``x`` or ``kernel`` is not floating, their dtypes differ, or ``scale`` is
            not an int.
        ValueError: If ``x`` is not 2-D or 3-D or has an empty side, ``kernel`` is empty, or
            ``scale < 1``.

    Convention:
        "Same" padding as PyTorch's ``padding="same"``: ``(k - 1) // 2`` before and ``k // 2`` after
        along each axis, filled by replicating the border (not zeros, so borders are not darkened).

    Example:
        >>> k = torch.rand(3, 3, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
        >>> out = resize_conv2d(torch.ones(4, 4, dtype=torch.float64), k, 2)
        >>> out.shape, bool(torch.allclose(out, k.sum().expand(8, 8)))
        (torch.Size([8, 8]), True)
    """
    kernel = _check_kernel(kernel)
    x = check_tensor(x, "x", floating=True)
    if x.ndim not in (2, 3):
        raise ValueError(f"x must be 2-D (H, W) or 3-D (B, H, W), got shape {tuple(x.shape)}")
    if x.shape[-1] == 0 or x.shape[-2] == 0:
        raise ValueError(f"x must have H, W >= 1, got shape {tuple(x.shape)}")
    _check_same_dtype(x, "x", kernel)
    check_int(scale, "scale", minimum=1)
    batch = x.reshape(-1, 1, *x.shape[-2:])  # (..., H, W) -> (B, 1, H, W)
    up = F.interpolate(batch, scale_factor=scale, mode="nearest")  # (B, 1, sH, sW)
    kh, kw = kernel.shape
    up = F.pad(up, ((kw - 1) // 2, kw // 2, (kh - 1) // 2, kh // 2), mode="replicate")
    out = F.conv2d(up, kernel[None, None])  # (B, 1, sH, sW)
    return out.reshape(*x.shape[:-2], *out.shape[-2:])  # (B, 1, sH, sW) -> (..., sH, sW)


def checkerboard_contrast(image: torch.Tensor, period: int) -> float:
    """Spread of the mean over the ``period x period`` pixel phases, relative to the mean magnitude.

    Pixels are grouped by ``(i mod period, j mod period)``; the result is
    ``(max group mean - min group mean) / mean(|image|)``. A periodic checkerboard of that period
    makes the group means differ; an image without one gives about zero.

    Args:
        image: Tensor (H, W), with ``H`` and ``W`` multiples of ``period``.
        period: The stride whose pattern to measure (>= 1).

    Returns:
        The contrast, a non-negative float.

    Raises:
        TypeError: If ``image`` is not a floating tensor or ``period`` not an int.
        ValueError: If ``image`` is not 2-D, is empty, holds a NaN or infinite value, its sides
            are not multiples of ``period``, or it is all zeros.

    Example:
        >>> round(checkerboard_contrast(overlap_count(3, 2, 4)[2:-3, 2:-3], 2), 4)  # (4 - 1) / 2.25
        1.3333
    """
    check_tensor(image, "image", ndim=2, dims="(H, W)", floating=True)
    check_nonempty(image, "image")
    check_finite(image, "image")
    check_int(period, "period", minimum=1)
    h, w = image.shape
    if h % period or w % period:
        raise ValueError(f"image sides must be multiples of period {period}, got shape ({h}, {w})")
    scale = image.abs().mean()
    if scale == 0:
        raise ValueError("image must not be all zeros")
    phases = image.reshape(h // period, period, w // period, period)  # (H, W) -> (h, s, w, s)
    means = phases.mean(dim=(0, 2))  # (s, s): mean of each pixel phase
    return float((means.max() - means.min()) / scale)
