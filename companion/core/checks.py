"""Input checks shared by every module: one place that turns bad input into a clear error.

Every public function in the companion validates its arguments through these helpers, so an error
always names the argument, what was expected and what came, for example::

    heatmaps must be 4-D (B, K, H, W), got shape (8, 64, 64)

They raise ``TypeError`` for the wrong kind of object and ``ValueError`` for the right kind with a
wrong value or shape. They never use ``assert`` (which vanishes under ``python -O``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

__all__ = [
    "check_int",
    "check_number",
    "check_pair",
    "check_same_shape",
    "check_tensor",
]


def _shape(x: torch.Tensor) -> str:
    return "(" + ", ".join(str(s) for s in x.shape) + ")"


def check_tensor(
    x: object,
    name: str,
    *,
    ndim: int | None = None,
    dims: str | None = None,
    floating: bool = False,
    integer: bool = False,
    size: dict[int, int] | None = None,
) -> torch.Tensor:
    """Check that ``x`` is a tensor of the expected rank and dtype family.

    Args:
        x: The object to check.
        name: The argument's name, used in the error message.
        ndim: Required number of dimensions, or ``None`` for any.
        dims: Human-readable dimension names, e.g. ``"(B, K, H, W)"``, quoted in errors.
        floating: Require a floating-point dtype.
        integer: Require an integer dtype (``bool`` is not an integer here).
        size: Required sizes of given dimensions, e.g. ``{-1: 2}`` for a trailing ``2``.

    Returns:
        ``x`` itself, unchanged, so the call can be used inline.

    Raises:
        TypeError: If ``x`` is not a tensor or has the wrong dtype family.
        ValueError: If ``x`` has the wrong number of dimensions or a wrong size.

    Example:
        >>> check_tensor(torch.zeros(2, 3), "x", ndim=2, dims="(B, D)").shape
        torch.Size([2, 3])
        >>> check_tensor(torch.zeros(3), "heatmaps", ndim=4, dims="(B, K, H, W)")
        Traceback (most recent call last):
        ...
        ValueError: heatmaps must be 4-D (B, K, H, W), got shape (3)
    """
    if not isinstance(x, torch.Tensor):
        raise TypeError(f"{name} must be a torch.Tensor, got {type(x).__name__}")
    if ndim is not None and x.ndim != ndim:
        spec = f" {dims}" if dims else ""
        raise ValueError(f"{name} must be {ndim}-D{spec}, got shape {_shape(x)}")
    if floating and not x.is_floating_point():
        raise TypeError(f"{name} must have a floating-point dtype, got {x.dtype}")
    if integer and (x.is_floating_point() or x.is_complex() or x.dtype == torch.bool):
        raise TypeError(f"{name} must have an integer dtype, got {x.dtype}")
    for dim, expected in (size or {}).items():
        if x.ndim < abs(dim) + (0 if dim < 0 else 1) or x.shape[dim] != expected:
            spec = f" {dims}" if dims else ""
            raise ValueError(
                f"{name} must have size {expected} in dimension {dim}{spec}, got shape {_shape(x)}"
            )
    return x


def check_same_shape(a: torch.Tensor, a_name: str, b: torch.Tensor, b_name: str) -> None:
    """Check that two tensors have exactly the same shape (no broadcasting).

    Args:
        a: The first tensor.
        a_name: Its argument's name, used in the error message.
        b: The second tensor.
        b_name: Its argument's name.

    Returns:
        ``None``; the call only raises.

    Raises:
        ValueError: If the shapes differ; the message names both arguments.

    Example:
        >>> check_same_shape(torch.zeros(2, 3), "pred", torch.zeros(2, 1), "target")
        Traceback (most recent call last):
        ...
        ValueError: pred and target must have the same shape, got (2, 3) and (2, 1)
    """
    if a.shape != b.shape:
        raise ValueError(
            f"{a_name} and {b_name} must have the same shape, got {_shape(a)} and {_shape(b)}"
        )


def check_number(
    value: object,
    name: str,
    *,
    low: float | None = None,
    high: float | None = None,
    low_inclusive: bool = True,
    high_inclusive: bool = True,
) -> float:
    """Check that ``value`` is a finite real number inside an interval.

    Args:
        value: The number to check (a Python or NumPy number, or a 0-d tensor is *not* accepted).
        name: The argument's name, used in the error message.
        low: Lower bound, or ``None`` for none.
        high: Upper bound, or ``None`` for none.
        low_inclusive: Whether ``value == low`` is allowed.
        high_inclusive: Whether ``value == high`` is allowed.

    Returns:
        ``value`` as a ``float``.

    Raises:
        TypeError: If ``value`` is not a real number (``bool`` is rejected).
        ValueError: If ``value`` is not finite or lies outside the interval.

    Example:
        >>> check_number(0.15, "mlm_probability", low=0, high=1, low_inclusive=False)
        0.15
        >>> check_number(0.0, "beta", low=0, low_inclusive=False)
        Traceback (most recent call last):
        ...
        ValueError: beta must be > 0, got 0.0
    """
    if isinstance(value, torch.Tensor):
        raise TypeError(f"{name} must be a Python number, got a tensor")
    if isinstance(value, bool) or not hasattr(value, "__float__"):
        raise TypeError(f"{name} must be a real number, got {type(value).__name__}")
    v = float(value)  # type: ignore[arg-type]
    if not math.isfinite(v):
        raise ValueError(f"{name} must be finite, got {v}")
    below = low is not None and (v < low or (v == low and not low_inclusive))
    above = high is not None and (v > high or (v == high and not high_inclusive))
    if not (below or above):
        return v
    if low is not None and high is not None:
        expected = f"in {_interval(low, high, low_inclusive, high_inclusive)}"
    elif below:
        expected = f"{'>=' if low_inclusive else '>'} {low}"
    else:
        expected = f"{'<=' if high_inclusive else '<'} {high}"
    raise ValueError(f"{name} must be {expected}, got {value}")


def _interval(low: float, high: float, low_inc: bool, high_inc: bool) -> str:
    return f"{'[' if low_inc else '('}{low}, {high}{']' if high_inc else ')'}"


def check_int(value: object, name: str, *, minimum: int | None = None) -> int:
    """Check that ``value`` is a Python integer, at least ``minimum``.

    Args:
        value: The object to check.
        name: The argument's name, used in the error message.
        minimum: The smallest allowed value, or ``None`` for none.

    Returns:
        ``value`` itself.

    Raises:
        TypeError: If ``value`` is not an ``int`` (``bool`` is rejected).
        ValueError: If ``value < minimum``.

    Example:
        >>> check_int(0, "epochs", minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be >= 1, got 0
    """
    if isinstance(value, bool) or not isinstance(value, int):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return value


def check_pair(value: object, name: str) -> tuple[int, int]:
    """Check that ``value`` is a pair of positive ints such as ``size=(H, W)``.

    Args:
        value: The object to check.
        name: The argument's name, used in the error message.

    Returns:
        The pair as a tuple of two ints.

    Raises:
        TypeError: If ``value`` is not a sequence of two ints.
        ValueError: If either entry is < 1.

    Example:
        >>> check_pair((32, 48), "size")
        (32, 48)
    """
    if not isinstance(value, Sequence) or isinstance(value, str) or len(value) != 2:
        raise TypeError(f"{name} must be a pair of ints (H, W), got {value!r}")
    a, b = value
    return check_int(a, f"{name}[0]", minimum=1), check_int(b, f"{name}[1]", minimum=1)
