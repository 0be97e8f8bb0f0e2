"""Bad-input cases for ``companion.soft_argmax``."""

from __future__ import annotations

import dataclasses

import torch

from bad_input import Case
from companion import soft_argmax as sa
from companion.core.datasets import landmarks

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
DATA = landmarks(4, size=(16, 16), seed=0)
CFG = sa.SoftArgmaxConfig(steps=2, batch_size=2, eval_every=1)


def _net() -> sa.LandmarkNet:
    return sa.LandmarkNet(keypoints=5, channels=2, seed=0)


def _scores() -> torch.Tensor:
    return torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))


CASES = [
    Case("companion.soft_argmax.LandmarkHistory", record=RECORD),
    Case(
        "companion.soft_argmax.LandmarkNet",
        lambda: (sa.LandmarkNet, dict(keypoints=5, channels=2, seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.soft_argmax.LandmarkNet.forward",
        lambda: (_net().forward, dict(images=DATA.images[:2])),
        ok={
            "images:float64": "converted to float32",
            "images:last-1": "an H x 1 image is a valid (B, 1, H, W) input (every layer pads)",
        },
    ),
    Case(
        "companion.soft_argmax.SoftArgmax2d",
        lambda: (sa.SoftArgmax2d, dict(height=4, width=5, beta=1.0)),
    ),
    Case(
        "companion.soft_argmax.SoftArgmax2d.forward",
        lambda: (sa.SoftArgmax2d(4, 5).forward, dict(heatmaps=_scores())),
        ok={"heatmaps:float64": FLOAT64},
    ),
    Case(
        "companion.soft_argmax.SoftArgmaxConfig",
        lambda: (sa.SoftArgmaxConfig, dict(steps=2, batch_size=2, lr=2e-3, eval_every=1, beta=1.0)),
    ),
    Case(
        "companion.soft_argmax.decode",
        lambda: (sa.decode, dict(scores=_scores(), objective="heatmap", beta=1.0)),
        ok={
            "scores:float64": FLOAT64,
            "scores:last-1": "an H x 1 map is a valid (B, K, H, W) input",
        },
    ),
    Case(
        "companion.soft_argmax.train_landmarks",
        lambda: (
            sa.train_landmarks,
            dict(
                model=_net(),
                train=DATA,
                val=DATA,
                objective="soft-argmax",
                config=CFG,
                seed=0,
                device=None,
                progress=False,
            ),
        ),
        ok={"seed:zero": "seed 0"},
        extra=[
            (
                "targets for 3 keypoints",
                "train",
                dataclasses.replace(DATA, points=DATA.points[:, :3], heatmaps=DATA.heatmaps[:, :3]),
                "train",
            ),
            (
                "NaN image",
                "train",
                dataclasses.replace(DATA, images=DATA.images.clone().fill_(float("nan"))),
                "train",
            ),
            ("a tuple", "train", (DATA.images, DATA.points), "train"),
            (
                "val for 3 keypoints",
                "val",
                dataclasses.replace(DATA, points=DATA.points[:, :3], heatmaps=DATA.heatmaps[:, :3]),
                "val",
            ),
            (
                "points of another N",
                "train",
                dataclasses.replace(DATA, points=DATA.points[:2]),
                "train.points",
            ),
            (
                "empty",
                "train",
                dataclasses.replace(
                    DATA, images=DATA.images[:0], points=DATA.points[:0], heatmaps=DATA.heatmaps[:0]
                ),
                "train",
            ),
            (
                "NaN point in val",
                "val",
                dataclasses.replace(DATA, points=DATA.points.clone().fill_(float("nan"))),
                "val",
            ),
        ],
    ),
]
