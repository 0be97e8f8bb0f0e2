"""Bad-input cases for ``companion.rpn``."""

from __future__ import annotations

import torch

from bad_input import Case
from companion import rpn
from companion.core.datasets import box_scenes

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
ANCHORS = torch.tensor([[0.0, 0.0, 10.0, 10.0], [20.0, 0.0, 30.0, 10.0], [0.0, 20.0, 4.0, 24.0]])
GT = torch.tensor([[0.0, 0.0, 10.0, 9.0], [2.0, 20.0, 5.0, 23.0]])
LEADING = "(..., 4): leading dimensions are free"
SCENES = box_scenes(2, size=(32, 32), seed=0)
CFG = rpn.RpnConfig(
    image_size=(32, 32),
    stride=8,
    channels=4,
    steps=1,
    batch_images=2,
    batch_size_per_image=16,
    pre_nms_top_n=20,
    post_nms_top_n=10,
)


def _props() -> rpn.Proposals:
    return rpn.Proposals(
        torch.tensor([[[0.0, 0.0, 10.0, 10.0], [0.0, 0.0, 5.0, 5.0]]]),
        torch.tensor([[0.9, 0.8]]),
        torch.tensor([[True, True]]),
    )


CASES = [
    Case(
        "companion.rpn.Proposals", record="what propose returns; proposal_recall checks its fields"
    ),
    Case("companion.rpn.RpnHistory", record=RECORD),
    Case(
        "companion.rpn.RpnConfig",
        lambda: (
            rpn.RpnConfig,
            dict(
                image_size=(32, 32),
                stride=8,
                sizes=(8.0, 16.0),
                ratios=(1.0,),
                channels=4,
                steps=1,
                batch_images=2,
                lr=3e-3,
                batch_size_per_image=16,
                positive_fraction=0.5,
                fg_iou=0.7,
                bg_iou=0.3,
                pre_nms_top_n=20,
                post_nms_top_n=10,
                nms_iou=0.7,
            ),
        ),
        ok={"bg_iou:zero": "0 is allowed"},
    ),
    Case(
        "companion.rpn.TinyRPN",
        lambda: (rpn.TinyRPN, dict(num_anchors=2, channels=4, in_channels=1, stride=8, seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.rpn.TinyRPN.forward",
        lambda: (
            rpn.TinyRPN(2, channels=4, stride=8).forward,
            dict(images=torch.zeros(2, 1, 16, 16)),
        ),
        ok={
            "images:float64": "converted to float32",
            "images:empty": "an empty batch gives empty outputs",
            "images:last-1": "fully convolutional: any width gives a map of ceil(W / stride)",
        },
        extra=[("another channel count", "images", torch.zeros(2, 3, 16, 16), "images")],
    ),
    Case(
        "companion.rpn.anchor_types",
        lambda: (rpn.anchor_types, dict(num_locations=2, num_types=3, device=None)),
    ),
    Case(
        "companion.rpn.box_iou",
        lambda: (rpn.box_iou, dict(a=ANCHORS, b=GT)),
        ok={"a:float64": FLOAT64, "b:float64": FLOAT64},
    ),
    Case(
        "companion.rpn.clip_boxes",
        lambda: (rpn.clip_boxes, dict(boxes=ANCHORS, image_size=(32, 64))),
        ok={
            "boxes:float64": FLOAT64,
            "boxes:rank+1": LEADING,
            "boxes:rank-1": LEADING,
            "boxes:empty": "no boxes",
        },
    ),
    Case(
        "companion.rpn.decode_boxes",
        lambda: (rpn.decode_boxes, dict(deltas=torch.zeros(3, 4), anchors=ANCHORS)),
        ok={"deltas:float64": FLOAT64, "anchors:float64": FLOAT64},
    ),
    Case(
        "companion.rpn.encode_boxes",
        lambda: (rpn.encode_boxes, dict(boxes=ANCHORS + 1.0, anchors=ANCHORS)),
        ok={"boxes:float64": FLOAT64, "anchors:float64": FLOAT64},
    ),
    Case(
        "companion.rpn.generate_anchors",
        lambda: (
            rpn.generate_anchors,
            dict(
                feature_size=(1, 2),
                stride=16,
                sizes=(32.0,),
                ratios=(0.5, 1.0),
                dtype=torch.float32,
                device=None,
            ),
        ),
        extra=[("integer dtype", "dtype", torch.int64, "dtype")],
    ),
    Case(
        "companion.rpn.label_anchors",
        lambda: (
            rpn.label_anchors,
            dict(
                anchors=ANCHORS,
                gt_boxes=GT,
                fg_iou=0.7,
                bg_iou=0.3,
                valid=torch.tensor([True, True]),
            ),
        ),
        ok={
            "anchors:float64": FLOAT64,
            "gt_boxes:float64": FLOAT64,
            "bg_iou:zero": "0 allowed",
            "valid:none": "documented: None means every box is real",
        },
        extra=[("bg > fg", "bg_iou", 0.8, "bg_iou")],
    ),
    Case(
        "companion.rpn.nms",
        lambda: (
            rpn.nms,
            dict(boxes=ANCHORS, scores=torch.tensor([0.9, 0.95, 0.5]), iou_threshold=0.5),
        ),
        ok={"boxes:float64": FLOAT64, "scores:float64": FLOAT64, "iou_threshold:zero": "0 allowed"},
    ),
    Case(
        "companion.rpn.proposal_recall",
        lambda: (
            rpn.proposal_recall,
            dict(
                proposals=_props(),
                gt_boxes=torch.tensor([[[0.0, 0.0, 5.0, 5.0]]]),
                gt_valid=torch.tensor([[True]]),
                iou_thresholds=[0.5],
                counts=[1, 2],
            ),
        ),
        ok={
            "gt_boxes:float64": FLOAT64,
            "iou_thresholds:longer": "a repeated threshold is a valid query; its row repeats",
            "counts:longer": "a repeated count is a valid query; its column repeats",
        },
    ),
    Case(
        "companion.rpn.propose",
        lambda: (
            rpn.propose,
            dict(
                objectness=torch.linspace(1, 0, 16)[None],
                deltas=torch.zeros(1, 16, 4),
                anchors=rpn.generate_anchors((4, 4), 8, (16.0,), (1.0,)),
                image_size=(32, 32),
                pre_nms_top_n=8,
                post_nms_top_n=4,
                nms_iou=0.3,
                min_size=1e-3,
            ),
        ),
        ok={"objectness:float64": FLOAT64, "deltas:float64": FLOAT64, "anchors:float64": FLOAT64},
    ),
    Case(
        "companion.rpn.rpn_loss",
        lambda: (
            rpn.rpn_loss,
            dict(
                objectness=torch.zeros(3),
                deltas=torch.zeros(3, 4),
                labels=torch.tensor([1, 0, -1]),
                regression_targets=torch.zeros(3, 4),
                pos_idx=torch.tensor([0]),
                neg_idx=torch.tensor([1]),
            ),
        ),
        ok={
            "objectness:float64": FLOAT64,
            "deltas:float64": FLOAT64,
            "regression_targets:float64": FLOAT64,
            "pos_idx:empty": "no positives sampled",
            "neg_idx:empty": "no negatives sampled (the sample holds positives)",
            "labels:negative": "-1 is 'ignore'",
        },
        extra=[
            ("negative sampled as positive", "pos_idx", torch.tensor([1]), "pos_idx"),
            ("a label that is not 1, 0 or -1", "labels", torch.tensor([1, 0, 2]), "labels"),
        ],
    ),
    Case(
        "companion.rpn.sample_anchors",
        lambda: (
            rpn.sample_anchors,
            dict(
                labels=torch.tensor([1, 1, 1, 0, 0, 0, 0, -1]),
                batch_size=4,
                positive_fraction=0.5,
                generator=torch.Generator().manual_seed(0),
            ),
        ),
        ok={
            "labels:rank+1": "(B, N)",
            "labels:negative": "-1 is 'ignore'",
            "labels:last-1": "an image with one anchor is valid",
            "positive_fraction:zero": "0 allowed",
        },
    ),
    Case(
        "companion.rpn.sample_anchors_per_type",
        lambda: (
            rpn.sample_anchors_per_type,
            dict(
                labels=torch.tensor([1, 0, 0, 0, 0, 1, 0, 0, 0]),
                num_types=3,
                batch_size=6,
                positive_fraction=0.5,
                generator=torch.Generator().manual_seed(0),
            ),
        ),
        ok={
            "labels:rank+1": "(B, N)",
            "labels:negative": "-1 is 'ignore'",
            "positive_fraction:zero": "0 allowed",
        },
    ),
    Case(
        "companion.rpn.train_rpn",
        lambda: (
            rpn.train_rpn,
            dict(
                images=SCENES.images,
                gt_boxes=SCENES.boxes,
                gt_valid=SCENES.valid,
                config=CFG,
                sampling="joint",
                seed=0,
                progress=False,
            ),
        ),
        ok={
            "seed:zero": "seed 0",
            "images:float64": "converted to float32",
            "gt_boxes:float64": "converted to float32",
        },
    ),
]
