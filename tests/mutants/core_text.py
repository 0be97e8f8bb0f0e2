"""Mutants of companion/core/text.py: the word tokenizer."""

TARGET = "companion/core/text.py"
TESTS = ["tests/test_text.py"]
MUTANTS = [
    (
        "text is not lower-cased",
        "    return _TOKEN.findall(text.lower())",
        "    return _TOKEN.findall(text)",
    ),
    (
        "min_count ignored",
        "(w for w, c in counts.items() if c >= min_count)",
        "(w for w, c in counts.items() if c >= 1)",
    ),
    (
        "unknown words map to padding",
        "        ids = [self._index.get(w, self.unk_id) for w in split_words(text)]",
        "        ids = [self._index.get(w, self.pad_id) for w in split_words(text)]",
    ),
]
