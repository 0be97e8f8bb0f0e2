"""House rules of the companion and the notebooks, read from the source (issue 11).

Each rule is a test that fails on a violation, with a message that names the file and the line:
chapter modules import only the core and libraries; the core never imports a chapter; a notebook
imports only its own chapter module and the core; no ``print(`` and no ``assert`` in the package; a
shape comment on every reshaping line; Google docstrings (``Args:``/``Returns:``, an ``Example:`` for
every pure function); one naming scheme for configs and training records.
"""

from __future__ import annotations

import ast
import dataclasses
import importlib
import inspect
import json
import pathlib
import re
import typing
from collections.abc import Callable, Iterable

import pytest
import torch
from torch import nn

ROOT = pathlib.Path(__file__).resolve().parents[1]
PACKAGE = ROOT / "companion"
CORE = PACKAGE / "core"
MODULE_FILES = sorted(p for p in PACKAGE.rglob("*.py") if "__pycache__" not in p.parts)
CHAPTER_FILES = sorted(p for p in PACKAGE.glob("*.py") if p.name != "__init__.py")
CORE_FILES = sorted(p for p in CORE.rglob("*.py") if "__pycache__" not in p.parts)
NOTEBOOKS = sorted(
    p for p in (ROOT / "book").rglob("*.ipynb") if ".ipynb_checkpoints" not in p.parts
)
# Which chapter module each notebook teaches (None: it uses the core only).
NOTEBOOK_MODULE = {
    "loss-and-val-loss": None,
    "adam-weight-decay": "weight_decay",
    "mlm-loss": "mlm",
    "soft-argmax": "soft_argmax",
    "transposed-convolution": "deconv",
    "score-function": "policy_gradient",
    "sac-policy-gradient": "sac",
    "cnn-filters": "cnn_filters",
    "sts-regression": "sts",
    "keypoint-regression": "keypoint_regression",
    "rpn-training": "rpn",
}
RESHAPERS = {"view", "reshape", "permute", "flatten", "einsum", "unflatten"}


def rel(path: pathlib.Path) -> str:
    return path.relative_to(ROOT).as_posix()


def module_name(path: pathlib.Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def companion_imports(tree: ast.AST) -> list[tuple[int, str]]:
    """Every ``companion...`` module a tree imports, with its line."""
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names if a.name.startswith("companion")]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            if node.module == "companion":
                found += [(node.lineno, f"companion.{a.name}") for a in node.names]
            elif node.module.startswith("companion."):
                found.append((node.lineno, node.module))
    return found


def chapter_of(name: str) -> str | None:
    """``companion.mlm`` -> ``mlm``; core and the package root -> None."""
    parts = name.split(".")
    if len(parts) < 2 or parts[1] == "core":
        return None
    if parts[1] in {"get_device", "seed_everything", "__version__"}:
        return None
    return parts[1]


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=rel)
def test_chapter_module_imports_only_core_and_libraries(path):
    own = path.stem
    for line, name in companion_imports(ast.parse(path.read_text())):
        other = chapter_of(name)
        assert other in (None, own), f"{rel(path)}:{line} imports chapter module {name}"


@pytest.mark.parametrize("path", CORE_FILES, ids=rel)
def test_core_never_imports_a_chapter(path):
    for line, name in companion_imports(ast.parse(path.read_text())):
        assert name.startswith("companion.core"), f"{rel(path)}:{line} imports {name}"


def notebook_code(path: pathlib.Path) -> str:
    cells = json.loads(path.read_text())["cells"]
    lines = []
    for cell in cells:
        if cell["cell_type"] == "code":
            src = "".join(cell["source"])
            # IPython magics are not Python: replace them by `pass` before parsing
            for ln in src.splitlines():
                stripped = ln.lstrip()
                magic = stripped.startswith(("%", "!"))
                lines.append(ln[: len(ln) - len(stripped)] + "pass" if magic else ln)
    return "\n".join(lines)


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_imports_only_its_chapter_and_core(path):
    assert path.stem in NOTEBOOK_MODULE, (
        f"{path.name}: add it to NOTEBOOK_MODULE in tests/test_layout.py with its chapter module"
    )
    own = NOTEBOOK_MODULE[path.stem]
    for _line, name in companion_imports(ast.parse(notebook_code(path))):
        other = chapter_of(name)
        assert other in (None, own), (
            f"{path.name} imports {name}; a notebook imports only companion.core and "
            f"{'no chapter module' if own is None else 'companion.' + own}"
        )


def test_every_chapter_module_has_a_notebook():
    taught = {m for m in NOTEBOOK_MODULE.values() if m}
    for path in CHAPTER_FILES:
        assert path.stem in taught, f"{rel(path)} is no chapter's module (see NOTEBOOK_MODULE)"


@pytest.mark.parametrize("path", MODULE_FILES, ids=rel)
def test_no_print_and_no_assert_in_the_package(path):
    for node in ast.walk(ast.parse(path.read_text())):
        assert not isinstance(node, ast.Assert), (
            f"{rel(path)}:{node.lineno}: assert in library code (raise a ValueError/TypeError)"
        )
        if isinstance(node, ast.Call) and isinstance(node.func, ast.Name):
            assert node.func.id != "print", f"{rel(path)}:{node.lineno}: print in library code"


def reshaping_statements(tree: ast.AST) -> list[tuple[int, int]]:
    """Line spans of every statement that calls a reshaping method or function."""
    spans = []
    for stmt in ast.walk(tree):
        if not isinstance(stmt, ast.stmt) or isinstance(
            stmt, ast.FunctionDef | ast.ClassDef | ast.If | ast.For | ast.With | ast.While | ast.Try
        ):
            continue
        for node in ast.walk(stmt):
            if isinstance(node, ast.Call):
                func = node.func
                name = func.attr if isinstance(func, ast.Attribute) else getattr(func, "id", "")
                if name in RESHAPERS:
                    spans.append((stmt.lineno, stmt.end_lineno or stmt.lineno))
                    break
    return spans


@pytest.mark.parametrize("path", MODULE_FILES, ids=rel)
def test_shape_comment_on_every_reshape(path):
    text = path.read_text()
    lines = text.splitlines()
    for start, end in reshaping_statements(ast.parse(text)):
        comments = [ln.split("#", 1)[1] for ln in lines[start - 1 : end] if "#" in ln]
        assert any("(" in c for c in comments), (
            f"{rel(path)}:{start}: a view/reshape/permute/flatten/einsum needs a shape comment "
            f"such as '# (B, K, H, W) -> (B, K, H*W)'"
        )


def public_members(path: pathlib.Path):
    module = importlib.import_module(module_name(path))
    names = getattr(module, "__all__", None)
    assert names is not None, f"{rel(path)} has no __all__"
    for name in names:
        obj = getattr(module, name)
        if getattr(obj, "__module__", None) == module.__name__:
            yield module, name, obj


IMPURE_TYPES = (nn.Module, torch.optim.Optimizer)
IMPURE_PREFIXES = ("train", "fit", "evaluate", "plot", "show", "rollout", "run")


def is_pure(module, func) -> bool:
    """A function that maps values to values: no model, optimizer, loader, callback or figure."""
    if func.__name__.startswith(IMPURE_PREFIXES):
        return False
    try:
        hints = typing.get_type_hints(func, module.__dict__)
    except Exception:  # an annotation that does not resolve at run time: judge by its text
        hints = {k: v for k, v in func.__annotations__.items()}
    for key, hint in hints.items():
        if key == "return":
            continue
        text = str(hint)
        if any(word in text for word in ("Module", "Optimizer", "Callable", "Iterable", "Axes")):
            return False
        for arg in (hint, *typing.get_args(hint)):
            if inspect.isclass(arg) and issubclass(arg, IMPURE_TYPES):
                return False
            if arg in (Callable, Iterable):
                return False
    params = inspect.signature(func).parameters
    return all(p.annotation is not inspect.Parameter.empty for p in params.values())


def function_cases():
    for path in MODULE_FILES:
        if path.name == "__init__.py":
            continue
        for module, name, obj in public_members(path):
            if inspect.isfunction(obj):
                yield pytest.param(module, obj, id=f"{module.__name__}.{name}")


@pytest.mark.parametrize(("module", "func"), list(function_cases()))
def test_public_function_docstring(module, func):
    doc = inspect.getdoc(func) or ""
    where = f"{module.__name__}.{func.__name__}"
    assert doc, f"{where} has no docstring"
    params = [p for p in inspect.signature(func).parameters if p not in {"self", "cls"}]
    if params:
        assert "Args:" in doc, f"{where}: docstring needs an Args: section"
    returns = inspect.signature(func).return_annotation
    if returns not in (None, "None", inspect.Signature.empty):
        assert "Returns:" in doc or "Yields:" in doc, f"{where}: docstring needs Returns:"
    if is_pure(module, func):
        assert "Example:" in doc, f"{where} is a pure function: its docstring needs an Example:"


def class_cases():
    for path in MODULE_FILES:
        if path.name == "__init__.py":
            continue
        for module, name, obj in public_members(path):
            if inspect.isclass(obj):
                yield pytest.param(module, obj, id=f"{module.__name__}.{name}")


@pytest.mark.parametrize(("module", "cls"), list(class_cases()))
def test_public_class_docstring_and_config_rules(module, cls):
    doc = inspect.getdoc(cls) or ""
    where = f"{module.__name__}.{cls.__name__}"
    assert doc and doc != inspect.getdoc(cls.__mro__[1]), f"{where} has no docstring of its own"
    if cls.__name__.endswith("Config"):
        assert dataclasses.is_dataclass(cls), f"{where}: a config is a dataclass"
        assert cls.__dataclass_params__.frozen, f"{where}: a config is frozen"
        assert "__post_init__" in cls.__dict__, f"{where}: a config validates in __post_init__"
        assert "Attributes:" in doc or "Args:" in doc, f"{where}: document every default"


def camel(stem: str) -> str:
    return "".join(part.capitalize() for part in stem.split("_"))


@pytest.mark.parametrize("path", CHAPTER_FILES, ids=rel)
def test_chapter_config_is_named_for_its_chapter(path):
    module = importlib.import_module(module_name(path))
    configs = [
        n for n in dir(module) if n.endswith("Config") and inspect.isclass(getattr(module, n))
    ]
    wanted = f"{camel(path.stem)}Config"
    assert any(n.lower() == wanted.lower() for n in configs), (
        f"{rel(path)}: its hyper-parameters belong in a frozen dataclass named {wanted}; "
        f"found {configs}"
    )


@pytest.mark.parametrize(("module", "func"), list(function_cases()))
def test_training_functions_return_a_history(module, func):
    if not func.__name__.startswith(("train", "fit")):
        return
    returns = inspect.signature(func).return_annotation
    text = returns if isinstance(returns, str) else getattr(returns, "__name__", str(returns))
    assert re.search(r"History\b", text), (
        f"{module.__name__}.{func.__name__} returns {text}; a training record's class name ends "
        f"in 'History'"
    )


def test_no_two_public_functions_share_a_name():
    seen: dict[str, str] = {}
    for path in MODULE_FILES:
        if path.name == "__init__.py":
            continue
        for module, name, obj in public_members(path):
            if inspect.isfunction(obj) or inspect.isclass(obj):
                assert name not in seen, (
                    f"{name} is public in both {seen[name]} and {module.__name__}"
                )
                seen[name] = module.__name__


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebooks_smooth_with_the_core_moving_average(path):
    code = notebook_code(path)
    assert "np.convolve(" not in code and "def smooth" not in code, (
        f"{path.name}: smooth curves with companion.core.training.moving_average"
    )
