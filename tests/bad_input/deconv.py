"""Bad-input cases for ``companion.deconv``."""

from __future__ import annotations

import torch

from bad_input import Case
from companion import deconv as dc

F64 = torch.float64
FLOAT = "dtype-agnostic: float32 in, float32 out"
BATCHED = "(..., H, W): a batch is allowed"
THIN = "a kernel of one column is a valid kernel (odd sides where oddness is needed)"
K3 = torch.full((3, 3), 1 / 9, dtype=F64)
K12 = torch.tensor([[1.0, 2.0]], dtype=F64)


def _img(n: int = 6) -> torch.Tensor:
    return torch.rand(n, n, generator=torch.Generator().manual_seed(0), dtype=F64)


TRANSPOSE = dict(
    y=torch.tensor([[1.0, 10.0]], dtype=F64), kernel=K12, input_shape=(1, 3), stride=1, padding=0
)
TRANSPOSE_OK = {"padding:zero": "no padding"}

CASES = [
    Case("companion.deconv.DeconvConfig", lambda: (dc.DeconvConfig, dict(zero_rtol_ulps=100.0))),
    Case(
        "companion.deconv.checkerboard_contrast",
        lambda: (dc.checkerboard_contrast, dict(image=_img(4), period=2)),
        ok={"image:float32": FLOAT},
    ),
    Case(
        "companion.deconv.circular_conv2d",
        lambda: (dc.circular_conv2d, dict(x=_img(), kernel=K3)),
        ok={"x:rank+1": BATCHED, "kernel:last-1": THIN},
    ),
    Case(
        "companion.deconv.conv2d_matrix",
        lambda: (dc.conv2d_matrix, dict(kernel=K12, input_shape=(1, 3), stride=1, padding=0)),
        ok={"kernel:float32": FLOAT, "padding:zero": "no padding", "kernel:last-1": THIN},
    ),
    Case(
        "companion.deconv.deconvolve_fft",
        lambda: (
            dc.deconvolve_fft,
            dict(y=_img(), kernel=dc.gaussian_kernel(3, 0.8), eps=0.0, config=dc.DeconvConfig()),
        ),
        ok={"y:rank+1": BATCHED, "kernel:last-1": THIN},
    ),
    Case(
        "companion.deconv.flip_pad_transpose",
        lambda: (dc.flip_pad_transpose, dict(TRANSPOSE)),
        ok=TRANSPOSE_OK,
    ),
    Case(
        "companion.deconv.gaussian_kernel",
        lambda: (dc.gaussian_kernel, dict(size=5, sigma=1.0, dtype=F64)),
        extra=[
            ("integer dtype", "dtype", torch.int64, "dtype"),
            ("tiny sigma: the limit, all weight at the centre", "sigma", 1e-200, None),
        ],
    ),
    Case(
        "companion.deconv.kernel_spectrum",
        lambda: (dc.kernel_spectrum, dict(kernel=K3, shape=(6, 6))),
        ok={"kernel:float32": FLOAT, "kernel:last-1": THIN},
    ),
    Case(
        "companion.deconv.overlap_count",
        lambda: (dc.overlap_count, dict(kernel_size=3, stride=2, size=3)),
    ),
    Case(
        "companion.deconv.photograph",
        lambda: (dc.photograph, dict(size=16, dtype=F64)),
        extra=[("integer dtype", "dtype", torch.int64, "dtype")],
    ),
    Case(
        "companion.deconv.pinv_deconvolve",
        lambda: (
            dc.pinv_deconvolve,
            dict(y=_img(4), kernel=K3, input_shape=(6, 6), stride=1, padding=0),
        ),
        ok={"padding:zero": "no padding"},
    ),
    Case(
        "companion.deconv.relative_error",
        lambda: (
            dc.relative_error,
            dict(estimate=torch.tensor([1.0, 1.0]), target=torch.tensor([1.0, 0.5])),
        ),
        ok={
            "estimate:float64": "any floating dtype",
            "target:float64": "any floating dtype",
            "estimate:rank+1": "any shape, same for both",
        },
        extra=[
            ("float32 near 1e30: no overflow", "estimate", torch.tensor([3e30, 1e30]), None),
            ("float32 target near 1e30", "target", torch.tensor([2e30, 1e30]), None),
            ("float32 near 1e-30: no underflow", "target", torch.tensor([2e-30, 1e-30]), None),
        ],
    ),
    Case(
        "companion.deconv.resize_conv2d",
        lambda: (dc.resize_conv2d, dict(x=_img(4), kernel=K3, scale=2)),
        ok={
            "x:rank+1": "(B, H, W) is allowed",
            "x:last-1": "a one-column image is valid",
            "kernel:last-1": THIN,
        },
    ),
    Case(
        "companion.deconv.scatter_transpose",
        lambda: (dc.scatter_transpose, dict(TRANSPOSE)),
        ok=TRANSPOSE_OK,
    ),
]
