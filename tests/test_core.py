"""The shared core: checks, device, seeding, the training loop, digits, plotting."""

from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from torch import nn

import companion
from companion.core import checks, datasets, plotting, training

matplotlib.use("Agg")


# --- checks ------------------------------------------------------------------------------------


def test_check_tensor_names_argument_and_shape():
    with pytest.raises(
        ValueError, match=r"heatmaps must be 4-D \(B, K, H, W\), got shape \(8, 64, 64\)"
    ):
        checks.check_tensor(torch.zeros(8, 64, 64), "heatmaps", ndim=4, dims="(B, K, H, W)")
    with pytest.raises(TypeError, match=r"points must be a torch\.Tensor"):
        checks.check_tensor([1, 2], "points")
    with pytest.raises(TypeError, match="x must have a floating-point dtype"):
        checks.check_tensor(torch.zeros(2, dtype=torch.long), "x", floating=True)
    with pytest.raises(TypeError, match="ids must have an integer dtype"):
        checks.check_tensor(torch.zeros(2), "ids", integer=True)
    with pytest.raises(ValueError, match="points must have size 2 in dimension -1"):
        checks.check_tensor(torch.zeros(1, 3, 3), "points", size={-1: 2})


def test_check_number_and_int():
    assert checks.check_number(3, "x") == 3.0
    with pytest.raises(ValueError, match=r"p must be in \(0, 1\), got 1"):
        checks.check_number(1, "p", low=0, high=1, low_inclusive=False, high_inclusive=False)
    with pytest.raises(ValueError, match="lr must be finite"):
        checks.check_number(float("nan"), "lr")
    with pytest.raises(TypeError, match="flag must be a real number"):
        checks.check_number(True, "flag")
    with pytest.raises(TypeError, match="t must be a Python number"):
        checks.check_number(torch.tensor(1.0), "t")
    with pytest.raises(TypeError, match="n must be an int"):
        checks.check_int(2.0, "n")
    with pytest.raises(ValueError, match=r"size\[1\] must be >= 1"):
        checks.check_pair((3, 0), "size")
    with pytest.raises(TypeError, match="size must be a pair"):
        checks.check_pair(3, "size")


def test_check_same_shape_refuses_broadcast():
    with pytest.raises(ValueError, match="pred and target must have the same shape"):
        checks.check_same_shape(torch.zeros(4, 1), "pred", torch.zeros(4), "target")


# --- device and seeding ------------------------------------------------------------------------


def test_get_device_prefers_cuda_then_mps(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert companion.get_device() == torch.device("cuda")
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: True)
    assert companion.get_device() == torch.device("mps")
    monkeypatch.setattr(torch.backends.mps, "is_available", lambda: False)
    assert companion.get_device() == torch.device("cpu")


def _run_once(seed: int) -> list[float]:
    companion.seed_everything(seed)
    model = nn.Sequential(nn.Linear(4, 8), nn.ReLU(), nn.Dropout(0.3), nn.Linear(8, 1))
    x, y = torch.randn(40, 4), torch.randn(40, 1)
    loader = training.make_loader(x, y, batch_size=8, shuffle=True, seed=seed)
    opt = torch.optim.SGD(model.parameters(), lr=0.05)
    return training.fit(
        model, loader, loader, nn.functional.mse_loss, opt, 3, progress=False
    ).iter_loss


def test_seed_everything_reproduces_losses():
    assert _run_once(3) == _run_once(3)
    assert _run_once(3) != _run_once(4)


def test_seed_everything_rejects_bad_seed():
    with pytest.raises(ValueError, match="seed"):
        companion.seed_everything(-1)
    with pytest.raises(TypeError, match="seed"):
        companion.seed_everything(1.5)


# --- fit -----------------------------------------------------------------------------------------


class Scale(nn.Module):
    """y = w * x with one weight, so every loss can be computed by hand."""

    def __init__(self, w: float):
        super().__init__()
        self.w = nn.Parameter(torch.tensor(w, dtype=torch.float64))

    def forward(self, x):
        return self.w * x


def test_fit_epoch_mean_matches_hand_computation():
    # 5 examples, batches of 2: sizes 2, 2, 1. Target y = 2x, model w*x, MSE, SGD lr 0.1.
    x = torch.tensor([1.0, 2.0, 3.0, 1.0, 2.0], dtype=torch.float64)
    y = 2 * x
    model = Scale(0.0)
    loader = training.make_loader(x, y, batch_size=2)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    h = training.fit(
        model, loader, loader, nn.functional.mse_loss, opt, 1, progress=False, eval_train=True
    )

    w, losses, sizes = 0.0, [], []
    for lo, hi in [(0, 2), (2, 4), (4, 5)]:
        xb, yb = x[lo:hi].tolist(), y[lo:hi].tolist()
        loss = sum((w * a - b) ** 2 for a, b in zip(xb, yb, strict=True)) / len(xb)
        grad = sum(2 * (w * a - b) * a for a, b in zip(xb, yb, strict=True)) / len(xb)
        losses.append(loss)
        sizes.append(len(xb))
        w -= 0.1 * grad
    expected_epoch = sum(v * n for v, n in zip(losses, sizes, strict=True)) / sum(sizes)
    expected_val = float(((w * x - y) ** 2).mean())

    assert h.iter_loss == pytest.approx(losses, rel=1e-12)
    assert h.train_loss == pytest.approx([expected_epoch], rel=1e-12)
    assert h.val_loss == pytest.approx([expected_val], rel=1e-12)
    assert h.train_eval_loss == pytest.approx([expected_val], rel=1e-12)
    assert h.iters_per_epoch == [3]
    # the unweighted mean of the three batch losses is different: weighting matters
    assert sum(losses) / 3 != pytest.approx(expected_epoch, rel=1e-6)


def test_fit_val_loss_in_eval_mode_and_restores_mode():
    model = nn.Sequential(nn.Linear(3, 3), nn.Dropout(0.9))
    x = torch.randn(16, 3)
    loader = training.make_loader(x, x, batch_size=16)
    opt = torch.optim.SGD(model.parameters(), lr=0.0)  # weights never move
    h = training.fit(model, loader, loader, nn.functional.mse_loss, opt, 2, progress=False)
    model.eval()
    with torch.no_grad():
        eval_loss = float(nn.functional.mse_loss(model(x), x))
    assert h.val_loss == pytest.approx([eval_loss] * 2, rel=1e-6)
    assert h.train_loss[0] != pytest.approx(eval_loss, rel=1e-3)  # dropout was on in training


def test_fit_metrics_and_keep_best():
    torch.manual_seed(0)
    x = torch.randn(64, 5)
    y = (x[:, 0] > 0).long()
    model = nn.Linear(5, 2)
    loader = training.make_loader(x, y, batch_size=16, shuffle=True, seed=0)
    opt = torch.optim.SGD(model.parameters(), lr=0.5)
    h = training.fit(
        model, loader, loader, nn.functional.cross_entropy, opt, 5,
        metrics={"acc": training.accuracy}, progress=False, keep_best=True,
    )  # fmt: skip
    assert set(h.metrics) == {"train_acc", "val_acc"}
    assert len(h.metrics["val_acc"]) == 5 and 0 <= min(h.metrics["val_acc"]) <= 1
    best = h.best_epoch
    assert h.val_loss[best] == min(h.val_loss)
    model.load_state_dict(h.best_state)
    again = training.evaluate(model, loader, nn.functional.cross_entropy)["loss"]
    assert again == pytest.approx(h.val_loss[best], rel=1e-6)


def test_fit_errors():
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    loader = training.make_loader(torch.zeros(4, 2), torch.zeros(4, 1), batch_size=2)
    empty = training.make_loader(torch.zeros(0, 2), torch.zeros(0, 1), batch_size=2)
    loss = nn.functional.mse_loss
    with pytest.raises(ValueError, match="epochs must be >= 1"):
        training.fit(model, loader, loader, loss, opt, 0, progress=False)
    with pytest.raises(TypeError, match="epochs must be an int"):
        training.fit(model, loader, loader, loss, opt, 2.0, progress=False)
    with pytest.raises(ValueError, match="train_loader is empty"):
        training.fit(model, empty, loader, loss, opt, 1, progress=False)
    with pytest.raises(ValueError, match="val_loader is empty"):
        training.fit(model, loader, empty, loss, opt, 1, progress=False)
    with pytest.raises(ValueError, match="train_loader is empty"):
        training.fit(model, iter([]), loader, loss, opt, 1, progress=False)
    with pytest.raises(ValueError, match="loader is empty"):
        training.evaluate(model, empty, loss)
    with pytest.raises(ValueError, match="history has no val_loss"):
        _ = training.History().best_epoch


def test_make_loader_errors():
    with pytest.raises(ValueError, match="same length"):
        training.make_loader(torch.zeros(3, 2), torch.zeros(4), batch_size=2)
    with pytest.raises(ValueError, match="batch_size must be >= 1"):
        training.make_loader(torch.zeros(3, 2), torch.zeros(3), batch_size=0)
    with pytest.raises(ValueError, match="seed must be given"):
        training.make_loader(torch.zeros(3, 2), torch.zeros(3), batch_size=2, shuffle=True)


def test_accuracy_errors():
    with pytest.raises(ValueError, match=r"output must be 2-D \(B, C\)"):
        training.accuracy(torch.zeros(3), torch.zeros(3, dtype=torch.long))
    with pytest.raises(ValueError, match="same batch size"):
        training.accuracy(torch.zeros(3, 2), torch.zeros(2, dtype=torch.long))


# --- data ------------------------------------------------------------------------------------------


def test_digits_split_is_seeded_disjoint_and_complete():
    a, b, c = datasets.digits(seed=1), datasets.digits(seed=1), datasets.digits(seed=2)
    assert torch.equal(a.x_train, b.x_train) and not torch.equal(a.x_train, c.x_train)
    n = len(a.x_train) + len(a.x_val) + len(a.x_test)
    assert n == 1797 and len(a.x_val) == round(0.2 * 1797)
    rows = {tuple(r) for r in torch.cat([a.x_train, a.x_val, a.x_test]).tolist()}
    assert len(rows) > 1700  # the three parts are a permutation, not resampled with repeats
    assert a.x_train.min() >= 0 and a.x_train.max() <= 1
    assert set(a.y_train.tolist()) == set(range(10))
    assert datasets.digits(flatten=False).x_train.shape[1:] == (1, 8, 8)


def test_digits_errors():
    with pytest.raises(ValueError, match="val_fraction"):
        datasets.digits(val_fraction=0.0)
    with pytest.raises(ValueError, match="test_fraction"):
        datasets.digits(test_fraction=1.0)
    with pytest.raises(ValueError, match=r"val_fraction \+ test_fraction must be < 1"):
        datasets.digits(val_fraction=0.6, test_fraction=0.4)


def test_untrained_classifier_scores_chance_level():
    """The reference number of chapter 1: an untrained 10-class net's loss is about ln 10."""
    torch.manual_seed(0)
    d = datasets.digits()
    model = nn.Sequential(nn.Linear(64, 128), nn.ReLU(), nn.Linear(128, 10))
    with torch.no_grad():
        loss = float(nn.functional.cross_entropy(model(d.x_val), d.y_val))
    assert abs(loss - math.log(10)) < 0.1


# --- plotting ----------------------------------------------------------------------------------------


def test_plot_helpers_draw_and_check_input():
    h = training.History(train_loss=[2.0, 1.0], val_loss=[1.5, 1.2])
    ax = plotting.plot_history(h, title="t")
    assert len(ax.lines) == 2 and ax.get_xlabel() == "epoch"
    with pytest.raises(TypeError, match="history must be"):
        plotting.plot_history({"loss": [1.0]})
    ax = plotting.plot_curves({"a": [1, 2, 3]}, logy=True)
    assert ax.get_yscale() == "log"
    with pytest.raises(ValueError, match="curves must be a non-empty mapping"):
        plotting.plot_curves({})
    fig = plotting.show_images([torch.zeros(4, 4), torch.ones(4, 4)], ["a", "b"])
    assert len(fig.axes) == 2
    with pytest.raises(ValueError, match="titles must have one entry per image"):
        plotting.show_images([torch.zeros(4, 4)], ["a", "b"])
    matplotlib.pyplot.close("all")


@pytest.mark.parametrize(("default", "expected"), [(1, 1), (2, 1), (4, 3), (16, 15)])
def test_leave_a_core_free_uses_one_thread_fewer_than_torchs_default(
    monkeypatch, default, expected
):
    before = torch.get_num_threads()
    monkeypatch.setattr(companion.core.device, "_TORCH_DEFAULT_THREADS", default)
    try:
        assert companion.leave_a_core_free() == expected
        assert torch.get_num_threads() == expected
        # A second call (the setup cell run again) takes no further core.
        assert companion.leave_a_core_free() == expected
        assert torch.get_num_threads() == expected
    finally:
        torch.set_num_threads(before)
