"""Bad-input case tables for every public callable of the companion, and the machinery that runs them.

One table per companion module (``tests/bad_input/<module>.py``, a list ``CASES`` of :class:`Case`).
A case gives one *valid* call of a callable; :func:`mutations` derives a battery of bad inputs from
the type of each valid argument (wrong rank, mismatched batch, wrong dtype, empty, NaN/inf, out of
range, wrong type, ``None``) and each must end in a ``ValueError``/``TypeError`` whose message names
the argument. A case lists the mutations that are *legitimately* accepted (``ok``, each with its
reason) and adds explicit bad calls that the generic battery cannot derive (``extra``).

``tests/test_bad_input.py`` runs every row and fails when a public callable has no case;
``tests/fuzz_public_api.py`` runs the same rows and prints the counts.
"""

from __future__ import annotations

import importlib
import inspect
import math
import os
import pkgutil
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn

import companion
from companion.core.training import NonFiniteLossError

TABLES = (
    "core",
    "cnn_filters",
    "deconv",
    "keypoint_regression",
    "mlm",
    "policy_gradient",
    "rpn",
    "sac",
    "soft_argmax",
    "sts",
    "weight_decay",
)


@dataclass
class Case:
    """One public callable, one valid call, and what may be accepted.

    Attributes:
        target: Dotted name, ``"companion.sac.soft_q_target"`` or ``"companion.sac.SACAgent.update"``.
        make: Returns ``(callable, kwargs)`` of a valid call; called afresh for every mutation.
        ok: ``{"arg:mutation": reason}`` (``"arg:*"`` for every mutation of ``arg``): accepted on
            purpose. The reason is part of the table so that a reviewer can judge it.
        extra: Explicit bad calls ``(label, arg, bad value, name the error must contain)``; a
            name of ``None`` marks an extreme but *valid* input whose answer must be finite.
        record: A plain record (results, histories) that the library fills: listed, not fuzzed;
            the string says why.
        fixed: Arguments not to mutate at all (a checker's own settings, which are the caller's
            literals).
        names: ``{arg: name}`` where the error must name something other than ``arg`` (a
            checker names the caller's argument, passed to it as ``name``).
    """

    target: str
    make: Callable[[], tuple[Callable, dict]] | None = None
    ok: dict[str, str] = field(default_factory=dict)
    extra: list[tuple[str, str, object, str]] = field(default_factory=list)
    record: str = ""
    fixed: tuple[str, ...] = ()
    names: dict[str, str] = field(default_factory=dict)


# ------------------------------------------------------------------------------------ the API


def public_callables() -> list[str]:
    """Dotted names of every public callable: functions, classes and public methods in ``__all__``."""
    names: set[str] = set()
    for info in pkgutil.walk_packages(companion.__path__, "companion."):
        mod = importlib.import_module(info.name)
        for name in getattr(mod, "__all__", ()):
            obj = getattr(mod, name)
            if not callable(obj) or not getattr(obj, "__module__", "").startswith("companion"):
                continue
            if isinstance(obj, type) and issubclass(obj, BaseException):
                continue
            qual = f"{obj.__module__}.{obj.__qualname__}"
            names.add(qual)
            if isinstance(obj, type):
                # Methods written in the class or in a companion base it inherits them from
                # (AdamL2.step is _Adam's). Checking where each function was written matters:
                # torch.optim.Optimizer copies a wrapped ``step`` onto a subclass when its first
                # instance is made, which would make this list depend on which tests ran first.
                for klass in obj.__mro__:
                    if not klass.__module__.startswith("companion"):
                        continue
                    for attr, value in vars(klass).items():
                        if attr.startswith("_") or attr in {"extra_repr"}:
                            continue
                        func = getattr(value, "__func__", value)  # staticmethod/classmethod
                        written_here = getattr(func, "__qualname__", "") == (
                            f"{klass.__qualname__}.{attr}"
                        )
                        if written_here and (
                            isinstance(value, (staticmethod, classmethod))
                            or inspect.isfunction(value)
                        ):
                            names.add(f"{qual}.{attr}")
    return sorted(names)


def all_cases() -> list[Case]:
    cases: list[Case] = []
    here = os.path.dirname(__file__)
    for table in TABLES:
        if os.path.exists(os.path.join(here, f"{table}.py")):
            cases += importlib.import_module(f"bad_input.{table}").CASES
    return cases


# ------------------------------------------------------------------------------------ mutations

Mutation = tuple[str, str, object]  # (arg, label, bad value)


def _with(x: torch.Tensor, value: float) -> torch.Tensor:
    y = x.clone()
    y.view(-1)[0] = value
    return y


def _tensor_mutations(arg: str, x: torch.Tensor, batch: int | None) -> Iterator[Mutation]:
    yield arg, "none", None
    yield arg, "str", "abc"
    yield arg, "list", x.tolist() if x.numel() < 50 else [0.0]
    yield arg, "rank+1", x.unsqueeze(0)
    if x.ndim >= 1:
        yield arg, "rank-1", x[0]
        if x.shape[0] > 0:
            yield arg, "empty", x[:0]
        if batch is not None and x.shape[0] == batch:
            yield arg, "batch", x[:1] if batch > 1 else torch.cat([x, x])
    if x.ndim >= 1 and x.shape[-1] > 1:
        yield arg, "last-1", x[..., :1]
    if x.is_floating_point():
        if x.numel():
            yield arg, "nan", _with(x, math.nan)
            yield arg, "inf", _with(x, math.inf)
        yield arg, "int", x.round().long()
        yield (
            arg,
            "float64" if x.dtype != torch.float64 else "float32",
            (x.double() if x.dtype != torch.float64 else x.float()),
        )
        yield arg, "bool", x > 0
    elif x.dtype == torch.bool:
        yield arg, "float", x.float()
        yield arg, "int", x.long()
    else:
        yield arg, "float", x.float()
        yield arg, "bool", x != 0
        if x.numel():
            yield arg, "negative", _with(x, -1)
            yield arg, "huge", _with(x, 10**6)


def _number_mutations(arg: str, v: object) -> Iterator[Mutation]:
    yield arg, "none", None
    yield arg, "str", "3"
    yield arg, "bool", True
    if isinstance(v, int):
        yield arg, "float", float(v) + 0.5
        yield arg, "negative", -1
        if v >= 1:
            yield arg, "zero", 0
        yield arg, "tensor", torch.tensor(v)
    else:
        yield arg, "nan", math.nan
        yield arg, "inf", math.inf
        yield arg, "negative", -1.0
        yield arg, "tensor1", torch.tensor([float(v), float(v)])


def mutations(kwargs: dict, fixed: Sequence[str] = ()) -> Iterator[Mutation]:
    """The battery of bad inputs derived from a valid call's keyword arguments."""
    sizes = [v.shape[0] for v in kwargs.values() if isinstance(v, torch.Tensor) and v.ndim >= 1]
    shared = {s for s in sizes if sizes.count(s) >= 2}
    batch = max(shared) if shared else None
    for arg, v in kwargs.items():
        if arg in fixed:
            continue
        if isinstance(v, torch.Tensor):
            yield from _tensor_mutations(arg, v, batch)
        elif isinstance(v, np.ndarray):
            yield arg, "none", None
            yield arg, "str", "abc"
            if v.ndim >= 1 and v.shape[-1] > 1:
                yield arg, "last-1", v[..., :1]
            if v.dtype.kind == "f" and v.size:
                w = v.copy()
                w.flat[0] = np.nan
                yield arg, "nan", w
        elif isinstance(v, bool) or isinstance(v, np.bool_):
            yield arg, "str", "no"
            yield arg, "none", None
            yield arg, "int", 1
        elif isinstance(v, (int, float)):
            yield from _number_mutations(arg, v)
        elif isinstance(v, str):
            yield arg, "bogus", "bogus"
            yield arg, "none", None
            yield arg, "int", 3
        elif isinstance(v, torch.Generator):
            yield arg, "int", 5
            yield arg, "str", "abc"
        elif isinstance(v, torch.device):
            yield arg, "bogus", "bogus"
            yield arg, "int", 5.5
        elif isinstance(v, nn.Module):
            yield arg, "none", None
            yield arg, "str", "abc"
        elif isinstance(v, torch.optim.Optimizer):
            yield arg, "none", None
            yield arg, "str", "abc"
        elif isinstance(v, (tuple, list)) and not hasattr(v, "_fields"):
            yield arg, "none", None
            if v and all(isinstance(e, str) for e in v):
                yield arg, "str", v[0]
            else:
                yield arg, "str", "ab"
            yield arg, "empty", type(v)()
            if v and all(isinstance(e, (int, float)) and not isinstance(e, bool) for e in v):
                yield arg, "negative", type(v)(-1 for _ in v)
                yield arg, "nan", type(v)(math.nan for _ in v)
                yield arg, "longer", type(v)([*list(v), v[-1]])
        elif v is None:
            yield arg, "str", "abc"
            yield arg, "int", 3
        else:  # a config, a record, an environment, a callable, a mapping
            yield arg, "none", None
            yield arg, "str", "abc"


# ------------------------------------------------------------------------------------ running

GOOD, NAMED_NONFINITE, ALLOWED, NAN_DOC, SILENT, UNNAMED, WRONG_KIND, WRONG_RESULT = (
    "good error",
    "training stopped (non-finite)",
    "accepted on purpose",
    "NaN propagation documented",
    "accepted silently",
    "error does not name the argument",
    "error of another kind",
    "NaN or inf from valid input",
)
EMPTY_OUT = "empty batch in, empty result out"
FINITE = "valid extreme input, finite answer"
BAD_OUTCOMES = (SILENT, UNNAMED, WRONG_KIND, WRONG_RESULT)


def _finite(result: object) -> bool:
    if isinstance(result, torch.Tensor):
        return not result.is_floating_point() or bool(torch.isfinite(result).all())
    if isinstance(result, float):
        return math.isfinite(result)
    if isinstance(result, (tuple, list)):
        return all(_finite(r) for r in result)
    return True


def _documents_nan(func: Callable) -> bool:
    doc = inspect.getdoc(func) or ""
    if inspect.isclass(func):
        doc += inspect.getdoc(getattr(func, "forward", None)) or ""
    return "NaN" in doc and "propagat" in doc


def run_one(
    case: Case, arg: str, label: str, value: object, name: str | None = None
) -> tuple[str, str]:
    """Call ``case`` with ``arg`` replaced by ``value``; return ``(outcome, detail)``."""
    func, kwargs = case.make()
    kwargs = dict(kwargs)
    kwargs[arg] = value
    try:
        result = func(**kwargs)
    except (ValueError, TypeError) as err:
        msg = str(err)
        if name is not None and name in msg:
            return GOOD, msg
        return UNNAMED, f"{type(err).__name__}: {msg}"
    except NonFiniteLossError as err:
        return NAMED_NONFINITE, str(err)
    except Exception as err:
        return WRONG_KIND, f"{type(err).__name__}: {str(err)[:200]}"
    if name is None:  # an extreme but valid input: the answer must be finite
        return (FINITE, "") if _finite(result) else (WRONG_RESULT, repr(result)[:160])
    if label == "empty" and isinstance(result, torch.Tensor) and result.numel() == 0:
        return EMPTY_OUT, ""
    for key in (f"{arg}:{label}", f"{arg}:*", f"*:{label}"):
        if key in case.ok:
            return ALLOWED, case.ok[key]
    if label in {"nan", "inf"} and _documents_nan(func):
        return NAN_DOC, ""
    return SILENT, ""


def rows(case: Case) -> list[tuple[str, str, object, str]]:
    """Every ``(arg, label, value, name)`` the case runs: the generic battery and the extras."""
    if case.record or case.make is None:
        return []
    _, kwargs = case.make()
    out = [(a, lab, v, case.names.get(a, a)) for a, lab, v in mutations(kwargs, case.fixed)]
    out += [(a, label, v, name) for label, a, v, name in case.extra]
    return out
