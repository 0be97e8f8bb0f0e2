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

import numpy as np
import torch
from torch import nn

__all__ = [
    "check_bool",
    "check_callable",
    "check_choice",
    "check_finite",
    "check_floating_dtype",
    "check_generator",
    "check_ids",
    "check_int",
    "check_module",
    "check_nonempty",
    "check_number",
    "check_optimizer",
    "check_pair",
    "check_same_batch",
    "check_same_shape",
    "check_stochastic",
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
    check_tensor(a, a_name)
    check_tensor(b, b_name)
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
        ``value`` as a Python ``int``.

    Raises:
        TypeError: If ``value`` is not an ``int`` (``bool`` is rejected; a NumPy integer is
            accepted and returned as ``int``).
        ValueError: If ``value < minimum``.

    Example:
        >>> check_int(0, "epochs", minimum=1)
        Traceback (most recent call last):
        ...
        ValueError: epochs must be >= 1, got 0
    """
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, (int, np.integer)):
        raise TypeError(f"{name} must be an int, got {type(value).__name__}")
    if minimum is not None and value < minimum:
        raise ValueError(f"{name} must be >= {minimum}, got {value}")
    return int(value)


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


def check_bool(value: object, name: str) -> bool:
    """Check that ``value`` is a real flag: ``True``/``False`` (or a NumPy bool), nothing else.

    A string such as ``"no"`` is truthy, and ``1``/``None`` are flags only by accident: all are
    refused, so that a typo never turns a switch on.

    Args:
        value: The object to check.
        name: The argument's name, used in the error message.

    Returns:
        ``value`` as a Python ``bool``.

    Raises:
        TypeError: If ``value`` is not a ``bool``.

    Example:
        >>> check_bool(True, "shuffle")
        True
        >>> check_bool("no", "shuffle")
        Traceback (most recent call last):
        ...
        TypeError: shuffle must be a bool (True or False), got str 'no'
    """
    if not isinstance(value, (bool, np.bool_)):
        raise TypeError(
            f"{name} must be a bool (True or False), got {type(value).__name__} {value!r}"
        )
    return bool(value)


def check_choice(value: object, name: str, choices: Sequence[str]) -> str:
    """Check that ``value`` is one of a few allowed strings.

    Args:
        value: The object to check.
        name: The argument's name, used in the error message.
        choices: The allowed strings.

    Returns:
        ``value``.

    Raises:
        TypeError: If ``value`` is not a ``str``.
        ValueError: If it is not one of ``choices``.

    Example:
        >>> check_choice("sum", "reduction", ("mean", "sum"))
        'sum'
        >>> check_choice("avg", "reduction", ("mean", "sum"))
        Traceback (most recent call last):
        ...
        ValueError: reduction must be one of 'mean', 'sum', got 'avg'
    """
    if not isinstance(value, str):
        raise TypeError(f"{name} must be a str, got {type(value).__name__}")
    if value not in choices:
        options = ", ".join(repr(c) for c in choices)
        raise ValueError(f"{name} must be one of {options}, got {value!r}")
    return value


def check_finite(x: torch.Tensor, name: str) -> torch.Tensor:
    """Check that every entry of a tensor is finite (no NaN, no ±inf).

    Args:
        x: A tensor (integer and bool tensors are always finite).
        name: The argument's name, used in the error message.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a tensor.
        ValueError: If an entry is NaN or infinite; the message counts them.

    Example:
        >>> check_finite(torch.tensor([1.0, float("nan")]), "reward")
        Traceback (most recent call last):
        ...
        ValueError: reward must be finite, got 1 NaN or infinite value(s) of 2
    """
    check_tensor(x, name)
    if x.is_floating_point() or x.is_complex():
        bad = int((~torch.isfinite(x)).sum())
        if bad:
            raise ValueError(
                f"{name} must be finite, got {bad} NaN or infinite value(s) of {x.numel()}"
            )
    return x


def check_nonempty(x: torch.Tensor, name: str) -> torch.Tensor:
    """Check that a tensor has at least one element (a mean over nothing is NaN).

    Args:
        x: A tensor.
        name: The argument's name, used in the error message.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a tensor.
        ValueError: If ``x`` has no elements.

    Example:
        >>> check_nonempty(torch.zeros(0, 3), "output")
        Traceback (most recent call last):
        ...
        ValueError: output must not be empty, got shape (0, 3)
    """
    check_tensor(x, name)
    if x.numel() == 0:
        raise ValueError(f"{name} must not be empty, got shape {_shape(x)}")
    return x


def check_same_batch(**tensors: torch.Tensor) -> int:
    """Check that several tensors share their first (batch) dimension: no broadcast of a batch of 1.

    Args:
        **tensors: ``name=tensor`` pairs, each at least 1-D.

    Returns:
        The common batch size ``B``.

    Raises:
        TypeError: If a value is not a tensor.
        ValueError: If a tensor is 0-D or the first dimensions differ; the message names them.

    Example:
        >>> check_same_batch(obs=torch.zeros(4, 3), reward=torch.zeros(4))
        4
        >>> check_same_batch(obs=torch.zeros(4, 3), reward=torch.zeros(1))
        Traceback (most recent call last):
        ...
        ValueError: obs and reward must have the same batch size (first dimension), got obs 4, reward 1
    """
    sizes = {}
    for name, x in tensors.items():
        check_tensor(x, name)
        if x.ndim == 0:
            raise ValueError(f"{name} must have a batch dimension, got a 0-d tensor")
        sizes[name] = x.shape[0]
    if len(set(sizes.values())) > 1:
        names = (
            " and ".join([", ".join(list(sizes)[:-1]), list(sizes)[-1]]) if len(sizes) > 1 else ""
        )
        got = ", ".join(f"{n} {b}" for n, b in sizes.items())
        raise ValueError(f"{names} must have the same batch size (first dimension), got {got}")
    return next(iter(sizes.values()))


def check_stochastic(x: torch.Tensor, name: str, *, atol: float = 1e-6) -> torch.Tensor:
    """Check that the last dimension of ``x`` holds probability vectors (``>= 0``, summing to 1).

    A vector ``(S,)`` is one distribution; a matrix ``(S, A, S)`` is a stochastic matrix whose
    every row ``x[..., :]`` is one.

    Args:
        x: A floating tensor, at least 1-D.
        name: The argument's name, used in the error message.
        atol: Tolerance on each row's sum.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a floating tensor.
        ValueError: If an entry is negative or not finite, or a row does not sum to 1.

    Example:
        >>> check_stochastic(torch.tensor([[0.5, 0.5], [1.0, 1.0]]), "transitions")
        Traceback (most recent call last):
        ...
        ValueError: transitions must have rows that sum to 1, got a row summing to 2.0
    """
    check_tensor(x, name, floating=True)
    if x.ndim == 0 or x.numel() == 0:
        raise ValueError(
            f"{name} must hold probability vectors in its last dimension, got shape {_shape(x)}"
        )
    check_finite(x, name)
    if bool((x < 0).any()):
        raise ValueError(f"{name} must be non-negative probabilities, got {float(x.min())}")
    sums = x.sum(dim=-1).flatten()  # (..., N) -> (...) -> (R,): one sum per row
    worst = float(sums[(sums - 1).abs().argmax()])
    if abs(worst - 1) > atol:
        raise ValueError(f"{name} must have rows that sum to 1, got a row summing to {worst}")
    return x


def check_ids(
    x: object, name: str, vocab_size: int, *, ignore_index: int | None = None
) -> torch.Tensor:
    """Check token ids: an integer tensor (not bool, not uint8) with every id in ``[0, V)``.

    Args:
        x: The ids.
        name: The argument's name, used in the error message.
        vocab_size: ``V``.
        ignore_index: An extra allowed value (``-100`` for labels), or ``None``.

    Returns:
        ``x`` itself.

    Raises:
        TypeError: If ``x`` is not a tensor of a signed integer dtype (``uint8`` would wrap ids).
        ValueError: If an id lies outside ``[0, V)`` (other than ``ignore_index``).

    Example:
        >>> check_ids(torch.tensor([1, 20]), "input_ids", 20)
        Traceback (most recent call last):
        ...
        ValueError: input_ids must lie in [0, 20), got 20
    """
    check_tensor(x, name, integer=True)
    if x.dtype == torch.uint8:  # type: ignore[union-attr]
        raise TypeError(f"{name} must have a signed integer dtype such as int64, got torch.uint8")
    ids = x if ignore_index is None else x[x != ignore_index]  # type: ignore[index]
    if ids.numel():
        low, high = int(ids.min()), int(ids.max())
        if low < 0 or high >= vocab_size:
            raise ValueError(
                f"{name} must lie in [0, {vocab_size}), got {low if low < 0 else high}"
            )
    return x  # type: ignore[return-value]


def check_floating_dtype(dtype: object, name: str = "dtype") -> torch.dtype:
    """Check that ``dtype`` is a floating-point ``torch.dtype``.

    Args:
        dtype: The object to check.
        name: The argument's name, used in the error message.

    Returns:
        ``dtype``.

    Raises:
        TypeError: If ``dtype`` is not a floating ``torch.dtype``.

    Example:
        >>> check_floating_dtype(torch.int64)
        Traceback (most recent call last):
        ...
        TypeError: dtype must be a floating-point torch.dtype, got torch.int64
    """
    if not isinstance(dtype, torch.dtype) or not dtype.is_floating_point:
        raise TypeError(f"{name} must be a floating-point torch.dtype, got {dtype!r}")
    return dtype


def check_module(value: object, name: str) -> nn.Module:
    """Check that ``value`` is a ``torch.nn.Module`` (a model, a policy, a layer).

    Args:
        value: The object to check.
        name: The caller's argument name, used in the error message.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: If it is not.

    Example:
        >>> check_module(None, "model")
        Traceback (most recent call last):
        ...
        TypeError: model must be a torch.nn.Module, got NoneType
    """
    if not isinstance(value, nn.Module):
        raise TypeError(f"{name} must be a torch.nn.Module, got {type(value).__name__}")
    return value


def check_optimizer(value: object, name: str = "optimizer") -> torch.optim.Optimizer:
    """Check that ``value`` is a ``torch.optim.Optimizer``.

    Args:
        value: The object to check.
        name: The caller's argument name, used in the error message.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: If it is not.

    Example:
        >>> check_optimizer(torch.nn.Linear(2, 1))
        Traceback (most recent call last):
        ...
        TypeError: optimizer must be a torch.optim.Optimizer, got Linear
    """
    if not isinstance(value, torch.optim.Optimizer):
        raise TypeError(f"{name} must be a torch.optim.Optimizer, got {type(value).__name__}")
    return value


def check_callable(value: object, name: str) -> object:
    """Check that ``value`` can be called (a loss, a policy, a metric).

    Args:
        value: The object to check.
        name: The caller's argument name, used in the error message.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: If it cannot.

    Example:
        >>> check_callable("mse", "loss_fn")
        Traceback (most recent call last):
        ...
        TypeError: loss_fn must be callable, got str
    """
    if not callable(value):
        raise TypeError(f"{name} must be callable, got {type(value).__name__}")
    return value


def check_generator(
    value: object, name: str = "generator", *, optional: bool = True
) -> torch.Generator | None:
    """Check that ``value`` is a ``torch.Generator`` (or ``None`` when ``optional``).

    Args:
        value: The object to check.
        name: The caller's argument name, used in the error message.
        optional: Whether ``None`` (use torch's global generator) is allowed.

    Returns:
        ``value``, unchanged.

    Raises:
        TypeError: If it is not.

    Example:
        >>> check_generator(5)
        Traceback (most recent call last):
        ...
        TypeError: generator must be a torch.Generator or None, got int
    """
    if value is None and optional:
        return None
    if not isinstance(value, torch.Generator):
        expected = "a torch.Generator or None" if optional else "a torch.Generator"
        raise TypeError(f"{name} must be {expected}, got {type(value).__name__}")
    return value
