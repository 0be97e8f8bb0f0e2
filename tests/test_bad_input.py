"""Bad input never passes silently: every public callable, a battery of bad inputs each.

The rows come from the per-module tables in ``tests/bad_input/`` (one valid call per callable; the
battery is derived from its arguments' types, plus explicit extras). A row passes when the call
raises ``ValueError``/``TypeError`` naming the argument, or stops training with
``NonFiniteLossError``, or is accepted on purpose (the table says why), or is NaN propagation that
the callable's docstring documents.

``tests/bad_input/known_gaps.txt`` lists the rows that still fail (written by
``python tests/fuzz_public_api.py --write-gaps``): they are strict expected failures, so a fix
that closes one fails the test until the line is removed, and no new gap can appear unnoticed.
"""

from __future__ import annotations

import pathlib
import warnings

import matplotlib
import pytest
import torch

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from bad_input import BAD_OUTCOMES, all_cases, public_callables, rows, run_one

CASES = all_cases()
GAPS_FILE = pathlib.Path(__file__).parent / "bad_input" / "known_gaps.txt"
GAPS = (
    {
        line.strip()
        for line in GAPS_FILE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    if GAPS_FILE.exists()
    else set()
)


def row_id(target: str, arg: str, label: str) -> str:
    return f"{target} {arg}:{label}"


def _params():
    out = []
    for case in CASES:
        for arg, label, value, name in rows(case):
            rid = row_id(case.target, arg, label)
            out.append(pytest.param(case, arg, label, value, name, id=rid))
    return out


def test_every_public_callable_has_a_case():
    covered = {c.target for c in CASES}
    missing = [n for n in public_callables() if n not in covered]
    assert not missing, f"public callables without bad-input cases (add rows): {missing}"


def test_no_case_names_a_callable_that_does_not_exist():
    public = set(public_callables())
    stale = [c.target for c in CASES if c.target not in public]
    assert not stale, f"cases for callables that are no longer public: {stale}"


@pytest.mark.parametrize("case", [c for c in CASES if not c.record], ids=lambda c: c.target)
def test_valid_call_runs_and_does_not_modify_its_inputs(case):
    func, kwargs = case.make()
    before = {k: v.clone() for k, v in kwargs.items() if isinstance(v, torch.Tensor)}
    with warnings.catch_warnings():
        warnings.simplefilter("error", UserWarning)
        func(**kwargs)
    plt.close("all")
    for k, v in before.items():
        assert torch.equal(kwargs[k], v) or (
            v.is_floating_point() and torch.allclose(kwargs[k], v, equal_nan=True)
        ), f"{case.target} modified its input {k} in place"


@pytest.mark.parametrize(("case", "arg", "label", "value", "name"), _params())
def test_bad_input_is_refused_naming_the_argument(case, arg, label, value, name):
    rid = row_id(case.target, arg, label)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        outcome, detail = run_one(case, arg, label, value, name)
    plt.close("all")
    if rid in GAPS:
        assert outcome in BAD_OUTCOMES, f"{rid} is fixed ({outcome}): remove it from known_gaps.txt"
        pytest.xfail(f"known gap: {outcome}")
    assert outcome not in BAD_OUTCOMES, f"{outcome}: {detail}"
