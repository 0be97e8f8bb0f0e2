"""Break the code once per hand-written mutant and check that the module's tests fail.

Usage::

    python tests/mutate.py                 # every module with a table in tests/mutants/
    python tests/mutate.py mlm core_training

Each mutant is applied to a copy of ``companion/`` and ``tests/`` in a temporary folder, never to the
working tree, and the module's tests (plus the target's doctests) run there with ``pytest -x``.
Prints one line per mutant and a score per module; exits 1 if a mutant survives or is stale (its
old text no longer occurs exactly once in the target).
"""

from __future__ import annotations

import argparse
import importlib.util
import os
import pathlib
import shutil
import subprocess
import sys
import tempfile
import time

ROOT = pathlib.Path(__file__).resolve().parents[1]
TABLES = ROOT / "tests" / "mutants"


def load_table(name: str):
    path = TABLES / f"{name}.py"
    spec = importlib.util.spec_from_file_location(f"mutants_{name}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)  # type: ignore[union-attr]
    return module


def run_tests(workdir: pathlib.Path, tests: list[str], target: str) -> bool:
    """True when the tests pass (the mutant survives)."""
    env = {**os.environ, "PYTHONPATH": str(workdir), "OMP_NUM_THREADS": "1"}
    cmd = [
        sys.executable, "-m", "pytest", "-x", "-q", "-p", "no:randomly", "-p", "no:cacheprovider",
        "--doctest-modules", target, *tests,
    ]  # fmt: skip
    result = subprocess.run(cmd, cwd=workdir, env=env, capture_output=True, text=True)
    return result.returncode == 0


def mutate_module(name: str) -> tuple[int, int, list[str]]:
    table = load_table(name)
    target, tests, mutants = table.TARGET, list(table.TESTS), list(table.MUTANTS)
    killed, problems = 0, []
    with tempfile.TemporaryDirectory(prefix="mutate-") as tmp:
        work = pathlib.Path(tmp)
        for part in ("companion", "tests"):
            shutil.copytree(ROOT / part, work / part, ignore=shutil.ignore_patterns("__pycache__"))
        shutil.copy(ROOT / "pyproject.toml", work / "pyproject.toml")
        original = (work / target).read_text()
        if not run_tests(work, tests, target):
            return 0, len(mutants), [f"{name}: the unmutated tests fail; fix them first"]
        for description, old, new in mutants:
            count = original.count(old)
            if count != 1:
                problems.append(f"{name}: STALE ({count} matches) {description}")
                print(f"  stale    {description}", flush=True)
                continue
            (work / target).write_text(original.replace(old, new))
            start = time.perf_counter()
            survived = run_tests(work, tests, target)
            (work / target).write_text(original)
            status = "SURVIVED" if survived else "killed  "
            print(f"  {status} {description} ({time.perf_counter() - start:.0f} s)", flush=True)
            if survived:
                problems.append(f"{name}: SURVIVED {description}")
            else:
                killed += 1
    return killed, len(mutants), problems


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("modules", nargs="*", help="table names in tests/mutants/ (default: all)")
    args = parser.parse_args(argv)
    names = args.modules or sorted(p.stem for p in TABLES.glob("*.py"))
    scores, problems = {}, []
    for name in names:
        print(f"{name}:", flush=True)
        killed, total, found = mutate_module(name)
        scores[name] = (killed, total)
        problems += found
    print("\nmutation score (killed / mutants):")
    for name, (killed, total) in scores.items():
        print(f"  {name:24s} {killed:3d} / {total:3d}")
    for line in problems:
        print(line)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
