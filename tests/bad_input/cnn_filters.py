"""Bad-input cases for ``companion.cnn_filters``."""

from __future__ import annotations

import torch
from torch import nn

from bad_input import Case
from companion import cnn_filters as cf

FLOAT64 = "dtype-agnostic: float64 in, float64 out"
G = torch.Generator().manual_seed(0)
X = torch.rand(8, 1, 8, 8, generator=G)
Y = torch.arange(8) % 10
CFG = cf.CnnFiltersConfig(filters=2, steps=2, batch_size=4)


def _runs():
    return cf.train_filter_runs(X, Y, [0, 1], CFG)


CASES = [
    Case(
        "companion.cnn_filters.CnnFiltersConfig",
        lambda: (
            cf.CnnFiltersConfig,
            dict(
                filters=2,
                kernel_size=3,
                pool=2,
                steps=2,
                batch_size=4,
                lr=0.05,
                momentum=0.9,
                weight_decay=0.0,
            ),
        ),
        ok={"weight_decay:zero": "no decay", "momentum:zero": "no momentum"},
    ),
    Case("companion.cnn_filters.FilterRunsHistory", record="a record that train_filter_runs fills"),
    Case(
        "companion.cnn_filters.FilterRunsHistory.model",
        lambda: (_runs().model, dict(i=1)),
        ok={"i:zero": "run 0"},
        extra=[("i out of range", "i", 2, "i")],
    ),
    Case(
        "companion.cnn_filters.ablation_importance",
        lambda: (cf.ablation_importance, dict(history=_runs(), x=X, y=Y)),
        ok={"x:float64": "converted"},
    ),
    Case(
        "companion.cnn_filters.any_within_first",
        lambda: (
            cf.any_within_first,
            dict(flags=torch.tensor([[False, True, False], [False, False, False]]), ks=[1, 2, 3]),
        ),
        ok={"ks:longer": "a repeated prefix length is a valid query; its fraction is repeated"},
    ),
    Case(
        "companion.cnn_filters.conv_weight_grad",
        lambda: (
            cf.conv_weight_grad,
            dict(
                x=torch.randn(2, 3, 6, 6, generator=G),
                grad_out=torch.randn(2, 4, 4, 4, generator=G),
                kernel_size=3,
                stride=1,
                padding=0,
            ),
        ),
        ok={"padding:zero": "no padding"},
    ),
    Case(
        "companion.cnn_filters.digit_cnn",
        lambda: (cf.digit_cnn, dict(config=CFG, seed=0, image_size=8)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.cnn_filters.edge_score",
        lambda: (cf.edge_score, dict(filters=torch.randn(3, 1, 3, 3, generator=G))),
        ok={"filters:float64": FLOAT64},
    ),
    Case(
        "companion.cnn_filters.glorot_uniform_bound",
        lambda: (cf.glorot_uniform_bound, dict(in_channels=3, out_channels=32, kernel_size=3)),
    ),
    Case(
        "companion.cnn_filters.match_filters",
        lambda: (
            cf.match_filters,
            dict(a=torch.randn(5, 2, 3, 3, generator=G), b=torch.randn(5, 2, 3, 3, generator=G)),
        ),
        ok={"a:float64": FLOAT64, "b:float64": FLOAT64},
    ),
    Case(
        "companion.cnn_filters.permute_channels",
        lambda: (
            cf.permute_channels,
            dict(
                conv=nn.Conv2d(1, 3, 3), next_layer=nn.Linear(12, 2), perm=torch.tensor([2, 0, 1])
            ),
        ),
        extra=[("not a permutation", "perm", torch.tensor([0, 0, 1]), "perm")],
    ),
    Case(
        "companion.cnn_filters.pytorch_conv_bound",
        lambda: (cf.pytorch_conv_bound, dict(in_channels=3, kernel_size=3)),
    ),
    Case(
        "companion.cnn_filters.sobel_kernels",
        lambda: (cf.sobel_kernels, dict(size=3, dtype=torch.float32)),
        extra=[("integer dtype", "dtype", torch.int64, "dtype")],
    ),
    Case(
        "companion.cnn_filters.train_filter_runs",
        lambda: (
            cf.train_filter_runs,
            dict(x=X, y=Y, seeds=[0, 1], config=CFG, batch_seed=0, device=None, progress=False),
        ),
        ok={
            "batch_seed:zero": "seed 0",
            "x:float64": "converted",
            "config:none": "documented: None means CnnFiltersConfig()",
        },
    ),
]
