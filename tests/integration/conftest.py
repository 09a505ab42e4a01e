"""Shared set-up for the integration tests: a small copy of the churn project."""

from __future__ import annotations

import os
import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


# Where a tracking store is chosen from; in-process tests run one after another on a
# worker, so a value left behind sends a later test to another test's store.
TRACKING_VARIABLES = ("MLCTL_TRACKING_URI", "MLFLOW_TRACKING_URI", "MLFLOW_REGISTRY_URI")


@pytest.fixture(autouse=True)
def no_tracking_uri_left_behind():
    """A test that changes a tracking variable and does not put it back fails (and the
    variable is put back, so the tests after it are not affected)."""
    before = {name: os.environ.get(name) for name in TRACKING_VARIABLES}
    yield
    after = {name: os.environ.get(name) for name in TRACKING_VARIABLES}
    if after != before:
        for name, value in before.items():
            if value is None:
                os.environ.pop(name, None)
            else:
                os.environ[name] = value
        changed = {k: v for k, v in after.items() if v != before[k]}
        pytest.fail(f"the test left tracking variables changed: {changed}")


def build_churn_project(root: Path, rows: int = 900) -> Path:
    """The project layout (conf/, recipes/churn.yaml, data/) under ``root``, with the
    first ``rows`` Telco rows exactly as written (TotalCharges keeps its blanks)."""
    shutil.copytree(REPO / "conf", root / "conf")
    (root / "recipes").mkdir()
    (root / "data" / "telco").mkdir(parents=True)
    raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
    raw.head(rows).to_csv(root / "data" / "telco" / TELCO.name, index=False)
    recipe = (REPO / "recipes" / "churn.yaml").read_text()
    (root / "recipes" / "churn.yaml").write_text(recipe.replace("min_rows: 1000", "min_rows: 500"))
    return root


@pytest.fixture(scope="session")
def churn_project() -> Callable[[Path, int], Path]:
    """:func:`build_churn_project` as a fixture."""
    return build_churn_project


# Serve tests share helpers for starting a real server (tests/integration/serve_helpers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
