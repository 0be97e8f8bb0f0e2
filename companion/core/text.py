"""A small word-level tokenizer with BERT's special tokens, and fixed-length training windows.

The masked-language-model chapter needs real text turned into integer ids, without downloading a
pretrained tokenizer. :class:`WordTokenizer` is the smallest tokenizer that behaves like BERT's from
the loss's point of view: a fixed vocabulary of ``V`` entries, the five special tokens
``[PAD] [CLS] [SEP] [MASK] [UNK]`` at the front, and every word outside the vocabulary mapped to
``[UNK]``. :meth:`WordTokenizer.windows` cuts encoded documents into rows of ``T`` ids that open with
``[CLS]`` and close with ``[SEP]``, padded with ``[PAD]``.

Convention:
    BERT splits words into WordPiece sub-words (Devlin et al. 2019, §3); this tokenizer keeps whole
    words, lower-cased, and treats each punctuation mark as its own token. A Python identifier such
    as ``__init__`` stays one word. Special tokens take ids ``0..4`` in the order of
    :data:`SPECIAL_TOKENS` (Hugging Face's ``bert-base-uncased`` puts ``[PAD]`` at 0 as well, but
    ``[UNK]``, ``[CLS]``, ``[SEP]``, ``[MASK]`` at 100..103).
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field

import torch

from companion.core.checks import check_int, check_tensor

__all__ = ["SPECIAL_TOKENS", "WordTokenizer", "split_words"]

# The special tokens of BERT (Devlin et al. 2019, §3 and Fig. 1), in the id order used here.
SPECIAL_TOKENS: tuple[str, ...] = ("[PAD]", "[CLS]", "[SEP]", "[MASK]", "[UNK]")

# A word is a run of letters, digits and underscores that does not start with a digit (so that
# ``__init__`` and ``x1`` stay whole); a number is a run of digits; any other visible character is
# a token of its own.
_TOKEN = re.compile(r"[^\W\d]\w*|\d+|[^\w\s]")


def _check_texts(texts: object, name: str) -> list[str]:
    """A list of documents; a lone ``str`` would be read character by character, so refuse it."""
    if isinstance(texts, str):
        raise TypeError(f"{name} must be a list of strings, got a single str (wrap it: [text])")
    if not isinstance(texts, Iterable):
        raise TypeError(f"{name} must be an iterable of strings, got {type(texts).__name__}")
    texts = list(texts)
    for i, t in enumerate(texts):
        if not isinstance(t, str):
            raise TypeError(f"{name}[{i}] must be a str, got {type(t).__name__}")
    return texts


def split_words(text: str) -> list[str]:
    """Lower-case ``text`` and split it into words, numbers and single punctuation marks.

    Args:
        text: Any string.

    Returns:
        The tokens, in order, as strings.

    Raises:
        TypeError: If ``text`` is not a string.

    Example:
        >>> split_words('The "assert" statement calls __debug__, 2 times.')
        ['the', '"', 'assert', '"', 'statement', 'calls', '__debug__', ',', '2', 'times', '.']
    """
    if not isinstance(text, str):
        raise TypeError(f"text must be a str, got {type(text).__name__}")
    return _TOKEN.findall(text.lower())


@dataclass(frozen=True)
class WordTokenizer:
    """A fixed word vocabulary whose first entries are BERT's special tokens.

    Build one from a corpus with :meth:`from_texts`; then :meth:`encode` maps text to ids,
    :meth:`decode` maps ids back to tokens, and :meth:`windows` cuts documents into training rows.

    Attributes:
        vocab: All ``V`` tokens; ``vocab[i]`` is the token of id ``i``. Starts with
            :data:`SPECIAL_TOKENS`.

    Raises:
        ValueError: If ``vocab`` does not start with :data:`SPECIAL_TOKENS` or repeats a token.

    Example:
        >>> tok = WordTokenizer.from_texts(["a cat sat", "a dog sat"], max_size=8)
        >>> tok.vocab
        ('[PAD]', '[CLS]', '[SEP]', '[MASK]', '[UNK]', 'a', 'sat', 'cat')
        >>> tok.encode("a bird sat").tolist()
        [5, 4, 6]
    """

    vocab: tuple[str, ...]
    _index: dict[str, int] = field(init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        if not isinstance(self.vocab, tuple) or not all(isinstance(t, str) for t in self.vocab):
            raise TypeError("vocab must be a tuple of str")
        if self.vocab[: len(SPECIAL_TOKENS)] != SPECIAL_TOKENS:
            raise ValueError(f"vocab must start with {SPECIAL_TOKENS}, got {self.vocab[:5]}")
        if len(set(self.vocab)) != len(self.vocab):
            raise ValueError("vocab must not repeat a token")
        object.__setattr__(self, "_index", {t: i for i, t in enumerate(self.vocab)})

    @classmethod
    def from_texts(
        cls, texts: Iterable[str], *, max_size: int, min_count: int = 1
    ) -> WordTokenizer:
        """Keep the most frequent words of ``texts``, at most ``max_size`` entries in all.

        Ties in frequency are broken alphabetically, so the same texts always give the same ids.

        Args:
            texts: The corpus, one string per document.
            max_size: Vocabulary size ``V`` including the 5 special tokens; at least 6.
            min_count: Words seen fewer times are left out (they become ``[UNK]``).

        Returns:
            The tokenizer.

        Raises:
            TypeError: If ``texts`` is a single string or not an iterable of strings, or a size
                is not an int.
            ValueError: If ``max_size < 6``, ``min_count < 1`` or ``texts`` holds no word.
        """
        texts = _check_texts(texts, "texts")
        check_int(max_size, "max_size", minimum=len(SPECIAL_TOKENS) + 1)
        check_int(min_count, "min_count", minimum=1)
        counts = Counter(w for text in texts for w in split_words(text))
        if not counts:
            raise ValueError("texts must contain at least one word")
        ranked = sorted(
            (w for w, c in counts.items() if c >= min_count), key=lambda w: (-counts[w], w)
        )
        return cls(SPECIAL_TOKENS + tuple(ranked[: max_size - len(SPECIAL_TOKENS)]))

    @property
    def vocab_size(self) -> int:
        """``V``, the number of ids, special tokens included."""
        return len(self.vocab)

    @property
    def pad_id(self) -> int:
        """Id of ``[PAD]``."""
        return self._index["[PAD]"]

    @property
    def cls_id(self) -> int:
        """Id of ``[CLS]``."""
        return self._index["[CLS]"]

    @property
    def sep_id(self) -> int:
        """Id of ``[SEP]``."""
        return self._index["[SEP]"]

    @property
    def mask_id(self) -> int:
        """Id of ``[MASK]``."""
        return self._index["[MASK]"]

    @property
    def unk_id(self) -> int:
        """Id of ``[UNK]``."""
        return self._index["[UNK]"]

    @property
    def special_ids(self) -> tuple[int, ...]:
        """Ids of all five special tokens."""
        return tuple(self._index[t] for t in SPECIAL_TOKENS)

    def encode(self, text: str) -> torch.Tensor:
        """Map ``text`` to ids, unknown words to ``[UNK]``.

        Returns:
            An int64 tensor of shape ``(T,)`` with one id per token of :func:`split_words`.
        """
        ids = [self._index.get(w, self.unk_id) for w in split_words(text)]
        return torch.tensor(ids, dtype=torch.int64)

    def decode(self, ids: torch.Tensor | Sequence[int]) -> list[str]:
        """Map ids back to their tokens (one string per id, no joining).

        Args:
            ids: A 1-D integer tensor ``(T,)`` or a sequence of ints.

        Raises:
            TypeError: If ``ids`` is not an integer tensor or a sequence of ints (``True`` is not
                an id).
            ValueError: If ``ids`` is not 1-D or an id lies outside ``[0, V)``.
        """
        if isinstance(ids, torch.Tensor):
            check_tensor(ids, "ids", ndim=1, dims="(T,)", integer=True)
            ids = ids.tolist()
        elif isinstance(ids, (str, bytes)) or not isinstance(ids, Sequence):
            raise TypeError(
                f"ids must be a 1-D integer tensor or a list of ints, got {type(ids).__name__}"
            )
        out = []
        for i in ids:
            check_int(i, "ids[...]")
            if not 0 <= i < self.vocab_size:
                raise ValueError(f"ids must lie in [0, {self.vocab_size}), got {i}")
            out.append(self.vocab[i])
        return out

    def windows(self, texts: Iterable[str], seq_len: int) -> torch.Tensor:
        """Encode each document and cut it into rows ``[CLS] w_1 ... w_{T-2} [SEP]``.

        A document's last row is padded with ``[PAD]`` after its ``[SEP]``; a row never mixes two
        documents.

        Args:
            texts: The documents.
            seq_len: ``T``, the length of every row, special tokens included; at least 3.

        Returns:
            An int64 tensor of shape ``(N, T)``.

        Raises:
            TypeError: If ``texts`` is a single string or not an iterable of strings, or
                ``seq_len`` is not an int.
            ValueError: If ``seq_len < 3`` or no document contains a token.

        Example:
            >>> tok = WordTokenizer.from_texts(["a b c d e"], max_size=10)
            >>> [tok.decode(row) for row in tok.windows(["a b c d e"], seq_len=5)]
            [['[CLS]', 'a', 'b', 'c', '[SEP]'], ['[CLS]', 'd', 'e', '[SEP]', '[PAD]']]
        """
        texts = _check_texts(texts, "texts")
        check_int(seq_len, "seq_len", minimum=3)
        body = seq_len - 2
        rows = []
        for text in texts:
            ids = self.encode(text)  # (L,)
            if len(ids) == 0:
                continue
            n_rows = -(-len(ids) // body)
            pieces = torch.full((n_rows * body,), self.pad_id, dtype=torch.int64)
            pieces[: len(ids)] = ids
            pieces = pieces.view(n_rows, body)  # (n_rows*(T-2),) -> (n_rows, T-2)
            lengths = (pieces != self.pad_id).sum(dim=1)  # (n_rows,) real tokens per row
            out = torch.full((n_rows, seq_len), self.pad_id, dtype=torch.int64)
            out[:, 0] = self.cls_id
            out[:, 1:-1] = pieces
            out[torch.arange(n_rows), lengths + 1] = self.sep_id
            rows.append(out)
        if not rows:
            raise ValueError("texts must contain at least one token")
        return torch.cat(rows)
