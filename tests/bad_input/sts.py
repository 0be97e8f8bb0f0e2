"""Bad-input cases for ``companion.sts``."""

from __future__ import annotations

import torch

from bad_input import Case
from companion import sts
from companion.core.text import WordTokenizer

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"
ONE_TOKEN = "sentences of one token (T = 1) are valid; each sentence matrix has its own length"
CFG = sts.StsConfig(embed_dim=4, proj_dim=4, hidden=4, epochs=1, batch_size=4)
G = torch.Generator().manual_seed(0)
IDS1 = torch.randint(1, 20, (4, 5), generator=G)
IDS2 = torch.randint(1, 20, (4, 5), generator=G)
GOLD = torch.tensor([0.5, 2.0, 3.5, 5.0])


def _net() -> sts.PairEnsemble:
    return sts.PairEnsemble(20, ["linear-mse", "softmax-kl"], [0, 0], pad_id=0, config=CFG)


CASES = [
    Case("companion.sts.StsHistory", record=RECORD),
    Case("companion.sts.StsScores", record=RECORD),
    Case(
        "companion.sts.StsConfig",
        lambda: (
            sts.StsConfig,
            dict(embed_dim=4, proj_dim=4, hidden=4, epochs=1, batch_size=4, lr=0.01),
        ),
    ),
    Case(
        "companion.sts.PairEnsemble",
        lambda: (
            sts.PairEnsemble,
            dict(
                vocab_size=20,
                heads=["linear-mse", "softmax-kl"],
                seeds=[0, 0],
                pad_id=0,
                config=CFG,
            ),
        ),
        ok={"pad_id:zero": "id 0"},
        extra=[
            ("pad_id outside vocabulary", "pad_id", 20, "pad_id"),
            ("seeds of another length", "seeds", [0], "seeds"),
        ],
    ),
    Case(
        "companion.sts.PairEnsemble.sentence_vectors",
        lambda: (_net().sentence_vectors, dict(ids=IDS1)),
        ok={"ids:last-1": ONE_TOKEN},
        extra=[("id outside vocabulary", "ids", torch.full((2, 3), 25), "ids")],
    ),
    Case(
        "companion.sts.PairEnsemble.forward",
        lambda: (_net().forward, dict(ids1=IDS1, ids2=IDS2)),
        ok={"ids1:last-1": ONE_TOKEN, "ids2:last-1": ONE_TOKEN},
    ),
    Case(
        "companion.sts.PairEnsemble.readout",
        lambda: (_net().readout, dict(outputs=torch.zeros(2, 4, 6))),
        ok={"outputs:float64": FLOAT64},
    ),
    Case(
        "companion.sts.PairEnsemble.predict",
        lambda: (_net().predict, dict(ids1=IDS1, ids2=IDS2, chunk=2)),
        ok={"ids1:last-1": ONE_TOKEN, "ids2:last-1": ONE_TOKEN},
    ),
    Case(
        "companion.sts.encode_texts",
        lambda: (
            sts.encode_texts,
            dict(
                tokenizer=WordTokenizer.from_texts(["the dog ran"], max_size=8),
                texts=["the dog ran", "the cat"],
                seq_len=4,
            ),
        ),
        extra=[("a text that is no str", "texts", ["the dog ran", 3], "texts")],
    ),
    Case(
        "companion.sts.expected_score",
        lambda: (
            sts.expected_score,
            dict(probs=sts.sparse_target_distribution(torch.tensor([0.0, 2.33, 4.5]))),
        ),
        ok={"probs:float64": FLOAT64},
    ),
    Case(
        "companion.sts.head_losses",
        lambda: (
            sts.head_losses,
            dict(
                outputs=torch.zeros(2, 4, 6),
                gold=GOLD,
                heads=["linear-mse", "softmax-ce"],
                skip_constant=False,
            ),
        ),
        ok={"outputs:float64": FLOAT64, "gold:float64": "converted to outputs' dtype"},
        extra=[
            ("gold below the scale", "gold", torch.tensor([-0.5, 2.0, 3.5, 5.0]), "gold"),
            ("a single head name", "heads", "linear-mse", "heads"),
        ],
    ),
    Case(
        "companion.sts.linear_calibration",
        lambda: (
            sts.linear_calibration,
            dict(pred=torch.tensor([0.0, 1.0, 2.0]), target=torch.tensor([1.0, 3.0, 5.0])),
        ),
        ok={"pred:float64": FLOAT64, "target:float64": FLOAT64},
    ),
    Case(
        "companion.sts.pearson_loss",
        lambda: (
            sts.pearson_loss,
            dict(pred=torch.tensor([1.0, 2.0, 4.0]), target=torch.tensor([3.0, 2.0, 3.0])),
        ),
        ok={
            "pred:float64": "dtype-agnostic: a float64 partner promotes the loss to float64",
            "target:float64": "dtype-agnostic: a float64 partner promotes the loss to float64",
        },
    ),
    Case(
        "companion.sts.sparse_target_distribution",
        lambda: (
            sts.sparse_target_distribution,
            dict(scores=torch.tensor([2.25, 5.0]), num_classes=6),
        ),
        ok={"scores:float64": FLOAT64, "scores:last-1": "a batch of one score is valid"},
    ),
    Case(
        "companion.sts.sts_scores",
        lambda: (
            sts.sts_scores,
            dict(pred=torch.tensor([1.0, 2.0, 3.0]), gold=torch.tensor([2.0, 4.0, 5.0])),
        ),
        ok={"pred:float64": FLOAT64, "gold:float64": FLOAT64},
    ),
    Case(
        "companion.sts.train_heads",
        lambda: (
            sts.train_heads,
            dict(
                model=_net(),
                ids1=IDS1,
                ids2=IDS2,
                gold=GOLD,
                config=CFG,
                seed=0,
                device=None,
                progress=False,
                on_constant="raise",
            ),
        ),
        ok={
            "seed:zero": "seed 0",
            "ids1:last-1": ONE_TOKEN,
            "ids2:last-1": ONE_TOKEN,
            "gold:float64": "converted to the model's dtype",
        },
        extra=[("gold above the scale", "gold", torch.tensor([0.5, 2.0, 3.5, 6.0]), "gold")],
    ),
]
