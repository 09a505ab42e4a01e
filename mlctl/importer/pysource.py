"""Read (never run) the ``steps/*.py`` functions a Recipes project names.

The project's Python is parsed with :mod:`ast` only: the importer can recognise a
function that does nothing (the templates' placeholders) and the scikit-learn
class an ``estimator_fn`` returns, with its literal keyword arguments.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any


@dataclass
class FunctionInfo:
    """What a step function is, as far as reading its source can tell."""

    module: str
    name: str
    found: bool
    file: Path
    line: int | None = None
    noop: bool = False
    estimator_class: str | None = None  # full class path, e.g. sklearn.svm.SVC
    params: dict[str, Any] = field(default_factory=dict)
    passes_estimator_params: bool = False
    problem: str | None = None

    @property
    def where(self) -> str:
        return f"{self.file.name}:{self.line}" if self.line else self.file.name


def split_method(value: str, default_module: str) -> tuple[str, str]:
    """``steps.train.estimator_fn`` or ``estimator_fn`` → (module file stem, function)."""
    parts = value.split(".")
    if len(parts) >= 2:
        return parts[-2], parts[-1]
    return default_module, value


def read_function(root: Path, method: str, default_module: str) -> FunctionInfo:
    """Find ``method`` in ``steps/<module>.py`` and describe it."""
    module, name = split_method(method, default_module)
    path = root / "steps" / f"{module}.py"
    info = FunctionInfo(module=module, name=name, found=False, file=path)
    try:
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
    except FileNotFoundError:
        info.problem = f"steps/{module}.py not found"
        return info
    except (OSError, UnicodeDecodeError, SyntaxError) as exc:
        info.problem = f"cannot parse steps/{module}.py: {exc}"
        return info
    imports = _imports(tree)
    for node in tree.body:
        if isinstance(node, ast.FunctionDef) and node.name == name:
            info.found, info.line = True, node.lineno
            imports = {**imports, **_imports(node)}
            info.noop = _is_noop(node)
            _describe_return(node, imports, info)
            return info
    info.problem = f"no function {name}() in steps/{module}.py"
    return info


def _imports(tree: ast.AST) -> dict[str, str]:
    """Local name → full dotted path, for ``import`` statements in a module or function."""
    out: dict[str, str] = {}
    for node in ast.walk(tree):
        if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            for alias in node.names:
                out[alias.asname or alias.name] = f"{node.module}.{alias.name}"
        elif isinstance(node, ast.Import):
            for alias in node.names:
                out[alias.asname or alias.name.split(".")[0]] = (
                    alias.name if alias.asname else alias.name.split(".")[0]
                )
    return out


def _body(fn: ast.FunctionDef) -> list[ast.stmt]:
    """Statements without the docstring, imports and ``pass``."""
    body = list(fn.body)
    if body and isinstance(body[0], ast.Expr) and isinstance(body[0].value, ast.Constant):
        body = body[1:]
    return [s for s in body if not isinstance(s, ast.Import | ast.ImportFrom | ast.Pass)]


def _is_noop(fn: ast.FunctionDef) -> bool:
    """The templates' placeholders: ``return None`` (identity transformer) or a filter
    that keeps every row (``return Series(True, index=...)``)."""
    body = _body(fn)
    if not body:
        return True
    if len(body) != 1 or not isinstance(body[0], ast.Return):
        return False
    value = body[0].value
    if value is None or (isinstance(value, ast.Constant) and value.value is None):
        return True
    if isinstance(value, ast.Call) and ast.unparse(value.func).split(".")[-1] == "Series":
        first = value.args[0] if value.args else None
        return isinstance(first, ast.Constant) and first.value is True
    return False


def _describe_return(fn: ast.FunctionDef, imports: dict[str, str], info: FunctionInfo) -> None:
    """The class of ``return SomeEstimator(a=1, **estimator_params)``, if that is the shape."""
    returns = [n for n in ast.walk(fn) if isinstance(n, ast.Return) and n.value is not None]
    if len(returns) != 1 or not isinstance(returns[0].value, ast.Call):
        return
    call = returns[0].value
    dotted = ast.unparse(call.func)
    head, _, rest = dotted.partition(".")
    base = imports.get(head)
    if base is None:
        return
    info.estimator_class = f"{base}.{rest}" if rest else base
    for kw in call.keywords:
        if kw.arg is None:
            info.passes_estimator_params = True
            continue
        try:
            info.params[kw.arg] = ast.literal_eval(kw.value)
        except ValueError:
            info.problem = (
                f"argument {kw.arg}={ast.unparse(kw.value)} is not a literal value; it is left out"
            )
    if call.args:
        info.problem = "positional arguments are left out; give them as keywords"
