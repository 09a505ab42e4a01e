"""Project rules that are easy to break silently: import boundaries, README vs CI."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.unit

REPO = Path(__file__).resolve().parents[2]
PACKAGE = REPO / "mlctl"

# Each third-party framework is imported in one place only (style.md).
OWNERS = {
    "mlflow": ("mlctl/tracking/",),
    # Composing recipes, and running sweeps through Hydra's sweepers and launchers.
    "hydra": ("mlctl/recipe/loader.py", "mlctl/sweep/launch.py"),
    "omegaconf": ("mlctl/recipe/loader.py", "mlctl/sweep/launch.py"),
    "click": ("mlctl/cli/",),
    "rich": ("mlctl/cli/",),
    "dask": ("mlctl/compute/",),
    "distributed": ("mlctl/compute/",),
    "litestar": ("mlctl/serve/",),
}


def imported_modules(path: Path) -> set[str]:
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name.split(".")[0] for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module.split(".")[0])
    return names


@pytest.mark.parametrize("framework", sorted(OWNERS))
def test_framework_imported_in_one_place(framework: str) -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if framework in imported_modules(path) and not rel.startswith(OWNERS[framework]):
            offenders.append(rel)
    assert offenders == [], f"{framework} imported outside {OWNERS[framework]}: {offenders}"


def test_library_never_prints_or_exits() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel.startswith("mlctl/cli/") or path.name == "__main__.py":
            continue
        tree = ast.parse(path.read_text())
        main_blocks = {
            id(n)
            for n in ast.walk(tree)
            if isinstance(n, ast.If) and "__main__" in ast.unparse(n.test)
        }
        inside_main = {
            id(child) for n in ast.walk(tree) if id(n) in main_blocks for child in ast.walk(n)
        }
        for node in ast.walk(tree):
            if id(node) in inside_main or not isinstance(node, ast.Call):
                continue
            name = ast.unparse(node.func)
            if name in {"print", "sys.exit", "exit", "quit"}:
                offenders.append(f"{rel}:{node.lineno} {name}")
    assert offenders == []


def test_readme_test_command_is_what_ci_runs() -> None:
    readme = (REPO / "README.md").read_text()
    blocks = re.findall(r"```bash\n(.*?)\n```", readme, re.S)
    setup = [b for b in blocks if "pip install" in b]
    assert len(setup) == 2, "the README has exactly two set-up commands"
    install_and_run, tests = setup
    assert "mlctl run recipes/churn.yaml" in install_and_run
    ci = (REPO / ".ci" / "run").read_text()
    assert tests.strip() in ci.splitlines()
    assert "pytest" in tests


# ------------------------------------------------------------- package dependencies


def _mlctl_imports(path: Path) -> set[str]:
    """Every ``mlctl.*`` module a file imports, at module level or inside a function."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(a.name for a in node.names if a.name.startswith("mlctl."))
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            if node.module == "mlctl":
                found.update(f"mlctl.{a.name}" for a in node.names)
            elif node.module.startswith("mlctl."):
                found.add(node.module)
    return found


def _unit(rel: str) -> str:
    """The top-level package or module of mlctl a file belongs to: mlctl/serve/app.py
    -> serve, mlctl/runner.py -> runner."""
    return rel.split("/")[1].removesuffix(".py")


#: What the recipe package may never import: it is a leaf that serve and monitor load
#: without scikit-learn (tests/unit/recipe/test_leaf.py checks that at run time).
RECIPE_FORBIDDEN = ("mlctl.train", "mlctl.catalog", "mlctl.features", "mlctl.evaluate")
RECIPE_FORBIDDEN += ("mlctl.compute", "sklearn", "mlctl_runtime.transformers")


def test_recipe_is_a_leaf() -> None:
    offenders = []
    for path in (PACKAGE / "recipe").rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        names = _mlctl_imports(path)
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names.update(a.name for a in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module)
        for name in sorted(names):
            if name == "sklearn" or name.startswith(RECIPE_FORBIDDEN):
                offenders.append(f"{rel} imports {name}")
    assert offenders == [], offenders


#: Import edges between mlctl packages that close a circle today, each with the reason
#: and who removes it. This list must only shrink.
KNOWN_CIRCLE_EDGES: set[tuple[str, str]] = set()  # none left (monitor no longer imports runner)


def test_no_import_circles_between_mlctl_packages() -> None:
    """Lazy (in-function) imports count too: they hide a circle, they do not remove it."""
    graph: dict[str, set[str]] = {}
    for path in PACKAGE.rglob("*.py"):
        src = _unit(path.relative_to(REPO).as_posix())
        for name in _mlctl_imports(path):
            dst = name.split(".")[1]
            if dst != src and (src, dst) not in KNOWN_CIRCLE_EDGES:
                graph.setdefault(src, set()).add(dst)
    circles = []

    def walk(node: str, trail: list[str]) -> None:
        for nxt in sorted(graph.get(node, ())):
            if nxt == trail[0]:
                circles.append(" -> ".join([*trail, nxt]))
            elif nxt not in trail and nxt > trail[0]:  # each circle once, from its least node
                walk(nxt, [*trail, nxt])

    for start in sorted(graph):
        walk(start, [start])
    assert circles == [], circles


# ------------------------------------------------------------------- module size

MAX_LINES = 600  # a few hundred lines a module (style.md); no exceptions (issue 15)


def test_no_module_over_600_lines() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            offenders.append(f"{rel}: {lines} lines")
    assert offenders == [], f"split these (at most {MAX_LINES} lines a module): {offenders}"


def _imports_of(path: Path) -> set[str]:
    """Every absolute module name a file imports, at any depth (``a.b.c`` for
    ``from a.b import c`` too, since ``c`` may be a module)."""
    tree = ast.parse(path.read_text())
    names: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names.update(a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.add(node.module)
            names.update(f"{node.module}.{a.name}" for a in node.names)
    return names


# Package -> packages it must not import (issue 15): the prediction log is shared by
# serve (writer) and monitor (reader), which stay independent of each other; the
# monitor's retraining gets the runner passed in (mlctl.api.monitor).
FORBIDDEN_IMPORTS = {
    "mlctl/serve/": ("mlctl.monitor", "mlctl.rollout", "mlctl.compare", "mlctl.loadtest"),
    "mlctl/monitor/": ("mlctl.serve", "mlctl.runner"),
    "mlctl/predlog/": ("mlctl.serve", "mlctl.monitor"),
    # A rollout's state reaches the server through the registry, never by import.
    "mlctl/rollout/": ("mlctl.serve",),
    # The operations commands: compare reads the log (through the monitor's readers),
    # loadtest only speaks HTTP to a service.
    "mlctl/compare/": ("mlctl.serve", "mlctl.rollout"),
    "mlctl/loadtest/": ("mlctl.serve", "mlctl.monitor", "mlctl.rollout", "mlctl.compare"),
}


@pytest.mark.parametrize("package", sorted(FORBIDDEN_IMPORTS))
def test_package_import_boundaries(package: str) -> None:
    forbidden = FORBIDDEN_IMPORTS[package]
    offenders = []
    for path in sorted((REPO / package).rglob("*.py")):
        for name in sorted(_imports_of(path)):
            if any(name == f or name.startswith(f + ".") for f in forbidden):
                offenders.append(f"{path.relative_to(REPO).as_posix()} imports {name}")
    assert offenders == [], f"{package} must not import {forbidden}: {offenders}"


def test_every_mlctl_error_lives_in_errors_py() -> None:
    import mlctl.errors as errors

    family = {
        name
        for name, value in vars(errors).items()
        if isinstance(value, type) and issubclass(value, errors.MlctlError)
    }
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel == "mlctl/errors.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.ClassDef):
                bases = {ast.unparse(b).rsplit(".", 1)[-1] for b in node.bases}
                if bases & family:
                    offenders.append(f"{rel}:{node.lineno} {node.name}")
    assert offenders == [], f"MlctlError subclasses outside mlctl/errors.py: {offenders}"


WORKSPACE_FILES = {"predictions.db", "latest.json", "monitor.lock", "mlflow.db"}


def test_workspace_file_names_are_written_in_paths_py_only() -> None:
    offenders = []
    for path in PACKAGE.rglob("*.py"):
        rel = path.relative_to(REPO).as_posix()
        if rel == "mlctl/paths.py":
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Constant) and node.value in WORKSPACE_FILES:
                offenders.append(f"{rel}:{node.lineno} {node.value!r}")
    assert offenders == [], f"workspace paths computed outside mlctl/paths.py: {offenders}"


@pytest.mark.parametrize(
    "package",
    [
        "predlog",
        "serve",
        "serve/controllers",
        "monitor",
        "recipe",
        "recipe/schema",
        "rollout",
        "compare",
        "loadtest",
    ],
)
def test_architecture_doc_names_every_module(package: str) -> None:
    """docs/architecture.md's module map stays the map of the code."""
    doc = (REPO / "docs" / "architecture.md").read_text()
    section = doc.split(f"### `mlctl/{package}/`", 1)
    assert len(section) == 2, f"docs/architecture.md has no section for mlctl/{package}/"
    table = section[1].split("\n### ", 1)[0]
    missing = sorted(
        p.name
        for p in (PACKAGE / package).glob("*.py")
        if p.name != "__init__.py" and f"`{p.name}`" not in table
    )
    assert missing == [], f"docs/architecture.md does not describe mlctl/{package}/{missing}"
