"""Suite-wide rules: every test says what kind it is (unit or integration), and the
longest modules start first."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

# Shared test helpers (tests/recipe_builders.py) import as top-level modules.
sys.path.insert(0, str(Path(__file__).resolve().parent))

KINDS = {"unit", "integration"}
# The modules that take longest on one xdist worker (seconds, measured with
# --durations=0 on 2 cores), longest first. With --dist loadfile and
# --no-loadscope-reorder (pyproject.toml), xdist hands modules out in collection order,
# so these go first and the many short modules fill in at the end. By default it would
# order modules by their number of tests, which puts these few-but-long ones last.
LONGEST_FIRST = (
    "test_model_portable.py",  # builds a venv without mlctl
    "test_rollout.py",  # ~135: four served rollouts
    "test_docs_examples.py",  # ~80: two trainings, a server, monitor, deploy
    "test_monitor.py",  # ~150
    "test_hostile_monitor.py",
    "test_sweep.py",  # ~115
    "test_serve.py",  # ~110
    "test_hostile_artifacts_signals.py",
    "test_hostile_http_faults.py",
    "test_serve_backends.py",  # ~95
    "test_run.py",  # ~95
    "test_dask.py",  # ~80
    "test_hostile_http_input.py",
    "test_hostile_recipes_files.py",
    "test_feedback_cli.py",  # ~90
    "test_compare.py",  # ~85
    "test_dashboard_browser.py",  # ~85
    "test_loadtest.py",  # ~60
    "test_predict.py",  # ~50
    "test_mlflow_scoring_client.py",  # ~40: mlflow models serve beside mlctl serve
    "test_oip_clients.py",  # ~25
    "test_broken_recipes.py",  # ~20: forked from one pre-imported helper (~90 before)
    "test_metrics_exposition.py",  # ~30
    "test_deploy_bake.py",
    "test_schemathesis.py",  # ~50
    "test_quickstart.py",  # ~45
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    unmarked = [item.nodeid for item in items if not KINDS & {m.name for m in item.iter_markers()}]
    if unmarked:
        raise pytest.UsageError(
            "tests without a 'unit' or 'integration' marker (set pytestmark in the module): "
            + ", ".join(unmarked[:10])
        )
    rank = {name: i for i, name in enumerate(LONGEST_FIRST)}
    items.sort(key=lambda item: rank.get(item.path.name, len(LONGEST_FIRST)))  # stable
