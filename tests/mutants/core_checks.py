"""Mutants of companion/core/checks.py: the one input checker."""

TARGET = "companion/core/checks.py"
TESTS = ["tests/test_core.py"]
MUTANTS = [
    (
        "rank not checked",
        "    if ndim is not None and x.ndim != ndim:",
        "    if False:",
    ),
    (
        "integer tensors pass as floating point",
        "    if floating and not x.is_floating_point():",
        "    if False:",
    ),
    (
        "shapes that broadcast pass as equal",
        "    if a.shape != b.shape:",
        "    if torch.broadcast_shapes(a.shape, b.shape) is None:",
    ),
    (
        "a bool passes as a number",
        '    if isinstance(value, bool) or not hasattr(value, "__float__"):',
        '    if not hasattr(value, "__float__"):',
    ),
    (
        "NaN and inf pass as numbers",
        "    if not math.isfinite(v):",
        "    if False:",
    ),
    (
        "an exclusive lower bound admits the bound",
        "    below = low is not None and (v < low or (v == low and not low_inclusive))",
        "    below = low is not None and v < low",
    ),
    (
        "the minimum of an int is not enforced",
        "    if minimum is not None and value < minimum:",
        "    if minimum is not None and value < minimum - 1:",
    ),
]
