"""Every chapter ends with "Try it yourself": 2-3 sphinx-exercise exercises with checked solutions.

Each exercise is an ``{exercise}`` directive labelled ``<chapter>-ex<N>``; its solution is a gated
``{solution-start}``/``{solution-end}`` pair folded as a dropdown, and holds at least one code cell
whose ``assert`` checks the measured answer. The section sits before *Going further*.
"""

from __future__ import annotations

import json
import pathlib
import re

import pytest

BOOK = pathlib.Path(__file__).resolve().parents[1] / "book"
CHAPTERS = sorted(p.stem for p in BOOK.glob("*.ipynb"))
# Chapters whose exercises are still to be written (issue #18). A chapter leaves this set when it
# gets its exercises: the test below fails for a listed chapter that already has them.
NOT_YET: set[str] = set()
EXERCISE = re.compile(r"^:::\{exercise\}[^\n]*\n:label: (\S+)$", re.M)
SOLUTION_START = re.compile(r"^:::\{solution-start\} (\S+)\n:class: dropdown\n:::", re.M)
SOLUTION_END = re.compile(r"^:::\{solution-end\}\n:::", re.M)


def _cells(stem: str) -> list[dict]:
    nb = json.loads((BOOK / f"{stem}.ipynb").read_text())
    return [{"type": c["cell_type"], "source": "".join(c["source"])} for c in nb["cells"]]


def _exercises(stem: str) -> tuple[list[str], dict[str, list[str]]]:
    """The exercise labels in order, and for each solution label the code of its cells."""
    labels: list[str] = []
    solutions: dict[str, list[str]] = {}
    current = None
    for cell in _cells(stem):
        if cell["type"] == "markdown":
            labels += EXERCISE.findall(cell["source"])
            start = SOLUTION_START.search(cell["source"])
            if start:
                assert current is None, f"{stem}: solution {start.group(1)} opens inside another"
                current = start.group(1)
                solutions[current] = []
            if SOLUTION_END.search(cell["source"]):
                assert current is not None, f"{stem}: a solution-end without its start"
                current = None
        elif current is not None:
            solutions[current].append(cell["source"])
    assert current is None, f"{stem}: solution {current} is never closed"
    return labels, solutions


def test_not_yet_lists_real_chapters():
    assert NOT_YET <= set(CHAPTERS)


@pytest.mark.parametrize("stem", CHAPTERS)
def test_try_it_yourself(stem):
    labels, solutions = _exercises(stem)
    if stem in NOT_YET:
        assert not labels, f"{stem} has exercises now: remove it from NOT_YET"
        return
    text = "\n".join(c["source"] for c in _cells(stem) if c["type"] == "markdown")
    assert "## Try it yourself" in text, f"{stem}: no 'Try it yourself' section"
    assert text.index("## Try it yourself") < text.index("## Going further")
    assert 2 <= len(labels) <= 3, f"{stem}: {len(labels)} exercises, want 2 or 3"
    assert labels == [f"{stem}-ex{i}" for i in range(1, len(labels) + 1)], labels
    assert list(solutions) == labels, f"{stem}: solutions {list(solutions)} vs {labels}"
    for label, code in solutions.items():
        assert any(re.search(r"^\s*assert ", c, re.M) for c in code), (
            f"{stem}: the solution of {label} asserts nothing"
        )
    assert ":::{admonition} Solution" not in text, f"{stem}: an old-style solution is left"
