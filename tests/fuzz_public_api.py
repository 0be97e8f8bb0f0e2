"""Fuzz every public callable of the companion with bad inputs and count what happens.

Run: ``OMP_NUM_THREADS=1 .venv/bin/python tests/fuzz_public_api.py [-v] [module-substring]``.
The rows are the tables of ``tests/bad_input`` (``tests/test_bad_input.py`` asserts the same
rows); this script only counts and lists, so a reader can see the state of the whole API at once.
"""

from __future__ import annotations

import collections
import contextlib
import io
import os
import sys
import warnings

sys.path.insert(0, os.path.dirname(__file__))

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt
from bad_input import BAD_OUTCOMES, all_cases, public_callables, rows, run_one


def main(argv: list[str]) -> int:
    verbose = "-v" in argv
    argv = [a for a in argv if a != "--write-gaps"] + (
        ["--write-gaps"] if "--write-gaps" in argv else []
    )
    only = [a for a in argv if not a.startswith("-")]
    counts: collections.Counter[str] = collections.Counter()
    bad: list[str] = []
    gap_ids: list[str] = []
    cases = all_cases()
    covered = {c.target for c in cases}
    missing = [n for n in public_callables() if n not in covered]
    for case in cases:
        if only and not any(o in case.target for o in only):
            continue
        try:
            case_rows = rows(case)
        except Exception as err:
            counts["case broken"] += 1
            bad.append(f"{'case broken':34s} {case.target}  {err!r}"[:300])
            continue
        for arg, label, value, name in case_rows:
            with warnings.catch_warnings(), contextlib.redirect_stderr(io.StringIO()):
                warnings.simplefilter("ignore")
                try:
                    outcome, detail = run_one(case, arg, label, value, name)
                except Exception as err:
                    outcome, detail = "case broken", repr(err)
            plt.close("all")
            counts[outcome] += 1
            if outcome in BAD_OUTCOMES or outcome == "case broken":
                gap_ids.append(f"{case.target} {arg}:{label}")
                bad.append(f"{outcome:34s} {case.target} {arg}:{label}  {detail[:160]}")
    if "--write-gaps" in argv:
        gaps = sorted(set(gap_ids))
        path = os.path.join(os.path.dirname(__file__), "bad_input", "known_gaps.txt")
        with open(path, "w") as f:
            f.write(
                "# Rows of tests/test_bad_input.py that still fail (strict xfail); written by\n"
            )
            f.write(
                "# tests/fuzz_public_api.py --write-gaps. Fix the code, then delete the line.\n"
            )
            f.writelines(g + "\n" for g in gaps)
    for line in bad if verbose else []:
        print(line)
    total = sum(counts.values())
    print(
        f"\n{total} bad inputs over {len(cases)} cases ({len(missing)} public callables without one)"
    )
    for outcome, n in counts.most_common():
        print(f"  {n:5d}  {outcome}")
    for name in missing:
        print("  missing:", name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
