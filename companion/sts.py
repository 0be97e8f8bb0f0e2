"""Predicting a similarity score in [0, 5]: output heads, targets and losses, compared.

A Semantic Textual Similarity (STS) model reads two sentences and returns a score on the scale
``[0, 5]``; the gold score is the mean of a few annotators' integer ratings, so it takes fractional
values such as 2.4. The question of the chapter is what the network's last layer and loss should
be. Five answers are implemented here, all on the same encoder:

==================  ===========  ======================================  ====================
head                outputs      loss                                    prediction
==================  ===========  ======================================  ====================
``linear-mse``      1 linear     mean squared error to the gold score    the output
``softmax-kl``      6 softmax    KL(sparse target ‖ p̂) (Tai et al.)      ``rᵀp̂``
``softmax-ce``      6 softmax    cross-entropy to the rounded score      ``argmax p̂``
``softmax-pearson`` 6 softmax    −Pearson(rᵀp̂, gold) over the batch     ``rᵀp̂``
``linear-pearson``  1 linear     −Pearson(output, gold) over the batch   the output
==================  ===========  ======================================  ====================

with ``r = (0, 1, …, 5)``. The pieces:

- :func:`sparse_target_distribution`: Tai, Socher & Manning's (2015, §4.2) target, the
  distribution on the two integers around a score whose mean is the score (2.33 →
  ``[0, 0, 0.67, 0.33, 0, 0]``); :func:`expected_score` is its inverse, ``rᵀp``.
- :func:`pearson_loss`: the negative Pearson correlation over a batch, the loss of a public
  implementation of the HCTI system (Shao 2017), with batches of 3,000 pairs.
- :class:`PairEnsemble`: ``M`` independent copies of a small bag-of-words pair encoder (word
  embeddings, a per-token projection with ReLU, max-pooling over tokens, pair features
  ``[|h₁ − h₂|, h₁ ⊙ h₂]``, one tanh layer), each with its own head, trained side by side in one
  batched forward pass by :func:`train_heads`. Every copy is an ordinary model: the copies share
  no parameter, and the summed loss gives each copy exactly its own gradient.
- :func:`sts_scores` and :func:`linear_calibration`: the evaluation.

Convention:
    Scores are on the STS scale ``[0, C − 1]`` with ``C = 6`` classes ``0..5`` (SemEval STS);
    Tai et al. used SICK's scale ``1..5`` (``C = 5``, ``r = (1, …, 5)``): shift scores by one to
    compare. :func:`pearson_loss` returns ``−r`` where ``r`` is ``scipy.stats.pearsonr``'s
    statistic (population moments; the ``n`` vs ``n − 1`` normalisation cancels). KL divergence is
    ``KL(target ‖ prediction)``, PyTorch's ``F.kl_div(log_pred, target)`` direction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_choice,
    check_finite,
    check_ids,
    check_int,
    check_number,
    check_same_batch,
    check_tensor,
)
from companion.core.device import resolve_device, seeded
from companion.core.text import WordTokenizer
from companion.core.training import EpochSampler, check_finite_loss

__all__ = [
    "HEADS",
    "NUM_CLASSES",
    "PairEnsemble",
    "StsConfig",
    "StsHistory",
    "StsScores",
    "encode_texts",
    "expected_score",
    "head_losses",
    "linear_calibration",
    "pearson_loss",
    "sparse_target_distribution",
    "sts_scores",
    "train_heads",
]

NUM_CLASSES = 6  # the STS scale 0..5 (SemEval STS; Cer et al. 2017)
Head = Literal["linear-mse", "softmax-kl", "softmax-ce", "softmax-pearson", "linear-pearson"]
HEADS: tuple[str, ...] = (
    "linear-mse",
    "softmax-kl",
    "softmax-ce",
    "softmax-pearson",
    "linear-pearson",
)
_SOFTMAX_HEADS = frozenset({"softmax-kl", "softmax-ce", "softmax-pearson"})


def _check_sequence(value: object, name: str) -> list:
    """A list or tuple (not a single string, not None), as a list."""
    if not isinstance(value, Sequence) or isinstance(value, str):
        raise TypeError(f"{name} must be a sequence (a list or tuple), got {type(value).__name__}")
    return list(value)


def _check_heads(heads: object, name: str = "heads") -> list[str]:
    heads = _check_sequence(heads, name)
    for i, h in enumerate(heads):
        check_choice(h, f"{name}[{i}]", HEADS)
    return heads


def _check_gold(gold: torch.Tensor, name: str = "gold") -> None:
    """``(B,)`` floating, finite, on the scale ``[0, NUM_CLASSES − 1]``."""
    check_tensor(gold, name, ndim=1, dims="(B,)", floating=True)
    check_finite(gold, name)
    if len(gold) and (float(gold.min()) < 0 or float(gold.max()) > NUM_CLASSES - 1):
        raise ValueError(
            f"{name} must hold scores in [0, {NUM_CLASSES - 1}], "
            f"got {float(gold.min())}..{float(gold.max())}"
        )


@dataclass(frozen=True)
class StsConfig:
    """Sizes and optimiser settings shared by every head, sized for seconds on one CPU core.

    Attributes:
        embed_dim: Word-embedding width ``E``. 32 is plenty for a lexicon of about 120 words.
        proj_dim: Width ``D`` of the per-token projection (the sentence vector after pooling).
            32: about one feature per concept of the slots; 64 gave the same test scores here at
            twice the cost.
        hidden: Width of the tanh layer on the pair features. 64, small but not a bottleneck
            for six outputs; the public HCTI code used 1,800 on 300-d GloVe vectors.
        epochs: Passes over the training pairs. 10 brings every head near its plateau on
            3,000 pairs at this learning rate.
        batch_size: Pairs per step, the same for every head. 64: large enough for a batch
            Pearson correlation to be a usable estimate (the chapter sweeps it down to 8).
        lr: Adam's learning rate, the same for every head. 1e-2 for a small network trained
            from scratch in few epochs; 3e-3 gave the same ranking of heads, more slowly.

    Raises:
        TypeError: If a size is not an int or ``lr`` not a number.
        ValueError: If a size is < 1, ``batch_size < 2`` (a correlation needs two items) or
            ``lr <= 0``.

    Example:
        >>> StsConfig(epochs=3).batch_size
        64
    """

    embed_dim: int = 32
    proj_dim: int = 32
    hidden: int = 64
    epochs: int = 10
    batch_size: int = 64
    lr: float = 1e-2

    def __post_init__(self) -> None:
        for name in ("embed_dim", "proj_dim", "hidden", "epochs"):
            check_int(getattr(self, name), name, minimum=1)
        check_int(self.batch_size, "batch_size", minimum=2)
        check_number(self.lr, "lr", low=0, low_inclusive=False)


# --- Targets and read-outs ----------------------------------------------------------------------


def sparse_target_distribution(
    scores: torch.Tensor, num_classes: int = NUM_CLASSES
) -> torch.Tensor:
    """Tai et al.'s (2015, §4.2) target: the distribution on ⌊y⌋ and ⌊y⌋ + 1 whose mean is ``y``.

    For a score ``y`` in ``[0, C − 1]`` the target puts mass ``⌊y⌋ + 1 − y`` on class ``⌊y⌋`` and
    ``y − ⌊y⌋`` on class ``⌊y⌋ + 1``; every other class gets 0. An integer score is one-hot. So
    ``rᵀp = y`` exactly with ``r = (0, …, C − 1)``: nothing about the score is lost.

    Args:
        scores: ``(B,)`` floating scores in ``[0, num_classes − 1]``.
        num_classes: ``C``, the number of integer scores ``0..C−1``, >= 2.

    Returns:
        ``(B, C)`` target distributions, same dtype and device as ``scores``.

    Raises:
        TypeError: If ``scores`` is not a floating tensor or ``num_classes`` not an int.
        ValueError: If ``scores`` is not 1-D, ``num_classes < 2`` or a score is not finite or
            lies outside ``[0, num_classes − 1]``.

    Example:
        >>> sparse_target_distribution(torch.tensor([2.25, 5.0]))
        tensor([[0.0000, 0.0000, 0.7500, 0.2500, 0.0000, 0.0000],
                [0.0000, 0.0000, 0.0000, 0.0000, 0.0000, 1.0000]])
    """
    check_tensor(scores, "scores", ndim=1, dims="(B,)", floating=True)
    check_int(num_classes, "num_classes", minimum=2)
    top = num_classes - 1
    bad = ~torch.isfinite(scores) | (scores < 0) | (scores > top)
    if bool(bad.any()):
        raise ValueError(
            f"scores must lie in [0, {top}] for num_classes={num_classes}, "
            f"got {float(scores[bad][0])}"
        )
    low = scores.floor().clamp(max=top - 1)  # a score of exactly C-1 uses classes C-2 and C-1
    frac = scores - low  # in [0, 1]
    target = scores.new_zeros(len(scores), num_classes)
    rows = torch.arange(len(scores), device=scores.device)
    target[rows, low.long()] = 1 - frac
    target[rows, low.long() + 1] = frac
    return target


def _expected(probs: torch.Tensor) -> torch.Tensor:
    r = torch.arange(probs.shape[-1], dtype=probs.dtype, device=probs.device)  # (C,) 0..C-1
    return probs @ r  # (..., C) @ (C,) -> (...)


def expected_score(probs: torch.Tensor) -> torch.Tensor:
    """The mean score ``rᵀp`` of each row of class probabilities, ``r = (0, …, C − 1)``.

    The inverse of :func:`sparse_target_distribution`, and the read-out of a softmax head.

    Args:
        probs: ``(B, C)`` probabilities: non-negative rows that sum to 1 (within 1e-3).

    Returns:
        ``(B,)`` expected scores in ``[0, C − 1]``.

    Raises:
        TypeError: If ``probs`` is not a floating tensor.
        ValueError: If ``probs`` is not 2-D with ``C >= 2``, holds a NaN or infinite value, or a
            row is not a distribution (for example logits passed by mistake).

    Example:
        >>> p = sparse_target_distribution(torch.tensor([0.0, 2.33, 4.5]))
        >>> expected_score(p)
        tensor([0.0000, 2.3300, 4.5000])
    """
    check_tensor(probs, "probs", ndim=2, dims="(B, C)", floating=True)
    if probs.shape[1] < 2:
        raise ValueError(f"probs must have C >= 2 classes, got shape {tuple(probs.shape)}")
    check_finite(probs, "probs")
    if bool((probs < -1e-6).any()) or bool(((probs.sum(dim=1) - 1).abs() > 1e-3).any()):
        raise ValueError(
            "probs must hold probabilities (rows >= 0 that sum to 1); apply softmax to logits first"
        )
    return _expected(probs)


# --- The Pearson loss ---------------------------------------------------------------------------


def _neg_pearson(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """``−r`` of each row of ``pred`` (..., B) with ``target`` (B,); inputs already checked."""
    pc = pred - pred.mean(dim=-1, keepdim=True)
    tc = target - target.mean()
    # Normalise before the dot product: the result stays within [-1, 1] up to rounding.
    pc = pc / pc.norm(dim=-1, keepdim=True)
    tc = tc / tc.norm()
    return -(pc * tc).sum(dim=-1)


def _check_score_pair(pred: torch.Tensor, other: torch.Tensor, other_name: str) -> None:
    """Both 1-D floating ``(N,)`` of the same length, N >= 2 (a correlation or a fit needs two)."""
    check_tensor(pred, "pred", ndim=1, dims="(N,)", floating=True)
    check_tensor(other, other_name, ndim=1, dims="(N,)", floating=True)
    if pred.shape != other.shape or len(pred) < 2:
        raise ValueError(
            f"pred and {other_name} must be of the same length >= 2, got {tuple(pred.shape)} "
            f"and {tuple(other.shape)}"
        )
    check_finite(pred, "pred")
    check_finite(other, other_name)


def _check_not_constant(x: torch.Tensor, name: str) -> None:
    if bool((x == x[..., :1]).all(dim=-1).any()):
        raise ValueError(
            f"{name} is constant over the batch: Pearson correlation is undefined (0/0) there; "
            "a batch needs two different values in pred and in target"
        )


def pearson_loss(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Negative Pearson correlation between predictions and targets over a batch.

    ``loss = −Σ(p − p̄)(t − t̄) / (‖p − p̄‖ ‖t − t̄‖)``, in ``[−1, 1]``. The loss of a whole
    batch, not a mean of per-item losses: it ignores any affine map ``a·p + b`` with ``a > 0`` of
    the predictions, so it constrains neither their scale nor their offset.

    Constant input: the correlation is ``0/0`` when ``pred`` or ``target`` takes a single value
    over the batch. Rather than return NaN (which would poison the weights) or a made-up value,
    this function raises ``ValueError`` there; ``scipy.stats.pearsonr`` returns NaN with a
    warning. Inputs that are not constant get a finite value and finite gradients; with a
    nearly constant ``pred`` the gradient grows like ``1 / ‖pred − mean(pred)‖``.
    A batch of two distinct values always gives ``±1`` and a zero gradient.

    Args:
        pred: ``(B,)`` floating predictions.
        target: ``(B,)`` floating targets, same shape, dtype family and device.

    Returns:
        A 0-d tensor, ``−pearsonr(pred, target).statistic``.

    Raises:
        TypeError: If an input is not a floating tensor.
        ValueError: If an input is not 1-D, the shapes differ, ``B < 2``, a value is not finite,
            or ``pred`` or ``target`` is constant.

    Example:
        >>> pearson_loss(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([10.0, 20.0, 40.0]))
        tensor(-1.0000)
        >>> pearson_loss(torch.tensor([1.0, 2.0, 4.0]), torch.tensor([3.0, 2.0, 3.0]))
        tensor(-0.1890)
    """
    check_tensor(pred, "pred", ndim=1, dims="(B,)", floating=True)
    check_tensor(target, "target", ndim=1, dims="(B,)", floating=True)
    if pred.shape != target.shape:
        raise ValueError(
            f"pred and target must have the same shape, got {tuple(pred.shape)} and "
            f"{tuple(target.shape)}"
        )
    if len(pred) < 2:
        raise ValueError(f"pred must hold at least 2 items for a correlation, got {len(pred)}")
    for x, name in ((pred, "pred"), (target, "target")):
        if not bool(torch.isfinite(x).all()):
            raise ValueError(f"{name} must be finite")
        _check_not_constant(x, name)
    return _neg_pearson(pred, target)


# --- Text to ids --------------------------------------------------------------------------------


def encode_texts(tokenizer: WordTokenizer, texts: Sequence[str], seq_len: int) -> torch.Tensor:
    """Encode sentences to a ``(N, T)`` id matrix, cut or padded with ``[PAD]`` to ``T`` tokens.

    No ``[CLS]``/``[SEP]``: the pair encoder pools over words and needs no markers.

    Args:
        tokenizer: The :class:`~companion.core.text.WordTokenizer`.
        texts: ``N`` sentences.
        seq_len: ``T``, >= 1.

    Returns:
        An int64 tensor ``(N, T)``.

    Raises:
        TypeError: If ``tokenizer`` is not a ``WordTokenizer``, ``texts`` is not a sequence of
            strings (a single string is refused: it would be read character by character), or
            ``seq_len`` not an int.
        ValueError: If ``seq_len < 1`` or ``texts`` is empty.

    Example:
        >>> tok = WordTokenizer.from_texts(["the dog ran"], max_size=8)
        >>> tok.vocab[5:]
        ('dog', 'ran', 'the')
        >>> encode_texts(tok, ["the dog ran", "the cat"], seq_len=4).tolist()
        [[7, 5, 6, 0], [7, 4, 0, 0]]
    """
    if not isinstance(tokenizer, WordTokenizer):
        raise TypeError(f"tokenizer must be a WordTokenizer, got {type(tokenizer).__name__}")
    check_int(seq_len, "seq_len", minimum=1)
    texts = _check_sequence(texts, "texts")
    if len(texts) == 0:
        raise ValueError("texts must not be empty")
    for i, text in enumerate(texts):
        if not isinstance(text, str):
            raise TypeError(f"texts[{i}] must be a str, got {type(text).__name__}")
    out = torch.full((len(texts), seq_len), tokenizer.pad_id, dtype=torch.int64)
    for i, text in enumerate(texts):  # string work: one step per sentence
        ids = tokenizer.encode(text)[:seq_len]
        out[i, : len(ids)] = ids
    return out


# --- The model: M independent pair encoders with their heads, batched ------------------------------


class PairEnsemble(nn.Module):
    """``M`` independent STS models, computed together: model ``m`` has its own weights and head.

    Each model: word embeddings ``(V, E)`` → per-token projection ``(E, D)`` and ReLU → max-pool
    over the sentence's tokens (``[PAD]`` ignored) → sentence vectors ``h₁, h₂`` → pair features
    ``[|h₁ − h₂|, h₁ ⊙ h₂]`` (2D) → tanh layer (H) → 6 outputs. Softmax heads read all 6 outputs
    as logits; linear heads use output 0 only (the other five then get zero gradient).

    Because the projection acts on each token alone, it is computed once per vocabulary entry, a
    ``(M, V, D)`` table, and looked up: the same numbers as projecting every token.

    Initial weights of model ``m`` are drawn inside ``seeded(seeds[m])`` in a fixed order, so two
    models with the same seed start from the same encoder whatever their heads.

    Args:
        vocab_size: ``V``, >= 2.
        heads: One head name from :data:`HEADS` per model (``M`` entries).
        seeds: One seed per model (``M`` entries).
        pad_id: Id of ``[PAD]``, ignored by the pooling.
        config: Widths (``embed_dim``, ``proj_dim``, ``hidden``).

    Raises:
        TypeError: If ``config`` is not a :class:`StsConfig`, ``heads`` or ``seeds`` is not a
            sequence, a head is not a str, or a size/seed is not an int.
        ValueError: If a head is unknown, ``heads`` and ``seeds`` differ in length or are empty,
            a seed is negative, or ``pad_id`` is outside ``[0, V)``.

    Example:
        >>> net = PairEnsemble(20, ["linear-mse", "softmax-kl"], [0, 0], pad_id=0)
        >>> ids = torch.randint(1, 20, (3, 7))
        >>> net(ids, ids).shape, net.predict(ids, ids).shape
        (torch.Size([2, 3, 6]), torch.Size([2, 3]))
    """

    def __init__(
        self,
        vocab_size: int,
        heads: Sequence[str],
        seeds: Sequence[int],
        pad_id: int,
        config: StsConfig = StsConfig(),  # frozen, so one shared default is safe
    ) -> None:
        super().__init__()
        check_int(vocab_size, "vocab_size", minimum=2)
        if not isinstance(config, StsConfig):
            raise TypeError(f"config must be a StsConfig, got {type(config).__name__}")
        heads, seeds = _check_heads(heads), _check_sequence(seeds, "seeds")
        if not heads or len(heads) != len(seeds):
            raise ValueError(
                f"heads and seeds must be non-empty and of equal length, got {len(heads)} "
                f"and {len(seeds)}"
            )
        check_int(pad_id, "pad_id", minimum=0)
        if pad_id >= vocab_size:
            raise ValueError(f"pad_id must be < vocab_size={vocab_size}, got {pad_id}")
        self.heads = tuple(heads)
        self.seeds = tuple(check_int(s, f"seeds[{i}]", minimum=0) for i, s in enumerate(seeds))
        self.vocab_size = vocab_size
        self.pad_id = pad_id
        self.config = config
        parts: dict[str, list[torch.Tensor]] = {
            k: [] for k in ("emb", "wp", "bp", "w1", "b1", "w2", "b2")
        }
        e, d, h = config.embed_dim, config.proj_dim, config.hidden
        for s in self.seeds:
            with seeded(s):
                emb = nn.Embedding(vocab_size, e)
                proj, hid, out = nn.Linear(e, d), nn.Linear(2 * d, h), nn.Linear(h, NUM_CLASSES)
            parts["emb"].append(emb.weight.data)
            parts["wp"].append(proj.weight.data.T)  # (D, E) -> (E, D)
            parts["bp"].append(proj.bias.data)
            parts["w1"].append(hid.weight.data.T)  # (H, 2D) -> (2D, H)
            parts["b1"].append(hid.bias.data)
            parts["w2"].append(out.weight.data.T)  # (C, H) -> (H, C)
            parts["b2"].append(out.bias.data)
        for name, tensors in parts.items():
            self.register_parameter(name, nn.Parameter(torch.stack(tensors).contiguous()))
        keep = torch.ones(vocab_size)
        keep[pad_id] = 0.0
        self.register_buffer("keep", keep, persistent=False)  # (V,) 0 at [PAD]
        self.register_buffer(
            "softmax_mask",
            torch.tensor([h in _SOFTMAX_HEADS for h in self.heads]),
            persistent=False,
        )  # (M,)

    @property
    def num_models(self) -> int:
        """``M``."""
        return len(self.heads)

    def _check_ids(self, ids: torch.Tensor, name: str) -> None:
        check_tensor(ids, name, ndim=2, dims="(B, T)", integer=True)
        if ids.shape[1] == 0:
            raise ValueError(f"{name} must hold at least one token per sentence, got shape (B, 0)")
        check_ids(ids, name, self.vocab_size)

    def _check_pair_ids(self, ids1: torch.Tensor, ids2: torch.Tensor) -> None:
        self._check_ids(ids1, "ids1")
        self._check_ids(ids2, "ids2")
        check_same_batch(ids1=ids1, ids2=ids2)

    def sentence_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        """``(B, T)`` ids → ``(M, B, D)`` max-pooled ReLU projections, one row per model.

        Raises:
            TypeError: If ``ids`` is not a tensor of a signed integer dtype.
            ValueError: If ``ids`` is not 2-D with ``T >= 1`` or an id is outside ``[0, V)``.
        """
        self._check_ids(ids, "ids")
        return self._sentence_vectors(ids)

    def _sentence_vectors(self, ids: torch.Tensor) -> torch.Tensor:
        proj = torch.einsum("mve,med->mvd", self.emb, self.wp)  # (M, V, E) @ (M, E, D) -> (M, V, D)
        table = torch.relu(proj + self.bp[:, None])  # every word's projected features
        table = table * self.keep[:, None]  # [PAD] rows are 0: never above a real token's ReLU
        m, v, d = table.shape
        b, t = ids.shape
        # Max-pooling as a look-up: find which token wins each (model, pair, feature) without
        # autograd, then read that token's table entry with autograd. Same values and the same
        # gradient as amax over tokens (up to ties), without a (M, B, T, D) graph to go back through.
        with torch.no_grad():
            offset = torch.arange(m, device=ids.device)[:, None, None] * v  # (M, 1, 1)
            tokens = F.embedding(
                ids + offset, table.reshape(m * v, d)
            )  # (M*V, D) rows: (M, B, T, D)
            best = tokens.amax(dim=2, keepdim=True)  # (M, B, 1, D)
            position = torch.arange(t, device=ids.device, dtype=table.dtype)[:, None]  # (T, 1)
            winner = torch.where(tokens == best, position, -1.0).amax(dim=2).long()  # (M, B, D)
            word = ids.expand(m, b, t).gather(2, winner)  # (M, B, D) id of the winning token
            flat = (offset + word) * d + torch.arange(d, device=ids.device)  # (M, B, D)
        return table.reshape(m * v * d)[flat]  # (M, V, D) -> (M*V*D,), then (M, B, D)

    def forward(self, ids1: torch.Tensor, ids2: torch.Tensor) -> torch.Tensor:
        """Map two id matrices ``(B, T1)`` and ``(B, T2)`` to ``(M, B, 6)`` raw outputs.

        Each sentence is pooled on its own, so the two matrices may be padded to different
        lengths.

        Raises:
            TypeError: If an id matrix is not a tensor of a signed integer dtype.
            ValueError: If an id matrix is not 2-D with ``T >= 1``, an id is outside ``[0, V)``,
                or the batch sizes differ.
        """
        self._check_pair_ids(ids1, ids2)
        return self._outputs(ids1, ids2)

    def _outputs(self, ids1: torch.Tensor, ids2: torch.Tensor) -> torch.Tensor:
        h1, h2 = self._sentence_vectors(ids1), self._sentence_vectors(ids2)
        feats = torch.cat(((h1 - h2).abs(), h1 * h2), dim=-1)  # (M, B, 2D)
        hidden = torch.tanh(torch.baddbmm(self.b1[:, None], feats, self.w1))  # (M, B, H)
        return torch.baddbmm(self.b2[:, None], hidden, self.w2)  # (M, B, C)

    def readout(self, outputs: torch.Tensor) -> torch.Tensor:
        """``(M, B, 6)`` outputs → ``(M, B)`` scores, each model its own head's way.

        Linear heads: output 0. ``softmax-kl`` and ``softmax-pearson``: ``rᵀ softmax``.
        ``softmax-ce``: the most probable class (a classifier's answer). Pure math: a NaN in a
        model's outputs propagates to its scores, as through torch's ``softmax``.

        Raises:
            TypeError: If ``outputs`` is not a floating tensor.
            ValueError: If ``outputs`` is not ``(M, B, 6)`` with this ensemble's ``M``.
        """
        check_tensor(
            outputs,
            "outputs",
            ndim=3,
            dims="(M, B, C)",
            floating=True,
            size={0: self.num_models, -1: NUM_CLASSES},
        )
        return self._readout(outputs)

    def _readout(self, outputs: torch.Tensor) -> torch.Tensor:
        linear = outputs[..., 0]
        mean = _expected(torch.softmax(outputs, dim=-1))
        argmax = outputs.argmax(dim=-1).to(outputs.dtype)
        is_ce = torch.tensor([h == "softmax-ce" for h in self.heads], device=outputs.device)
        soft = torch.where(is_ce[:, None], argmax, mean)
        return torch.where(self.softmax_mask[:, None], soft, linear)

    def predict(self, ids1: torch.Tensor, ids2: torch.Tensor, chunk: int = 1024) -> torch.Tensor:
        """``(M, B)`` scores without gradients, in chunks of ``chunk`` pairs.

        Raises:
            TypeError: As :meth:`forward`, or if ``chunk`` is not an int.
            ValueError: As :meth:`forward`, or if ``chunk < 1``.
        """
        self._check_pair_ids(ids1, ids2)
        check_int(chunk, "chunk", minimum=1)
        with torch.no_grad():
            return torch.cat(
                [
                    self._readout(self._outputs(ids1[i : i + chunk], ids2[i : i + chunk]))
                    for i in range(0, max(len(ids1), 1), chunk)  # an empty batch: one empty chunk
                ],
                dim=1,
            )


def head_losses(
    outputs: torch.Tensor, gold: torch.Tensor, heads: Sequence[str], *, skip_constant: bool = False
) -> torch.Tensor:
    """The training loss of each model on one batch, each with its own head's loss.

    Args:
        outputs: ``(M, B, 6)`` raw outputs of :class:`PairEnsemble`, ``M, B >= 1``.
        gold: ``(B,)`` gold scores in ``[0, 5]``, finite; converted to ``outputs``' dtype.
        heads: ``M`` head names.
        skip_constant: What a Pearson head does on a batch where its predictions (or the gold
            scores) are constant, so that the correlation is undefined: ``False`` raises
            ``ValueError`` (as :func:`pearson_loss` does); ``True`` gives that model a loss of
            exactly 0 with no gradient for this batch, so it skips the batch.

    Returns:
        ``(M,)`` losses: MSE, KL(target ‖ p̂) (mean over the batch), cross-entropy to
        ``round(gold)``, or negative Pearson, per head. Pure math in ``outputs``: a NaN or
        infinite output propagates into its model's loss (:func:`train_heads` then stops with
        :class:`~companion.core.training.NonFiniteLossError`).

    Raises:
        TypeError: If ``outputs`` or ``gold`` is not a floating tensor, ``heads`` is not a
            sequence of str, or ``skip_constant`` is not a bool.
        ValueError: If ``outputs`` is not ``(M, B, 6)`` with ``M, B >= 1``, ``gold`` is not
            ``(B,)`` finite scores in ``[0, 5]``, ``heads`` does not have ``M`` entries or names
            an unknown head, or a Pearson head meets a constant batch and ``skip_constant`` is
            false.

    Example:
        >>> out = torch.zeros(2, 4, 6)
        >>> head_losses(out, torch.tensor([0.0, 1.0, 2.0, 3.0]), ["linear-mse", "softmax-ce"])
        tensor([3.5000, 1.7918])
        >>> head_losses(out[:1], torch.rand(4), ["linear-pearson"], skip_constant=True)
        tensor([0.])
    """
    check_tensor(
        outputs, "outputs", ndim=3, dims="(M, B, C)", floating=True, size={-1: NUM_CLASSES}
    )
    if outputs.shape[0] == 0 or outputs.shape[1] == 0:
        raise ValueError(
            f"outputs must hold at least one model and one pair, got shape {tuple(outputs.shape)}"
        )
    _check_gold(gold)
    if len(gold) != outputs.shape[1]:
        raise ValueError(
            f"gold must have one score per pair of outputs (B={outputs.shape[1]}), "
            f"got shape {tuple(gold.shape)}"
        )
    heads = _check_heads(heads)
    if len(heads) != outputs.shape[0]:
        raise ValueError(
            f"heads must have one entry per model of outputs (M={outputs.shape[0]}), "
            f"got {len(heads)}"
        )
    check_bool(skip_constant, "skip_constant")
    return _losses_and_skips(outputs, gold.to(outputs.dtype), heads, skip_constant)[0]


def _losses_and_skips(
    outputs: torch.Tensor, gold: torch.Tensor, heads: Sequence[str], skip_constant: bool
) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`head_losses` on checked inputs, plus a ``(M,)`` bool mask of skipping models."""
    losses = outputs.new_zeros(outputs.shape[0])
    skipped = torch.zeros(outputs.shape[0], dtype=torch.bool, device=outputs.device)
    for head in dict.fromkeys(heads):  # one vectorised step per kind of head (at most five)
        idx = torch.tensor([m for m, h in enumerate(heads) if h == head], device=outputs.device)
        out = outputs[idx]  # (m, B, C): the models with this head
        if head == "linear-mse":
            loss = (out[..., 0] - gold).pow(2).mean(dim=-1)
        elif head == "softmax-kl":
            target = sparse_target_distribution(gold)  # (B, C)
            log_p = F.log_softmax(out, dim=-1)
            # KL(target || p) = sum target * (log target - log p); 0 log 0 = 0 (torch.xlogy)
            loss = (torch.xlogy(target, target) - target * log_p).sum(dim=-1).mean(dim=-1)
        elif head == "softmax-ce":
            log_p = F.log_softmax(out, dim=-1)
            labels = gold.round().long()  # (B,) the rounded score as a class
            loss = -log_p[:, torch.arange(len(gold), device=gold.device), labels].mean(dim=-1)
        else:  # the two Pearson heads
            pred = (
                _expected(torch.softmax(out, dim=-1)) if head == "softmax-pearson" else out[..., 0]
            )
            if not skip_constant:
                _check_not_constant(pred, "pred")
                _check_not_constant(gold, "target")
                loss = _neg_pearson(pred, gold)
            else:
                flat = (pred == pred[:, :1]).all(dim=-1) | bool((gold == gold[0]).all())  # (m,)
                # Constant rows: detached and made non-constant, so they carry no graph and no
                # NaN; their loss is then replaced by an exact 0.
                safe = torch.where(flat[:, None], torch.arange(len(gold)).to(pred), pred)
                safe_gold = gold if not bool(flat.all()) else torch.arange(len(gold)).to(gold)
                loss = torch.where(flat, 0.0, _neg_pearson(safe, safe_gold))
                skipped = skipped.index_put((idx,), flat)
        losses = losses.index_put((idx,), loss)
    return losses, skipped


@dataclass
class StsHistory:
    """What :func:`train_heads` recorded.

    Attributes:
        heads: The head of each model.
        loss: ``loss[e][m]``: model ``m``'s mean training loss over epoch ``e`` (skipped batches
            count as 0).
        steps: Optimizer steps taken.
        skipped: ``skipped[m]``: batches on which model ``m``'s Pearson loss was undefined and
            skipped (``on_constant="skip"``); always 0 for the other heads.
    """

    heads: tuple[str, ...]
    loss: list[list[float]] = field(default_factory=list)
    steps: int = 0
    skipped: list[int] = field(default_factory=list)


def train_heads(
    model: PairEnsemble,
    ids1: torch.Tensor,
    ids2: torch.Tensor,
    gold: torch.Tensor,
    *,
    config: StsConfig = StsConfig(),  # frozen, so one shared default is safe
    seed: int = 0,
    device: torch.device | str | None = None,
    progress: bool = False,
    on_constant: Literal["raise", "skip"] = "raise",
) -> StsHistory:
    """Train every model of ``model`` on the same batches, each with its own head's loss.

    One Adam optimiser over the summed losses: since the models share no parameter, each gets
    exactly the gradient of its own loss, and Adam's update is per parameter, so this is ``M``
    separate trainings done in one pass. The batch order of epoch ``e`` depends on
    ``(seed, e)`` only (:class:`~companion.core.training.EpochSampler`); a last batch of a single
    pair is dropped (no correlation on one item).

    Args:
        model: The :class:`PairEnsemble`; moved to ``device``.
        ids1: ``(N, T1)`` ids of the first sentences, in ``[0, V)``.
        ids2: ``(N, T2)`` ids of the second sentences, in ``[0, V)``.
        gold: ``(N,)`` gold scores in ``[0, 5]``, finite, ``N >= 2``; converted to the model's
            dtype.
        config: ``epochs``, ``batch_size`` and ``lr``.
        seed: Seed of the batch order.
        device: Where to train; defaults to the model's device.
        progress: Show a tqdm bar over epochs.
        on_constant: What a Pearson head does on a batch whose predictions are constant (its
            loss is undefined there): ``"raise"`` stops with ``ValueError``; ``"skip"`` skips
            that model's update for that batch (Adam's momentum still moves it) and counts it in
            :attr:`StsHistory.skipped`.

    Returns:
        An :class:`StsHistory`.

    Raises:
        TypeError: If ``model`` is not a :class:`PairEnsemble`, ``config`` not a
            :class:`StsConfig`, an id matrix not a signed integer tensor, ``gold`` not a floating
            tensor, ``seed`` not an int, ``progress`` not a bool or ``on_constant`` not a str.
        ValueError: If an id is outside the model's vocabulary, the inputs' lengths differ,
            ``N < 2``, a gold score is not finite or outside ``[0, 5]``, ``on_constant`` is
            unknown, ``device`` names no device, or a Pearson head meets a constant batch with
            ``on_constant="raise"`` (the message names the step).
        companion.core.training.NonFiniteLossError: If the loss becomes NaN or infinite.
    """
    if not isinstance(model, PairEnsemble):
        raise TypeError(f"model must be a PairEnsemble, got {type(model).__name__}")
    if not isinstance(config, StsConfig):
        raise TypeError(f"config must be a StsConfig, got {type(config).__name__}")
    model._check_pair_ids(ids1, ids2)
    _check_gold(gold)
    check_same_batch(ids1=ids1, ids2=ids2, gold=gold)
    if len(gold) < 2:
        raise ValueError(f"gold must hold at least 2 pairs (one batch), got {len(gold)}")
    check_int(seed, "seed", minimum=0)
    check_bool(progress, "progress")
    check_choice(on_constant, "on_constant", ("raise", "skip"))
    device = resolve_device(device, model)
    model.to(device)
    ids1, ids2 = ids1.to(device), ids2.to(device)
    gold = gold.to(device, model.w2.dtype)
    optimizer = torch.optim.Adam(model.parameters(), lr=config.lr)
    sampler = EpochSampler(len(gold), seed)
    history = StsHistory(model.heads)
    skipped = torch.zeros(model.num_models, dtype=torch.long, device=device)
    model.train()
    for epoch in tqdm(range(config.epochs), desc="heads", disable=not progress, leave=False):
        sampler.set_epoch(epoch)
        order = torch.tensor(list(sampler), device=device)
        sums, count = torch.zeros(model.num_models, device=device), 0
        for start in range(0, len(order), config.batch_size):
            idx = order[start : start + config.batch_size]
            if len(idx) < 2:
                continue
            try:
                losses, skip = _losses_and_skips(  # inputs checked above, once
                    model._outputs(ids1[idx], ids2[idx]),
                    gold[idx],
                    model.heads,
                    on_constant == "skip",
                )
            except ValueError as err:
                raise ValueError(f"step {history.steps}: {err}") from err
            skipped += skip
            total = losses.sum()
            check_finite_loss(total.detach(), "loss", history.steps)
            optimizer.zero_grad(set_to_none=True)
            total.backward()
            optimizer.step()
            history.steps += 1
            sums += losses.detach() * len(idx)
            count += len(idx)
        history.loss.append((sums / count).tolist())
    history.skipped = skipped.tolist()
    model.eval()
    return history


# --- Evaluation ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class StsScores:
    """Agreement of predictions with gold scores.

    Attributes:
        pearson: Pearson correlation ``r`` (the SemEval STS metric).
        spearman: Spearman rank correlation ``ρ`` (ties get their average rank).
        mse: Mean squared error, in squared score units.
    """

    pearson: float
    spearman: float
    mse: float


def sts_scores(pred: torch.Tensor, gold: torch.Tensor) -> StsScores:
    """Pearson ``r``, Spearman ``ρ`` (``scipy.stats``) and MSE of predictions against gold scores.

    A constant prediction has no correlation: ``r`` and ``ρ`` are then reported as 0 (not NaN),
    which is what such a predictor is worth for ranking.

    Args:
        pred: ``(N,)`` predictions.
        gold: ``(N,)`` gold scores.

    Returns:
        An :class:`StsScores`.

    Raises:
        TypeError: If an input is not a floating tensor.
        ValueError: If an input is not 1-D, the shapes differ, ``N < 2`` or a value is not
            finite.

    Example:
        >>> s = sts_scores(torch.tensor([1.0, 2.0, 3.0]), torch.tensor([2.0, 4.0, 5.0]))
        >>> round(s.pearson, 3), s.spearman, round(s.mse, 3)
        (0.982, 1.0, 3.0)
    """
    from scipy import stats

    _check_score_pair(pred, gold, "gold")
    p = pred.detach().double().cpu().numpy()
    g = gold.detach().double().cpu().numpy()
    mse = float(np.mean((p - g) ** 2))
    if np.all(p == p[0]) or np.all(g == g[0]):
        return StsScores(0.0, 0.0, mse)
    return StsScores(
        float(stats.pearsonr(p, g).statistic), float(stats.spearmanr(p, g).statistic), mse
    )


def linear_calibration(pred: torch.Tensor, target: torch.Tensor) -> tuple[float, float]:
    """The least-squares line ``target ≈ a·pred + b``: how to put uncalibrated scores on the scale.

    Fit it on a development set and apply it to the test predictions: the correlation does not
    change (for ``a > 0``), the MSE can only drop on the data it was fitted on.

    Args:
        pred: ``(N,)`` predictions, not constant.
        target: ``(N,)`` targets.

    Returns:
        ``(a, b)`` as floats.

    Raises:
        TypeError: If an input is not a floating tensor.
        ValueError: If an input is not 1-D, the shapes differ, ``N < 2``, a value is not finite
            or ``pred`` is constant.

    Example:
        >>> linear_calibration(torch.tensor([0.0, 1.0, 2.0]), torch.tensor([1.0, 3.0, 5.0]))
        (2.0, 1.0)
    """
    _check_score_pair(pred, target, "target")
    p, t = pred.detach().double(), target.detach().double()
    pc = p - p.mean()
    var = float((pc * pc).sum())
    if var == 0.0:
        raise ValueError("pred is constant: no line can be fitted")
    a = float((pc * (t - t.mean())).sum()) / var
    return a, float(t.mean()) - a * float(p.mean())
