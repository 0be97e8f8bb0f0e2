"""scikit-learn's bundled handwritten digits, split into training, validation and test sets."""

from __future__ import annotations

from dataclasses import dataclass

import torch

from companion.core.checks import check_bool, check_int, check_number

__all__ = ["Split", "digits"]


@dataclass(frozen=True)
class Split:
    """A train/validation/test split of inputs ``x_*`` and targets ``y_*`` (first dimension N)."""

    x_train: torch.Tensor
    y_train: torch.Tensor
    x_val: torch.Tensor
    y_val: torch.Tensor
    x_test: torch.Tensor
    y_test: torch.Tensor


def digits(
    *,
    seed: int = 0,
    val_fraction: float = 0.2,
    test_fraction: float = 0.2,
    flatten: bool = True,
) -> Split:
    """scikit-learn's bundled handwritten digits (1,797 images of 8×8 pixels, 10 classes), split.

    The pixel values (0..16 in the source) are scaled to ``[0, 1]``. The split is a seeded random
    permutation, so the same ``seed`` always gives the same split.

    Args:
        seed: Seed of the permutation that makes the split.
        val_fraction: Fraction of the examples in the validation set, in ``(0, 1)``.
        test_fraction: Fraction in the test set, in ``[0, 1)``; the two fractions sum to < 1.
        flatten: Return inputs of shape ``(N, 64)``; otherwise ``(N, 1, 8, 8)`` images.

    Returns:
        A :class:`Split` with float32 inputs and int64 class labels ``(N,)``.

    Raises:
        TypeError: If ``seed`` is not an int, a fraction not a number, or ``flatten`` not a bool.
        ValueError: If a fraction is outside its range or the two leave no training data.

    Example:
        >>> d = digits()
        >>> d.x_train.shape, d.y_train.dtype, float(d.x_train.max()) <= 1.0
        (torch.Size([1079, 64]), torch.int64, True)
    """
    from sklearn.datasets import load_digits  # ships with scikit-learn: no download

    check_int(seed, "seed", minimum=0)
    check_number(
        val_fraction, "val_fraction", low=0, high=1, low_inclusive=False, high_inclusive=False
    )
    check_number(test_fraction, "test_fraction", low=0, high=1, high_inclusive=False)
    check_bool(flatten, "flatten")
    if val_fraction + test_fraction >= 1:
        raise ValueError(
            f"val_fraction + test_fraction must be < 1, got {val_fraction} + {test_fraction}"
        )
    bunch = load_digits()
    x = torch.tensor(bunch.data, dtype=torch.float32) / 16.0  # (N, 64), in [0, 1]
    y = torch.tensor(bunch.target, dtype=torch.int64)  # (N,)
    if not flatten:
        x = x.view(-1, 1, 8, 8)  # (N, 64) -> (N, 1, 8, 8)
    n = len(x)
    perm = torch.randperm(n, generator=torch.Generator().manual_seed(seed))
    n_val, n_test = round(val_fraction * n), round(test_fraction * n)
    if n_val < 1 or n - n_val - n_test < 1:
        raise ValueError(
            f"val_fraction {val_fraction} and test_fraction {test_fraction} leave "
            f"{n - n_val - n_test} training and {n_val} validation examples of {n}; need >= 1 each"
        )
    val, test, train = perm[:n_val], perm[n_val : n_val + n_test], perm[n_val + n_test :]
    return Split(x[train], y[train], x[val], y[val], x[test], y[test])
