"""Synthetic Semantic Textual Similarity (STS) pairs whose true similarity and label noise are known.

Real STS data (SemEval 2012–2017) are sentence pairs with a gold score in ``[0, 5]``: the mean of
several crowd workers' integer ratings. On real data nobody knows how much of a model's error is
the model's and how much is the annotators'. Here both are known, because the data are built:

1. **Slots.** A sentence says *who* did *what* to *whom*, *where* and *when*. Each slot is filled
   with a concept from a small lexicon, and each concept has two surface words (synonyms:
   ``dog``/``hound``, ``chased``/``pursued``, ``in the woods``/``in the forest``).
2. **Pairs.** The second sentence of a pair copies the first one's concepts and then changes ``k``
   of the five slots to another concept (``k`` uniform in ``0..5``); with probability
   ``swap_prob`` it also swaps who-did-what (``the dog chased the cat`` → ``the cat chased the
   dog``: the same words, another meaning).
3. **Surface.** Each sentence independently comes in the active or the passive voice (``the cat was
   chased by the dog``), with synonyms drawn at random and, sometimes, a distractor adverb
   (``really``, ``apparently``) that changes nothing.
4. **Latent similarity.** ``latent = Σ_slot weight_slot · [same concept in the same role]``, with
   weights :data:`SLOT_WEIGHTS` that sum to 5. So a perfect paraphrase scores 5, a pair that
   shares nothing 0, and a who-did-what swap loses the agent's and the patient's weight.
5. **Annotators.** Each of ``A`` annotators reports ``clip(round(latent + ε), 0, 5)`` with
   ``ε ~ N(0, noise²)``; the gold score is their mean. A second, independent panel rates every pair
   too (``second_ratings``), so the agreement between two panels, the usual *noise ceiling*, can
   be measured; and since the rating distribution is known, ``E[gold | pair]`` is known exactly
   (``expected``): the best any model can predict.

Convention:
    Scores live on the STS scale ``[0, 5]`` of SemEval-2017 Task 1 (Cer et al. 2017). Ratings are
    int64 in ``0..5``; ``gold``, ``latent`` and ``expected`` are float32. Rounding of ``latent + ε``
    is to the nearest integer (a tie at ``.5`` has probability zero).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch

from companion.core.checks import check_int, check_number

__all__ = ["SLOT_WEIGHTS", "STSPairs", "expected_rating", "sts_pairs"]

# Share of the similarity scale carried by each slot (who, does what, to whom, where, when); they
# sum to 5, the top of the STS scale. The participants and the action weigh most: changing
# "where" or "when" leaves a sentence about the same event.
SLOT_WEIGHTS: tuple[float, ...] = (1.25, 1.25, 1.0, 0.75, 0.75)
MAX_SCORE = 5  # the STS scale is [0, 5] (Cer et al. 2017)

# Concepts: each is a pair of synonyms. Agents and patients share one pool so that roles can swap.
_NOUNS = (
    ("dog", "hound"),
    ("cat", "feline"),
    ("boy", "lad"),
    ("girl", "lass"),
    ("man", "gentleman"),
    ("woman", "lady"),
    ("child", "kid"),
    ("doctor", "physician"),
    ("teacher", "tutor"),
    ("student", "pupil"),
)
# Verbs: two synonyms, each as (simple past, past participle) for the active and passive voice.
_VERBS = (
    (("chased", "chased"), ("pursued", "pursued")),
    (("helped", "helped"), ("assisted", "assisted")),
    (("saw", "seen"), ("spotted", "spotted")),
    (("hit", "hit"), ("struck", "struck")),
    (("called", "called"), ("phoned", "phoned")),
    (("followed", "followed"), ("trailed", "trailed")),
    (("praised", "praised"), ("complimented", "complimented")),
    (("pushed", "pushed"), ("shoved", "shoved")),
    (("bit", "bitten"), ("nipped", "nipped")),
    (("hugged", "hugged"), ("embraced", "embraced")),
)
_PLACES = (
    ("in the woods", "in the forest"),
    ("in the city", "in town"),
    ("at the market", "at the bazaar"),
    ("near the river", "by the stream"),
    ("on the beach", "on the shore"),
    ("at school", "in class"),
    ("in the kitchen", "by the stove"),
    ("at the station", "on the platform"),
)
_TIMES = (
    ("yesterday", "the day before"),
    ("at night", "after dark"),
    ("in the morning", "at dawn"),
    ("last week", "seven days ago"),
    ("on sunday", "at the weekend"),
    ("in winter", "when it snowed"),
    ("at noon", "at midday"),
    ("in the evening", "at dusk"),
)
_DISTRACTORS = ("really", "apparently", "certainly", "indeed", "clearly", "reportedly")
_SIZES = (len(_NOUNS), len(_VERBS), len(_NOUNS), len(_PLACES), len(_TIMES))


@dataclass(frozen=True)
class STSPairs:
    """Sentence pairs with simulated annotations and their known ground truth.

    Attributes:
        first: ``N`` first sentences.
        second: ``N`` second sentences.
        latent: ``(N,)`` float32 true similarity in ``[0, 5]`` (shared slots, weighted).
        ratings: ``(N, A)`` int64 ratings of the first panel, in ``0..5``.
        second_ratings: ``(N, A)`` int64 ratings of an independent second panel.
        gold: ``(N,)`` float32 gold score, the mean of ``ratings`` (what a data set ships).
        expected: ``(N,)`` float32 ``E[gold | pair]``, exact: the best possible prediction.
        swapped: ``(N,)`` bool, pairs whose second sentence swaps who-did-what.
        noise: Standard deviation of one annotator's noise ε.
    """

    first: tuple[str, ...]
    second: tuple[str, ...]
    latent: torch.Tensor
    ratings: torch.Tensor
    second_ratings: torch.Tensor
    gold: torch.Tensor
    expected: torch.Tensor
    swapped: torch.Tensor
    noise: float

    def __len__(self) -> int:
        return len(self.first)

    @property
    def second_gold(self) -> torch.Tensor:
        """``(N,)`` mean rating of the second panel."""
        return self.second_ratings.float().mean(dim=1)


def expected_rating(latent: torch.Tensor, noise: float) -> torch.Tensor:
    """Exact mean of one annotator's rating ``clip(round(latent + ε), 0, 5)``, ``ε ~ N(0, noise²)``.

    For a rating ``R`` in ``0..5``, ``E[R] = Σ_{k=0}^{4} P(R > k)`` and
    ``P(R > k) = P(latent + ε ≥ k + 1/2) = Φ((latent − k − 1/2) / noise)``.

    Args:
        latent: ``(N,)`` floating true similarities.
        noise: ``> 0``, the annotators' noise standard deviation.

    Returns:
        ``(N,)`` expected rating, same dtype and device as ``latent``; a NaN latent propagates
        to a NaN rating.

    Raises:
        TypeError: If ``latent`` is not a floating tensor or ``noise`` not a number.
        ValueError: If ``noise <= 0``.

    Example:
        >>> expected_rating(torch.tensor([0.0, 2.5, 5.0]), noise=1e-3)
        tensor([0.0000, 2.5000, 5.0000])
    """
    if not isinstance(latent, torch.Tensor) or not latent.is_floating_point():
        raise TypeError("latent must be a floating-point torch.Tensor")
    noise = check_number(noise, "noise", low=0, low_inclusive=False)
    k = torch.arange(MAX_SCORE, dtype=latent.dtype, device=latent.device)  # (5,) thresholds k
    z = (latent[..., None] - k - 0.5) / (noise * math.sqrt(2.0))  # (N, 5)
    return (0.5 * (1 + torch.erf(z))).sum(dim=-1)  # Σ_k Φ(...) over the 5 thresholds


def _render(
    concepts: torch.Tensor, passive: torch.Tensor, synonym: torch.Tensor, adverb: torch.Tensor
) -> list[str]:
    """Turn ``(N, 5)`` concept ids into sentences (string work: one Python step per sentence)."""
    out = []
    for c, pas, syn, adv in zip(
        concepts.tolist(), passive.tolist(), synonym.tolist(), adverb.tolist(), strict=True
    ):
        agent = _NOUNS[c[0]][syn[0]]
        past, participle = _VERBS[c[1]][syn[1]]
        patient = _NOUNS[c[2]][syn[2]]
        place, time = _PLACES[c[3]][syn[3]], _TIMES[c[4]][syn[4]]
        extra = f"{_DISTRACTORS[adv]} " if adv >= 0 else ""
        if pas:
            out.append(f"the {patient} was {extra}{participle} by the {agent} {place} {time}")
        else:
            out.append(f"the {agent} {extra}{past} the {patient} {place} {time}")
    return out


def _other(
    ids: torch.Tensor, size: int, g: torch.Generator, avoid: torch.Tensor | None = None
) -> torch.Tensor:
    """A random id in ``[0, size)`` different from ``ids`` (and from ``avoid``), element-wise."""
    n_excluded = 1 if avoid is None else 2
    draw = torch.randint(size - n_excluded, ids.shape, generator=g)
    # Map draw to the n-th id not excluded: skip past each excluded id, smallest first.
    excluded = ids[:, None] if avoid is None else torch.stack((ids, avoid), dim=1)  # (N, e)
    excluded = excluded.sort(dim=1).values
    for j in range(n_excluded):  # at most two passes, vectorised over pairs
        draw = draw + (draw >= excluded[:, j]).long()
    return draw


def sts_pairs(
    n: int,
    *,
    seed: int = 0,
    num_annotators: int = 5,
    noise: float = 1.0,
    swap_prob: float = 0.3,
    distractor_prob: float = 0.3,
) -> STSPairs:
    """Make ``n`` synthetic STS pairs with a known latent similarity and simulated annotators.

    See the module docstring for the generative story. Everything random is drawn from one
    ``torch.Generator`` seeded with ``seed``, so the same arguments always give the same pairs.

    Args:
        n: Number of pairs, >= 1.
        seed: Seed of the generator, >= 0.
        num_annotators: ``A``, annotators per panel, >= 1. Five, like a small crowd-sourced panel.
        noise: Standard deviation of one annotator's noise, > 0. With 1.0 two panels of five
            agree at a Pearson correlation of about 0.93.
        swap_prob: Probability that a pair swaps who-did-what (when it keeps both participants).
        distractor_prob: Probability that a sentence carries a meaningless adverb.

    Returns:
        An :class:`STSPairs` record.

    Raises:
        TypeError: If a count is not an int or a probability not a number.
        ValueError: If ``n < 1``, ``num_annotators < 1``, ``noise <= 0`` or a probability lies
            outside ``[0, 1]``.

    Example:
        >>> d = sts_pairs(4, seed=0)
        >>> d.ratings.shape, bool(torch.allclose(d.gold, d.ratings.float().mean(dim=1)))
        (torch.Size([4, 5]), True)
        >>> bool(((d.latent >= 0) & (d.latent <= 5)).all())
        True
    """
    check_int(n, "n", minimum=1)
    check_int(seed, "seed", minimum=0)
    check_int(num_annotators, "num_annotators", minimum=1)
    noise = check_number(noise, "noise", low=0, low_inclusive=False)
    check_number(swap_prob, "swap_prob", low=0, high=1)
    check_number(distractor_prob, "distractor_prob", low=0, high=1)
    g = torch.Generator().manual_seed(seed)

    sizes = torch.tensor(_SIZES)
    first = (torch.rand(n, 5, generator=g) * sizes).long()  # (N, 5) concept ids
    first[:, 2] = _other(first[:, 0], len(_NOUNS), g)  # the patient differs from the agent
    # Change k slots, k uniform in 0..5: rank random keys and change the k smallest.
    k = torch.randint(0, 6, (n, 1), generator=g)
    order = torch.rand(n, 5, generator=g).argsort(dim=1).argsort(dim=1)  # (N, 5) random ranks
    change = order < k  # (N, 5) slots to change
    second = first.clone()
    replaced = torch.stack(
        [
            _other(first[:, 0], len(_NOUNS), g, avoid=first[:, 2]),
            _other(first[:, 1], len(_VERBS), g),
            _other(first[:, 2], len(_NOUNS), g, avoid=first[:, 0]),
            _other(first[:, 3], len(_PLACES), g),
            _other(first[:, 4], len(_TIMES), g),
        ],
        dim=1,
    )  # (N, 5) a different concept for every slot
    second = torch.where(change, replaced, second)
    # A new agent must not equal the (possibly new) patient.
    clash = second[:, 0] == second[:, 2]
    second[:, 0] = torch.where(clash, first[:, 0], second[:, 0])
    change[:, 0] &= ~clash
    # Who-did-what swap, only where both participants are kept.
    swapped = (~change[:, 0] & ~change[:, 2]) & (torch.rand(n, generator=g) < swap_prob)
    second[:, 0], second[:, 2] = (
        torch.where(swapped, first[:, 2], second[:, 0]),
        torch.where(swapped, first[:, 0], second[:, 2]),
    )

    weights = torch.tensor(SLOT_WEIGHTS)
    latent = ((first == second).float() * weights).sum(dim=1)  # (N,) in [0, 5]

    def draw_panel() -> torch.Tensor:
        eps = noise * torch.randn(n, num_annotators, generator=g)
        return (latent[:, None] + eps).round().clamp(0, MAX_SCORE).long()  # (N, A)

    ratings, second_ratings = draw_panel(), draw_panel()

    def surface() -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        passive = torch.rand(n, generator=g) < 0.5
        synonym = torch.randint(0, 2, (n, 5), generator=g)
        adverb = torch.randint(0, len(_DISTRACTORS), (n,), generator=g)
        adverb = torch.where(torch.rand(n, generator=g) < distractor_prob, adverb, -1)
        return passive, synonym, adverb

    return STSPairs(
        first=tuple(_render(first, *surface())),
        second=tuple(_render(second, *surface())),
        latent=latent,
        ratings=ratings,
        second_ratings=second_ratings,
        gold=ratings.float().mean(dim=1),
        expected=expected_rating(latent, noise),
        swapped=swapped,
        noise=noise,
    )
