"""A small, honest training loop that records what Keras prints as ``loss`` and ``val_loss``.

The loop is deliberately plain: the point of :func:`fit` is that a reader can say exactly what each
recorded number means.

Convention:
    ``loss_fn(output, target)`` must return the *mean* loss over the batch (PyTorch's default
    ``reduction="mean"``, and Keras' default). :func:`fit` weights each batch's mean by its size,
    so an epoch's ``train_loss`` is the mean over every training example seen in that epoch, as
    Keras reports it, even when the last batch is smaller.

Data order:
    A shuffling loader from :func:`make_loader` draws epoch ``e``'s order from ``(seed, e)`` alone
    (an :class:`EpochSampler`), and :func:`fit` tells it which epoch it is at the start of each one.
    So two runs of :func:`fit` given loaders with the same seed see the same batches in the same
    order, however often a loader object is reused: comparisons between runs are matched on data.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np
import torch
from torch import nn
from tqdm.auto import tqdm

from companion.core.checks import (
    check_bool,
    check_callable,
    check_finite,
    check_int,
    check_module,
    check_nonempty,
    check_optimizer,
    check_tensor,
)
from companion.core.device import eval_mode, resolve_device

__all__ = [
    "EpochSampler",
    "History",
    "NonFiniteLossError",
    "accuracy",
    "check_finite_loss",
    "evaluate",
    "fit",
    "make_loader",
    "moving_average",
]

Metric = Callable[[torch.Tensor, torch.Tensor], torch.Tensor]


class NonFiniteLossError(FloatingPointError):
    """Training stopped because a loss became NaN or infinite (Keras' ``TerminateOnNaN``)."""


def check_finite_loss(value: float | torch.Tensor, name: str, step: int) -> float:
    """Stop training with a clear error if a loss (or other training quantity) is not finite.

    Every training function of the companion calls this on its loss at every step, so that a NaN
    input or a diverging run stops at once, naming the step, instead of returning a record of NaN.

    Args:
        value: The quantity, a Python number or a 0-d tensor.
        name: What it is, for the message (``"loss"``, ``"critic loss"``).
        step: The step (iteration) at which it was computed, counted from 0.

    Returns:
        ``value`` as a ``float``.

    Raises:
        NonFiniteLossError: If ``value`` is NaN or infinite (a subclass of ``FloatingPointError``).
        TypeError: If ``value`` is not a real number or a one-element tensor, or ``step`` is not
            an int.
        ValueError: If ``step < 0``.

    Example:
        >>> check_finite_loss(torch.tensor(0.5), "loss", step=3)
        0.5
        >>> check_finite_loss(float("nan"), "loss", step=3)
        Traceback (most recent call last):
        ...
        companion.core.training.NonFiniteLossError: loss became nan at step 3; training stopped
    """
    check_int(step, "step", minimum=0)
    if isinstance(value, torch.Tensor):
        if value.numel() != 1:
            raise TypeError(
                f"value must be a number or a one-element tensor, got shape {tuple(value.shape)}"
            )
    elif isinstance(value, bool) or not isinstance(value, (int, float, np.number)):
        raise TypeError(f"value must be a real number or a 0-d tensor, got {type(value).__name__}")
    v = float(value)
    if not math.isfinite(v):
        raise NonFiniteLossError(f"{name} became {v} at step {step}; training stopped")
    return v


class EpochSampler(torch.utils.data.Sampler[int]):
    """Shuffles ``range(n)`` with an order that depends on ``(seed, epoch)`` alone.

    Each pass draws the permutation of the current epoch and then moves to the next epoch;
    :meth:`set_epoch` sets the epoch explicitly (as ``DistributedSampler.set_epoch`` does), which
    :func:`fit` calls at the start of every epoch. The per-epoch seed comes from NumPy's
    ``SeedSequence([seed, epoch])``, so different seeds never share an epoch's order by accident.

    Args:
        n: Number of examples, >= 1.
        seed: Seed of the shuffling, >= 0.

    Raises:
        TypeError: If ``n`` or ``seed`` is not an int.
        ValueError: If ``n < 1`` or ``seed < 0``.

    Example:
        >>> s = EpochSampler(5, seed=0)
        >>> first, second = list(s), list(s)
        >>> s.set_epoch(0)
        >>> list(s) == first, first != second
        (True, True)
    """

    def __init__(self, n: int, seed: int) -> None:
        self.n = check_int(n, "n", minimum=1)
        self.seed = check_int(seed, "seed", minimum=0)
        self.epoch = 0

    def set_epoch(self, epoch: int) -> None:
        """Make the next pass draw epoch ``epoch``'s order (an int >= 0).

        Raises:
            TypeError: If ``epoch`` is not an int.
            ValueError: If ``epoch`` is negative.
        """
        self.epoch = check_int(epoch, "epoch", minimum=0)

    def __len__(self) -> int:
        return self.n

    def __iter__(self) -> Iterator[int]:
        state = np.random.SeedSequence([self.seed, self.epoch]).generate_state(2)
        g = torch.Generator().manual_seed(int(state[0]) << 32 | int(state[1]))
        self.epoch += 1
        return iter(torch.randperm(self.n, generator=g).tolist())


@dataclass
class History:
    """What :func:`fit` recorded.

    Attributes:
        train_loss: ``train_loss[e]`` is the size-weighted mean of the per-batch training losses over
            epoch ``e``, measured while the weights move and with dropout on (Keras' ``loss``).
        val_loss: ``val_loss[e]`` is the loss over the whole validation set after epoch ``e``, in eval
            mode (Keras' ``val_loss``).
        iter_loss: The training loss of every mini-batch (iteration), in order.
        iters_per_epoch: Number of iterations in each epoch.
        train_eval_loss: If ``fit(eval_train=True)``: the loss over the whole training set after
            epoch ``e``, in eval mode, measured the same way as ``val_loss``.
        best_state: If ``fit(keep_best=True)``: a copy of the weights at :attr:`best_epoch`.
        metrics: ``"train_<name>"`` (running, like ``train_loss``) and ``"val_<name>"`` (end of
            epoch, eval mode) for each metric passed to :func:`fit`.
    """

    train_loss: list[float] = field(default_factory=list)
    val_loss: list[float] = field(default_factory=list)
    iter_loss: list[float] = field(default_factory=list)
    iters_per_epoch: list[int] = field(default_factory=list)
    train_eval_loss: list[float] = field(default_factory=list)
    best_state: dict[str, torch.Tensor] | None = None
    metrics: dict[str, list[float]] = field(default_factory=dict)

    @property
    def epochs(self) -> int:
        """Number of completed epochs."""
        return len(self.train_loss)

    @property
    def best_epoch(self) -> int:
        """Index of the epoch with the lowest ``val_loss`` (where early stopping would keep weights).

        Raises:
            ValueError: If no epoch has been recorded yet.
        """
        if not self.val_loss:
            raise ValueError("history has no val_loss yet")
        return min(range(len(self.val_loss)), key=self.val_loss.__getitem__)


def make_loader(
    x: torch.Tensor,
    y: torch.Tensor,
    batch_size: int,
    *,
    shuffle: bool = False,
    seed: int | None = None,
) -> torch.utils.data.DataLoader:
    """Wrap two tensors in a ``DataLoader`` whose shuffling is seeded.

    Args:
        x: Inputs, shape ``(N, ...)``.
        y: Targets, shape ``(N, ...)``.
        batch_size: Examples per mini-batch (the last batch may be smaller).
        shuffle: Reshuffle at every epoch, through an :class:`EpochSampler`: epoch ``e``'s order
            depends on ``(seed, e)`` only (see the module's *Data order*).
        seed: Seed of the shuffling; required when ``shuffle`` is true.

    Returns:
        A ``DataLoader`` of ``(x, y)`` batches.

    Raises:
        ValueError: If ``x`` and ``y`` differ in length, ``batch_size < 1``, or ``shuffle`` is set
            without a ``seed``.
        TypeError: If ``x`` or ``y`` is not a tensor, ``batch_size`` or ``seed`` not an int, or
            ``shuffle`` not a bool.

    Example:
        >>> loader = make_loader(torch.zeros(10, 3), torch.zeros(10), batch_size=4)
        >>> [len(xb) for xb, _ in loader]
        [4, 4, 2]
    """
    check_tensor(x, "x")
    check_tensor(y, "y")
    if x.ndim == 0 or y.ndim == 0 or len(x) != len(y):
        raise ValueError(
            f"x and y must have the same length, got shapes {tuple(x.shape)} and {tuple(y.shape)}"
        )
    check_int(batch_size, "batch_size", minimum=1)
    check_bool(shuffle, "shuffle")
    if shuffle and seed is None:
        raise ValueError("seed must be given when shuffle=True, so that the order is repeatable")
    if seed is not None:
        check_int(seed, "seed", minimum=0)
    sampler = EpochSampler(len(x), seed) if shuffle else None  # type: ignore[arg-type]
    return torch.utils.data.DataLoader(
        torch.utils.data.TensorDataset(x, y), batch_size=batch_size, sampler=sampler
    )


def _check_loader(loader: Iterable, name: str) -> None:
    if isinstance(loader, (str, bytes, torch.Tensor)) or not isinstance(loader, Iterable):
        raise TypeError(
            f"{name} must be an iterable of (x, y) batches such as a DataLoader, got "
            f"{type(loader).__name__}"
        )
    try:
        n = len(loader)  # type: ignore[arg-type]
    except TypeError:
        return
    if n == 0:
        raise ValueError(f"{name} is empty: it yields no batches")


@torch.no_grad()
def evaluate(
    model: nn.Module,
    loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    *,
    device: torch.device | str | None = None,
    metrics: Mapping[str, Metric] | None = None,
) -> dict[str, float]:
    """Loss (and metrics) over a whole dataset, in eval mode, without changing the weights.

    Args:
        model: The network. It is put in eval mode and restored to its previous mode afterwards.
        loader: Yields ``(x, y)`` batches.
        loss_fn: Mean-reduced loss ``loss_fn(output, y)``.
        device: Where to run; defaults to the device of the model's first parameter.
        metrics: Optional ``{name: fn(output, y) -> mean over batch}``.

    Returns:
        ``{"loss": ..., name: ...}``: size-weighted means over every example.

    Raises:
        ValueError: If ``loader`` yields no batches, or a float output and a float target differ
            in shape.
        TypeError: If ``model`` is not a module, ``loader`` is not an iterable of ``(x, y)``
            tensor pairs, ``loss_fn`` or a metric is not callable, or ``device`` is not a device.
    """
    metrics = _check_training_args(model, loss_fn, metrics)
    _check_loader(loader, "loader")
    device = resolve_device(device, model)
    totals: dict[str, float] = {"loss": 0.0, **{k: 0.0 for k in (metrics or {})}}
    count = 0
    with eval_mode(model):
        for batch in loader:
            xb, yb = _unpack(batch, "loader")
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            _check_output_target(out, yb)
            n = len(xb)
            totals["loss"] += float(loss_fn(out, yb)) * n
            for name, fn in (metrics or {}).items():
                totals[name] += float(fn(out, yb)) * n
            count += n
    if count == 0:
        raise ValueError("loader is empty: it yields no batches")
    return {k: v / count for k, v in totals.items()}


def _unpack(batch: object, name: str) -> tuple[torch.Tensor, torch.Tensor]:
    """One ``(x, y)`` batch of a loader, or a ``TypeError`` that names the loader."""
    if not isinstance(batch, (tuple, list)) or len(batch) != 2:
        raise TypeError(f"{name} must yield (x, y) pairs of tensors, got {type(batch).__name__}")
    xb, yb = batch
    if not isinstance(xb, torch.Tensor) or not isinstance(yb, torch.Tensor):
        raise TypeError(
            f"{name} must yield (x, y) pairs of tensors, got ({type(xb).__name__}, "
            f"{type(yb).__name__})"
        )
    return xb, yb


def _check_training_args(model: object, loss_fn: object, metrics: object) -> dict[str, Metric]:
    check_module(model, "model")
    check_callable(loss_fn, "loss_fn")
    if metrics is None:
        return {}
    if not isinstance(metrics, Mapping):
        raise TypeError(f"metrics must be a mapping {{name: fn}}, got {type(metrics).__name__}")
    for name, fn in metrics.items():
        if not isinstance(name, str):
            raise TypeError(f"metrics keys must be str, got {type(name).__name__}")
        check_callable(fn, f"metrics[{name!r}]")
    return dict(metrics)


def _check_output_target(output: torch.Tensor, target: torch.Tensor) -> None:
    """Refuse the silent broadcast of a float output against a float target of another shape.

    An elementwise loss such as ``F.mse_loss`` given outputs ``(N, 1)`` and targets ``(N,)``
    broadcasts them to ``(N, N)`` and trains on every pair (torch only warns). Class-index targets
    (integer dtype) are left alone: cross-entropy takes ``(N, C)`` against ``(N,)`` by design.
    """
    if output.is_floating_point() and target.is_floating_point() and output.shape != target.shape:
        raise ValueError(
            f"model output and target must have the same shape for an elementwise loss, got "
            f"{tuple(output.shape)} and {tuple(target.shape)}: reshape the target (e.g. "
            f"y.view(-1, 1)) or the output, or an MSE loss would broadcast them"
        )


def fit(
    model: nn.Module,
    train_loader: Iterable,
    val_loader: Iterable,
    loss_fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor],
    optimizer: torch.optim.Optimizer,
    epochs: int,
    *,
    device: torch.device | str | None = None,
    metrics: Mapping[str, Metric] | None = None,
    progress: bool = False,
    eval_train: bool = False,
    keep_best: bool = False,
) -> History:
    """Train ``model`` for ``epochs`` full passes and record ``loss``/``val_loss`` per epoch.

    An *epoch* is one full pass over ``train_loader``; an *iteration* is one mini-batch, i.e. one
    optimizer step.

    Args:
        model: The network; moved to ``device``.
        train_loader: Yields ``(x, y)`` training batches (reshuffled each epoch if it shuffles).
        val_loader: Yields ``(x, y)`` validation batches.
        loss_fn: Mean-reduced loss ``loss_fn(output, y)`` (see the module's Convention).
        optimizer: Built on ``model.parameters()``.
        epochs: Number of epochs, at least 1.
        device: Where to train; defaults to the device of the model's first parameter.
        metrics: Optional ``{name: fn(output, y) -> batch mean}``, recorded as ``train_<name>``
            (running mean, like ``train_loss``) and ``val_<name>``.
        progress: Show a ``tqdm.auto`` bar over epochs (off by default; notebooks pass their
            ``PROGRESS`` parameter).
        eval_train: Also evaluate the whole training set in eval mode after each epoch
            (``History.train_eval_loss``), to separate *when* from *how* the loss is measured.
        keep_best: Early stopping after the fact: keep a copy of the weights of the epoch with the
            lowest ``val_loss`` in ``History.best_state`` (load it with ``model.load_state_dict``;
            Keras' ``EarlyStopping(restore_best_weights=True)`` with unlimited patience). The model
            itself keeps its final weights.

    Returns:
        The :class:`History` of the run.

    Raises:
        ValueError: If ``epochs < 1``, a loader yields no batches, or a float output and a float
            target differ in shape (an elementwise loss would broadcast them).
        TypeError: If ``epochs`` is not an ``int``, ``model`` not a module, ``optimizer`` not an
            optimizer, ``loss_fn`` or a metric not callable, a loader not an iterable of
            ``(x, y)`` tensor pairs, or a flag not a bool.
        NonFiniteLossError: If a training loss becomes NaN or infinite; the message names the
            step.

    Example:
        >>> _ = torch.manual_seed(0)
        >>> model = nn.Linear(3, 1)
        >>> x, y = torch.randn(20, 3), torch.randn(20, 1)
        >>> loader = make_loader(x, y, batch_size=8)
        >>> opt = torch.optim.SGD(model.parameters(), lr=0.1)
        >>> h = fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=2, progress=False)
        >>> h.iters_per_epoch, len(h.iter_loss), len(h.val_loss)
        ([3, 3], 6, 2)
    """
    check_int(epochs, "epochs", minimum=1)
    metrics = _check_training_args(model, loss_fn, metrics)
    check_optimizer(optimizer, "optimizer")
    check_bool(progress, "progress")
    check_bool(eval_train, "eval_train")
    check_bool(keep_best, "keep_best")
    _check_loader(train_loader, "train_loader")
    _check_loader(val_loader, "val_loader")
    device = resolve_device(device, model)
    model.to(device)
    history = History()
    for name in metrics:
        history.metrics[f"train_{name}"] = []
        history.metrics[f"val_{name}"] = []

    bar = tqdm(range(epochs), desc="epochs", disable=not progress, leave=False)
    for epoch in bar:
        sampler = getattr(train_loader, "sampler", None)
        if hasattr(sampler, "set_epoch"):
            sampler.set_epoch(epoch)  # the order of epoch e depends on (seed, e) only
        model.train()
        total, count, iters = 0.0, 0, 0
        metric_totals = {name: 0.0 for name in metrics}
        for batch in train_loader:
            xb, yb = _unpack(batch, "train_loader")
            xb, yb = xb.to(device), yb.to(device)
            out = model(xb)
            _check_output_target(out, yb)
            loss = loss_fn(out, yb)
            value = check_finite_loss(loss.detach(), "loss", step=len(history.iter_loss))
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            n = len(xb)
            history.iter_loss.append(value)
            total += value * n
            count += n
            iters += 1
            with torch.no_grad():
                for name, fn in metrics.items():
                    metric_totals[name] += float(fn(out.detach(), yb)) * n
        if count == 0:
            raise ValueError("train_loader is empty: it yields no batches")
        history.train_loss.append(total / count)
        history.iters_per_epoch.append(iters)
        for name in metrics:
            history.metrics[f"train_{name}"].append(metric_totals[name] / count)

        val = evaluate(model, val_loader, loss_fn, device=device, metrics=metrics)
        history.val_loss.append(val["loss"])
        for name in metrics:
            history.metrics[f"val_{name}"].append(val[name])
        if eval_train:
            history.train_eval_loss.append(
                evaluate(model, train_loader, loss_fn, device=device)["loss"]
            )
        if keep_best and history.best_epoch == history.epochs - 1:
            history.best_state = {k: v.detach().clone() for k, v in model.state_dict().items()}
        bar.set_postfix(loss=f"{history.train_loss[-1]:.4f}", val_loss=f"{val['loss']:.4f}")
    return history


def accuracy(output: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Fraction of rows whose arg-max logit equals the integer class target.

    Args:
        output: Logits, shape ``(B, C)``.
        target: Class indices, shape ``(B,)``.

    Returns:
        A 0-d float tensor in ``[0, 1]``.

    Raises:
        TypeError: If ``output`` is not floating point or ``target`` not an integer tensor.
        ValueError: If the shapes do not match ``(B, C)`` and ``(B,)`` with ``B >= 1`` and
            ``C >= 2``, a target lies outside ``[0, C)``, or an output is not finite.

    Example:
        >>> accuracy(torch.tensor([[2.0, 1.0], [0.0, 3.0]]), torch.tensor([0, 0]))
        tensor(0.5000)
    """
    check_tensor(output, "output", ndim=2, dims="(B, C)", floating=True)
    check_tensor(target, "target", ndim=1, dims="(B,)", integer=True)
    check_nonempty(output, "output")
    check_finite(output, "output")
    if output.shape[1] < 2:
        raise ValueError(f"output must have C >= 2 class scores, got shape {tuple(output.shape)}")
    if len(target) and (int(target.min()) < 0 or int(target.max()) >= output.shape[1]):
        raise ValueError(f"target must hold class indices in [0, {output.shape[1]})")
    if len(output) != len(target):
        raise ValueError(
            f"output and target must have the same batch size, got {len(output)} and {len(target)}"
        )
    return (output.argmax(dim=1) == target).float().mean()


def moving_average(values: Sequence[float] | np.ndarray | torch.Tensor, window: int) -> np.ndarray:
    """Mean of each run of ``window`` consecutive values (the course's one smoothing of curves).

    Entry ``i`` of the result is the mean of ``values[i : i + window]``, so the result is
    ``window - 1`` shorter than the input and entry ``i`` belongs at position ``i + window - 1``
    (the last value it has seen) on a step axis.

    Args:
        values: A 1-D sequence of numbers.
        window: Length of each run, between 1 and ``len(values)``.

    Returns:
        A float64 NumPy array of length ``len(values) - window + 1``.

    Raises:
        TypeError: If ``window`` is not an int.
        ValueError: If ``values`` is not 1-D or not finite, or ``window`` is outside
            ``[1, len(values)]``.

    Example:
        >>> moving_average([1.0, 2.0, 3.0, 4.0], 2)
        array([1.5, 2.5, 3.5])
    """
    if isinstance(values, torch.Tensor):
        values = values.detach().cpu().numpy()
    try:
        arr = np.asarray(values, dtype=np.float64)
    except (TypeError, ValueError) as err:
        raise TypeError(
            f"values must be a 1-D sequence of numbers, got {type(values).__name__}"
        ) from err
    if arr.ndim != 1:
        raise ValueError(f"values must be 1-D, got shape {arr.shape}")
    if not np.isfinite(arr).all():
        raise ValueError("values must be finite, got NaN or infinite entries")
    check_int(window, "window", minimum=1)
    if window > len(arr):
        raise ValueError(f"window must be <= len(values) = {len(arr)}, got {window}")
    csum = np.concatenate(([0.0], np.cumsum(arr)))  # (N + 1,)
    return (csum[window:] - csum[:-window]) / window
