"""Tests of companion.core.text (word tokenizer, training windows) and datasets.pydoc_corpus."""

from __future__ import annotations

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

from companion.core.datasets import pydoc_corpus
from companion.core.text import SPECIAL_TOKENS, WordTokenizer, split_words

DOCS = ["The cat sat on the mat.", "A dog sat; the dog ran!", "cat cat dog"]


@pytest.fixture(scope="module")
def tok() -> WordTokenizer:
    return WordTokenizer.from_texts(DOCS, max_size=12)


def test_split_words_keeps_identifiers_numbers_and_punctuation():
    assert split_words("Call __init__(x1, 42) — ok.") == [
        "call",
        "__init__",
        "(",
        "x1",
        ",",
        "42",
        ")",
        "—",
        "ok",
        ".",
    ]
    assert split_words("  ") == []


def test_split_words_rejects_non_strings():
    with pytest.raises(TypeError, match="text"):
        split_words(b"bytes")


def test_vocab_starts_with_specials_and_ranks_by_frequency_then_alphabet(tok):
    assert tok.vocab[:5] == SPECIAL_TOKENS
    assert tok.special_ids == (0, 1, 2, 3, 4)
    assert (tok.pad_id, tok.cls_id, tok.sep_id, tok.mask_id, tok.unk_id) == (0, 1, 2, 3, 4)
    # counts: the 4, cat 4, dog 4, sat 2, then '!', '.', ';', 'a' ... once each
    assert tok.vocab[5:9] == ("cat", "dog", "the", "sat")
    assert tok.vocab_size == 12
    assert WordTokenizer.from_texts(DOCS, max_size=12) == tok  # deterministic


def test_min_count_leaves_rare_words_out():
    small = WordTokenizer.from_texts(DOCS, max_size=100, min_count=2)
    assert small.vocab[5:] == ("cat", "dog", "the", "sat")


def test_encode_maps_unknown_words_to_unk_and_decode_inverts(tok):
    ids = tok.encode("The zebra sat")
    assert ids.dtype == torch.int64
    assert tok.decode(ids) == ["the", "[UNK]", "sat"]
    assert tok.decode([5, 6]) == ["cat", "dog"]


def test_decode_rejects_ids_outside_the_vocabulary(tok):
    with pytest.raises(ValueError, match="ids"):
        tok.decode([0, 12])
    with pytest.raises(ValueError, match="ids"):
        tok.decode(torch.zeros(2, 2, dtype=torch.int64))


def test_vocab_validation():
    with pytest.raises(ValueError, match="vocab"):
        WordTokenizer(("a", "b"))
    with pytest.raises(ValueError, match="vocab"):
        WordTokenizer((*SPECIAL_TOKENS, "a", "a"))
    with pytest.raises(TypeError, match="vocab"):
        WordTokenizer([*SPECIAL_TOKENS, "a"])  # a list, not a tuple
    with pytest.raises(ValueError, match="max_size"):
        WordTokenizer.from_texts(DOCS, max_size=5)
    with pytest.raises(ValueError, match="min_count"):
        WordTokenizer.from_texts(DOCS, max_size=10, min_count=0)


@settings(max_examples=25, deadline=None)
@given(seq_len=st.integers(3, 9))
def test_windows_frame_every_row_and_keep_every_token_in_order(seq_len):
    tok = WordTokenizer.from_texts(DOCS, max_size=30)
    rows = tok.windows(DOCS, seq_len)
    assert rows.shape[1] == seq_len
    assert (rows[:, 0] == tok.cls_id).all()
    # exactly one [SEP] per row, followed only by [PAD]
    is_sep = rows == tok.sep_id
    assert (is_sep.sum(1) == 1).all()
    after_sep = is_sep.long().cumsum(1).bool() & ~is_sep
    assert (rows[after_sep] == tok.pad_id).all()
    # the ordinary tokens, read row by row, are the documents' tokens in order
    ordinary = rows[~torch.isin(rows, torch.tensor(tok.special_ids))]
    assert torch.equal(ordinary, torch.cat([tok.encode(d) for d in DOCS]))


def test_windows_never_mix_two_documents(tok):
    rows = tok.windows(["cat cat cat", "dog dog dog"], seq_len=4)
    words = [set(tok.decode(r)) - set(SPECIAL_TOKENS) for r in rows]
    assert all(len(w) == 1 for w in words)


def test_windows_errors(tok):
    with pytest.raises(ValueError, match="seq_len"):
        tok.windows(DOCS, 2)
    with pytest.raises(ValueError, match="texts"):
        tok.windows(["", "  "], 8)


def test_pydoc_corpus_is_offline_english_text_without_heading_underlines():
    docs = pydoc_corpus()
    assert len(docs) > 50
    assert all(isinstance(d, str) and d for d in docs)
    text = " ".join(docs)
    assert len(text) > 100_000
    # the heading's underline of stars is gone: the title runs straight into the first sentence
    assert docs[0].startswith('The "assert" statement Assert statements')
    assert " the " in text
    assert docs == pydoc_corpus()  # same order every call
