"""Bad-input cases for ``companion.keypoint_regression``."""

from __future__ import annotations

import torch

from bad_input import Case
from companion import keypoint_regression as kr

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
G = torch.Generator().manual_seed(0)
IMAGES = torch.rand(4, 3, 16, 16, generator=G)
TARGETS = torch.rand(4, 2, 3, generator=G)
PRED = torch.rand(4, 2, 3, generator=G)
CFG = kr.KeypointRegressionConfig(steps=2, batch_size=2, eval_every=1)
METRIC = {"pred:float64": FLOAT64, "target:float64": FLOAT64}


def _hand() -> kr.HandRegressor:
    return kr.HandRegressor(num_joints=2, dims=3, channels=2, size=(16, 16))


def _heat() -> kr.HeatmapRegressor:
    return kr.HeatmapRegressor(num_joints=2, channels=2, size=(16, 16))


CASES = [
    Case("companion.keypoint_regression.KeypointHistory", record=RECORD),
    Case(
        "companion.keypoint_regression.KeypointRegressionConfig",
        lambda: (kr.KeypointRegressionConfig, dict(steps=2, batch_size=2, lr=2e-3, eval_every=1)),
    ),
    Case(
        "companion.keypoint_regression.HandRegressor",
        lambda: (
            kr.HandRegressor,
            dict(num_joints=2, dims=3, channels=2, size=(16, 16), layout="joint-major", seed=0),
        ),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.keypoint_regression.HandRegressor.set_target_stats",
        lambda: (_hand().set_target_stats, dict(targets=TARGETS)),
        ok={"targets:float64": "converted"},
    ),
    Case(
        "companion.keypoint_regression.HandRegressor.features",
        lambda: (_hand().features, dict(images=IMAGES)),
        ok={"images:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.HandRegressor.forward",
        lambda: (_hand().forward, dict(images=IMAGES)),
        ok={"images:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.HeatmapRegressor",
        lambda: (kr.HeatmapRegressor, dict(num_joints=2, channels=2, size=(16, 16), seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.keypoint_regression.HeatmapRegressor.scores",
        lambda: (_heat().scores, dict(images=IMAGES)),
        ok={"images:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.HeatmapRegressor.forward",
        lambda: (_heat().forward, dict(images=IMAGES)),
        ok={"images:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.KeypointHead",
        lambda: (kr.KeypointHead, dict(in_features=8, num_joints=2, dims=3, layout="joint-major")),
    ),
    Case(
        "companion.keypoint_regression.KeypointHead.forward",
        lambda: (kr.KeypointHead(8, 2, 3).forward, dict(features=torch.zeros(2, 8))),
        ok={"features:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.coordinate_rmse",
        lambda: (kr.coordinate_rmse, dict(pred=PRED, target=TARGETS)),
        ok=METRIC,
    ),
    Case(
        "companion.keypoint_regression.mpjpe",
        lambda: (kr.mpjpe, dict(pred=PRED, target=TARGETS, root=0)),
        ok={**METRIC, "root:zero": "joint 0", "root:none": "documented: None means absolute"},
        extra=[("root out of range", "root", 2, "root")],
    ),
    Case(
        "companion.keypoint_regression.per_joint_error",
        lambda: (kr.per_joint_error, dict(pred=PRED, target=TARGETS, root=None)),
        ok=METRIC,
    ),
    Case(
        "companion.keypoint_regression.per_keypoint_rmse",
        lambda: (kr.per_keypoint_rmse, dict(pred=PRED, target=TARGETS)),
        ok=METRIC,
    ),
    Case(
        "companion.keypoint_regression.predict",
        lambda: (kr.predict, dict(model=_hand(), images=IMAGES, batch_size=2)),
        ok={"images:float64": "converted to float32"},
    ),
    Case(
        "companion.keypoint_regression.regression_loss",
        lambda: (kr.regression_loss, dict(pred=PRED, target=TARGETS, kind="mse")),
        ok=METRIC,
    ),
    Case(
        "companion.keypoint_regression.to_coordinate_major",
        lambda: (kr.to_coordinate_major, dict(head=kr.KeypointHead(4, 3, 2))),
    ),
    Case(
        "companion.keypoint_regression.train_keypoints",
        lambda: (
            kr.train_keypoints,
            dict(
                model=_hand(),
                train_images=IMAGES,
                train_targets=TARGETS,
                val_images=IMAGES,
                val_targets=TARGETS,
                loss="mse",
                config=CFG,
                metrics=None,
                seed=0,
                device=None,
                progress=False,
            ),
        ),
        ok={
            "seed:zero": "seed 0",
            "train_targets:float64": "converted to the model's dtype",
            "val_targets:float64": "converted to the model's dtype",
            "train_images:float64": "converted to the model's dtype",
            "val_images:float64": "converted by the model",
        },
        extra=[
            ("targets of another J", "train_targets", torch.rand(4, 3, 3), "train_targets"),
            ("a metric that is no callable", "metrics", {"rmse": 3}, "metrics"),
        ],
    ),
]
