"""The core's one way to do the plumbing: data order, eval mode, seeded weights, smoothing, NaN stop."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from companion.core.device import eval_mode, resolve_device, seeded
from companion.core.training import (
    EpochSampler,
    NonFiniteLossError,
    check_finite_loss,
    evaluate,
    fit,
    make_loader,
    moving_average,
)


class Recorder(nn.Module):
    """A linear model that records the inputs of every training batch it sees."""

    def __init__(self) -> None:
        super().__init__()
        self.lin = nn.Linear(1, 1)
        self.seen: list[list[float]] = []

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training:
            self.seen.append(x[:, 0].tolist())
        return self.lin(x)


def run(loader, epochs=3):
    model = Recorder()
    opt = torch.optim.SGD(model.parameters(), lr=0.0)
    fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=epochs)
    return model.seen


def test_reused_loader_gives_every_run_the_same_batches():
    x = torch.arange(10.0).view(-1, 1)  # (N,) -> (N, 1)
    loader = make_loader(x, x.clone(), batch_size=3, shuffle=True, seed=7)
    first, second = run(loader), run(loader)
    assert first == second
    fresh = run(make_loader(x, x.clone(), batch_size=3, shuffle=True, seed=7))
    assert fresh == first
    # ...while the epochs of one run differ, and another seed gives another order
    epoch_orders = [[v for batch in first[i : i + 4] for v in batch] for i in (0, 4, 8)]
    assert epoch_orders[0] != epoch_orders[1]
    other = run(make_loader(x, x.clone(), batch_size=3, shuffle=True, seed=8))
    assert other != first


def test_epoch_sampler_is_a_permutation_set_by_seed_and_epoch():
    s = EpochSampler(20, seed=3)
    orders = [list(s) for _ in range(3)]
    assert all(sorted(o) == list(range(20)) for o in orders)
    assert orders[0] != orders[1]
    s.set_epoch(1)
    assert list(s) == orders[1]
    with pytest.raises(ValueError, match="n must be >= 1"):
        EpochSampler(0, seed=0)
    with pytest.raises(TypeError, match="seed must be an int"):
        EpochSampler(3, seed=1.5)


def test_make_loader_rejects_bad_seed():
    x = torch.zeros(4, 1)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        make_loader(x, x, batch_size=2, shuffle=True, seed=-1)


def test_eval_mode_restores_previous_mode_even_on_error():
    net = nn.Sequential(nn.Dropout(0.5))
    with eval_mode(net):
        assert not net.training and not net[0].training
    assert net.training
    net.eval()
    with eval_mode(net):
        pass
    assert not net.training
    net.train()
    with pytest.raises(RuntimeError), eval_mode(net):
        raise RuntimeError("boom")
    assert net.training
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        with eval_mode(None):
            pass


def test_seeded_depends_on_seed_only_and_restores_global_state():
    torch.manual_seed(123)
    before = torch.random.get_rng_state()
    with seeded(5):
        a = nn.Linear(4, 3).weight.detach().clone()
    assert torch.equal(torch.random.get_rng_state(), before)
    torch.rand(10)  # move the global generator: must not matter
    with seeded(5):
        b = nn.Linear(4, 3).weight.detach().clone()
    with seeded(6):
        c = nn.Linear(4, 3).weight.detach().clone()
    assert torch.equal(a, b) and not torch.equal(a, c)
    with pytest.raises(ValueError, match="seed must be >= 0"):
        with seeded(-1):
            pass


def test_resolve_device():
    assert resolve_device("cpu") == torch.device("cpu")
    assert resolve_device(None, nn.Linear(1, 1)) == torch.device("cpu")
    assert resolve_device(None, nn.ReLU()) == torch.device("cpu")
    with pytest.raises(ValueError, match="device must name a torch device"):
        resolve_device("bogus")
    with pytest.raises(TypeError, match=r"device must be a torch\.device"):
        resolve_device(3)
    with pytest.raises(TypeError, match=r"model must be a torch\.nn\.Module"):
        resolve_device(None, "model")


def test_moving_average_matches_a_loop():
    rng = np.random.default_rng(0)
    v = rng.normal(size=50)
    for w in (1, 2, 7, 50):
        expected = [v[i : i + w].mean() for i in range(len(v) - w + 1)]
        np.testing.assert_allclose(moving_average(v, w), expected, rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(moving_average(torch.tensor(v), 3), moving_average(v, 3))
    with pytest.raises(ValueError, match="window must be <= len"):
        moving_average([1.0, 2.0], 3)
    with pytest.raises(ValueError, match="window must be >= 1"):
        moving_average([1.0, 2.0], 0)
    with pytest.raises(ValueError, match="values must be 1-D"):
        moving_average(np.zeros((2, 2)), 1)


def test_fit_stops_on_nan_naming_the_step():
    x = torch.ones(8, 1)
    y = torch.ones(8, 1)
    y[5] = float("nan")
    loader = make_loader(x, y, batch_size=4)
    model = nn.Linear(1, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(NonFiniteLossError, match="loss became nan at step 1"):
        fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=2)
    assert check_finite_loss(1.0, "loss", 0) == 1.0


def test_fit_and_evaluate_refuse_the_n_by_n_broadcast():
    x = torch.randn(6, 2)
    y = torch.randn(6)  # (N,) against outputs (N, 1): MSE would broadcast to (N, N)
    loader = make_loader(x, y, batch_size=3)
    model = nn.Linear(2, 1)
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match=r"same shape.*\(3, 1\) and \(3,\)"):
        fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=1)
    with pytest.raises(ValueError, match="same shape"):
        evaluate(model, loader, nn.functional.mse_loss)
    # class-index targets are fine: cross-entropy takes (N, C) against (N,)
    labels = make_loader(x, torch.tensor([0, 1, 0, 1, 0, 1]), batch_size=3)
    evaluate(nn.Linear(2, 2), labels, nn.functional.cross_entropy)


def test_broadcast_is_refused_before_any_step():
    x, y = torch.randn(6, 2), torch.randn(6)
    loader = make_loader(x, y, batch_size=3)
    model = nn.Linear(2, 1)
    before = [p.detach().clone() for p in model.parameters()]
    opt = torch.optim.SGD(model.parameters(), lr=0.1)
    with pytest.raises(ValueError, match="same shape"):
        fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=1)
    assert all(torch.equal(a, b) for a, b in zip(before, model.parameters(), strict=True))


def test_keep_best_keeps_the_best_epoch_not_the_last():
    # Gradient descent past its stability limit: the error grows by 1.4x per step, so the best
    # val_loss is the first epoch's and the last epoch is the worst.
    x = torch.linspace(-1, 1, 8).view(-1, 1)  # (N,) -> (N, 1)
    y = 2 * x
    loader = make_loader(x, y, batch_size=8)
    model = nn.Linear(1, 1, bias=False)
    nn.init.zeros_(model.weight)
    lr = 1.2 / float((x**2).mean())
    opt = torch.optim.SGD(model.parameters(), lr=lr)
    h = fit(model, loader, loader, nn.functional.mse_loss, opt, epochs=3, keep_best=True)
    assert h.best_epoch == 0 and h.val_loss[2] > h.val_loss[0]
    model.load_state_dict(h.best_state)
    assert evaluate(model, loader, nn.functional.mse_loss)["loss"] == pytest.approx(h.val_loss[0])


def test_glue_stores_plain_numbers(monkeypatch):
    import sys
    import types

    import numpy as np

    from companion.core.plotting import glue

    stored = {}
    fake = types.ModuleType("myst_nb")
    fake.glue = lambda name, value, display=True: stored.__setitem__(name, value)
    monkeypatch.setitem(sys.modules, "myst_nb", fake)
    x = np.float64(0.25)
    assert glue("a", x) is x
    assert type(stored["a"]) is float and f"{stored['a']:.2f}" == "0.25"
    glue("b", torch.tensor(3))
    assert stored["b"] == 3 and type(stored["b"]) is int
    with pytest.raises(ValueError, match="name must be an identifier"):
        glue("not a name", 1.0)
    with pytest.raises(TypeError, match="name must be a str"):
        glue(3, 1.0)
