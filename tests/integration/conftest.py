"""Shared set-up for the integration tests: a small copy of the churn project."""

from __future__ import annotations

import shutil
import sys
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest

REPO = Path(__file__).resolve().parents[2]
TELCO = REPO / "data" / "telco" / "WA_Fn-UseC_-Telco-Customer-Churn.csv"


@pytest.fixture(scope="session")
def churn_project() -> Callable[[Path, int], Path]:
    """Builds the project layout (conf/, recipes/churn.yaml, data/) under a folder, with
    the first ``rows`` Telco rows exactly as written (TotalCharges keeps its blanks)."""

    def build(root: Path, rows: int = 900) -> Path:
        shutil.copytree(REPO / "conf", root / "conf")
        (root / "recipes").mkdir()
        (root / "data" / "telco").mkdir(parents=True)
        raw = pd.read_csv(TELCO, dtype=str, keep_default_na=False)
        raw.head(rows).to_csv(root / "data" / "telco" / TELCO.name, index=False)
        recipe = (REPO / "recipes" / "churn.yaml").read_text()
        (root / "recipes" / "churn.yaml").write_text(
            recipe.replace("min_rows: 1000", "min_rows: 500")
        )
        return root

    return build


# Serve tests share helpers for starting a real server (tests/integration/serve_helpers.py).
sys.path.insert(0, str(Path(__file__).resolve().parent))
