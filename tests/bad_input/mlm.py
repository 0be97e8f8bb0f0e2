"""Bad-input cases for ``companion.mlm``."""

from __future__ import annotations

import torch

from bad_input import Case
from companion import mlm

RECORD = "a plain record that the library fills and returns"
DUP = "a repeated id is the same set of ids"
SPECIAL = (0, 1, 2, 3, 4)
IDS = torch.tensor([[1, 7, 8, 9, 2], [1, 10, 11, 12, 2]])


def _model() -> mlm.TinyBert:
    return mlm.TinyBert(
        mlm.TinyBertConfig(vocab_size=20, max_len=8, width=8, layers=1, heads=2, ffn=8), seed=0
    )


def _masked():
    return mlm.mask_tokens(
        IDS,
        vocab_size=20,
        mask_token_id=3,
        special_token_ids=SPECIAL,
        mlm_probability=0.5,
        generator=torch.Generator().manual_seed(0),
    )


CFG = mlm.MlmConfig(steps=2, batch_size=2)

CASES = [
    Case(
        "companion.mlm.linear_probe_accuracy",
        lambda: (
            mlm.linear_probe_accuracy,
            dict(
                train_features=torch.randn(6, 3, generator=torch.Generator().manual_seed(0)),
                train_labels=torch.tensor([0, 1, 2, 0, 1, 2]),
                test_features=torch.randn(4, 3, generator=torch.Generator().manual_seed(1)),
                test_labels=torch.tensor([0, 1, 2, 0]),
                num_classes=3,
                ridge=1e-3,
            ),
        ),
        ok={
            "train_features:float64": "any floating dtype",
            "test_features:float64": "any floating dtype",
        },
    ),
    Case("companion.mlm.MlmAccuracy", record=RECORD),
    Case("companion.mlm.MlmHistory", record=RECORD),
    Case(
        "companion.mlm.MlmConfig",
        lambda: (
            mlm.MlmConfig,
            dict(
                steps=2,
                batch_size=2,
                lr=3e-3,
                warmup=0.1,
                decay=True,
                weight_decay=0.01,
                mask_prob=0.15,
                mask_fraction=0.8,
                random_fraction=0.1,
            ),
        ),
        ok={"weight_decay:zero": "no decay"},
    ),
    Case(
        "companion.mlm.TinyBertConfig",
        lambda: (
            mlm.TinyBertConfig,
            dict(
                vocab_size=20,
                max_len=8,
                width=8,
                layers=1,
                heads=2,
                ffn=8,
                dropout=0.0,
                pad_id=0,
                init_std=0.02,
            ),
        ),
        ok={"pad_id:zero": "id 0"},
        extra=[("pad_id outside vocabulary", "pad_id", 20, "pad_id")],
    ),
    Case(
        "companion.mlm.TinyBert",
        lambda: (mlm.TinyBert, dict(config=_model().config, seed=0)),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.mlm.TinyBert.encode",
        lambda: (_model().encode, dict(input_ids=IDS)),
        ok={"input_ids:last-1": "a one-token row is a valid (B, 1) input"},
        extra=[
            ("uint8 ids", "input_ids", IDS.to(torch.uint8), "input_ids"),
            ("too long", "input_ids", torch.ones(1, 9, dtype=torch.long), "input_ids"),
        ],
    ),
    Case(
        "companion.mlm.TinyBert.forward",
        lambda: (_model().forward, dict(input_ids=IDS)),
        ok={"input_ids:last-1": "a one-token row is a valid (B, 1) input"},
        extra=[("uint8 ids", "input_ids", IDS.to(torch.uint8), "input_ids")],
    ),
    Case(
        "companion.mlm.all_positions_loss",
        lambda: (
            mlm.all_positions_loss,
            dict(
                model=_model(),
                masked_ids=_masked()[0],
                input_ids=IDS,
                labels=_masked()[1],
                special_ids=torch.arange(5),
            ),
        ),
        ok={
            "special_ids:empty": "no special ids: every position counts",
            "special_ids:last-1": "one special id is a valid (S,) tensor",
        },
        extra=[("float model", "model", torch.nn.Linear(2, 2), "model")],
    ),
    Case(
        "companion.mlm.lr_schedule",
        lambda: (mlm.lr_schedule, dict(step=1, steps=6, warmup_steps=2, decay=True)),
        ok={
            "step:zero": "step 0",
            "step:step beyond steps": "documented: 0 beyond the last step (LambdaLR asks for "
            "step = steps after the last update)",
        },
        extra=[
            ("step beyond steps", "step", 6, "step"),
            ("warmup > steps", "warmup_steps", 7, "warmup_steps"),
        ],
    ),
    Case(
        "companion.mlm.mask_tokens",
        lambda: (
            mlm.mask_tokens,
            dict(
                input_ids=IDS,
                vocab_size=20,
                mask_token_id=3,
                special_token_ids=SPECIAL,
                mlm_probability=0.5,
                mask_fraction=0.8,
                random_fraction=0.1,
                generator=torch.Generator().manual_seed(0),
            ),
        ),
        ok={
            "input_ids:rank+1": "any shape",
            "input_ids:rank-1": "any shape",
            "input_ids:last-1": "any shape",
            "input_ids:batch": "one tensor",
            "special_token_ids:empty": "no special ids",
            "special_token_ids:longer": DUP,
            "input_ids:empty": "no tokens in, empty (masked_ids, labels) out",
            "mask_fraction:zero": "a valid share: no selected position becomes [MASK]",
            "mask_token_id:zero": "any id in [0, V) can be [MASK]",
        },
        extra=[
            ("True as id", "special_token_ids", (True, 2), "special_token_ids"),
            ("uint8 ids", "input_ids", IDS.to(torch.uint8), "input_ids"),
        ],
    ),
    Case(
        "companion.mlm.masking_outcome",
        lambda: (
            mlm.masking_outcome,
            dict(input_ids=IDS, masked_ids=_masked()[0], labels=_masked()[1], mask_token_id=3),
        ),
        ok={
            "input_ids:rank+1": "any shape, same for all",
            "input_ids:rank-1": "any shape",
            "input_ids:huge": "no vocabulary here: any id >= 0 is an id",
            "masked_ids:huge": "no vocabulary here: any id >= 0 is an id",
            "labels:huge": "no vocabulary here: any id >= 0 is an id",
            "mask_token_id:zero": "any id >= 0 can be [MASK]",
        },
    ),
    Case(
        "companion.mlm.mlm_accuracy",
        lambda: (
            mlm.mlm_accuracy,
            dict(
                model=_model(),
                windows=IDS,
                mask_token_id=3,
                special_token_ids=SPECIAL,
                repeats=1,
                seed=0,
                batch_size=4,
            ),
        ),
        ok={
            "seed:zero": "seed 0",
            "windows:last-1": "one-token rows are valid (N, 1) windows",
            "mask_token_id:zero": "any id in [0, V) can be [MASK]",
            "special_token_ids:empty": "no special ids",
            "special_token_ids:longer": DUP,
        },
    ),
    Case(
        "companion.mlm.mlm_loss",
        lambda: (
            mlm.mlm_loss,
            dict(logits=torch.zeros(2, 5, 4), labels=torch.tensor([[-100, 2, -100, 1, 0]] * 2)),
        ),
        ok={
            "logits:float64": "dtype-agnostic",
            "labels:no counted position": "documented: nan (0/0), as F.cross_entropy gives "
            "(tests/test_mlm.py pins it)",
        },
        extra=[("no counted position", "labels", torch.full((2, 5), -100), "labels")],
    ),
    Case(
        "companion.mlm.selected_positions_loss",
        lambda: (
            mlm.selected_positions_loss,
            dict(model=_model(), masked_ids=_masked()[0], labels=_masked()[1]),
        ),
        extra=[("labels -1", "labels", torch.full((2, 5), -1), "labels")],
    ),
    Case(
        "companion.mlm.train_mlm",
        lambda: (
            mlm.train_mlm,
            dict(
                model=_model(),
                windows=IDS,
                mask_token_id=3,
                special_token_ids=SPECIAL,
                loss_on="selected",
                config=CFG,
                seed=0,
                eval_windows=None,
                eval_every=0,
                progress=False,
            ),
        ),
        ok={
            "seed:zero": "seed 0",
            "eval_every:zero": "0 scores only after the last step",
            "mask_token_id:zero": "any id in [0, V) can be [MASK]",
            "special_token_ids:empty": "no special ids",
            "special_token_ids:longer": DUP,
        },
        extra=[
            (
                "windows longer than max_len",
                "windows",
                torch.ones(2, 9, dtype=torch.long),
                "windows",
            ),
            ("eval_windows out of vocabulary", "eval_windows", IDS + 20, "eval_windows"),
            ("a str as special ids", "special_token_ids", "abc", "special_token_ids"),
        ],
    ),
]
