"""How much slower a chapter runs when another CPU-bound process shares the machine.

A reader's laptop rarely idles. This script executes chapter notebooks four ways: on a quiet
machine and beside one competing process, each with the setup cell as committed (one core left
free) and with torch's default thread count instead (``book/execution.md``, 'A busy machine'). It
prints a Markdown table of wall-clock seconds and slowdowns against the quiet run with the default.
The competitor runs from one second before a notebook starts until it ends: ``spin`` is a
pure-Python busy loop (one core), ``torch`` a second torch process multiplying matrices with
torch's default threads (a second notebook, say). Usage::

    python tests/busy_machine.py book/sts-regression.ipynb [more notebooks] [--competitor torch]

Run it on an otherwise idle machine; it takes minutes per notebook (the busy run without the
setting is the slow one). Not part of CI.
"""

from __future__ import annotations

import argparse
import contextlib
import pathlib
import subprocess
import sys
import time

import nbformat
from nbclient import NotebookClient

# The setup cell's call that this script replaces to measure the notebook without the setting:
# without it, torch keeps its default thread count.
SETTING = "companion.leave_a_core_free()"
WITHOUT = "torch.get_num_threads()"

COMPETITORS = {
    "spin": "while True: pass",
    "torch": ("import torch\na = torch.randn(256, 256)\nwhile True:\n    b = torch.tanh(a @ a)\n"),
}


def without_setting(nb: nbformat.NotebookNode) -> nbformat.NotebookNode:
    """Return a copy of ``nb`` whose setup cell keeps torch's default number of threads."""
    nb = nbformat.from_dict(nb)
    setup = next(c for c in nb.cells if c.cell_type == "code")
    if setup.source.count(SETTING) != 1:
        raise ValueError(f"the setup cell does not call {SETTING} exactly once")
    setup.source = setup.source.replace(SETTING, WITHOUT)
    return nb


@contextlib.contextmanager
def competitor(kind: str | None):
    """Run one competing process (or none) for the duration of the block."""
    if kind is None:
        yield
        return
    proc = subprocess.Popen([sys.executable, "-c", COMPETITORS[kind]])
    try:
        time.sleep(1.0)  # let it start (and import torch) before the clock starts
        yield
    finally:
        proc.kill()
        proc.wait()


def seconds(nb: nbformat.NotebookNode, path: pathlib.Path) -> float:
    """Wall-clock seconds to execute ``nb`` in a fresh kernel, in the notebook's own folder."""
    start = time.perf_counter()
    NotebookClient(
        nb, timeout=3600, kernel_name="python3", resources={"metadata": {"path": str(path.parent)}}
    ).execute()
    return time.perf_counter() - start


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("notebooks", nargs="+", type=pathlib.Path)
    parser.add_argument("--competitor", choices=sorted(COMPETITORS), default="spin")
    args = parser.parse_args(argv)
    print(
        f"| notebook | quiet, without | quiet, with | {args.competitor} competitor, without "
        f"| {args.competitor} competitor, with |\n|---|---|---|---|---|"
    )
    for path in args.notebooks:
        with_nb = nbformat.read(path, as_version=4)
        without_nb = without_setting(with_nb)
        t = {}
        for busy in (None, args.competitor):
            for name, nb in (("without", without_nb), ("with", with_nb)):
                with competitor(busy):
                    t[busy, name] = seconds(nb, path)
        quiet = t[None, "without"]
        cells = [f"{t[b, n]:.0f} s ({t[b, n] / quiet:.1f}x)" for b in (None, args.competitor)
                 for n in ("without", "with")]  # fmt: skip
        print(f"| {path.stem} | " + " | ".join(cells) + " |", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
