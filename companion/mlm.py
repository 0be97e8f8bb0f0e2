"""BERT's masked-language-model (MLM) objective: which positions are corrupted, and which count.

Pre-training BERT corrupts a sentence and asks the network to restore it (Devlin et al. 2019, §3.1).
This module is that procedure in one scroll:

1. :func:`mask_tokens` selects 15% of the ordinary (non-special) positions; of those, 80% become
   ``[MASK]``, 10% a random token and 10% stay as they were. The label of a selected position is its
   original id; every other position gets the label ``-100``, which the loss ignores.
2. :func:`mlm_loss` is the cross-entropy between the predicted distribution over the ``V`` words of
   the vocabulary and the original id, averaged over the selected positions only.
3. :class:`TinyBert` is a small BERT-style encoder whose output layer reuses the input embedding
   matrix (tied weights), so it scores every position against every word of the vocabulary.
4. :func:`train_mlm` and :func:`mlm_accuracy` train and score such a model, with the loss on the
   selected positions (:func:`selected_positions_loss`, BERT) or on every ordinary position
   (:func:`all_positions_loss`, the variant the chapter tests), under BERT's warm-up and decay
   (:func:`lr_schedule`).

Shapes use the book's alphabet: ``B`` batch, ``T`` tokens per row, ``V`` vocabulary, ``D`` width.

Convention:
    Labels follow PyTorch and Hugging Face: ``-100`` (:data:`IGNORE_INDEX`, the default
    ``ignore_index`` of ``torch.nn.functional.cross_entropy``) marks a position that does not count.
    Google's original TensorFlow code instead gathers the selected positions into a fixed-size list
    with a 0/1 weight per slot; both give the same mean over selected positions.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from functools import partial

import torch
import torch.nn.functional as F
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_finite,
    check_generator,
    check_ids,
    check_int,
    check_module,
    check_number,
    check_same_shape,
    check_tensor,
)
from companion.core.device import eval_mode, resolve_device, seeded
from companion.core.training import check_finite_loss

__all__ = [
    "IGNORE_INDEX",
    "KEPT",
    "MASKED",
    "MASK_PROB",
    "MASK_TOKEN_FRACTION",
    "RANDOM",
    "RANDOM_TOKEN_FRACTION",
    "UNSELECTED",
    "MlmAccuracy",
    "MlmConfig",
    "MlmHistory",
    "TinyBert",
    "TinyBertConfig",
    "all_positions_loss",
    "linear_probe_accuracy",
    "lr_schedule",
    "mask_tokens",
    "masking_outcome",
    "mlm_accuracy",
    "mlm_loss",
    "selected_positions_loss",
    "train_mlm",
]

# ---------------------------------------------------------------------------------------------
# Constants
# ---------------------------------------------------------------------------------------------
MASK_PROB = 0.15  # Devlin et al. 2019, §3.1: 15% of the WordPiece positions are selected.
MASK_TOKEN_FRACTION = 0.8  # Devlin et al. 2019, §3.1: 80% of selected positions become [MASK],
RANDOM_TOKEN_FRACTION = 0.1  # 10% a random token; the remaining 10% keep the original (§3.1, C.2).
IGNORE_INDEX = -100  # F.cross_entropy's default ignore_index, and Hugging Face's label convention.

# What happened to a position, as returned by :func:`masking_outcome`.
UNSELECTED, MASKED, RANDOM, KEPT = 0, 1, 2, 3
_OUTCOME_NAMES = {UNSELECTED: "unselected", MASKED: "masked", RANDOM: "random", KEPT: "kept"}


@dataclass(frozen=True)
class TinyBertConfig:
    """Sizes of :class:`TinyBert`: BERT's architecture at a size a 2-core CPU trains in seconds.

    Attributes:
        vocab_size: ``V``, rows of the (tied) embedding matrix.
        max_len: Number of learned positions; rows longer than this are rejected. BERT uses 512.
        width: ``D``, the hidden size. BERT-base uses 768; 64 keeps one step at tens of ms.
        layers: Encoder blocks. BERT-base uses 12; two let the second block's attention work on
            what the first gathered, at twice the cost of one.
        heads: Attention heads (``width`` must divide by it): 4 heads of 16 dimensions here,
            12 of 64 in BERT-base.
        ffn: Width of the feed-forward block, ``4 * width`` as in BERT and Vaswani et al. 2017.
        dropout: BERT uses 0.1. The chapter compares short runs that differ only in their loss;
            dropout would add noise to that comparison, so it is off.
        pad_id: Id of ``[PAD]``: attention ignores those positions.
        init_std: Standard deviation of the initial weights, BERT's ``initializer_range`` (0.02).

    Raises:
        ValueError: If a size is below 1, ``width`` does not divide by ``heads``, ``dropout`` lies
            outside ``[0, 1)``, ``pad_id`` outside ``[0, vocab_size)`` or ``init_std`` is not > 0.
        TypeError: If a size or ``pad_id`` is not an int.

    Example:
        >>> TinyBertConfig(vocab_size=50).width
        64
        >>> TinyBertConfig(vocab_size=50, width=10, heads=3)
        Traceback (most recent call last):
        ...
        ValueError: width must divide by heads, got 10 and 3
    """

    vocab_size: int
    max_len: int = 64
    width: int = 64
    layers: int = 2
    heads: int = 4
    ffn: int = 256
    dropout: float = 0.0
    pad_id: int = 0
    init_std: float = 0.02

    def __post_init__(self) -> None:
        check_int(self.vocab_size, "vocab_size", minimum=2)
        for name in ("max_len", "width", "layers", "heads", "ffn"):
            check_int(getattr(self, name), name, minimum=1)
        if self.width % self.heads:
            raise ValueError(f"width must divide by heads, got {self.width} and {self.heads}")
        check_number(self.dropout, "dropout", low=0, high=1, high_inclusive=False)
        check_int(self.pad_id, "pad_id", minimum=0)
        if self.pad_id >= self.vocab_size:
            raise ValueError(f"pad_id must lie in [0, {self.vocab_size}), got {self.pad_id}")
        check_number(self.init_std, "init_std", low=0, low_inclusive=False)


@dataclass(frozen=True)
class MlmConfig:
    """Hyper-parameters of :func:`train_mlm`, each default with the reason for its value.

    Attributes:
        steps: Optimizer steps. About a thousand let the tiny model (:class:`TinyBertConfig`
            defaults) climb well above the most-frequent-word baseline on the Python docs
            corpus; the chapter compares runs at equal steps, not at convergence.
        batch_size: Rows per step; 64 rows of 16 tokens give about 125 selected positions.
        lr: Peak learning rate of AdamW. BERT-base uses 1e-4; a model 12× narrower needs a larger
            one. 3e-3 trains the post-norm tiny model reliably; 5e-3 stalled it at predicting
            the most frequent word in our trials.
        warmup: Fraction of the steps with a linear warm-up from 0 to ``lr``, as BERT.
        decay: Decay linearly to 0 after the warm-up, as BERT does. ``False`` keeps ``lr``
            constant, so that the model after ``s`` steps of a long run is the model a run of
            ``s`` steps would give: its learning curve is a curve of budgets.
        weight_decay: AdamW's decoupled weight decay, BERT's 0.01.
        mask_prob: Share of ordinary positions selected, BERT's 15% (:data:`MASK_PROB`).
        mask_fraction: Share of selected positions shown as ``[MASK]``, BERT's 80%
            (:data:`MASK_TOKEN_FRACTION`); 1.0 with ``random_fraction=0`` gives a model that only
            ever sees ``[MASK]`` where it is scored.
        random_fraction: Share shown as a random ordinary token, BERT's 10%
            (:data:`RANDOM_TOKEN_FRACTION`); the rest keep their token.

    Raises:
        ValueError: If a count is below 1, a rate or fraction is out of range, or
            ``mask_fraction + random_fraction > 1``.
        TypeError: If a count is not an int or ``decay`` not a bool.

    Example:
        >>> MlmConfig().mask_fraction, MlmConfig().random_fraction
        (0.8, 0.1)
        >>> MlmConfig(mask_fraction=0.95)
        Traceback (most recent call last):
        ...
        ValueError: mask_fraction + random_fraction must be <= 1, got 0.95 + 0.1
    """

    steps: int = 1000
    batch_size: int = 64
    lr: float = 3e-3
    warmup: float = 0.1
    decay: bool = True
    weight_decay: float = 0.01
    mask_prob: float = MASK_PROB
    mask_fraction: float = MASK_TOKEN_FRACTION
    random_fraction: float = RANDOM_TOKEN_FRACTION

    def __post_init__(self) -> None:
        check_int(self.steps, "steps", minimum=1)
        check_int(self.batch_size, "batch_size", minimum=1)
        check_number(self.lr, "lr", low=0, low_inclusive=False)
        check_number(self.warmup, "warmup", low=0, high=1)
        if not isinstance(self.decay, bool):
            raise TypeError(f"decay must be a bool, got {type(self.decay).__name__}")
        check_number(self.weight_decay, "weight_decay", low=0)
        check_number(
            self.mask_prob, "mask_prob", low=0, high=1, low_inclusive=False, high_inclusive=False
        )
        check_number(self.mask_fraction, "mask_fraction", low=0, high=1)
        check_number(self.random_fraction, "random_fraction", low=0, high=1)
        if self.mask_fraction + self.random_fraction > 1:
            raise ValueError(
                "mask_fraction + random_fraction must be <= 1, got "
                f"{self.mask_fraction} + {self.random_fraction}"
            )

    @property
    def warmup_steps(self) -> int:
        """Number of warm-up steps: ``warmup * steps``, rounded, at least 1."""
        return max(1, round(self.warmup * self.steps))


def lr_schedule(step: int, *, steps: int, warmup_steps: int, decay: bool = True) -> float:
    """Multiplier of the peak learning rate at ``step`` (0-based): BERT's warm-up, then decay.

    Steps ``0 .. warmup_steps - 1`` ramp up linearly, ``(step + 1) / warmup_steps``, so the first
    step already moves and the last warm-up step uses the full rate. After the warm-up the
    multiplier falls linearly, ``(steps - step) / (steps - warmup_steps)``, to
    ``1 / (steps - warmup_steps)`` at the last step (0 beyond it), as BERT's
    ``polynomial_decay`` with power 1 does; with ``decay=False`` it stays at 1.

    Args:
        step: The step, >= 0.
        steps: Total number of steps, >= 1.
        warmup_steps: Length of the warm-up, in ``[1, steps]``.
        decay: Decay linearly after the warm-up.

    Returns:
        A float in ``[0, 1]``.

    Raises:
        ValueError: If a count is out of range.
        TypeError: If a count is not an int or ``decay`` not a bool.

    Example:
        >>> [lr_schedule(s, steps=6, warmup_steps=2) for s in range(6)]
        [0.5, 1.0, 1.0, 0.75, 0.5, 0.25]
        >>> [lr_schedule(s, steps=6, warmup_steps=2, decay=False) for s in range(6)]
        [0.5, 1.0, 1.0, 1.0, 1.0, 1.0]
    """
    check_int(step, "step", minimum=0)
    check_int(steps, "steps", minimum=1)
    check_int(warmup_steps, "warmup_steps", minimum=1)
    check_bool(decay, "decay")
    if warmup_steps > steps:
        raise ValueError(f"warmup_steps must be <= steps = {steps}, got {warmup_steps}")
    if step < warmup_steps:
        return (step + 1) / warmup_steps
    if not decay:
        return 1.0
    return max(0.0, (steps - step) / max(1, steps - warmup_steps))


# ---------------------------------------------------------------------------------------------
# Masking
# ---------------------------------------------------------------------------------------------
def _check_ids(ids: Iterable[int], name: str, vocab_size: int) -> tuple[int, ...]:
    if isinstance(ids, (str, bytes)) or not isinstance(ids, Iterable):
        raise TypeError(f"{name} must be a sequence of ints, got {type(ids).__name__}")
    out = tuple(ids)
    for i in out:
        check_int(i, name)
        if not 0 <= i < vocab_size:
            raise ValueError(f"{name} must lie in [0, {vocab_size}), got {i}")
    return out


def _rand(
    shape: torch.Size, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Uniform draws in [0, 1) from ``generator`` (on its own device), moved to ``device``."""
    where = generator.device if generator is not None else device
    return torch.rand(shape, generator=generator, device=where).to(device)


def _randint(
    high: int, shape: torch.Size, generator: torch.Generator | None, device: torch.device
) -> torch.Tensor:
    """Uniform integers in [0, high) from ``generator`` (on its own device), moved to ``device``."""
    where = generator.device if generator is not None else device
    return torch.randint(high, shape, generator=generator, device=where).to(device)


def mask_tokens(
    input_ids: torch.Tensor,
    *,
    vocab_size: int,
    mask_token_id: int,
    special_token_ids: Iterable[int] = (),
    mlm_probability: float = MASK_PROB,
    mask_fraction: float = MASK_TOKEN_FRACTION,
    random_fraction: float = RANDOM_TOKEN_FRACTION,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor]:
    """Corrupt a batch the way BERT does and return the inputs the model sees and the labels.

    Each ordinary position is *selected* independently with probability ``mlm_probability``.
    A selected position becomes ``[MASK]`` with probability ``mask_fraction``, a token drawn
    uniformly from the ordinary (non-special) ids with probability ``random_fraction``, and keeps
    its token otherwise (Devlin et al. 2019, §3.1). A random draw may hit the original token, as in
    BERT. Special tokens (and ``[MASK]`` itself) are never selected and never drawn.

    Args:
        input_ids: Token ids, integer tensor of any shape, usually ``(B, T)``. Not modified.
        vocab_size: ``V``; every id must lie in ``[0, V)``.
        mask_token_id: Id of ``[MASK]``.
        special_token_ids: Ids never selected and never drawn as replacements (``[PAD]``,
            ``[CLS]``, ``[SEP]``, ...). ``mask_token_id`` is always added to them.
        mlm_probability: Probability that an ordinary position is selected, in ``(0, 1)``.
        mask_fraction: Share of selected positions replaced by ``[MASK]``, in ``[0, 1]``.
        random_fraction: Share replaced by a random ordinary token, in ``[0, 1]``; together with
            ``mask_fraction`` at most 1. The rest keep their token.
        generator: Source of randomness (its device is used for the draws); ``None`` uses torch's
            global generator.

    Returns:
        ``(masked_ids, labels)``, both shaped like ``input_ids`` and on its device:
        ``masked_ids`` is what the model reads; ``labels`` holds the original id at selected
        positions and ``-100`` (:data:`IGNORE_INDEX`) everywhere else.

    Raises:
        TypeError: If ``input_ids`` is not a signed integer tensor, an id argument is not an int,
            or ``generator`` is not a ``torch.Generator``.
        ValueError: If a probability or fraction is out of range, an id lies outside
            ``[0, vocab_size)``, or every id is special.

    Convention:
        Positions are selected by independent coin flips, as Hugging Face's
        ``DataCollatorForLanguageModeling`` does, so a row holds 15% selected positions on
        average. Google's original code selects exactly ``round(0.15 * length)`` positions per row
        (capped by ``max_predictions_per_seq``). Hugging Face draws random replacements from the
        whole vocabulary, special tokens included; here they come from the ordinary ids only.

    Example:
        >>> ids = torch.tensor([[1, 10, 11, 12, 13, 2]])  # [CLS] w w w w [SEP]
        >>> g = torch.Generator().manual_seed(0)
        >>> masked, labels = mask_tokens(ids, vocab_size=20, mask_token_id=3,
        ...                              special_token_ids=(0, 1, 2, 3, 4),
        ...                              mlm_probability=0.5, generator=g)
        >>> masked.tolist(), labels.tolist()
        ([[1, 10, 3, 3, 3, 2]], [[-100, -100, 11, 12, 13, -100]])
    """
    check_tensor(input_ids, "input_ids", integer=True)
    check_int(vocab_size, "vocab_size", minimum=2)
    check_ids(input_ids, "input_ids", vocab_size)
    check_generator(generator)
    (mask_token_id,) = _check_ids((mask_token_id,), "mask_token_id", vocab_size)
    special = set(_check_ids(special_token_ids, "special_token_ids", vocab_size)) | {mask_token_id}
    check_number(
        mlm_probability, "mlm_probability", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    check_number(mask_fraction, "mask_fraction", low=0, high=1)
    check_number(random_fraction, "random_fraction", low=0, high=1)
    if mask_fraction + random_fraction > 1:
        raise ValueError(
            f"mask_fraction + random_fraction must be <= 1, got {mask_fraction} + {random_fraction}"
        )
    device = input_ids.device
    special_ids = torch.tensor(sorted(special), dtype=input_ids.dtype, device=device)
    ordinary = torch.arange(vocab_size, dtype=input_ids.dtype, device=device)  # (V,)
    ordinary = ordinary[~torch.isin(ordinary, special_ids)]  # (V - n_special,)
    if len(ordinary) == 0:
        raise ValueError("special_token_ids must leave at least one ordinary id to predict")

    selected = (_rand(input_ids.shape, generator, device) < mlm_probability) & ~torch.isin(
        input_ids, special_ids
    )
    how = _rand(input_ids.shape, generator, device)  # one draw decides [MASK] / random / keep
    to_mask = selected & (how < mask_fraction)
    to_random = selected & (how >= mask_fraction) & (how < mask_fraction + random_fraction)
    random_ids = ordinary[_randint(len(ordinary), input_ids.shape, generator, device)]

    masked_ids = torch.where(to_mask, torch.full_like(input_ids, mask_token_id), input_ids)
    masked_ids = torch.where(to_random, random_ids, masked_ids)
    labels = torch.where(selected, input_ids, torch.full_like(input_ids, IGNORE_INDEX))
    return masked_ids, labels


def masking_outcome(
    input_ids: torch.Tensor, masked_ids: torch.Tensor, labels: torch.Tensor, *, mask_token_id: int
) -> torch.Tensor:
    """What :func:`mask_tokens` did at each position: unselected, ``[MASK]``, random or kept.

    A selected position whose random replacement drew the original token counts as *kept*: the
    model sees exactly what a kept position shows.

    Args:
        input_ids: The original ids, any shape.
        masked_ids: What the model reads, same shape.
        labels: The labels, same shape (``-100`` where unselected).
        mask_token_id: Id of ``[MASK]``.

    Returns:
        An int64 tensor of the same shape with :data:`UNSELECTED` (0), :data:`MASKED` (1),
        :data:`RANDOM` (2) or :data:`KEPT` (3).

    Raises:
        ValueError: If the three tensors differ in shape, an id is negative (a label other than
            ``-100``), or ``mask_token_id < 0``.
        TypeError: If one is not an integer tensor or ``mask_token_id`` not an int.

    Example:
        >>> ids = torch.tensor([5, 6, 7, 8]); masked = torch.tensor([5, 3, 9, 8])
        >>> labels = torch.tensor([-100, 6, 7, 8])
        >>> masking_outcome(ids, masked, labels, mask_token_id=3).tolist()
        [0, 1, 2, 3]
    """
    for x, name in ((input_ids, "input_ids"), (masked_ids, "masked_ids"), (labels, "labels")):
        check_tensor(x, name, integer=True)
    if not input_ids.shape == masked_ids.shape == labels.shape:
        raise ValueError(
            "input_ids, masked_ids and labels must have the same shape, got "
            f"{tuple(input_ids.shape)}, {tuple(masked_ids.shape)} and {tuple(labels.shape)}"
        )
    check_int(mask_token_id, "mask_token_id", minimum=0)
    for x, name in ((input_ids, "input_ids"), (masked_ids, "masked_ids")):
        if x.numel() and int(x.min()) < 0:
            raise ValueError(f"{name} must be ids >= 0, got {int(x.min())}")
    if bool(((labels < 0) & (labels != IGNORE_INDEX)).any()):
        raise ValueError(f"labels must be {IGNORE_INDEX} or ids >= 0")
    selected = labels != IGNORE_INDEX
    out = torch.full_like(input_ids, UNSELECTED, dtype=torch.int64)
    out[selected & (masked_ids == mask_token_id)] = MASKED
    out[selected & (masked_ids != mask_token_id) & (masked_ids != input_ids)] = RANDOM
    out[selected & (masked_ids == input_ids)] = KEPT
    return out


# ---------------------------------------------------------------------------------------------
# Loss
# ---------------------------------------------------------------------------------------------
def mlm_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
    """Mean cross-entropy over the positions whose label is not ``-100``.

    Written out, for the set $S$ of counted positions and the original id $y_{bt}$:

    $$L = -\\frac{1}{|S|}\\sum_{(b,t)\\in S} \\log \\operatorname{softmax}(z_{bt})_{y_{bt}}$$

    The label is an id (a one-hot vector of size ``V``); the prediction is a distribution over
    the same ``V`` words. Unselected positions add nothing to the sum *and* nothing to ``|S|``.

    Args:
        logits: Scores over the vocabulary, float tensor ``(B, T, V)``.
        labels: Original ids at counted positions, ``-100`` elsewhere, integer tensor ``(B, T)``.

    Returns:
        A 0-d tensor. ``nan`` if no position counts (0/0), as ``F.cross_entropy`` gives. NaN or
        infinite logits propagate into the loss, as in torch.

    Raises:
        ValueError: If the shapes are not ``(B, T, V)`` and ``(B, T)`` with equal ``B, T``, or a
            counted label lies outside ``[0, V)``.
        TypeError: If ``logits`` is not floating or ``labels`` not integer.

    Convention:
        Equals ``F.cross_entropy(logits.view(-1, V), labels.view(-1), ignore_index=-100)`` and
        Hugging Face's ``BertForMaskedLM`` loss: mean over counted positions of the whole batch,
        not a mean of per-row means.

    Example:
        >>> logits = torch.zeros(1, 3, 4)  # uniform over V = 4 words
        >>> labels = torch.tensor([[-100, 2, -100]])
        >>> round(float(mlm_loss(logits, labels)), 4)  # log 4
        1.3863
    """
    check_tensor(logits, "logits", ndim=3, dims="(B, T, V)", floating=True)
    check_tensor(labels, "labels", ndim=2, dims="(B, T)", integer=True)
    if logits.shape[:2] != labels.shape:
        raise ValueError(
            "logits (B, T, V) and labels (B, T) must agree in B and T, got "
            f"{tuple(logits.shape)} and {tuple(labels.shape)}"
        )
    vocab = logits.shape[-1]
    counted = labels != IGNORE_INDEX  # (B, T)
    if bool(((labels < 0) | (labels >= vocab))[counted].any()):
        raise ValueError(f"labels must be {IGNORE_INDEX} or lie in [0, {vocab}) (V from logits)")
    log_probs = logits.log_softmax(dim=-1)  # (B, T, V)
    safe = torch.where(counted, labels, torch.zeros_like(labels))  # (B, T), any valid id
    picked = log_probs.gather(-1, safe.unsqueeze(-1)).squeeze(-1)  # (B, T, 1) -> (B, T)
    picked = torch.where(counted, picked, torch.zeros_like(picked))
    return -picked.sum() / counted.sum()


# ---------------------------------------------------------------------------------------------
# Model
# ---------------------------------------------------------------------------------------------
class TinyBert(nn.Module):
    """A small BERT-style encoder with an MLM head whose decoder is the input embedding matrix.

    Token embedding plus learned position embedding, LayerNorm, ``layers`` post-norm Transformer
    encoder blocks (Vaswani et al. 2017, as in BERT), then BERT's MLM head: a dense layer, GELU and
    LayerNorm, followed by the decoder ``logits = h @ E.T + b`` where ``E`` is the token embedding
    matrix ``(V, D)`` itself (tied weights, Press & Wolf 2017). The output at every position is a
    score for each of the ``V`` words of the vocabulary.

    Args:
        config: Sizes, see :class:`TinyBertConfig`.
        seed: Seed of the initial weights (normal with ``config.init_std``, biases zero), so that
            models compared with each other start from the same weights whatever the global
            random state.

    Raises:
        TypeError: If ``config`` is not a :class:`TinyBertConfig` or ``seed`` not an int.
        ValueError: If ``seed`` is negative.

    Example:
        >>> model = TinyBert(TinyBertConfig(vocab_size=50), seed=0)
        >>> model(torch.randint(5, 50, (2, 7))).shape
        torch.Size([2, 7, 50])
        >>> model.decoder.weight is model.token_embedding.weight
        True
    """

    def __init__(self, config: TinyBertConfig, *, seed: int = 0) -> None:
        super().__init__()
        if not isinstance(config, TinyBertConfig):
            raise TypeError(f"config must be a TinyBertConfig, got {type(config).__name__}")
        check_int(seed, "seed", minimum=0)
        self.config = config
        with seeded(seed):  # the initial weights depend on `seed` only
            self._build(config)

    def _build(self, config: TinyBertConfig) -> None:
        d, v = config.width, config.vocab_size
        self.token_embedding = nn.Embedding(v, d)  # E: (V, D)
        self.position_embedding = nn.Embedding(config.max_len, d)  # (T_max, D), learned as BERT
        self.embedding_norm = nn.LayerNorm(d)
        block = nn.TransformerEncoderLayer(
            d, config.heads, config.ffn, config.dropout, activation="gelu", batch_first=True
        )
        self.encoder = nn.TransformerEncoder(block, config.layers, enable_nested_tensor=False)
        self.head_transform = nn.Sequential(nn.Linear(d, d), nn.GELU(), nn.LayerNorm(d))
        self.decoder = nn.Linear(d, v)  # weight (V, D), replaced by E just below
        self.decoder.weight = self.token_embedding.weight  # tied: one Parameter, one storage
        self.apply(self._init)

    def _init(self, module: nn.Module) -> None:
        std = self.config.init_std
        if isinstance(module, (nn.Linear, nn.Embedding)):
            nn.init.normal_(module.weight, std=std)
        if isinstance(module, nn.Linear) and module.bias is not None:
            nn.init.zeros_(module.bias)

    def encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Hidden vectors ``(B, T, D)`` of the last encoder block for ids ``(B, T)``.

        Raises:
            TypeError: If ``input_ids`` is not a signed integer tensor.
            ValueError: If it is not ``(B, T)`` with ``B, T >= 1`` and ``T <= max_len``, or an id
                lies outside ``[0, V)``.
        """
        self._check_input_ids(input_ids, "input_ids")
        return self._encode(input_ids)

    def _check_input_ids(self, input_ids: object, name: str) -> None:
        check_tensor(input_ids, name, ndim=2, dims="(B, T)", integer=True)
        b, t = input_ids.shape
        if b == 0 or t == 0:
            raise ValueError(f"{name} must hold B, T >= 1 tokens, got shape {(b, t)}")
        if t > self.config.max_len:
            raise ValueError(f"{name} has T={t} tokens, more than max_len={self.config.max_len}")
        check_ids(input_ids, name, self.config.vocab_size)

    def _encode(self, input_ids: torch.Tensor) -> torch.Tensor:
        """:meth:`encode` of checked ids."""
        t = input_ids.shape[1]
        positions = torch.arange(t, device=input_ids.device)  # (T,)
        x = self.token_embedding(input_ids) + self.position_embedding(positions)  # (B, T, D)
        x = self.embedding_norm(x)
        padding = input_ids == self.config.pad_id  # (B, T), True where attention must not look
        return self.encoder(x, src_key_padding_mask=padding)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        """Logits ``(B, T, V)`` over the vocabulary at every position of ``input_ids (B, T)``.

        Raises:
            TypeError: If ``input_ids`` is not a signed integer tensor.
            ValueError: As :meth:`encode`.
        """
        return self.decoder(self.head_transform(self.encode(input_ids)))


# ---------------------------------------------------------------------------------------------
# Scoring and training
# ---------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class MlmAccuracy:
    """Top-1 accuracy of restoring the original token, split by what the corruption did.

    Attributes:
        selected: Over all selected positions (BERT's MLM accuracy).
        masked: Over selected positions shown as ``[MASK]``.
        random: Over selected positions shown as a random other token.
        kept: Over selected positions shown unchanged.
        unselected: Over ordinary positions that were not selected (the input shows the answer).
        counts: Number of positions behind each accuracy.
    """

    selected: float
    masked: float
    random: float
    kept: float
    unselected: float
    counts: dict[str, int]


def _vocab_size(model: object, name: str) -> int:
    """``model.config.vocab_size`` of a module that has one (a :class:`TinyBert`)."""
    check_module(model, name)
    vocab = getattr(getattr(model, "config", None), "vocab_size", None)
    if not isinstance(vocab, int):
        raise TypeError(
            f"{name} must have config.vocab_size (a TinyBert), got {type(model).__name__}"
        )
    return vocab


def _check_windows(windows: object, name: str, vocab_size: int) -> torch.Tensor:
    """Rows of ids ``(N, T)``, ``N, T >= 1``, every id in ``[0, V)``."""
    check_tensor(windows, name, ndim=2, dims="(N, T)", integer=True)
    if 0 in windows.shape:
        raise ValueError(f"{name} must hold N, T >= 1 tokens, got shape {tuple(windows.shape)}")
    return check_ids(windows, name, vocab_size)


@torch.no_grad()
def mlm_accuracy(
    model: TinyBert,
    windows: torch.Tensor,
    *,
    mask_token_id: int,
    special_token_ids: Iterable[int],
    repeats: int = 4,
    seed: int = 0,
    batch_size: int = 512,
) -> MlmAccuracy:
    """Corrupt ``windows`` with BERT's 80/10/10 procedure and score the restored tokens.

    Args:
        model: A :class:`TinyBert` (anything with ``config.vocab_size`` that maps ids ``(B, T)``
            to logits ``(B, T, V)``); scored in eval mode, then returned to its previous mode.
        windows: Held-out rows, integer ``(N, T)``.
        mask_token_id: Id of ``[MASK]``.
        special_token_ids: Ids never selected and never scored.
        repeats: Independent corruptions of every row, pooled (more positions per category).
        seed: Seeds the corruption, so that two models are scored on the same corrupted rows.
        batch_size: Rows per forward pass (memory only).

    Returns:
        An :class:`MlmAccuracy` (``nan`` for a category with no position).

    Raises:
        TypeError: If ``model`` is not an ``nn.Module`` with ``config.vocab_size``, ``windows``
            not a signed integer tensor, or an id, count or ``seed`` not an int.
        ValueError: If ``windows`` is not ``(N, T)`` with ``N, T >= 1`` and ids in ``[0, V)``,
            an id argument lies outside ``[0, V)``, ``repeats`` or ``batch_size`` is below 1, or
            ``seed < 0``.
    """
    vocab = _vocab_size(model, "model")
    _check_windows(windows, "windows", vocab)
    check_int(repeats, "repeats", minimum=1)
    check_int(batch_size, "batch_size", minimum=1)
    check_int(seed, "seed", minimum=0)
    (mask_token_id,) = _check_ids((mask_token_id,), "mask_token_id", vocab)
    special = _check_ids(special_token_ids, "special_token_ids", vocab)
    device = resolve_device(None, model)
    special_ids = torch.tensor(sorted(set(special) | {mask_token_id}), device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    correct = torch.zeros(4, device=device)
    total = torch.zeros(4, device=device)
    with eval_mode(model):
        for _ in range(repeats):
            for start in range(0, len(windows), batch_size):
                ids = windows[start : start + batch_size].to(device)  # (B, T)
                masked, labels = mask_tokens(
                    ids,
                    vocab_size=model.config.vocab_size,
                    mask_token_id=mask_token_id,
                    special_token_ids=special,
                    generator=g,
                )
                hit = (model(masked).argmax(dim=-1) == ids).float()  # (B, T)
                outcome = masking_outcome(ids, masked, labels, mask_token_id=mask_token_id)
                outcome[torch.isin(ids, special_ids)] = -1  # special positions are not scored
                onehot = F.one_hot(outcome.clamp(min=0), 4).float() * (outcome >= 0)[..., None]
                correct += (onehot * hit[..., None]).sum(dim=(0, 1))  # (B, T, 4) -> (4,)
                total += onehot.sum(dim=(0, 1))  # (B, T, 4) -> (4,)
    acc = (correct / total).tolist()
    sel = float(correct[1:].sum() / total[1:].sum())
    counts = {name: int(total[k]) for k, name in _OUTCOME_NAMES.items()}
    counts["selected"] = int(total[1:].sum())
    return MlmAccuracy(sel, acc[MASKED], acc[RANDOM], acc[KEPT], acc[UNSELECTED], counts)


def linear_probe_accuracy(
    train_features: torch.Tensor,
    train_labels: torch.Tensor,
    test_features: torch.Tensor,
    test_labels: torch.Tensor,
    *,
    num_classes: int,
    ridge: float = 1e-3,
) -> float:
    """Fit a linear classifier on frozen features in closed form and return its test accuracy.

    The probe is ridge regression onto one-hot targets: with the features standardised (train
    mean and std) and a bias column, ``W = (X^T X + ridge * N * I)^{-1} X^T Y`` for the ``(N, C)``
    one-hot matrix ``Y``, and the predicted class is ``argmax(x W)``. No training loop, no
    learning rate, no seed: two sets of features are compared by what a linear map can read
    from them, not by how well an optimiser did.

    Args:
        train_features: ``(N, D)`` floating features to fit on.
        train_labels: ``(N,)`` integer classes in ``[0, num_classes)``.
        test_features: ``(M, D)`` floating features to score.
        test_labels: ``(M,)`` integer classes in ``[0, num_classes)``.
        num_classes: ``C``, the number of classes (for words: ``V``).
        ridge: Penalty on the weights, relative to ``N``; > 0 keeps the solve well posed.

    Returns:
        The top-1 accuracy on the test set, a float in ``[0, 1]``.

    Raises:
        ValueError: If a tensor has the wrong rank, the feature widths or the feature and label
            counts differ, a label lies outside ``[0, num_classes)``, a set is empty, a feature is
            NaN or infinite, or ``ridge`` is not > 0.
        TypeError: If features are not floating, labels not integer, or ``num_classes`` not an int.

    Convention:
        scikit-learn's ``RidgeClassifier`` fits targets in {-1, 1} rather than {0, 1}; the argmax
        is the same up to the bias. The solve runs in float64 on the features' device.

    Example:
        >>> x = torch.tensor([[0.0], [1.0], [2.0], [3.0]])
        >>> y = torch.tensor([0, 0, 1, 1])
        >>> linear_probe_accuracy(x, y, x, y, num_classes=2)
        1.0
    """
    check_tensor(train_features, "train_features", ndim=2, dims="(N, D)", floating=True)
    check_tensor(test_features, "test_features", ndim=2, dims="(M, D)", floating=True)
    check_tensor(train_labels, "train_labels", ndim=1, dims="(N,)", integer=True)
    check_tensor(test_labels, "test_labels", ndim=1, dims="(M,)", integer=True)
    check_int(num_classes, "num_classes", minimum=2)
    check_number(ridge, "ridge", low=0, low_inclusive=False)
    check_finite(train_features, "train_features")
    check_finite(test_features, "test_features")
    if test_features.shape[1] != train_features.shape[1]:
        raise ValueError(
            "test_features must have train_features' width D = "
            f"{train_features.shape[1]}, got {test_features.shape[1]}"
        )
    for x, y, name in (
        (train_features, train_labels, "train"),
        (test_features, test_labels, "test"),
    ):
        if len(x) != len(y) or len(x) == 0:
            raise ValueError(
                f"{name}_features and {name}_labels must have the same non-zero length, "
                f"got {len(x)} and {len(y)}"
            )
        if int(y.min()) < 0 or int(y.max()) >= num_classes:
            raise ValueError(f"{name}_labels must lie in [0, {num_classes})")
    x = train_features.detach().double()
    mean, std = x.mean(0), x.std(0).clamp(min=1e-8)  # (D,), (D,)

    def design(f: torch.Tensor) -> torch.Tensor:  # (N, D) -> (N, D + 1): standardised, bias
        z = (f.detach().double().to(x.device) - mean) / std
        return torch.cat([z, torch.ones_like(z[:, :1])], dim=1)

    a = design(train_features)  # (N, D + 1)
    gram = a.T @ a + ridge * len(a) * torch.eye(a.shape[1], dtype=a.dtype, device=a.device)
    xty = torch.zeros(num_classes, a.shape[1], dtype=a.dtype, device=a.device)
    xty.index_add_(0, train_labels.to(a.device), a)  # (C, D + 1): X^T Y without building Y
    weights = torch.linalg.solve(gram, xty.T)  # (D + 1, C)
    predicted = (design(test_features) @ weights).argmax(dim=1)  # (M,)
    return float((predicted == test_labels.to(a.device)).double().mean())


@dataclass
class MlmHistory:
    """What :func:`train_mlm` recorded.

    Attributes:
        loss: The minimised loss at every step, on the training batch before its update.
        loss_selected: BERT's loss (mean over selected positions) at every step.
        loss_unselected: With ``loss_on="all"`` only: the mean over the unselected ordinary
            positions, where the input shows the very token to predict. Empty otherwise (the
            selected-only run never computes logits there).
        eval_steps: Steps after which the held-out set was scored.
        evals: The :class:`MlmAccuracy` on the held-out set after each of ``eval_steps``.
        snapshots: A copy of the model's ``state_dict`` (on the CPU) after each step asked for in
            ``snapshot_steps``, keyed by step: the model a shorter run would have given.
    """

    loss: list[float] = field(default_factory=list)
    loss_selected: list[float] = field(default_factory=list)
    loss_unselected: list[float] = field(default_factory=list)
    eval_steps: list[int] = field(default_factory=list)
    evals: list[MlmAccuracy] = field(default_factory=list)
    snapshots: dict[int, dict[str, torch.Tensor]] = field(default_factory=dict)


def selected_positions_loss(
    model: TinyBert, masked_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """BERT's loss, ``mlm_loss(model(masked_ids), labels)``, with the output layer run on the
    selected positions only.

    Google's BERT code gathers the selected positions before its output layer
    (``gather_indexes``); the loss and its gradient are exactly those of :func:`mlm_loss` on the
    full ``(B, T, V)`` logits, at about 15% of the output layer's cost.

    Args:
        model: A :class:`TinyBert`.
        masked_ids: What the model reads, integer ``(B, T)``.
        labels: Original ids at selected positions, ``-100`` elsewhere, ``(B, T)``.

    Returns:
        A 0-d tensor with a gradient.

    Raises:
        TypeError: If ``model`` is not a :class:`TinyBert` or the ids are not signed integer
            tensors.
        ValueError: If the shapes do not match, an id is outside ``[0, V)`` (a label other than
            ``-100``) or ``masked_ids`` is empty or longer than ``max_len``.
    """
    _check_tinybert(model)
    model._check_input_ids(masked_ids, "masked_ids")
    check_tensor(labels, "labels", integer=True)
    check_same_shape(masked_ids, "masked_ids", labels, "labels")
    check_ids(labels, "labels", model.config.vocab_size, ignore_index=IGNORE_INDEX)
    return _selected_positions_loss(model, masked_ids, labels)


def _check_tinybert(model: object) -> None:
    if not isinstance(model, TinyBert):
        raise TypeError(f"model must be a TinyBert, got {type(model).__name__}")


def _selected_positions_loss(
    model: TinyBert, masked_ids: torch.Tensor, labels: torch.Tensor
) -> torch.Tensor:
    """:func:`selected_positions_loss` of checked inputs."""
    chosen = labels != IGNORE_INDEX  # (B, T)
    hidden = model._encode(masked_ids)[chosen]  # (B, T, D) -> (M, D)
    logits = model.decoder(model.head_transform(hidden))  # (M, V)
    return mlm_loss(logits.unsqueeze(0), labels[chosen].unsqueeze(0))  # (1, M, V), (1, M)


def all_positions_loss(
    model: TinyBert,
    masked_ids: torch.Tensor,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    special_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """The cross-entropy over every ordinary position, selected or not, and its two parts.

    The target at every non-special position is its original id, so at the unselected positions
    (85% of them) the input shows the very token to predict.

    Args:
        model: A :class:`TinyBert`.
        masked_ids: What the model reads, integer ``(B, T)``.
        input_ids: The original ids, ``(B, T)``: the targets.
        labels: The labels of :func:`mask_tokens` (``-100`` where unselected), ``(B, T)``; they
            only split the loss into its parts.
        special_ids: ``(S,)`` ids that are never counted (``[PAD]``, ``[CLS]``, ...).

    Returns:
        ``(loss, selected, unselected)``: the minimised mean over every ordinary position (0-d,
        with a gradient), and, without gradient, its mean over the selected positions (BERT's
        loss) and over the unselected ordinary ones.

    Raises:
        TypeError: If ``model`` is not a :class:`TinyBert` or an id tensor is not a signed
            integer tensor.
        ValueError: If the shapes do not match (``special_ids`` must be 1-D), an id is outside
            ``[0, V)`` (a label other than ``-100``), or ``masked_ids`` is empty or longer than
            ``max_len``.

    Example:
        >>> model = TinyBert(TinyBertConfig(vocab_size=20), seed=0)
        >>> ids = torch.tensor([[1, 7, 8, 9, 2]])  # [CLS] w w w [SEP]
        >>> masked = torch.tensor([[1, 3, 8, 9, 2]])  # the first word became [MASK]
        >>> labels = torch.tensor([[-100, 7, -100, -100, -100]])
        >>> loss, sel, unsel = all_positions_loss(model, masked, ids, labels, torch.arange(5))
        >>> bool(torch.isclose(loss, (sel + 2 * unsel) / 3))  # one selected, two unselected
        True
    """
    _check_tinybert(model)
    vocab = model.config.vocab_size
    model._check_input_ids(masked_ids, "masked_ids")
    for x, name in ((input_ids, "input_ids"), (labels, "labels")):
        check_tensor(x, name, integer=True)
        check_same_shape(x, name, masked_ids, "masked_ids")
    check_ids(input_ids, "input_ids", vocab)
    check_ids(labels, "labels", vocab, ignore_index=IGNORE_INDEX)
    check_tensor(special_ids, "special_ids", ndim=1, dims="(S,)", integer=True)
    check_ids(special_ids, "special_ids", vocab)
    return _all_positions_loss(model, masked_ids, input_ids, labels, special_ids)


def _all_positions_loss(
    model: TinyBert,
    masked_ids: torch.Tensor,
    input_ids: torch.Tensor,
    labels: torch.Tensor,
    special_ids: torch.Tensor,
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """:func:`all_positions_loss` of checked inputs."""
    ordinary = ~torch.isin(input_ids, special_ids)  # (B, T)
    targets = input_ids[ordinary]  # (B, T) -> (N,)
    # Like selected_positions_loss, the output layer runs on the counted positions only.
    hidden = model._encode(masked_ids)[ordinary]  # (B, T, D) -> (N, D)
    logits = model.decoder(model.head_transform(hidden))  # (N, V)
    nll = F.cross_entropy(logits, targets, reduction="none")  # (N,): one log-softmax
    chosen = (labels != IGNORE_INDEX)[ordinary]  # (B, T) -> (N,)
    loss = nll.mean()  # = mlm_loss with every ordinary position counted
    with torch.no_grad():  # the two parts of the loss
        return loss, nll[chosen].mean(), nll[~chosen].mean()


def _score(
    history: MlmHistory, step: int, model: TinyBert, eval_windows: torch.Tensor | None, **kw
) -> None:
    """Append the held-out accuracy after ``step`` to ``history`` (nothing without held-out rows)."""
    if eval_windows is not None:
        history.eval_steps.append(step)
        history.evals.append(mlm_accuracy(model, eval_windows, repeats=1, **kw))


def _cpu_copy(model: nn.Module) -> dict[str, torch.Tensor]:
    """A detached copy of ``model.state_dict()`` on the CPU."""
    return {k: v.detach().to("cpu", copy=True) for k, v in model.state_dict().items()}


def _adamw_with_schedule(
    model: nn.Module, config: MlmConfig
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LRScheduler]:
    """AdamW on ``model`` and a scheduler that sets its rate to ``config.lr * lr_schedule(step)``."""
    # fused: one kernel for all parameters (the same update; about 3 ms less per step on a CPU)
    opt = torch.optim.AdamW(
        model.parameters(), lr=config.lr, weight_decay=config.weight_decay, fused=True
    )
    schedule = partial(
        lr_schedule, steps=config.steps, warmup_steps=config.warmup_steps, decay=config.decay
    )
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, schedule)


def _corrupted_batch(
    windows: torch.Tensor, config: MlmConfig, generator: torch.Generator, **ids: object
) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Draw ``config.batch_size`` rows and corrupt them: ``(ids, masked_ids, labels)``."""
    rows = torch.randint(len(windows), (config.batch_size,), generator=generator,
                         device=windows.device)  # fmt: skip
    batch = windows[rows]  # (B, T)
    masked, labels = mask_tokens(
        batch, mlm_probability=config.mask_prob, mask_fraction=config.mask_fraction,
        random_fraction=config.random_fraction, generator=generator, **ids,
    )  # fmt: skip
    return batch, masked, labels


def train_mlm(
    model: TinyBert,
    windows: torch.Tensor,
    *,
    mask_token_id: int,
    special_token_ids: Iterable[int],
    loss_on: str = "selected",
    config: MlmConfig = MlmConfig(),  # frozen, so one shared default is safe
    seed: int = 0,
    eval_windows: torch.Tensor | None = None,
    eval_every: int = 0,
    snapshot_steps: Iterable[int] = (),
    progress: bool = False,
) -> MlmHistory:
    """Pre-train ``model`` with the MLM objective on rows drawn from ``windows``.

    Each step draws ``config.batch_size`` rows, corrupts them afresh with :func:`mask_tokens`
    (dynamic masking, as RoBERTa) and takes one AdamW step at the rate of :func:`lr_schedule`.
    Two calls with the same ``seed`` see the same rows and corruption and differ only in the loss:
    :func:`selected_positions_loss` (``"selected"``, BERT) or :func:`all_positions_loss` (``"all"``).

    Args:
        model: The network, trained in place on the device of its parameters.
        windows: Training rows, integer ``(N, T)``.
        mask_token_id: Id of ``[MASK]``.
        special_token_ids: Ids never selected and never counted (``[PAD]``, ``[CLS]``, ...).
        loss_on: ``"selected"`` or ``"all"``.
        config: Steps, batch size, optimiser and masking settings, see :class:`MlmConfig`.
        seed: Seeds the batches, the corruption and the held-out corruption.
        eval_windows: Held-out rows ``(N', T)`` scored with :func:`mlm_accuracy` every
            ``eval_every`` steps and after the last.
        eval_every: Steps between held-out scores; 0 scores only after the last step.
        snapshot_steps: Steps in ``[0, config.steps]`` after which a copy of the weights is kept
            in :attr:`MlmHistory.snapshots` (with ``decay=False``, the model of a run that short).
        progress: Show a tqdm bar.

    Returns:
        The :class:`MlmHistory`. The model is left in eval mode.

    Raises:
        ValueError: If ``loss_on`` is unknown, ``windows`` (or ``eval_windows``) is not ``(N, T)``
            with ``N, T >= 1``, ``T <= max_len`` and ids in ``[0, V)``, an id argument lies outside
            ``[0, V)``, a count is < 0 or a snapshot step lies outside ``[0, config.steps]``.
        TypeError: If ``model`` is not a :class:`TinyBert`, ``windows`` not a signed integer
            tensor, ``config`` not an :class:`MlmConfig`, a count or id not an int, or
            ``progress`` not a bool.
        companion.core.training.NonFiniteLossError: If the loss becomes NaN or infinite.
    """
    if loss_on not in ("selected", "all"):
        raise ValueError(f"loss_on must be 'selected' or 'all', got {loss_on!r}")
    _check_tinybert(model)
    vocab = model.config.vocab_size
    for name, rows in (("windows", windows), ("eval_windows", eval_windows)):
        if rows is None and name == "eval_windows":
            continue
        _check_windows(rows, name, vocab)
        if rows.shape[1] > model.config.max_len:
            raise ValueError(
                f"{name} has T={rows.shape[1]} tokens, more than max_len={model.config.max_len}"
            )
    (mask_token_id,) = _check_ids((mask_token_id,), "mask_token_id", vocab)
    special_token_ids = _check_ids(special_token_ids, "special_token_ids", vocab)
    if not isinstance(config, MlmConfig):
        raise TypeError(f"config must be an MlmConfig, got {type(config).__name__}")
    check_bool(progress, "progress")
    check_int(seed, "seed", minimum=0)
    check_int(eval_every, "eval_every", minimum=0)
    if isinstance(snapshot_steps, (str, bytes)) or not isinstance(snapshot_steps, Iterable):
        raise TypeError(f"snapshot_steps must be a sequence of ints, got {snapshot_steps!r}")
    snap = set(snapshot_steps)
    for s in snap:
        check_int(s, "snapshot_steps", minimum=0)
        if s > config.steps:
            raise ValueError(f"snapshot_steps must lie in [0, {config.steps}], got {s}")
    special, device = tuple(special_token_ids), resolve_device(None, model)
    windows = windows.to(device)
    special_ids = torch.tensor(sorted(set(special) | {mask_token_id}), device=device)
    g = torch.Generator(device=device).manual_seed(seed)
    opt, sched = _adamw_with_schedule(model, config)
    history = MlmHistory()
    score = partial(_score, history, model=model, eval_windows=eval_windows, seed=seed,
                    mask_token_id=mask_token_id, special_token_ids=special)  # fmt: skip
    model.train()
    for step in tqdm(range(config.steps), desc=f"loss on {loss_on}", disable=not progress):
        if eval_every and step % eval_every == 0:
            score(step)
        if step in snap:
            history.snapshots[step] = _cpu_copy(model)
        ids, masked, labels = _corrupted_batch(
            windows, config, g, vocab_size=model.config.vocab_size,
            mask_token_id=mask_token_id, special_token_ids=special,
        )  # fmt: skip
        if loss_on == "selected":
            loss = loss_selected = _selected_positions_loss(model, masked, labels)
        else:
            loss, loss_selected, loss_unselected = _all_positions_loss(
                model, masked, ids, labels, special_ids
            )
            history.loss_unselected.append(float(loss_unselected))
        history.loss.append(check_finite_loss(loss.detach(), "loss", step))
        history.loss_selected.append(float(loss_selected.detach()))
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        sched.step()
    score(config.steps)
    if config.steps in snap:
        history.snapshots[config.steps] = _cpu_copy(model)
    model.eval()
    return history
