"""Mutants of companion/core/datasets/digits.py: the fixed, seeded split."""

TARGET = "companion/core/datasets/digits.py"
TESTS = ["tests/test_core.py"]
MUTANTS = [
    (
        "pixels not scaled to [0, 1]",
        "    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0",
        "    x = torch.tensor(bunch.data, dtype=torch.float32) / 1.0",
    ),
    (
        "validation and test sets overlap",
        "perm[n_val : n_val + n_test], perm[n_val + n_test :]",
        "perm[: n_test], perm[n_val + n_test :]",
    ),
]
