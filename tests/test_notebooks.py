"""Every chapter notebook is committed stripped and opens the way STYLE.md says."""

from __future__ import annotations

import json
import pathlib
import re

import pytest

ROOT = pathlib.Path(__file__).resolve().parents[1]
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)


def repository_url() -> str:
    """The repository URL, read from its one home: ``_config.yml``'s ``repository: url:``."""
    text = (ROOT / "_config.yml").read_text()
    match = re.search(r"^repository:\s*\n\s+url:\s*(\S+)", text, flags=re.MULTILINE)
    assert match, "_config.yml has no repository: url:"
    return match.group(1)


def setup_cell() -> str:
    """The canonical first code cell of every chapter (STYLE.md, 'The setup cell')."""
    return f"""# Setup: the same cell opens every chapter. On Colab it first installs the companion.
import sys

if "google.colab" in sys.modules:
    %pip install -q "companion @ git+{repository_url()}"

import matplotlib.pyplot as plt
import numpy as np
import torch

import companion

device = companion.get_device()
threads = companion.leave_a_core_free()  # why: book/execution.md, "A busy machine"
print(f"torch {{torch.__version__}} on {{device}}; {{threads}} CPU threads")
companion.seed_everything(0)"""


def load(path: pathlib.Path) -> dict:
    return json.loads(path.read_text())


def source(cell: dict) -> str:
    src = cell["source"]
    return src if isinstance(src, str) else "".join(src)


def test_there_are_notebooks():
    assert NOTEBOOKS, "no notebooks under book/"


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_outputs_stripped(path):
    for i, cell in enumerate(load(path)["cells"]):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"cell {i} of {path.name} has outputs"
            assert cell.get("execution_count") is None, (
                f"cell {i} of {path.name} has an execution count"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_opens_with_title_short_answer_setup_and_parameters(path):
    cells = load(path)["cells"]
    assert cells[0]["cell_type"] == "markdown" and source(cells[0]).startswith("# "), (
        f"{path.name} must open with a markdown title '# ...'"
    )
    code = [c for c in cells if c["cell_type"] == "code"]
    first_code = cells.index(code[0])
    before = "\n".join(source(c) for c in cells[:first_code])
    assert "Short answer" in before, f"{path.name}: the short answer must come before any code"
    assert source(code[0]) == setup_cell(), (
        f"{path.name}: the first code cell is not the setup cell"
    )
    assert "parameters" in code[1].get("metadata", {}).get("tags", []), (
        f"{path.name}: the second code cell must be tagged 'parameters'"
    )
    assert re.search(r"^SEED = \d+", source(code[1]), flags=re.MULTILINE), (
        f"{path.name}: the parameters cell must define SEED"
    )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_no_literal_device_names(path):
    for cell in load(path)["cells"]:
        if cell["cell_type"] == "code":
            assert not re.search(r"""["'](cuda|cpu)["']""", source(cell)), (
                f"{path.name}: use companion.get_device(), not a literal device name"
            )


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_listed_in_toc(path):
    rel = path.relative_to(ROOT).with_suffix("").as_posix()
    assert f"file: {rel}\n" in (ROOT / "_toc.yml").read_text(), f"{rel} is missing from _toc.yml"
