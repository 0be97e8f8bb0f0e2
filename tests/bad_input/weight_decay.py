"""Bad-input cases for ``companion.weight_decay``."""

from __future__ import annotations

import torch
from torch import nn

from bad_input import Case
from companion import weight_decay as wd

RECORD = "a plain record that the library fills and returns"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"


def _net() -> wd.Hourglass:
    return wd.Hourglass(1, 2, width=2, seed=0)


def _data(n: int = 4):
    g = torch.Generator().manual_seed(0)
    return torch.rand(n, 1, 8, 8, generator=g), torch.rand(n, 2, 8, 8, generator=g)


def _train():
    net = _net()
    x, y = _data()
    return wd.train_heatmaps, dict(
        model=net,
        optimizer=wd.AdamW(net.parameters(), lr=1e-3),
        images=x,
        heatmaps=y,
        steps=2,
        batch_size=2,
        seed=0,
        reduction="mean",
        record_every=1,
        progress=False,
        desc="steps",
    )


def _probe():
    net = _net()
    return wd.LayerProbe(net, wd.AdamW(net.parameters())), net


def _probe_args():
    net = _net()
    return wd.LayerProbe, dict(model=net, optimizer=wd.AdamW(net.parameters()))


def _history():
    probe, net = _probe()
    with probe:
        probe.watching = True
        pred = net(_data(2)[0])
        wd.heatmap_loss(pred, _data(2)[1]).backward()
        probe.record(0, pred)
    return probe.history, dict(
        loss=torch.ones(1), constant_loss=torch.ones(1), penalty=torch.ones(1)
    )


def _record():
    probe, net = _probe()
    probe.__enter__()
    probe.watching = True
    pred = net(_data(2)[0])
    wd.heatmap_loss(pred, _data(2)[1]).backward()
    return probe.record, dict(step=0, pred=pred)


def _line():
    net = _net()
    theta = {n: p.detach() for n, p in net.named_parameters()}
    zero = {n: torch.zeros_like(p) for n, p in theta.items()}
    x, y = _data(2)
    return wd.losses_along_line, dict(
        model=net,
        start=theta,
        direction=zero,
        images=x,
        heatmaps=y,
        alphas=torch.tensor([0.0, 1.0]),
        weight_decay=0.1,
    )


def _opt(cls):
    def make():
        w = nn.Parameter(torch.tensor([1.0, -2.0]))
        return cls, dict(params=[w], lr=0.1, betas=(0.9, 0.999), eps=1e-8, weight_decay=0.1)

    return make


def _group_lr(cls):
    return [{"params": [nn.Parameter(torch.ones(2))], "lr": -1.0}]


OPT_EXTRA = [
    ("group lr -1", "params", _group_lr(None), "lr"),
    ("betas (0.9, 1.0)", "betas", (0.9, 1.0), "betas"),
    ("empty params", "params", [], "params"),
    (
        "group weight_decay -1",
        "params",
        [{"params": [nn.Parameter(torch.ones(2))], "weight_decay": -1.0}],
        "weight_decay",
    ),
]


def _stacked():
    x, y = _data()
    return wd.train_stacked, dict(
        nets=[_net(), _net()],
        images=x,
        heatmaps=y,
        steps=2,
        lr=1e-3,
        weight_decay=0.0,
        decoupled=False,
        reduction="mean",
        optimizer="adam",
        momentum=0.0,
        batch_size=2,
        seed=0,
        record_every=1,
        progress=False,
        desc="steps",
    )


def _step(optimizer=wd.AdamW):
    w = nn.Parameter(torch.tensor([1.0, -2.0]))
    w.grad = torch.ones(2)
    return optimizer([w], lr=0.1).step, dict(closure=None)


def _add_group(optimizer=wd.AdamW):
    opt = optimizer([nn.Parameter(torch.ones(2))], lr=0.1)
    return opt.add_param_group, dict(param_group={"params": [nn.Parameter(torch.ones(3))]})


CASES = [
    Case("companion.weight_decay.AdamW.step", _step),
    Case("companion.weight_decay.AdamL2.step", lambda: _step(wd.AdamL2)),
    Case("companion.weight_decay.AdamW.add_param_group", _add_group),
    Case("companion.weight_decay.AdamL2.add_param_group", lambda: _add_group(wd.AdamL2)),
    Case(
        "companion.weight_decay.train_stacked",
        _stacked,
        ok={
            "seed:zero": "seed 0",
            "weight_decay:zero": "no decay",
            "desc:bogus": "any str is a progress-bar label",
        },
    ),
    Case("companion.weight_decay.HeatmapHistory", record=RECORD),
    Case("companion.weight_decay.StackedHistory", record=RECORD + " (train_stacked)"),
    Case(
        "companion.weight_decay.AdamL2",
        _opt(wd.AdamL2),
        extra=OPT_EXTRA,
        ok={"lr:zero": "lr 0 is a frozen run", "weight_decay:zero": "no decay"},
    ),
    Case(
        "companion.weight_decay.AdamW",
        _opt(wd.AdamW),
        extra=OPT_EXTRA,
        ok={"lr:zero": "lr 0 is a frozen run", "weight_decay:zero": "no decay"},
    ),
    Case(
        "companion.weight_decay.Hourglass",
        lambda: (
            wd.Hourglass,
            dict(in_channels=1, out_channels=2, width=2, batch_norm=False, seed=0),
        ),
        ok={"seed:zero": "seed 0"},
    ),
    Case(
        "companion.weight_decay.Hourglass.forward",
        lambda: (_net().forward, dict(x=_data(2)[0])),
        extra=[
            ("odd size", "x", torch.zeros(2, 1, 6, 6), "x"),
            ("wrong channels", "x", torch.zeros(2, 3, 8, 8), "x"),
        ],
    ),
    Case(
        "companion.weight_decay.LayerProbe",
        _probe_args,
    ),
    Case("companion.weight_decay.LayerProbe.penalty", lambda: (_probe()[0].penalty, {})),
    Case("companion.weight_decay.LayerProbe.record", _record, ok={"step:zero": "step 0"}),
    Case(
        "companion.weight_decay.LayerProbe.history",
        _history,
        ok={"*:float64": "curves in the data's dtype (float64 data give a float64 constant_loss)"},
    ),
    Case(
        "companion.weight_decay.WeightDecayConfig",
        lambda: (
            wd.WeightDecayConfig,
            dict(lr=3e-3, weight_decay=0.01, width=8, batch_size=8, record_every=10),
        ),
        ok={"weight_decay:zero": "no decay"},
    ),
    Case(
        "companion.weight_decay.best_constant_loss",
        lambda: (wd.best_constant_loss, dict(heatmaps=_data(2)[1], per="channel")),
        ok={
            "heatmaps:float64": FLOAT64,
            "heatmaps:rank+1": "(S, B, K, H, W) is allowed",
            "heatmaps:last-1": "a map one pixel wide is degenerate but its variance is defined",
        },
    ),
    Case(
        "companion.weight_decay.heatmap_loss",
        lambda: (
            wd.heatmap_loss,
            dict(pred=_data(2)[1], target=_data(2)[1] * 0.5, reduction="mean"),
        ),
        ok={"pred:float64": FLOAT64, "target:float64": FLOAT64},
    ),
    Case(
        "companion.weight_decay.losses_along_line",
        _line,
        ok={
            "weight_decay:zero": "no decay",
            "alphas:negative": "any position",
            "alphas:batch": "one position is a line of one point",
            "alphas:last-1": "one position is a line of one point",
            "alphas:float64": "positions are read as Python floats, whatever their dtype",
        },
    ),
    Case(
        "companion.weight_decay.train_heatmaps",
        _train,
        ok={"seed:zero": "seed 0", "desc:bogus": "any str is a progress-bar label"},
        extra=[
            ("foreign optimizer", "optimizer", wd.AdamW(_net().parameters()), "optimizer"),
            ("float64 probe", "probe_images", _data(2)[0].double(), "probe_images"),
        ],
    ),
]
