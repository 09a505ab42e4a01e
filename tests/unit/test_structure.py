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
