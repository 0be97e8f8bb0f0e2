"""Bad-input cases for ``companion`` and ``companion.core``."""

from __future__ import annotations

import importlib

import matplotlib
import numpy as np
import torch
from torch import nn

from bad_input import Case
from companion.core import checks, device, heatmaps, keypoints, plotting, text, training

matplotlib.use("Agg")

corpus, digits, faces, hands, shapes, sts = (
    importlib.import_module(f"companion.core.datasets.{m}")
    for m in ("corpus", "digits", "faces", "hands", "shapes", "sts")
)

RECORD = "a plain record that the library fills and returns; its consumers check its fields"
NAN_MATH = "pure math: NaN propagates, as its docstring says"
ANY_SHAPE = "accepts any shape by design"
FLOAT64 = "dtype-agnostic: float64 in, float64 out"


def _model() -> nn.Module:
    torch.manual_seed(0)
    return nn.Linear(3, 1)


def _loader(n: int = 6) -> torch.utils.data.DataLoader:
    g = torch.Generator().manual_seed(0)
    return training.make_loader(torch.randn(n, 3, generator=g), torch.randn(n, 1, generator=g), 3)


def _fit():
    model = _model()
    return training.fit, dict(
        model=model,
        train_loader=_loader(),
        val_loader=_loader(),
        loss_fn=nn.functional.mse_loss,
        optimizer=torch.optim.SGD(model.parameters(), lr=0.1),
        epochs=1,
        device=None,
        metrics=None,
        progress=False,
        eval_train=False,
        keep_best=False,
    )


def _points() -> torch.Tensor:
    return torch.tensor([[[1.0, 2.0], [3.0, 1.5]], [[0.5, 0.5], [2.0, 2.0]]])


def _heatmaps() -> torch.Tensor:
    return torch.rand(2, 3, 4, 5, generator=torch.Generator().manual_seed(0))


def _tok() -> text.WordTokenizer:
    return text.WordTokenizer.from_texts(["the cat sat on the mat", "a dog"], max_size=20)


CASES = [
    # ---- companion (top level re-exports core.device; the originals are listed below)
    Case("companion.core.device.get_device", lambda: (device.get_device, {})),
    Case("companion.core.device.leave_a_core_free", lambda: (device.leave_a_core_free, {})),
    Case(
        "companion.core.device.seed_everything",
        lambda: (device.seed_everything, dict(seed=0)),
    ),
    Case(
        "companion.core.device.resolve_device",
        lambda: (device.resolve_device, dict(device=None, model=_model())),
        ok={"model:none": "documented: None means no model to follow"},
    ),
    Case(
        "companion.core.device.eval_mode",
        lambda: (lambda model: device.eval_mode(model).__enter__(), dict(model=_model())),
    ),
    Case(
        "companion.core.device.seeded",
        lambda: (lambda seed: device.seeded(seed).__enter__(), dict(seed=0)),
    ),
    # ---- checks: the checkers themselves (their ``name`` is the caller's, so they are fuzzed on values)
    Case(
        "companion.core.checks.check_tensor",
        fixed=("name", "ndim", "dims"),
        names={"x": "x"},
        make=lambda: (
            checks.check_tensor,
            dict(x=torch.zeros(2, 3), name="x", ndim=2, dims="(B, D)"),
        ),
        ok={
            "x:float64": "no dtype asked",
            "x:int": "no dtype asked",
            "x:bool": "no dtype asked",
            "x:nan": "checks shape and dtype only; check_finite checks values",
            "x:inf": "checks shape and dtype only; check_finite checks values",
            "x:empty": "checks shape only; check_nonempty checks size",
            "x:batch": "one tensor",
            "x:last-1": "no size asked",
            "name:*": "the caller's own literal, used only in messages",
            "dims:*": "the caller's own literal, used only in messages",
        },
    ),
    Case(
        "companion.core.checks.check_same_shape",
        fixed=("a_name", "b_name"),
        names={},
        make=lambda: (
            checks.check_same_shape,
            dict(a=torch.zeros(2, 3), a_name="a", b=torch.zeros(2, 3), b_name="b"),
        ),
        ok={
            "a:float64": "compares shapes only",
            "b:float64": "compares shapes only",
            "a:int": "compares shapes only",
            "b:int": "compares shapes only",
            "a:bool": "compares shapes only",
            "b:bool": "compares shapes only",
            "a:nan": "compares shapes only",
            "b:nan": "compares shapes only",
            "a:inf": "compares shapes only",
            "b:inf": "compares shapes only",
            "a_name:*": "the caller's own literal",
            "b_name:*": "the caller's own literal",
        },
    ),
    Case(
        "companion.core.checks.check_number",
        fixed=("name", "low", "high"),
        names={},
        make=lambda: (checks.check_number, dict(value=0.5, name="value", low=0.0, high=1.0)),
        ok={
            "name:*": "the caller's own literal",
            "low:none": "no bound",
            "high:none": "no bound",
            "low:negative": "a bound",
            "high:negative": "a bound",
        },
    ),
    Case(
        "companion.core.checks.check_int",
        fixed=("name", "minimum"),
        names={},
        make=lambda: (checks.check_int, dict(value=3, name="value", minimum=1)),
        ok={
            "name:*": "the caller's own literal",
            "minimum:none": "no bound",
            "minimum:negative": "a bound",
            "minimum:zero": "a bound",
        },
    ),
    Case(
        "companion.core.checks.check_pair",
        fixed=("name",),
        names={},
        make=lambda: (checks.check_pair, dict(value=(3, 4), name="value")),
        ok={"name:*": "the caller's own literal"},
    ),
    Case(
        "companion.core.checks.check_bool",
        fixed=("name",),
        names={"value": "flag"},
        make=lambda: (checks.check_bool, dict(value=True, name="flag")),
        ok={"name:*": "the caller's own literal"},
    ),
    Case(
        "companion.core.checks.check_choice",
        fixed=("name", "choices"),
        names={"value": "kind"},
        make=lambda: (checks.check_choice, dict(value="a", name="kind", choices=("a", "b"))),
        ok={"name:*": "the caller's own literal", "choices:*": "the caller's own literal"},
    ),
    Case(
        "companion.core.checks.check_finite",
        fixed=("name",),
        names={},
        make=lambda: (checks.check_finite, dict(x=torch.zeros(3), name="x")),
        ok={
            "name:*": "the caller's own literal",
            "x:rank+1": "any shape",
            "x:rank-1": "any shape",
            "x:last-1": "any shape",
            "x:float64": "any dtype",
            "x:int": "any dtype",
            "x:bool": "any dtype",
        },
    ),
    Case(
        "companion.core.checks.check_nonempty",
        fixed=("name",),
        names={},
        make=lambda: (checks.check_nonempty, dict(x=torch.zeros(3), name="x")),
        ok={
            "name:*": "the caller's own literal",
            "x:rank+1": "any shape",
            "x:rank-1": "any shape",
            "x:last-1": "any shape",
            "x:float64": "any dtype",
            "x:int": "any dtype",
            "x:bool": "any dtype",
            "x:nan": "a size check",
            "x:inf": "a size check",
        },
    ),
    Case(
        "companion.core.checks.check_same_batch",
        lambda: (checks.check_same_batch, dict(obs=torch.zeros(4, 3), reward=torch.zeros(4))),
        ok={
            "obs:rank+1": "?",
            "obs:float64": "a size check",
            "reward:float64": "a size check",
            "obs:int": "a size check",
            "reward:int": "a size check",
            "obs:bool": "a size check",
            "reward:bool": "a size check",
            "obs:nan": "a size check",
            "reward:nan": "a size check",
            "obs:inf": "a size check",
            "reward:inf": "a size check",
            "obs:last-1": "a size check",
            "obs:rank-1": "(3,) has its own batch... no",
            "obs:list": "?",
        },
    ),
    Case(
        "companion.core.checks.check_stochastic",
        fixed=("name", "atol"),
        names={"x": "p"},
        make=lambda: (
            checks.check_stochastic,
            dict(x=torch.full((2, 2), 0.5), name="p", atol=1e-6),
        ),
        ok={
            "name:*": "the caller's own literal",
            "x:rank+1": "any leading shape",
            "x:rank-1": "a vector",
            "x:float64": "any floating dtype",
            "x:empty": "no rows",
            "atol:zero": "exact",
            "atol:negative": "?",
        },
    ),
    Case(
        "companion.core.checks.check_ids",
        fixed=("name", "vocab_size", "ignore_index"),
        names={"x": "ids"},
        make=lambda: (
            checks.check_ids,
            dict(x=torch.tensor([1, 2]), name="ids", vocab_size=5, ignore_index=None),
        ),
        ok={
            "name:*": "the caller's own literal",
            "x:rank+1": "any shape",
            "x:rank-1": "any shape",
            "x:empty": "no ids",
            "x:last-1": "any shape",
            "ignore_index:*": "?",
            "vocab_size:*": "?",
        },
    ),
    Case(
        "companion.core.checks.check_floating_dtype",
        fixed=("name",),
        names={},
        make=lambda: (checks.check_floating_dtype, dict(dtype=torch.float32, name="dtype")),
    ),
    Case(
        "companion.core.checks.check_module",
        fixed=("name",),
        names={"value": "model"},
        make=lambda: (checks.check_module, dict(value=_model(), name="model")),
    ),
    Case(
        "companion.core.checks.check_optimizer",
        fixed=("name",),
        names={"value": "optimizer"},
        make=lambda: (
            checks.check_optimizer,
            dict(value=torch.optim.SGD(_model().parameters(), lr=0.1), name="optimizer"),
        ),
    ),
    Case(
        "companion.core.checks.check_callable",
        fixed=("name",),
        names={"value": "loss_fn"},
        make=lambda: (checks.check_callable, dict(value=len, name="loss_fn")),
        ok={"name:*": "the caller's own literal"},
    ),
    Case(
        "companion.core.checks.check_generator",
        fixed=("name", "optional"),
        names={"value": "generator"},
        make=lambda: (
            checks.check_generator,
            dict(value=torch.Generator(), name="generator", optional=True),
        ),
        ok={"name:*": "the caller's own literal"},
    ),
    # ---- training
    Case(
        "companion.core.training.EpochSampler",
        lambda: (training.EpochSampler, dict(n=5, seed=0)),
    ),
    Case(
        "companion.core.training.EpochSampler.set_epoch",
        lambda: (training.EpochSampler(5, seed=0).set_epoch, dict(epoch=1)),
        ok={"epoch:zero": "epoch 0 is the first"},
    ),
    Case("companion.core.training.History", record=RECORD),
    Case(
        "companion.core.training.check_finite_loss",
        lambda: (training.check_finite_loss, dict(value=torch.tensor(0.5), name="loss", step=3)),
        ok={
            "name:*": "the caller's own literal",
            "value:float64": "any float",
            "value:int": "any number",
            "value:bool": "any number",
            "step:zero": "step 0 is the first",
            "value:list": "a 0-d tensor's list is a float",
            "value:rank+1": "a one-element tensor is a number",
        },
    ),
    Case(
        "companion.core.training.make_loader",
        lambda: (
            training.make_loader,
            dict(x=torch.zeros(6, 3), y=torch.zeros(6, 1), batch_size=2, shuffle=True, seed=0),
        ),
        ok={
            "x:float64": "a loader carries any dtype",
            "y:float64": "a loader carries any dtype",
            "x:int": "a loader carries any dtype",
            "y:int": "a loader carries any dtype",
            "x:bool": "a loader carries any dtype",
            "y:bool": "a loader carries any dtype",
            "x:rank+1": "a loader carries any shape (N, ...)",
            "y:rank+1": "a loader carries any shape (N, ...)",
            "x:rank-1": "a loader carries any shape (N, ...)",
            "y:rank-1": "a loader carries any shape (N, ...)",
            "x:last-1": "a loader carries any shape (N, ...)",
            "x:nan": "data values are the model's business; fit stops on a non-finite loss",
            "y:nan": "data values are the model's business; fit stops on a non-finite loss",
            "x:inf": "data values are the model's business; fit stops on a non-finite loss",
            "y:inf": "data values are the model's business; fit stops on a non-finite loss",
            "seed:zero": "seed 0 is a seed",
        },
    ),
    Case("companion.core.training.fit", _fit),
    Case(
        "companion.core.training.evaluate",
        lambda: (
            training.evaluate,
            dict(model=_model(), loader=_loader(), loss_fn=nn.functional.mse_loss),
        ),
    ),
    Case(
        "companion.core.training.accuracy",
        lambda: (
            training.accuracy,
            dict(output=torch.tensor([[2.0, 1.0], [0.0, 3.0]]), target=torch.tensor([0, 1])),
        ),
        ok={"output:float64": FLOAT64, "output:int": "argmax of integer scores is well defined"},
    ),
    Case(
        "companion.core.training.moving_average",
        lambda: (
            training.moving_average,
            dict(values=torch.tensor([1.0, 2.0, 3.0, 4.0]), window=2),
        ),
        ok={
            "values:float64": FLOAT64,
            "values:int": "numbers",
            "values:bool": "numbers",
            "values:list": "a sequence of numbers",
        },
    ),
    # ---- datasets
    Case("companion.core.datasets.digits.Split", record=RECORD),
    Case("companion.core.datasets.faces.Landmarks", record=RECORD),
    Case("companion.core.datasets.hands.Hands", record=RECORD),
    Case("companion.core.datasets.shapes.BoxScenes", record=RECORD),
    Case("companion.core.datasets.sts.STSPairs", record=RECORD),
    Case("companion.core.datasets.corpus.pydoc_corpus", lambda: (corpus.pydoc_corpus, {})),
    Case(
        "companion.core.datasets.digits.digits",
        lambda: (digits.digits, dict(seed=0, val_fraction=0.2, test_fraction=0.2, flatten=True)),
        ok={"seed:zero": "seed 0 is a seed"},
        extra=[("empty train", "val_fraction", 0.79999, "fraction")],
    ),
    Case(
        "companion.core.datasets.faces.landmarks",
        lambda: (faces.landmarks, dict(n=2, size=(16, 16), sigma=1.5, noise=0.05, seed=0)),
        ok={"noise:zero": "noise-free images"},
    ),
    Case(
        "companion.core.datasets.hands.hands",
        lambda: (
            hands.hands,
            dict(
                n=2,
                size=(16, 16),
                seed=0,
                scale_range=(1.0, 1.0),
                depth_range=(0.45, 0.55),
                tilt=0.6,
                noise=0.02,
            ),
        ),
        extra=[("low > high", "depth_range", (0.6, 0.5), "depth_range")],
    ),
    Case(
        "companion.core.datasets.hands.project_points",
        lambda: (
            hands.project_points,
            dict(
                points=torch.tensor([[0.1, -0.05, 0.5], [0.0, 0.0, 0.6]]),
                intrinsics=torch.tensor([[50.0, 0.0, 15.5], [0.0, 50.0, 15.5], [0.0, 0.0, 1.0]]),
            ),
        ),
        ok={
            "points:rank+1": "(..., 3)",
            "points:rank-1": "(..., 3)",
            "points:float64": FLOAT64,
        },
    ),
    Case(
        "companion.core.datasets.shapes.box_scenes",
        lambda: (
            shapes.box_scenes,
            dict(
                n=2, size=(32, 32), max_shapes=2, min_side=5.0, max_aspect=2.5, noise=0.08, seed=0
            ),
        ),
    ),
    Case(
        "companion.core.datasets.sts.expected_rating",
        lambda: (sts.expected_rating, dict(latent=torch.tensor([0.0, 2.5, 5.0]), noise=0.5)),
        ok={
            "latent:float64": FLOAT64,
            "latent:rank+1": "elementwise",
            "latent:rank-1": "elementwise",
            "latent:last-1": "N = 1",
        },
    ),
    Case(
        "companion.core.datasets.sts.sts_pairs",
        lambda: (
            sts.sts_pairs,
            dict(n=4, seed=0, num_annotators=3, noise=1.0, swap_prob=0.3, distractor_prob=0.3),
        ),
    ),
    # ---- heatmaps and keypoints
    Case(
        "companion.core.heatmaps.gaussian_heatmaps",
        lambda: (heatmaps.gaussian_heatmaps, dict(points=_points(), size=(4, 5), sigma=1.0)),
        ok={"points:float64": FLOAT64},
        extra=[("tiny sigma peak", "sigma", 1e-200, None)],
    ),
    Case(
        "companion.core.keypoints.pixel_grid",
        lambda: (keypoints.pixel_grid, dict(height=2, width=3, dtype=torch.float32, device=None)),
        extra=[
            ("integer dtype", "dtype", torch.int64, "dtype"),
            ("not a dtype", "dtype", "float", "dtype"),
        ],
    ),
    Case(
        "companion.core.keypoints.check_heatmaps",
        lambda: (keypoints.check_heatmaps, dict(heatmaps=_heatmaps())),
        ok={
            "heatmaps:float64": FLOAT64,
            "heatmaps:nan": "a shape check",
            "heatmaps:inf": "a shape check",
            "heatmaps:last-1": "W = 1 is a valid map",
            "heatmaps:empty": "a shape check",
        },
    ),
    Case(
        "companion.core.keypoints.soft_argmax2d",
        lambda: (keypoints.soft_argmax2d, dict(heatmaps=_heatmaps(), beta=1.0)),
        ok={"heatmaps:float64": FLOAT64, "heatmaps:last-1": "W = 1 is a valid map"},
        extra=[("huge beta", "beta", 1e300, None)],
    ),
    Case(
        "companion.core.keypoints.argmax2d",
        lambda: (keypoints.argmax2d, dict(heatmaps=_heatmaps())),
        ok={"heatmaps:float64": FLOAT64, "heatmaps:last-1": "W = 1 is a valid map"},
    ),
    Case(
        "companion.core.keypoints.keypoint_error",
        lambda: (keypoints.keypoint_error, dict(pred=_points(), target=_points() + 0.5)),
        ok={"pred:float64": FLOAT64, "target:float64": FLOAT64},
        extra=[("overflow", "pred", _points() * 1e20, None)],
    ),
    # ---- text
    Case(
        "companion.core.text.split_words",
        lambda: (text.split_words, dict(text="The cat, 2 times.")),
        ok={"text:bogus": "a text"},
    ),
    Case(
        "companion.core.text.WordTokenizer",
        lambda: (text.WordTokenizer, dict(vocab=(*text.SPECIAL_TOKENS, "a", "b"))),
    ),
    Case(
        "companion.core.text.WordTokenizer.from_texts",
        lambda: (
            text.WordTokenizer.from_texts,
            dict(texts=["the cat", "a dog"], max_size=20, min_count=1),
        ),
    ),
    Case(
        "companion.core.text.WordTokenizer.encode",
        lambda: (_tok().encode, dict(text="the cat")),
        ok={"text:bogus": "a text"},
    ),
    Case(
        "companion.core.text.WordTokenizer.decode",
        lambda: (_tok().decode, dict(ids=torch.tensor([5, 6, 0]))),
        ok={
            "ids:list": "a list of ints is documented",
            "ids:last-1": "T = 1",
            "ids:empty": "no ids, no tokens",
        },
        extra=[("bool ids", "ids", [True, False], "ids")],
    ),
    Case(
        "companion.core.text.WordTokenizer.windows",
        lambda: (_tok().windows, dict(texts=["the cat sat", "a dog"], seq_len=4)),
    ),
    # ---- plotting
    Case(
        "companion.core.plotting.glue",
        lambda: (plotting.glue, dict(name="x_value", value=0.5)),
        ok={"value:*": "any value can be glued", "name:bogus": "'bogus' is an identifier"},
    ),
    Case(
        "companion.core.plotting.plot_curves",
        lambda: (
            plotting.plot_curves,
            dict(
                curves={"a": [1.0, 2.0]},
                ax=None,
                xlabel="step",
                ylabel="loss",
                title=None,
                logy=False,
            ),
        ),
        ok={"xlabel:*": "a label", "ylabel:*": "a label", "title:*": "a label (str() of anything)"},
    ),
    Case(
        "companion.core.plotting.plot_history",
        lambda: (
            plotting.plot_history,
            dict(history=training.History(train_loss=[1.0], val_loss=[1.0]), ax=None, title=None),
        ),
        ok={"title:*": "a label (str() of anything)"},
    ),
    Case(
        "companion.core.plotting.show_images",
        lambda: (
            plotting.show_images,
            dict(
                images=[np.zeros((3, 3)), np.ones((3, 3))],
                titles=["a", "b"],
                ncols=2,
                cmap="gray",
                size=1.0,
            ),
        ),
        ok={"titles:none": "no titles is documented", "cmap:none": "matplotlib's default map"},
    ),
]
