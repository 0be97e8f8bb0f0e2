"""Python's own documentation as an offline English corpus (MLM and STS chapters)."""

from __future__ import annotations

import re

__all__ = ["pydoc_corpus"]


def pydoc_corpus() -> list[str]:
    """Python's own reference documentation as plain English text, one string per topic.

    The text ships with CPython in ``pydoc_data.topics`` (what ``help("assert")`` prints): about 80
    topics of the language reference, some 430,000 characters. Heading underlines (lines made only
    of ``*``, ``=``, ``-``, ``~``, ``^``, ``+`` or ``#``) are dropped, every other line is kept
    (code examples and grammar rules included) and whitespace is collapsed to single spaces. Topics
    come sorted by name, so the result is the same on every run of the same Python version.

    Returns:
        A list of strings, one per topic.

    Example:
        >>> docs = pydoc_corpus()
        >>> len(docs) > 50, docs[0][:22]
        (True, 'The "assert" statement')
    """
    from pydoc_data.topics import topics  # ships with CPython: no download

    underline = re.compile(r"[*=\-~^+#]+")
    docs = []
    for name in sorted(topics):
        lines = (line.strip() for line in topics[name].splitlines())
        text = " ".join(ln for ln in lines if ln and not underline.fullmatch(ln))
        docs.append(" ".join(text.split()))  # collapse runs of whitespace
    return docs
